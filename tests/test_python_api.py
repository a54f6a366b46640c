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


def generated(data, checkpoint, lines, *options):
    result = CliRunner().invoke(cli, ["generate", "--data", str(data), "--checkpoint", str(checkpoint),
                                      "--input", "-", "--output", "-", *options], input="\n".join(lines) + "\n")
    assert result.exit_code == 0, result.output
    return result.stdout.splitlines()


def test_the_readme_snippet_translates_as_vqnat_generate_does(briefly_trained, toy_data):
    code = (readme_snippet().replace("VQNAT/checkpoint_best.pt", str(briefly_trained["vqnat"]))
            .replace("TEACHER/checkpoint_best.pt", str(briefly_trained["teacher"]))
            .replace('"DATA"', repr(str(toy_data))))
    printed, names = io.StringIO(), {}
    with contextlib.redirect_stdout(printed):
        exec(compile(code, str(README), "exec"), names)

    sentences = names["sentences"]
    nat = generated(toy_data, briefly_trained["vqnat"], sentences, "--latent-beam", "1")
    ar = generated(toy_data, briefly_trained["teacher"], sentences, "--beam", "4")
    assert len(nat) == len(ar) == len(sentences) == 2
    assert printed.getvalue() == "".join(f"{source}\n  vqnat:   {fast}\n  teacher: {slow}\n"
                                         for source, fast, slow in zip(sentences, nat, ar))
    assert names["nat"].translate(sentences[0]) == nat[0]  # one string in, one string out


def test_length_options_reach_the_vqnat_generator_from_the_api_and_the_command_line(briefly_trained, toy_data,
                                                                                   built_lengths):
    from vqnat.translate import Translator

    model = str(briefly_trained["vqnat"])
    generator = Translator(model, str(toy_data), length_scale=1.5, exact_length=True).generator
    assert (generator.length_scale, generator.exact_length) == (1.5, True)
    default = Translator(model, str(toy_data)).generator
    assert (default.length_scale, default.exact_length) == (1.0, False)

    built_lengths.clear()
    assert len(generated(toy_data, model, ["a b c"], "--length-scale", "1.5", "--exact-length")) == 1
    assert built_lengths == [(1.5, True)]
    result = CliRunner().invoke(cli, ["generate", "--data", str(toy_data), "--checkpoint", model,
                                      "--length-scale", "0"])
    assert result.exit_code == 2 and "--length-scale" in result.output
