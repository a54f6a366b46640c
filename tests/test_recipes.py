"""``vqnat train vqnat --recipe``: the flags each recipe hands fairseq, that the user's flags still win, and that
the default recipe learns."""
import re

import pytest
from click.testing import CliRunner

from vqnat.recipes import recipe_args
from vqnat_cli.main import cli

TOY_UPDATES = 600
MIN_TOY_BLEU = 50.0


@pytest.fixture
def captured_argv(monkeypatch):
    """The fairseq-train argv the command would run (training itself is not started)."""
    import vqnat_cli.train

    seen = []
    monkeypatch.setattr(vqnat_cli.train, "_run", lambda argv, *_: seen.append(argv))
    return seen


def value_of(argv, flag):
    """fairseq lets the last occurrence of a flag win."""
    return argv[len(argv) - 1 - argv[::-1].index(flag) + 1]


def test_parallel_recipe_is_the_tiny_presets_default_and_anneals_over_the_run(toy_data, tmp_path, captured_argv):
    result = CliRunner().invoke(cli, ["train", "vqnat", str(toy_data), "--save-dir", str(tmp_path), "--preset",
                                      "tiny", "--max-update", "300"])
    assert result.exit_code == 0, result.output
    argv = captured_argv[0]
    assert value_of(argv, "--latent-predictor") == "parallel"
    assert (value_of(argv, "--compress"), value_of(argv, "--codebook-size"), value_of(argv, "--bottleneck")) == \
        ("0", "64", "ema")
    assert value_of(argv, "--glance-anneal-updates") == "300"
    assert "--decoder-bidirectional" in argv


@pytest.mark.parametrize("preset", ["small", "base"])
def test_pairs_recipe_is_the_default_from_the_small_preset_on(toy_data, tmp_path, captured_argv, preset):
    result = CliRunner().invoke(cli, ["train", "vqnat", str(toy_data), "--save-dir", str(tmp_path), "--preset",
                                      preset, "--max-update", "300"])
    assert result.exit_code == 0, result.output
    argv = captured_argv[0]
    assert (value_of(argv, "--compress"), value_of(argv, "--codebook-size"), value_of(argv, "--bottleneck")) == \
        ("1", "1024", "soft_em")
    assert "--latent-predictor" not in argv or value_of(argv, "--latent-predictor") == "autoregressive"


def test_a_resumed_parallel_run_keeps_its_recipe_where_pairs_is_the_default(toy_data, tmp_path, captured_argv):
    import torch

    torch.save({"cfg": {"model": {"latent_predictor": "parallel"}}, "optimizer_history": [{"num_updates": 100}]},
               tmp_path / "checkpoint_last.pt")
    result = CliRunner().invoke(cli, ["train", "vqnat", str(toy_data), "--save-dir", str(tmp_path), "--preset",
                                      "small", "--max-update", "300"])
    assert result.exit_code == 0, result.output
    argv = captured_argv[0]
    assert value_of(argv, "--latent-predictor") == "parallel"
    assert (value_of(argv, "--compress"), value_of(argv, "--codebook-size")) == ("0", "64")


@pytest.mark.parametrize("user_flags,temperature", [((), "1.0"), (("--", "--em-temperature", "3"), "3")])
def test_a_resumed_run_keeps_its_soft_em_temperature_unless_told(toy_data, tmp_path, captured_argv, user_flags,
                                                                 temperature):
    import torch

    torch.save({"cfg": {"model": {"latent_predictor": "autoregressive", "em_temperature": 1.0}},
                "optimizer_history": [{"num_updates": 100}]}, tmp_path / "checkpoint_last.pt")
    result = CliRunner().invoke(cli, ["train", "vqnat", str(toy_data), "--save-dir", str(tmp_path), "--preset",
                                      "small", "--max-update", "300", *user_flags])
    assert result.exit_code == 0, result.output
    argv = captured_argv[0]
    assert value_of(argv, "--em-temperature") == temperature
    assert value_of(argv, "--compress") == "1"  # still the pairs recipe


def test_paper_recipe_and_explicit_flags_win(toy_data, tmp_path, captured_argv):
    result = CliRunner().invoke(cli, ["train", "vqnat", str(toy_data), "--save-dir", str(tmp_path), "--preset",
                                      "tiny", "--recipe", "paper", "--compress", "1", "--", "--num-samples", "3"])
    assert result.exit_code == 0, result.output
    argv = captured_argv[0]
    assert "--latent-predictor" not in argv and "--glance-ratio" not in argv
    assert value_of(argv, "--bottleneck") == "soft_em"
    assert value_of(argv, "--compress") == "1"
    assert value_of(argv, "--num-samples") == "3"
    assert "--em-temperature" not in argv  # the paper's T = 1


def test_pairs_recipe_is_the_paper_model_with_two_token_codes_among_1024(toy_data, tmp_path, captured_argv):
    result = CliRunner().invoke(cli, ["train", "vqnat", str(toy_data), "--save-dir", str(tmp_path), "--preset",
                                      "tiny", "--recipe", "pairs", "--codebook-size", "256"])
    assert result.exit_code == 0, result.output
    argv = captured_argv[0]
    assert "--latent-predictor" not in argv and "--glance-ratio" not in argv  # autoregressive, as the paper's
    assert (value_of(argv, "--bottleneck"), value_of(argv, "--num-samples"), value_of(argv, "--compress")) == \
        ("soft_em", "10", "1")
    assert value_of(argv, "--codebook-size") == "256"  # the user's K wins over the recipe's 1,024
    assert value_of(argv, "--train-padding") == "none" and value_of(argv, "--em-decay") == "0.99"
    assert "--restart-dead-codes" in argv and "--latent-predictor-detach" in argv
    assert value_of(argv, "--em-temperature") == "2"  # soft EM's codes drawn from a flatter posterior


def test_the_command_line_offers_every_recipe():
    from vqnat.recipes import RECIPES
    from vqnat_cli.train import RECIPES as CLI_RECIPES

    assert CLI_RECIPES == RECIPES


def test_unknown_recipe_is_refused():
    with pytest.raises(ValueError, match="unknown recipe 'fast'"):
        recipe_args("fast", 100)



def train_and_score(data, save_dir, train_flags=(), decoding=()) -> float:
    """Train the default recipe on ``data`` through the CLI, then the test split's sacreBLEU."""
    result = CliRunner().invoke(cli, ["train", "vqnat", str(data), "--save-dir", str(save_dir), "--preset", "tiny",
                                      "--max-update", str(TOY_UPDATES), "--", "--disable-validation", *train_flags])
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(cli, ["generate", "--data", str(data), "--checkpoint", str(save_dir / "checkpoint_last.pt"),
                                      "--output", str(save_dir / "test.hyp"), *decoding])
    assert result.exit_code == 0, result.output
    return float(re.search(r"BLEU = ([0-9.]+)", result.output)[1])


@pytest.mark.slow
@pytest.mark.parametrize("train_flags,decoding", [
    ((), ()),                                                 # the default: glancing, one pass
    ((), ("--length-beam", "2")),
    (("--reveal", "uniform"), ("--latent-iterations", "2")),  # refinement on the masks it was trained for
])
def test_the_parallel_recipe_learns_the_toy_cipher(toy_data, tmp_path, train_flags, decoding):
    """An untrained model scores ~0 BLEU on the toy cipher; the parallel recipe learns it in 600 updates."""
    assert train_and_score(toy_data, tmp_path, train_flags, decoding) > MIN_TOY_BLEU


@pytest.mark.slow
@pytest.mark.parametrize("reveal,warned", [("glance", True), ("uniform", False)])
def test_refining_a_glancing_model_is_warned_about(toy_data, tmp_path, caplog, reveal, warned):
    from vqnat.translate import Translator

    result = CliRunner().invoke(cli, ["train", "vqnat", str(toy_data), "--save-dir", str(tmp_path), "--preset", "tiny",
                                      "--max-update", "2", "--", "--disable-validation", "--reveal", reveal])
    assert result.exit_code == 0, result.output
    Translator(str(tmp_path / "checkpoint_last.pt"), str(toy_data))
    assert "trained with glancing" not in caplog.text  # one pass: nothing to say
    Translator(str(tmp_path / "checkpoint_last.pt"), str(toy_data), latent_iterations=2)
    assert ("trained with glancing" in caplog.text) == warned
