"""Every --save-interval-updates save keeps its update-count name, also where it falls on an epoch's end,
so that a run whose epochs are a whole number of intervals still leaves checkpoints to average."""
from types import SimpleNamespace

import pytest
import torch
from fairseq import checkpoint_utils
from fairseq.dataclass.configs import CheckpointConfig

from vqnat.checkpoint_average import interval_checkpoints
from vqnat_cli.interval_checkpoints import interval_names_at_epoch_ends


class OneWorkerTrainer:
    """What fairseq's save_checkpoint asks of its trainer, for one worker; a checkpoint records its updates."""

    data_parallel_rank = 0
    should_save_checkpoint_on_current_rank = True
    always_call_state_dict_during_save_checkpoint = False
    checkpoint_suffix = ""

    def __init__(self):
        self.updates, self.task = 0, SimpleNamespace()

    def get_num_updates(self) -> int:
        return self.updates

    def consolidate_optimizer(self) -> None:
        pass

    def save_checkpoint(self, filename, extra_state) -> None:
        torch.save({"updates": self.updates, "extra_state": extra_state}, filename)


class EpochEnd:
    """An epoch iterator at the end of its epoch."""

    def __init__(self, epoch: int):
        self.epoch = epoch

    def end_of_epoch(self) -> bool:
        return True

    def state_dict(self):
        return {"epoch": self.epoch + 1, "iterations_in_epoch": 0}


def train_epochs_of_one_interval(save_dir, epochs: int) -> None:
    """Saves as fairseq-train makes them when each epoch is exactly one --save-interval-updates (200)."""
    cfg = CheckpointConfig(save_dir=str(save_dir), no_epoch_checkpoints=True, save_interval_updates=200,
                           keep_interval_updates=5)
    trainer = OneWorkerTrainer()
    vars(checkpoint_utils.save_checkpoint).pop("best", None)  # fairseq keeps the best loss on the function,
    try:                                                      # also from an earlier run in this process
        for epoch in range(1, epochs + 1):
            trainer.updates = 200 * epoch
            checkpoint_utils.save_checkpoint(cfg, trainer, EpochEnd(epoch), 10.0 - epoch)
    finally:
        vars(checkpoint_utils.save_checkpoint).pop("best", None)


def test_epoch_ends_on_the_interval_are_saved_and_pruned_like_mid_epoch_points(tmp_path):
    original = checkpoint_utils.save_checkpoint
    with interval_names_at_epoch_ends():
        train_epochs_of_one_interval(tmp_path, 7)
    assert checkpoint_utils.save_checkpoint is original
    kept = interval_checkpoints(tmp_path)
    assert [path.name for path in kept] == [f"checkpoint_{epoch}_{200 * epoch}.pt" for epoch in range(3, 8)]
    assert [torch.load(path)["updates"] for path in kept] == [600, 800, 1000, 1200, 1400]
    assert torch.load(kept[-1])["extra_state"]["train_iterator"] == {"epoch": 8, "iterations_in_epoch": 0}
    assert torch.load(tmp_path / "checkpoint_last.pt")["updates"] == 1400
    assert torch.load(tmp_path / "checkpoint_best.pt")["updates"] == 1400  # the lowest loss
    assert not list(tmp_path.glob("checkpoint[0-9].pt"))  # still no epoch checkpoints


def test_fairseq_alone_leaves_nothing_to_average_when_every_save_ends_an_epoch(tmp_path):
    train_epochs_of_one_interval(tmp_path, 3)
    assert interval_checkpoints(tmp_path) == []
    assert sorted(path.name for path in tmp_path.iterdir()) == ["checkpoint_best.pt", "checkpoint_last.pt"]


@pytest.mark.slow
def test_vqnat_train_keeps_checkpoints_to_average_when_epochs_end_on_the_interval(tmp_path):
    from click.testing import CliRunner

    from vqnat.data.preprocess import preprocess_corpus
    from vqnat.data.toy_corpus import write_toy_corpus
    from vqnat.models.warm_start import checkpoint_updates
    from vqnat.safe_load import load_checkpoint_state
    from vqnat_cli.main import cli

    raw = write_toy_corpus(tmp_path / "raw", n_train=300, n_valid=8, n_test=8)
    data = preprocess_corpus("src", "tgt", raw / "train", raw / "valid", tmp_path / "data", testpref=raw / "test",
                             vocab_size=100, tokenizer="none")

    def train(save_dir, *fairseq_args):
        result = CliRunner().invoke(cli, ["train", "teacher", str(data), "--save-dir", str(save_dir), "--preset",
                                          "tiny", "--", *fairseq_args])
        assert result.exit_code == 0, result.output

    train(tmp_path / "one-epoch", "--max-epoch", "1")
    epoch = checkpoint_updates(load_checkpoint_state(tmp_path / "one-epoch" / "checkpoint_last.pt"))
    train(tmp_path / "run", "--max-update", str(6 * epoch), "--save-interval-updates", str(epoch))
    assert [path.name for path in interval_checkpoints(tmp_path / "run")] == [
        f"checkpoint_{n}_{n * epoch}.pt" for n in range(2, 7)]
