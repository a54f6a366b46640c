"""A checkpoint the safe unpickler refuses: one line in vqnat's words wherever vqnat loads it, and its code never runs.

The file is a fairseq-shaped checkpoint with one extra object whose unpickling would run a shell command
that creates a marker file.
"""
import os

import pytest
import torch
from click.testing import CliRunner

from vqnat.safe_load import CheckpointLoadError, load_checkpoint_state
from vqnat_cli.main import cli


class RunsCode:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


@pytest.fixture
def hostile(tmp_path):
    """``(checkpoint, marker)``: unpickling the checkpoint would create ``marker``."""
    marker = tmp_path / "code-ran"
    path = tmp_path / "save" / "checkpoint_last.pt"
    path.parent.mkdir()
    torch.save({"cfg": {"task": {"_name": "translation"}}, "model": {}, "optimizer_history": [{"num_updates": 3}],
                "extra_state": RunsCode(marker)}, path)
    return path, marker


def assert_refused_in_one_line(message: str, checkpoint, marker) -> None:
    assert len(message.strip().splitlines()) == 1, message
    assert str(checkpoint) in message and "not a checkpoint vqnat can load safely" in message
    assert "posix.system" in message  # what it would have imported, read without running it
    assert "weights_only" not in message
    assert not marker.exists()


def test_the_safe_loader_refuses_it_in_one_line(hostile):
    checkpoint, marker = hostile
    with pytest.raises(CheckpointLoadError) as refused:
        load_checkpoint_state(checkpoint)
    assert_refused_in_one_line(str(refused.value), checkpoint, marker)


def test_the_python_api_refuses_it_in_one_line(hostile, toy_data):
    from vqnat import Translator
    from vqnat.translate import TranslationError

    checkpoint, marker = hostile
    with pytest.raises(TranslationError) as refused:
        Translator(str(checkpoint), str(toy_data))
    assert_refused_in_one_line(str(refused.value), checkpoint, marker)


def test_image_checkpoints_are_refused_in_the_same_words(hostile):
    from vqnat.image.checkpoint import VQVAE_KIND, CheckpointError, load_checkpoint

    checkpoint, marker = hostile
    with pytest.raises(CheckpointError) as refused:
        load_checkpoint(checkpoint, VQVAE_KIND)
    assert_refused_in_one_line(str(refused.value), checkpoint, marker)


@pytest.mark.parametrize("command", [
    ["generate", "--data", "{data}", "--checkpoint", "{checkpoint}"],
    ["teacher-decode", "--data", "{data}", "--checkpoint", "{checkpoint}", "--destdir", "{out}"],
    ["bench", "--data", "{data}", "--system", "x={checkpoint}", "--out", "{out}"],
    ["train", "teacher", "{data}", "--save-dir", "{save}", "--preset", "tiny"],  # resumes from its checkpoint_last.pt
], ids=lambda command: command[0])
def test_every_command_refuses_it_in_one_line(hostile, toy_data, tmp_path, command):
    checkpoint, marker = hostile
    places = {"data": toy_data, "checkpoint": checkpoint, "out": tmp_path / "out", "save": checkpoint.parent}
    result = CliRunner().invoke(cli, [word.format(**places) for word in command])
    assert result.exit_code == 1
    assert result.output.startswith("Error: ")
    assert_refused_in_one_line(result.output, checkpoint, marker)
    assert not (tmp_path / "out").exists()
