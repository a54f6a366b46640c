"""--init-from: exactly the teacher's encoder, embeddings and decoder layers are copied; mismatches are refused."""
from argparse import Namespace
from types import SimpleNamespace

import pytest
import torch
from click.testing import CliRunner
from fairseq.data import Dictionary

from tiny_model import tiny_model
from vqnat.bench.budget import describe_updates, training_updates
from vqnat.models.architectures import ARCHITECTURE_SIZES, apply_sizes
from vqnat.models.vqnat_model import VQNATModel
from vqnat.models.warm_start import WarmStartError, warm_start

pytestmark = pytest.mark.slow


def toy_model(toy_data, **options) -> VQNATModel:
    """A vqnat_tiny model on the toy corpus's dictionary (the tiny teacher's)."""
    args = Namespace(dropout=0.0, **options)
    apply_sizes(ARCHITECTURE_SIZES["vqnat_tiny"], args)
    dictionary = Dictionary.load(str(toy_data / "dict.src.txt"))
    return VQNATModel.build_model(args, SimpleNamespace(source_dictionary=dictionary, target_dictionary=dictionary))


def teacher_weights(path):
    import vqnat  # noqa: F401

    return torch.load(path, map_location="cpu", weights_only=True)["model"]


def test_warm_start_copies_encoder_embeddings_and_decoder_layers_only(toy_data, tiny_teacher):
    model = toy_model(toy_data, post_norm=True, latent_predictor="parallel")
    before = {name: tensor.clone() for name, tensor in model.state_dict().items()}
    copied = set(warm_start(model, str(tiny_teacher)))
    teacher = teacher_weights(tiny_teacher)
    state = model.state_dict()
    expected = {name for name in state if name.startswith("encoder.") and name in teacher}
    expected |= {"embed_tokens.weight"}
    expected |= {f"{stack}{name[len('decoder.'):]}" for name in teacher if name.startswith("decoder.layers.")
                 for stack in ("decoder.", "latent_predictor.decoder.")}
    assert copied == expected
    assert any(name.startswith("latent_predictor.decoder.layers.0.fc1") for name in copied)
    for name in copied:
        source = "encoder.embed_tokens.weight" if name == "embed_tokens.weight" else name.replace(
            "latent_predictor.", "")
        assert torch.equal(state[name], teacher[source]), name
    untouched = [name for name in state if name not in copied]
    assert any(name.startswith("compressor.") or name.startswith("bottleneck.") for name in untouched)
    for name in untouched:
        assert torch.equal(state[name], before[name]), f"{name} changed"


def test_mismatched_teachers_are_refused_with_one_line(toy_data, tiny_teacher, tmp_path):
    with pytest.raises(WarmStartError, match=r"dictionary of \d+ symbols != 24") as error:
        warm_start(tiny_model(post_norm=True), str(tiny_teacher))  # the unit tests' 20-word dictionary
    assert "\n" not in str(error.value) and str(tiny_teacher) in str(error.value)
    with pytest.raises(WarmStartError, match="width 32 != 64"):
        warm_start(toy_model(toy_data, post_norm=True, embed_dim=64, ffn_embed_dim=128), str(tiny_teacher))
    with pytest.raises(WarmStartError, match="add --post-norm"):
        warm_start(toy_model(toy_data), str(tiny_teacher))
    not_a_teacher = tmp_path / "weights.pt"
    torch.save({"model": {"x": torch.zeros(1)}}, not_a_teacher)
    with pytest.raises(WarmStartError, match="not a checkpoint of fairseq's transformer"):
        warm_start(toy_model(toy_data, post_norm=True), str(not_a_teacher))


def test_cli_init_from_starts_training_at_the_teacher(toy_data, tiny_teacher, tmp_path, caplog):
    from vqnat_cli.main import cli

    result = CliRunner().invoke(cli, ["train", "vqnat", str(toy_data), "--save-dir", str(tmp_path), "--preset", "tiny",
                                      "--max-update", "1", "--init-from", str(tiny_teacher),
                                      "--", "--lr", "1e-9", "--warmup-updates", "1"])
    assert result.exit_code == 0, result.output
    import vqnat  # noqa: F401

    state = torch.load(tmp_path / "checkpoint_last.pt", map_location="cpu", weights_only=True)
    assert state["cfg"]["model"].post_norm  # the CLI matched the teacher's norm placement
    teacher = teacher_weights(tiny_teacher)
    for name in ("encoder.layers.0.fc1.weight", "decoder.layers.0.encoder_attn.k_proj.weight"):
        torch.testing.assert_close(state["model"][name], teacher[name], atol=1e-6, rtol=0)

    # the teacher's 200 updates travel with the model: the bench counts them in its budget
    assert state["cfg"]["model"].warm_start_updates == 200
    assert training_updates(str(tmp_path / "checkpoint_last.pt")) == {"own": 1, "warm_start": 200}
    assert describe_updates(training_updates(str(tmp_path / "checkpoint_last.pt"))) == "200 + 1"
    del state["cfg"]["model"].warm_start_updates  # a checkpoint from before the record: read the teacher file
    torch.save(state, tmp_path / "older.pt")
    assert training_updates(str(tmp_path / "older.pt")) == {"own": 1, "warm_start": 200}
    (tmp_path / "garbage.pt").write_bytes(b"not a checkpoint")
    state["cfg"]["model"].init_from = str(tmp_path / "garbage.pt")
    torch.save(state, tmp_path / "unreadable-teacher.pt")
    with caplog.at_level("WARNING", logger="vqnat.bench"):
        assert training_updates(str(tmp_path / "unreadable-teacher.pt")) == {"own": 1, "warm_start": None}
    assert "counts its own updates only" in caplog.text
    del state["cfg"]["model"].init_from
    torch.save(state, tmp_path / "cold.pt")
    assert describe_updates(training_updates(str(tmp_path / "cold.pt"))) == "1"


def test_a_warm_started_run_resumes_without_init_from_and_keeps_its_teacher(toy_data, tiny_teacher, tmp_path):
    """The resumed run is built like the first (the teacher's norm placement) and still counts the teacher's
    updates; a teacher that is gone is named in one line."""
    import shutil

    from vqnat_cli.main import cli

    teacher = tmp_path / "teacher.pt"
    shutil.copy2(tiny_teacher, teacher)

    def train(save_dir, updates, *options):
        return CliRunner().invoke(cli, ["train", "vqnat", str(toy_data), "--save-dir", str(save_dir), "--preset",
                                        "tiny", "--max-update", str(updates), *options,
                                        "--", "--lr", "1e-9", "--warmup-updates", "1"])

    result = train(tmp_path / "run", 1, "--init-from", str(teacher))
    assert result.exit_code == 0, result.output
    result = train(tmp_path / "run", 2)
    assert result.exit_code == 0, result.output
    state = torch.load(tmp_path / "run" / "checkpoint_last.pt", map_location="cpu", weights_only=False)
    assert state["cfg"]["model"].post_norm and state["cfg"]["model"].init_from == str(teacher)
    assert training_updates(str(tmp_path / "run" / "checkpoint_last.pt")) == {"own": 2, "warm_start": 200}

    teacher.unlink()
    result = train(tmp_path / "run", 3)
    assert result.exit_code != 0
    assert result.output.strip().splitlines()[-1] == (f"Error: {tmp_path / 'run' / 'checkpoint_last.pt'} was "
                                                      f"warm-started from {teacher}, which is gone: give "
                                                      f"--init-from with that teacher to resume it")
    assert training_updates(str(tmp_path / "run" / "checkpoint_last.pt"))["own"] == 2  # nothing half-done
