"""Models converted from a checkpoint for another engine, cached in a folder beside it (``STEM.SUFFIX/``).

A cache counts only when every file it needs is at least as new as the checkpoint. A conversion is written
to a temporary folder and renamed, so an interrupted or failed one leaves no cache behind.
"""
import logging
import shutil
import tempfile
from pathlib import Path
from typing import Callable, Sequence

from vqnat.engines import EngineError

logger = logging.getLogger("vqnat.engines")


def first_line(error: BaseException, limit: int = 300) -> str:
    """An exception's first line, squeezed (later lines of converters' errors can hold whole tensors)."""
    lines = str(error).strip().splitlines() or [type(error).__name__]
    return " ".join(lines[0].split())[:limit]


def cached_conversion(checkpoint: Path, suffix: str, files: Sequence[str], convert: Callable[[Path], None],
                      engine: str) -> Path:
    """``STEM.SUFFIX/`` beside ``checkpoint``, made by ``convert(folder)`` unless all of ``files`` in it are
    up to date. Any failure is an EngineError of one line naming the checkpoint."""
    checkpoint = Path(checkpoint)
    target = checkpoint.with_name(f"{checkpoint.stem}.{suffix}")
    made = checkpoint.stat().st_mtime_ns
    if all((target / name).is_file() and (target / name).stat().st_mtime_ns >= made for name in files):
        return target
    logger.info("converting %s for %s in %s", checkpoint, engine, target)
    try:
        scratch = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    except OSError as error:
        raise EngineError(f"cannot write the {engine} model beside {checkpoint}: {error}") from None
    scratch.chmod(0o755)  # a cache like the checkpoint's folder, not mkdtemp's private one
    try:
        try:
            convert(scratch)
        except Exception as error:  # unsupported architectures, operators and options: the converter says which
            raise EngineError(f"cannot convert {checkpoint} to {engine}: {first_line(error)}") from error
        if target.exists():
            shutil.rmtree(target)
        scratch.replace(target)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return target
