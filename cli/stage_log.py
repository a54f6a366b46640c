"""Send everything a pipeline stage logs, warns or prints to its own log file.

The terminal keeps the progress bars (and, when verbose, the log as it is written). Child processes
(the bench measures each system in its own) write to the file too: their output is redirected at the
file-descriptor level.
"""
import contextlib
import io
import logging
import os
import sys
from pathlib import Path
from typing import Iterator

#: fairseq's own format: ``vqnat curves`` parses stage logs as it parses ``vqnat train`` output.
LOG_FORMAT = "%(asctime)s | %(levelname)s | %(name)s | %(message)s"


def _reject(record: logging.LogRecord) -> bool:
    """The filter that keeps a quiet stage's records off the console's handlers."""
    return False


@contextlib.contextmanager
def _descriptors_to(log: io.TextIOBase) -> Iterator[None]:
    """File descriptors 1 and 2 write to ``log``; ``sys.stderr`` keeps the terminal for progress bars."""
    saved = {fd: os.dup(fd) for fd in (1, 2)}
    terminal = None
    try:
        sys.stderr.fileno()
        terminal = os.fdopen(os.dup(saved[2]), "w", buffering=1, encoding=sys.stderr.encoding or "utf-8",
                             errors="replace")
    except (AttributeError, OSError, ValueError):  # not a real file (tests): bars stay where they were
        pass
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    for fd in saved:
        os.dup2(log.fileno(), fd)
    try:
        with contextlib.redirect_stderr(terminal) if terminal else contextlib.nullcontext():
            yield
    finally:
        for stream in (sys.stdout, sys.stderr, log):
            stream.flush()
        for fd, copy in saved.items():
            os.dup2(copy, fd)
            os.close(copy)
        if terminal:
            terminal.close()


@contextlib.contextmanager
def stage_log(path: Path, verbose: bool = False) -> Iterator[None]:
    """Inside the block, log records (INFO and up), warnings and printed output all go to ``path``.

    Args:
        path: the log file; appended to, so a resumed stage keeps its earlier log.
        verbose: also show the log on the terminal as it is written.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger()
    with open(path, "a", encoding="utf-8") as log:
        handler = logging.StreamHandler(log)
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        consoles = [] if verbose else list(root.handlers)
        level = root.level
        root.setLevel(min(root.getEffectiveLevel(), logging.INFO))
        root.addHandler(handler)
        for console in consoles:
            console.addFilter(_reject)
        logging.captureWarnings(True)
        try:
            with contextlib.ExitStack() as quiet:
                if not verbose:
                    quiet.enter_context(contextlib.redirect_stdout(log))
                    quiet.enter_context(_descriptors_to(log))
                yield
        finally:
            logging.captureWarnings(False)
            for console in consoles:
                console.removeFilter(_reject)
            root.removeHandler(handler)
            root.setLevel(level)
