"""Read checkpoints with torch's safe unpickler, and say in one line, naming the file, why one cannot be read.

torch refuses a pickle that would import anything beyond tensors and the types ``vqnat.compat``
allow-lists. Its message runs to several lines and suggests ``weights_only=False``, which would run
whatever code the file holds; vqnat's message never does.
"""
import pickle
from pathlib import Path
from typing import Any, List, Union

PathLike = Union[str, Path]


class CheckpointLoadError(ValueError):
    """A file vqnat cannot load as a checkpoint; the message is one line that names the file."""


def refused_by_safe_loader(error: BaseException) -> bool:
    """Whether ``error`` is torch's weights-only unpickler refusing what a file holds."""
    return isinstance(error, pickle.UnpicklingError) and "weights only load failed" in str(error).lower()


def unsafe_globals(path: PathLike) -> List[str]:
    """The Python objects a checkpoint asks the unpickler to import that are not allow-listed (read, not run)."""
    import torch

    allowed = {entry[1] if isinstance(entry, tuple) else f"{entry.__module__}.{entry.__qualname__}"
               for entry in torch.serialization.get_safe_globals()}  # entries are objects or (object, name)
    try:
        found = torch.serialization.get_unsafe_globals_in_checkpoint(str(path))
    except Exception:  # not a zip checkpoint: torch's refusal is all there is to say
        return []
    return [name for name in found if name not in allowed]


def describe_load_error(path: PathLike, error: BaseException) -> str:
    """One line naming ``path``: why it could not be loaded as a checkpoint."""
    if refused_by_safe_loader(error):
        names = unsafe_globals(path)
        holds = f"it would import {', '.join(names)}" if names else "it holds objects other than tensors"
        return (f"{path} is not a checkpoint vqnat can load safely: {holds}; vqnat loads only tensors, "
                f"numbers, strings and the settings fairseq saves")
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return f"cannot load checkpoint {path}: {lines[0] if lines else type(error).__name__}"


def load_checkpoint_state(path: PathLike) -> Any:
    """The unpickled checkpoint, memory-mapped on the CPU: reading its settings does not read its weights.

    Raises:
        CheckpointLoadError: the file is missing, truncated, not a checkpoint, or refused by the safe loader.
    """
    import torch

    from vqnat import compat  # noqa: F401  (allow-lists the types fairseq stores)

    try:
        return torch.load(path, map_location="cpu", mmap=True, weights_only=True)
    except Exception as error:  # torch raises many kinds for missing, truncated or foreign files
        raise CheckpointLoadError(describe_load_error(path, error)) from None
