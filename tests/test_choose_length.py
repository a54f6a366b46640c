"""`vqnat choose-length`: the decoding length chosen on valid, recorded in the checkpoint, used by default."""
import shutil

import pytest
from click.testing import CliRunner

from vqnat.generation.length_choice import candidates_of, choose_length
from vqnat_cli.main import cli


def test_the_best_candidate_wins_and_a_tie_goes_to_the_rule_s_own_length():
    candidates = candidates_of([1.0, 1.1])
    assert candidates == [(1.0, False), (1.0, True), (1.1, False), (1.1, True)]
    bleu = {(1.0, False): 20.0, (1.0, True): 20.0, (1.1, False): 20.5, (1.1, True): 21.0}
    choice = choose_length(lambda candidate: (bleu[candidate], "sig"), candidates, "valid")
    assert choice["chosen"] == [1.1, True] and choice["bleu"] == [20.0, 20.0, 20.5, 21.0]
    tie = choose_length(lambda candidate: (20.0, "sig"), candidates, "valid")
    assert tie["chosen"] == [1.0, False]


def choose(data, checkpoint, *options):
    return CliRunner().invoke(cli, ["choose-length", "--data", str(data), "--checkpoint", str(checkpoint),
                                    *options])


@pytest.mark.slow
def test_the_choice_is_recorded_and_becomes_the_model_s_default(briefly_trained, toy_data, tmp_path, monkeypatch,
                                                          built_lengths):
    from vqnat.translate import Translator

    checkpoint = tmp_path / "vqnat.pt"
    shutil.copy(briefly_trained["vqnat"], checkpoint)
    result = choose(toy_data, checkpoint, "--scales", "1.0,1.5")
    assert result.exit_code == 0, result.output
    scores = {}
    for line in result.stdout.splitlines()[:-1]:
        bleu, setting = line.split("BLEU = ")[1].split(" with ")
        scores[setting] = float(bleu)
    assert list(scores) == ["--length-scale 1", "--length-scale 1 --exact-length", "--length-scale 1.5",
                            "--length-scale 1.5 --exact-length"]
    chosen = result.stdout.splitlines()[-1].split(" decodes with ")[1].split(" (")[0]
    assert scores[chosen] == max(scores.values())

    generator = Translator(str(checkpoint), str(toy_data)).generator
    assert (f"--length-scale {generator.length_scale:g}" + (" --exact-length" if generator.exact_length else "")
            == chosen)
    overridden = Translator(str(checkpoint), str(toy_data), length_scale=1.0, exact_length=False).generator
    assert (overridden.length_scale, overridden.exact_length) == (1.0, False)

    built_lengths.clear()
    generate = ["generate", "--data", str(toy_data), "--checkpoint", str(checkpoint), "--input", "-",
                "--output", "-"]
    assert CliRunner().invoke(cli, generate + ["--no-exact-length"], input="a b c\n").exit_code == 0
    assert built_lengths == [(generator.length_scale, False)]

    # rerun with the same candidates: the recorded choice, nothing decoded
    monkeypatch.setattr("vqnat.translate.Translator.__init__", lambda *args, **kwargs: pytest.fail("decoded"))
    again = choose(toy_data, checkpoint, "--scales", "1.0,1.5")
    assert again.exit_code == 0 and again.stdout == result.stdout


@pytest.mark.slow
def test_bad_checkpoints_and_scales_are_refused_in_one_line_and_nothing_is_written(briefly_trained, toy_data, tmp_path):
    teacher = tmp_path / "teacher.pt"
    shutil.copy(briefly_trained["teacher"], teacher)
    before = teacher.read_bytes()
    result = choose(toy_data, teacher)
    assert result.exit_code == 1 and "not a vqnat model's checkpoint" in result.output
    assert str(teacher) in result.output and len(result.output.strip().splitlines()) == 1
    assert teacher.read_bytes() == before
    bad = choose(toy_data, briefly_trained["vqnat"], "--scales", "1.0,x")
    assert bad.exit_code == 2 and "--scales" in bad.output and "'x' is not a number" in bad.output
    zero = choose(toy_data, briefly_trained["vqnat"], "--scales", "0,1")
    assert zero.exit_code == 1 and "--scales must be > 0" in zero.output
