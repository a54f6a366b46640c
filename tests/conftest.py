"""Shared fixtures: the synthetic toy corpus, raw and preprocessed, built once per test session.

``toy_raw``: folder with ``{train,valid,test}.{src,tgt}`` (2000/100/100 pairs, languages ``src``/``tgt``).
``toy_data``: that corpus as a data directory (``--tokenizer none``, joint unigram vocabulary of at most
200 pieces), the same layout ``vqnat preprocess`` writes. Tests must not modify either.
"""
import pathlib

import pytest

TOY_VOCAB_SIZE = 200


@pytest.fixture(scope="session")
def toy_raw(tmp_path_factory) -> pathlib.Path:
    from vqnat.data.toy_corpus import write_toy_corpus

    return write_toy_corpus(tmp_path_factory.mktemp("toy_raw"))


@pytest.fixture(scope="session")
def toy_data(toy_raw, tmp_path_factory) -> pathlib.Path:
    from vqnat.data.preprocess import preprocess_corpus

    return preprocess_corpus(
        "src", "tgt", toy_raw / "train", toy_raw / "valid", tmp_path_factory.mktemp("toy") / "data",
        testpref=toy_raw / "test", vocab_size=TOY_VOCAB_SIZE, tokenizer="none",
    )


@pytest.fixture(scope="session")
def tiny_teacher(toy_data, tmp_path_factory) -> pathlib.Path:
    """A tiny AR teacher trained briefly on ``toy_data`` through the CLI; returns checkpoint_last.pt."""
    from click.testing import CliRunner

    from vqnat_cli.main import cli

    save_dir = tmp_path_factory.mktemp("tiny_teacher")
    result = CliRunner().invoke(cli, ["train", "teacher", str(toy_data), "--save-dir", str(save_dir),
                                      "--preset", "tiny", "--max-update", "200"])
    assert result.exit_code == 0, result.output
    return save_dir / "checkpoint_last.pt"


@pytest.fixture(scope="session")
def briefly_trained(toy_data, tmp_path_factory):
    """A tiny teacher and a tiny vqnat model, 10 updates each, through the CLI: for tests that need
    checkpoints, not quality ({"teacher": ..., "vqnat": ...} checkpoint_last.pt paths). Tests must not modify
    them."""
    from click.testing import CliRunner

    from vqnat_cli.main import cli

    root = tmp_path_factory.mktemp("briefly_trained")
    for command in ("teacher", "vqnat"):
        result = CliRunner().invoke(cli, ["train", command, str(toy_data), "--save-dir", str(root / command),
                                          "--preset", "tiny", "--max-update", "10"])
        assert result.exit_code == 0, result.output
    return {command: root / command / "checkpoint_last.pt" for command in ("teacher", "vqnat")}


@pytest.fixture
def built_lengths(monkeypatch):
    """(length scale, exact length) of every vqnat generator built while the test runs, in order."""
    from vqnat.generation.generator import VQNATGenerator

    built = []
    original_init = VQNATGenerator.__init__

    def recording_init(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        built.append((self.length_scale, self.exact_length))

    monkeypatch.setattr(VQNATGenerator, "__init__", recording_init)
    return built
