"""Checkpoint files of the image module: plain dicts written atomically and read with the safe unpickler.

A checkpoint holds only tensors, numbers, strings, lists and dicts, so ``torch.load(weights_only=True)``
reads it without unpickling arbitrary objects. It carries a ``kind`` string so that a VQ-VAE checkpoint is
never mistaken for a prior (or for a translation model).
"""
import os
from pathlib import Path
from typing import Any, Dict, Optional, Union

import torch

from vqnat.safe_load import describe_load_error

VQVAE_KIND = "vqnat-image-vqvae"
PRIOR_KIND = "vqnat-image-prior"
#: The file a training run writes and resumes from, inside its save directory.
LAST_CHECKPOINT = "checkpoint_last.pt"


class CheckpointError(ValueError):
    """A missing, unreadable or foreign checkpoint; the message names the file."""


def save_checkpoint(state: Dict[str, Any], path: Union[str, Path]) -> None:
    """Write ``state`` to ``path`` through a temporary file and a rename, so a crash never leaves half a file."""
    path = Path(path)
    temporary = path.with_name(path.name + ".tmp")
    with open(temporary, "wb") as handle:
        torch.save(state, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def load_checkpoint(path: Union[str, Path], kind: str) -> Dict[str, Any]:
    """Read a checkpoint of ``kind`` onto the CPU, or raise :class:`CheckpointError` naming the file."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # truncated file, foreign pickle, not a torch file at all
        raise CheckpointError(describe_load_error(path, error)) from None
    found = state.get("kind") if isinstance(state, dict) else None
    if found != kind:
        raise CheckpointError(f"{path}: not a {kind} checkpoint (found kind {found!r})")
    return state


def load_last_checkpoint(save_dir: Union[str, Path], kind: str) -> Optional[Dict[str, Any]]:
    """Return the last checkpoint of a run in ``save_dir``, or None when the run has not saved one yet."""
    path = Path(save_dir) / LAST_CHECKPOINT
    return load_checkpoint(path, kind) if path.exists() else None
