"""Checkpoints: resuming continues exactly like an uninterrupted run; files are plain and atomic."""
import pytest
import torch

from vqnat.image.checkpoint import PRIOR_KIND, VQVAE_KIND, CheckpointError, load_checkpoint
from vqnat.image.train_vqvae import train_vqvae
from vqnat.image.trainer import BatchStream, TrainSettings

from image_test_helpers import generated_images, tiny_config


def settings(steps: int) -> TrainSettings:
    return TrainSettings(steps=steps, batch_size=6, lr=3e-3, seed=3, save_interval=4, log_interval=2)


@pytest.mark.parametrize("kind", ["soft_em", "vq"])
def test_resume_continues_identically(tmp_path, kind):
    images = generated_images(10)  # 10 images, batches of 6: batches straddle epochs
    config = tiny_config(bottleneck=kind)
    uninterrupted = train_vqvae(images, tmp_path / "one", config, settings(10))
    first = train_vqvae(images, tmp_path / "two", config, settings(4))
    torch.manual_seed(12345)  # whatever the generator holds now must not matter
    rest = train_vqvae(images, tmp_path / "two", config, settings(10))
    assert len(first) == 4 and len(rest) == 6
    assert first + rest == uninterrupted  # exact equality of every step's loss
    one = load_checkpoint(tmp_path / "one" / "checkpoint_last.pt", VQVAE_KIND)
    two = load_checkpoint(tmp_path / "two" / "checkpoint_last.pt", VQVAE_KIND)
    assert one["step"] == two["step"] == 10
    for name, tensor in one["model"].items():
        assert torch.equal(tensor, two["model"][name]), name
    assert (tmp_path / "one" / "train_log.jsonl").read_text() == (tmp_path / "two" / "train_log.jsonl").read_text()


def test_resume_past_the_last_step_trains_nothing(tmp_path):
    images = generated_images(6)
    train_vqvae(images, tmp_path, tiny_config(), settings(2))
    assert train_vqvae(images, tmp_path, tiny_config(), settings(2)) == []


def test_checkpoint_is_plain_data_and_kind_checked(tmp_path):
    train_vqvae(generated_images(6), tmp_path, tiny_config(), settings(1))
    path = tmp_path / "checkpoint_last.pt"
    state = torch.load(path, weights_only=True)  # no custom classes inside
    assert state["kind"] == VQVAE_KIND and state["config"]["num_codes"] == 16 and state["step"] == 1
    assert not list(tmp_path.glob("*.tmp"))
    with pytest.raises(CheckpointError, match="not a vqnat-image-prior checkpoint"):
        load_checkpoint(path, PRIOR_KIND)
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(path.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="cannot load checkpoint .*truncated.pt"):
        load_checkpoint(truncated, VQVAE_KIND)
    with pytest.raises(CheckpointError, match="missing.pt: no such checkpoint"):
        load_checkpoint(tmp_path / "missing.pt", VQVAE_KIND)


def test_batch_stream_visits_every_item_once_per_epoch():
    stream = BatchStream(num_items=10, batch_size=4, seed=0)
    seen = torch.cat([stream.indices(step) for step in range(5)])  # 20 items = 2 epochs
    assert sorted(seen[:10].tolist()) == list(range(10)) and sorted(seen[10:].tolist()) == list(range(10))
    assert torch.equal(BatchStream(10, 4, 0).indices(3), stream.indices(3))  # a function of (seed, step)
