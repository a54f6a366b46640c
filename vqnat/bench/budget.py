"""Each system's training budget, read from its checkpoint: a quality ratio is only fair at equal budgets.

A vqnat model warm-started from an AR teacher (``--init-from``) had the teacher's updates before its own;
the warm start records them in the model's settings (``warm_start_updates``). An AR model trained for the
sum is the equal-budget reference. Checkpoints written before that record fall back on the update count of
the ``--init-from`` file as it is now.
"""
import logging
from pathlib import Path
from typing import Dict, Optional

from vqnat.models.warm_start import checkpoint_updates, model_setting
from vqnat.safe_load import CheckpointLoadError, load_checkpoint_state

logger = logging.getLogger("vqnat.bench")


def training_updates(path: str) -> Dict[str, Optional[int]]:
    """``{"own": the checkpoint's updates, "warm_start": the teacher's before them (None: no warm start)}``."""
    state = load_checkpoint_state(path)
    warm_start = model_setting(state, "warm_start_updates")
    teacher = model_setting(state, "init_from")
    if warm_start is None and teacher and Path(teacher).is_file():
        try:
            warm_start = checkpoint_updates(load_checkpoint_state(teacher))
        except CheckpointLoadError as error:  # not a reason to fail the bench; said where it shows
            logger.warning("%s: its budget counts its own updates only (%s)", path, error)
    return {"own": checkpoint_updates(state), "warm_start": None if warm_start is None else int(warm_start)}


def describe_updates(budget: Optional[Dict[str, Optional[int]]]) -> Optional[str]:
    """``"2,000 + 6,000"`` (teacher + own), ``"3,000"``, or None when the checkpoint does not say."""
    if not budget or budget.get("own") is None:
        return None
    own = f"{budget['own']:,}"
    return own if budget.get("warm_start") is None else f"{budget['warm_start']:,} + {own}"
