"""A checkpoint named after its update count at every --save-interval-updates, epoch ends included.

fairseq names a save ``checkpoint_EPOCH_UPDATES.pt`` (what ``vqnat average`` averages and
--keep-interval-updates prunes) only in the middle of an epoch. A save that falls on an epoch's end is
an epoch checkpoint, which ``vqnat train`` turns off (--no-epoch-checkpoints): on a corpus whose epoch is
a multiple of the interval in batches, every save lands on an epoch end and the run keeps nothing to
average. With epoch checkpoints off, fairseq here saves an epoch end as it saves a mid-epoch point.
"""
import contextlib
from typing import Iterator


class _MidEpoch:
    """An epoch iterator that says it is not at its end; everything else is the iterator's own."""

    def __init__(self, epoch_itr):
        self._epoch_itr = epoch_itr

    def end_of_epoch(self) -> bool:
        return False

    def __getattr__(self, name):
        return getattr(self._epoch_itr, name)


@contextlib.contextmanager
def interval_names_at_epoch_ends() -> Iterator[None]:
    """fairseq's ``checkpoint_utils.save_checkpoint``, for the duration, saving epoch ends by their update
    count when epoch checkpoints are off (it calls fairseq's own function: the same files, pruning and best)."""
    from fairseq import checkpoint_utils

    original = checkpoint_utils.save_checkpoint

    def save_checkpoint(cfg, trainer, epoch_itr, val_loss):
        if cfg.no_epoch_checkpoints and epoch_itr.end_of_epoch():
            epoch_itr = _MidEpoch(epoch_itr)
        return original(cfg, trainer, epoch_itr, val_loss)

    checkpoint_utils.save_checkpoint = save_checkpoint  # fairseq_cli.train calls it through the module
    try:
        yield
    finally:
        checkpoint_utils.save_checkpoint = original


def train_main(cfg, **kwargs) -> None:
    """``fairseq_cli.train.main`` with :func:`interval_names_at_epoch_ends`; a function of this module, so
    that the GPU workers fairseq spawns run it as well."""
    from fairseq_cli import train

    with interval_names_at_epoch_ends():
        train.main(cfg, **kwargs)
