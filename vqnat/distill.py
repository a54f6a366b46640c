"""Sequence-level knowledge distillation (Kim & Rush 2016): re-translate a split with an AR teacher.

The work is cut into chunks of consecutive sentences. Each finished chunk is written atomically, so a
run killed at any moment resumes at the first missing chunk and the result is byte-identical to an
uninterrupted run. Chunks can be spread over machines (``num_shards``/``shard_id``); the merge checks
that every line is present exactly once before it writes the distilled data directory.
"""
import hashlib
import json
import logging
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, List, Optional

from tqdm import tqdm

from vqnat.atomic import atomic_write_text

logger = logging.getLogger("vqnat.distill")

RUN_FILE = "run.json"
CHUNK_DIR = "chunks"


class DistillError(RuntimeError):
    """Distillation cannot go on safely (mismatched run, missing chunks, bad inputs)."""


@dataclass(frozen=True)
class DistillRun:
    """What makes two teacher-decode runs interchangeable; a destination holds exactly one."""

    checkpoint_sha256: str
    subset: str
    beam: int
    lenpen: float
    max_len_a: float
    max_len_b: int
    chunk_size: int
    num_sentences: int
    dictionary_sha256: str


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def chunk_path(destdir: Path, index: int) -> Path:
    return destdir / CHUNK_DIR / f"chunk-{index:06d}.txt"


def shard_chunks(num_chunks: int, num_shards: int, shard_id: int) -> List[int]:
    """Chunks a shard owns: every ``num_shards``-th, so shards stay balanced on length-sorted data."""
    if not 0 <= shard_id < num_shards:
        raise DistillError(f"--shard-id {shard_id} is not in [0, {num_shards})")
    return list(range(shard_id, num_chunks, num_shards))


def claim_destination(destdir: Path, run: DistillRun) -> None:
    """Record the run in ``destdir``, or refuse when it already holds a different one."""
    record = destdir / RUN_FILE
    if record.exists():
        existing = json.loads(record.read_text(encoding="utf-8"))
        if existing != asdict(run):
            differing = sorted(key for key in existing if existing.get(key) != asdict(run).get(key))
            raise DistillError(f"{destdir} holds a different teacher-decode run (differs in: "
                               f"{', '.join(differing)}); use another --destdir")
        return
    if destdir.exists() and any(destdir.iterdir()):
        raise DistillError(f"{destdir} is not empty and holds no teacher-decode run")
    atomic_write_text(record, json.dumps(asdict(run), indent=2) + "\n")


def decode_chunks(destdir: Path, translate: Callable[[int, int, Callable[[int], None]], List[str]], run: DistillRun,
                  chunks: List[int], stop_after: Optional[int] = None) -> dict:
    """Translate the missing chunks among ``chunks``; ``translate(start, end, progress)`` returns piece lines
    and calls ``progress(n)`` as it finishes n more sentences."""
    for index in chunks:  # temporary files a killed run of this shard left behind; never read
        for stale in (destdir / CHUNK_DIR).glob(f".{chunk_path(destdir, index).name}.*.tmp"):
            stale.unlink()
    todo = [index for index in chunks if not chunk_path(destdir, index).exists()]
    done_before = len(chunks) - len(todo)
    if done_before:
        logger.info("resuming: %d of %d chunks already done", done_before, len(chunks))
    sentences, start_time, empty = 0, time.perf_counter(), 0
    bar = tqdm(total=sum(min(run.chunk_size, run.num_sentences - i * run.chunk_size) for i in todo),
               unit="sent", desc="teacher-decode", dynamic_ncols=True)
    for finished, index in enumerate(todo, start=1):
        start, end = index * run.chunk_size, min((index + 1) * run.chunk_size, run.num_sentences)
        shown = bar.n
        lines = translate(start, end, bar.update)
        if len(lines) != end - start or any("\n" in line for line in lines):
            raise DistillError(f"chunk {index}: expected {end - start} single-line outputs, got {len(lines)}")
        atomic_write_text(chunk_path(destdir, index), "".join(line + "\n" for line in lines))
        empty += sum(1 for line in lines if not line.strip())
        sentences += len(lines)
        bar.update(shown + len(lines) - bar.n)  # exact even if progress was reported unevenly
        if stop_after is not None and finished >= stop_after:
            bar.close()
            raise SystemExit(f"stopped after {finished} chunk(s) as asked")
    bar.close()
    elapsed = time.perf_counter() - start_time
    return {"sentences": sentences, "seconds": round(elapsed, 2), "empty_outputs": empty,
            "sentences_per_second": round(sentences / elapsed, 2) if sentences else None}


def merged_lines(destdir: Path, run: DistillRun) -> List[str]:
    """All chunk outputs in order; every sentence exactly once, or an error naming what is missing."""
    num_chunks = -(-run.num_sentences // run.chunk_size)
    missing = [index for index in range(num_chunks) if not chunk_path(destdir, index).exists()]
    if missing:
        raise DistillError(f"{len(missing)} of {num_chunks} chunks are missing in {destdir / CHUNK_DIR} "
                           f"(first: {missing[0]}); run the remaining shards first")
    lines: List[str] = []
    for index in range(num_chunks):
        chunk = chunk_path(destdir, index).read_text(encoding="utf-8").split("\n")[:-1]
        expected = min(run.chunk_size, run.num_sentences - index * run.chunk_size)
        if len(chunk) != expected:
            raise DistillError(f"{chunk_path(destdir, index)} has {len(chunk)} lines, expected {expected}")
        lines.extend(chunk)
    return lines


def copy_unchanged(data: Path, destdir: Path, subset: str) -> None:
    """Everything but the distilled split: dictionaries, other splits, spm model, raw references."""
    for item in data.iterdir():
        if item.name.startswith(f"{subset}.") or item.name == "manifest.json":
            continue
        target = destdir / item.name
        if item.is_dir():
            shutil.copytree(item, target, dirs_exist_ok=True)
        else:
            shutil.copy2(item, target)
