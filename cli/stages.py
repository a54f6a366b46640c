"""Numbered pipeline stages: one line when a stage starts, one when it ends, its full log in a file."""
import contextlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, List

import click

from vqnat_cli.stage_log import stage_log


def format_duration(seconds: float) -> str:
    """``51 s``, ``4 min 05 s``."""
    seconds = round(seconds)
    return f"{seconds} s" if seconds < 60 else f"{seconds // 60} min {seconds % 60:02d} s"


@dataclass
class Stages:
    """The stages of one run, numbered as they start; stage ``name`` logs to ``logs/name.log``."""

    logs: Path
    total: int
    verbose: bool = False
    started: int = 0

    @contextlib.contextmanager
    def run(self, name: str, title: str) -> Iterator[List[str]]:
        """Run the block as the next stage; what it appends to the yielded list ends its last line."""
        self.started += 1
        head = f"[{self.started}/{self.total}] {title}"
        log = self.logs / f"{name}.log"
        click.echo(f"{head}  (log: {log})")
        results: List[str] = []
        start = time.perf_counter()
        try:
            with stage_log(log, self.verbose):
                yield results
        except KeyboardInterrupt:
            click.echo(f"{head} ... interrupted after {format_duration(time.perf_counter() - start)}; "
                       f"the same command resumes", err=True)
            raise
        except Exception:
            click.echo(f"{head} ... failed after {format_duration(time.perf_counter() - start)}; see {log}",
                       err=True)
            raise
        click.echo(f"{head} ... {', '.join([*results, format_duration(time.perf_counter() - start)])}")
