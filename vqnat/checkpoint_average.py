"""Average the weights of a run's last checkpoints into one model (Vaswani et al. 2017; Mask-Predict, GLAT).

The mean of the weights of the last few checkpoints generalises better than any one of them and costs
nothing at generation. fairseq keeps its averaging script outside the installed package, so vqnat has
this small one: same keys and shapes or a one-line refusal naming the file, floating tensors averaged in
float64, everything else (integer buffers, settings, training history) taken from the newest checkpoint.
"""
import io
import logging
import re
from pathlib import Path
from typing import Any, Dict, List, Sequence

from vqnat.atomic import atomic_write_bytes
from vqnat.safe_load import CheckpointLoadError, load_checkpoint_state

logger = logging.getLogger("vqnat.average")

#: fairseq's mid-epoch checkpoints: checkpoint_EPOCH_UPDATES.pt
_INTERVAL_NAME = re.compile(r"checkpoint_(\d+)_(\d+)\.pt")


class AverageError(ValueError):
    """Checkpoints that cannot be averaged; the message is one line naming the file or folder."""


def interval_checkpoints(save_dir: Path, min_update: int = 0) -> List[Path]:
    """The run's mid-epoch checkpoints (``checkpoint_E_U.pt``) saved at update ``min_update`` or later, oldest
    first by update count."""
    found = [(int(match.group(2)), path) for path in Path(save_dir).iterdir()
             if (match := _INTERVAL_NAME.fullmatch(path.name)) and int(match.group(2)) >= min_update]
    return [path for _, path in sorted(found)]


def last_checkpoints(save_dir: Path, count: int, min_update: int = 0) -> List[Path]:
    """The ``count`` newest mid-epoch checkpoints of ``save_dir`` saved at update ``min_update`` or later (all
    of them when it holds fewer, with a warning: a short run still gets its average); refused when it holds
    none. ``min_update`` keeps a short run's early weights out: the student of an 800-update run averaged
    from update 200 on is 3.1 valid BLEU worse than its last checkpoint (BENCHMARKS.md, "Averaging a short
    run")."""
    if count < 1:
        raise AverageError(f"--last must be >= 1, got {count}")
    if not Path(save_dir).is_dir():
        raise AverageError(f"{save_dir} is not a folder of checkpoints")
    found = interval_checkpoints(Path(save_dir), min_update)
    if not found:
        since = f" saved at update {min_update} or later" if min_update > 0 else ""
        raise AverageError(f"{save_dir} holds no mid-epoch checkpoints (checkpoint_E_U.pt){since} to average")
    if len(found) < count:
        logger.warning("%s holds %d mid-epoch checkpoints%s, fewer than --last %d: averaging all of them",
                       save_dir, len(found), f" from update {min_update} on" if min_update > 0 else "", count)
    return found[-count:]


def is_up_to_date(output: Path, paths: Sequence[Path]) -> bool:
    """Whether ``output`` is the average of exactly ``paths`` and newer than each (a rerun pipeline need not
    average again)."""
    output = Path(output)
    if not output.is_file() or any(output.stat().st_mtime_ns < Path(path).stat().st_mtime_ns for path in paths):
        return False
    try:
        state = load_checkpoint_state(output)
    except CheckpointLoadError:
        return False
    return isinstance(state, dict) and state.get("averaged_from") == [str(path) for path in paths]


def average_checkpoints(paths: Sequence[Path]) -> Dict[str, Any]:
    """The newest checkpoint of ``paths`` (the last) with its model weights replaced by the mean of all."""
    import torch

    if not paths:
        raise AverageError("no checkpoints to average")
    states = [_load(path) for path in paths]
    newest = states[-1]
    for path, state in zip(paths[:-1], states[:-1]):
        _check_same_tensors(path, state["model"], paths[-1], newest["model"])
    averaged = {}
    for name, tensor in newest["model"].items():
        if torch.is_floating_point(tensor):
            total = sum(state["model"][name].to(torch.float64) for state in states)
            averaged[name] = (total / len(states)).to(tensor.dtype)
        else:
            averaged[name] = tensor.clone()
    result = dict(newest)
    result["model"] = averaged
    result["last_optimizer_state"] = None  # the average was never trained: nothing to resume
    result["averaged_from"] = [str(path) for path in paths]
    return result


def write_average(paths: Sequence[Path], output: Path) -> None:
    """Average ``paths`` into ``output`` (written atomically)."""
    import torch

    state = average_checkpoints(paths)
    buffer = io.BytesIO()
    torch.save(state, buffer)
    atomic_write_bytes(Path(output), buffer.getvalue())


def _load(path: Path) -> Dict[str, Any]:
    try:
        state = load_checkpoint_state(path)
    except CheckpointLoadError as error:
        raise AverageError(str(error)) from None
    if not isinstance(state, dict) or not isinstance(state.get("model"), dict):
        raise AverageError(f"{path} holds no model weights (not a fairseq checkpoint)")
    return state


def _check_same_tensors(path, model, newest_path, newest) -> None:
    """Refuse checkpoints of different models: other tensor names or shapes than the newest's."""
    missing, extra = sorted(set(newest) - set(model)), sorted(set(model) - set(newest))
    if missing or extra:
        name = (missing or extra)[0]
        raise AverageError(f"{path} is not the model of {newest_path}: tensor {name} is "
                           f"{'missing' if missing else 'extra'}")
    for name, tensor in newest.items():
        if tuple(model[name].shape) != tuple(tensor.shape):
            raise AverageError(f"{path} is not the model of {newest_path}: tensor {name} has shape "
                               f"{tuple(model[name].shape)}, not {tuple(tensor.shape)}")
