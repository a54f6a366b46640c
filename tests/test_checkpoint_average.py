"""``vqnat average``: the mean of the weights, integer buffers and settings from the newest checkpoint, the
newest mid-epoch checkpoints by update count, and one-line refusals of what cannot be averaged."""
import pathlib

import pytest
import torch
from click.testing import CliRunner

from vqnat.checkpoint_average import AverageError, average_checkpoints, last_checkpoints
from vqnat_cli.main import cli


def fake_checkpoint(path: pathlib.Path, weight, step: int, shape=(2, 3)) -> pathlib.Path:
    """A fairseq-shaped checkpoint: a float weight, an integer buffer, training history and optimizer state."""
    torch.save({"model": {"layer.weight": torch.full(shape, float(weight)), "codebook.steps": torch.tensor(step)},
                "optimizer_history": [{"num_updates": step}], "last_optimizer_state": {"step": step},
                "extra_state": {"epoch": 1}}, path)
    return path


def test_floating_tensors_are_averaged_the_rest_comes_from_the_newest(tmp_path):
    paths = [fake_checkpoint(tmp_path / f"checkpoint_1_{step}.pt", weight, step)
             for weight, step in ((1.0, 200), (2.0, 400), (6.0, 600))]
    state = average_checkpoints(paths)
    assert torch.equal(state["model"]["layer.weight"], torch.full((2, 3), 3.0))
    assert int(state["model"]["codebook.steps"]) == 600
    assert state["optimizer_history"] == [{"num_updates": 600}]
    assert state["last_optimizer_state"] is None
    assert state["averaged_from"] == [str(path) for path in paths]


def test_last_checkpoints_sorts_by_update_count_not_by_name(tmp_path):
    for epoch, step in ((9, 800), (10, 1000), (12, 1200), (4, 200)):
        fake_checkpoint(tmp_path / f"checkpoint_{epoch}_{step}.pt", 0.0, step)
    fake_checkpoint(tmp_path / "checkpoint_last.pt", 0.0, 1200)
    assert [path.name for path in last_checkpoints(tmp_path, 3)] == [
        "checkpoint_9_800.pt", "checkpoint_10_1000.pt", "checkpoint_12_1200.pt"]


def test_fewer_checkpoints_than_asked_are_all_averaged_none_is_refused(tmp_path):
    only = fake_checkpoint(tmp_path / "checkpoint_1_200.pt", 0.0, 200)
    assert last_checkpoints(tmp_path, 5) == [only]
    only.unlink()
    with pytest.raises(AverageError, match=r"holds no mid-epoch checkpoints"):
        last_checkpoints(tmp_path, 5)


def test_min_update_leaves_a_short_run_s_early_checkpoints_out(tmp_path):
    for step in (200, 400, 600, 800):
        fake_checkpoint(tmp_path / f"checkpoint_1_{step}.pt", 0.0, step)
    assert [path.name for path in last_checkpoints(tmp_path, 5, min_update=480)] == [
        "checkpoint_1_600.pt", "checkpoint_1_800.pt"]
    assert [path.name for path in last_checkpoints(tmp_path, 5, min_update=400)] == [
        "checkpoint_1_400.pt", "checkpoint_1_600.pt", "checkpoint_1_800.pt"]
    with pytest.raises(AverageError, match=r"no mid-epoch checkpoints \(checkpoint_E_U.pt\) saved at update 900"):
        last_checkpoints(tmp_path, 5, min_update=900)
    result = CliRunner().invoke(cli, ["average", str(tmp_path), "--min-update", "480"])
    assert result.exit_code == 0, result.output
    assert "the mean of checkpoint_1_600.pt, checkpoint_1_800.pt" in result.output


def test_checkpoints_of_different_models_are_refused(tmp_path):
    small = fake_checkpoint(tmp_path / "checkpoint_1_200.pt", 1.0, 200, shape=(2, 3))
    wide = fake_checkpoint(tmp_path / "checkpoint_1_400.pt", 1.0, 400, shape=(2, 4))
    with pytest.raises(AverageError, match=r"checkpoint_1_200.pt is not the model of .* layer.weight has shape"):
        average_checkpoints([small, wide])


def test_a_file_that_is_not_a_checkpoint_is_refused_by_name(tmp_path):
    broken = tmp_path / "checkpoint_1_200.pt"
    broken.write_text("not a checkpoint")
    with pytest.raises(AverageError, match="checkpoint_1_200.pt"):
        average_checkpoints([broken])


def test_cli_writes_the_average_reruns_only_when_its_inputs_change_and_refuses_in_one_line(tmp_path):
    for weight, step in ((0.0, 200), (4.0, 400)):
        fake_checkpoint(tmp_path / f"checkpoint_1_{step}.pt", weight, step)
    result = CliRunner().invoke(cli, ["average", str(tmp_path), "--last", "2"])
    assert result.exit_code == 0, result.output
    average = tmp_path / "checkpoint_average.pt"
    assert torch.equal(torch.load(average, weights_only=True)["model"]["layer.weight"], torch.full((2, 3), 2.0))

    result = CliRunner().invoke(cli, ["average", str(tmp_path), "--last", "2"])
    assert result.exit_code == 0 and "up to date" in result.output
    result = CliRunner().invoke(cli, ["average", str(tmp_path), "--last", "1"])  # other inputs: averaged again
    assert result.exit_code == 0 and "up to date" not in result.output
    assert torch.equal(torch.load(average, weights_only=True)["model"]["layer.weight"], torch.full((2, 3), 4.0))

    result = CliRunner().invoke(cli, ["average", str(tmp_path / "checkpoint_1_200.pt")])
    assert result.exit_code != 0 and "is a file" in result.output
    empty = tmp_path / "empty"
    empty.mkdir()
    result = CliRunner().invoke(cli, ["average", str(empty)])
    assert result.exit_code != 0
    assert result.output.strip().count("\n") == 0 and "holds no mid-epoch checkpoints" in result.output


def test_the_average_of_a_trained_model_with_itself_translates_like_it(tiny_teacher, toy_data, tmp_path):
    """The averaged file loads and generates like any checkpoint (here two copies: the same weights)."""
    for step in (100, 200):
        (tmp_path / f"checkpoint_1_{step}.pt").write_bytes(tiny_teacher.read_bytes())
    assert CliRunner().invoke(cli, ["average", str(tmp_path), "--last", "2"]).exit_code == 0
    outputs = []
    for checkpoint in (tiny_teacher, tmp_path / "checkpoint_average.pt"):
        result = CliRunner().invoke(cli, ["generate", "--data", str(toy_data), "--checkpoint", str(checkpoint),
                                          "--subset", "valid", "--beam", "1", "--output", "-"])
        assert result.exit_code == 0, result.output
        outputs.append(result.output)
    assert outputs[0] == outputs[1]
