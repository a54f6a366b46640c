"""The README's Python API snippet, run as written on two tiny models: it prints what `vqnat generate` writes."""
import contextlib
import io
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from vqnat_cli.main import cli

pytestmark = pytest.mark.slow

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_snippet() -> str:
    section = README.read_text(encoding="utf-8").split("\n## Python API\n", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S)[1]


@pytest.fixture(scope="module")
def checkpoints(toy_data, tmp_path_factory):
    """A tiny teacher and a tiny vqnat model, 10 updates each: the snippet needs checkpoints, not quality."""
    root = tmp_path_factory.mktemp("python_api")
    for command in ("teacher", "vqnat"):
        result = CliRunner().invoke(cli, ["train", command, str(toy_data), "--save-dir", str(root / command),
                                          "--preset", "tiny", "--max-update", "10"])
        assert result.exit_code == 0, result.output
    return {command: root / command / "checkpoint_last.pt" for command in ("teacher", "vqnat")}


def generated(data, checkpoint, lines, *options):
    result = CliRunner().invoke(cli, ["generate", "--data", str(data), "--checkpoint", str(checkpoint),
                                      "--input", "-", "--output", "-", *options], input="\n".join(lines) + "\n")
    assert result.exit_code == 0, result.output
    return result.stdout.splitlines()


def test_the_readme_snippet_translates_as_vqnat_generate_does(checkpoints, toy_data):
    code = (readme_snippet().replace("VQNAT/checkpoint_best.pt", str(checkpoints["vqnat"]))
            .replace("TEACHER/checkpoint_best.pt", str(checkpoints["teacher"]))
            .replace('"DATA"', repr(str(toy_data))))
    printed, names = io.StringIO(), {}
    with contextlib.redirect_stdout(printed):
        exec(compile(code, str(README), "exec"), names)

    sentences = names["sentences"]
    nat = generated(toy_data, checkpoints["vqnat"], sentences, "--latent-beam", "1")
    ar = generated(toy_data, checkpoints["teacher"], sentences, "--beam", "4")
    assert len(nat) == len(ar) == len(sentences) == 2
    assert printed.getvalue() == "".join(f"{source}\n  vqnat:   {fast}\n  teacher: {slow}\n"
                                         for source, fast, slow in zip(sentences, nat, ar))
    assert names["nat"].translate(sentences[0]) == nat[0]  # one string in, one string out


def test_length_options_reach_the_vqnat_generator_from_the_api_and_the_command_line(checkpoints, toy_data,
                                                                                   monkeypatch):
    from vqnat.generation.generator import VQNATGenerator
    from vqnat.translate import Translator

    generator = Translator(str(checkpoints["vqnat"]), str(toy_data), length_scale=1.5, exact_length=True).generator
    assert (generator.length_scale, generator.exact_length) == (1.5, True)
    default = Translator(str(checkpoints["vqnat"]), str(toy_data)).generator
    assert (default.length_scale, default.exact_length) == (1.0, False)

    built = []
    original_init = VQNATGenerator.__init__

    def recording_init(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        built.append((self.length_scale, self.exact_length))

    monkeypatch.setattr(VQNATGenerator, "__init__", recording_init)
    assert len(generated(toy_data, checkpoints["vqnat"], ["a b c"], "--length-scale", "1.5", "--exact-length")) == 1
    assert built == [(1.5, True)]
    result = CliRunner().invoke(cli, ["generate", "--data", str(toy_data), "--checkpoint", str(checkpoints["vqnat"]),
                                      "--length-scale", "0"])
    assert result.exit_code == 2 and "--length-scale" in result.output
