"""`vqnat choose-length`: the decoding length chosen on valid, recorded in the checkpoint, used by default."""
import shutil

import pytest
from click.testing import CliRunner

from vqnat.generation.length_choice import MIN_GAIN_PAST_EDGE, candidates_of, choose_length, describe
from vqnat_cli.main import cli


def test_the_best_candidate_wins_and_a_tie_goes_to_the_rule_s_own_length():
    candidates = candidates_of([1.0, 1.1])
    assert candidates == [(1.0, False), (1.0, True), (1.1, False), (1.1, True)]
    bleu = {(1.0, False): 20.0, (1.0, True): 20.0, (1.1, False): 20.5, (1.1, True): 21.0}
    choice = choose_length(lambda candidate: (bleu[candidate], "sig"), candidates, "valid", max_extra_steps=0)
    assert choice["chosen"] == [1.1, True] and choice["bleu"] == [20.0, 20.0, 20.5, 21.0]
    tie = choose_length(lambda candidate: (20.0, "sig"), candidates, "valid")
    assert tie["chosen"] == [1.0, False] and tie["candidates"][4:] == [[0.9, False]]  # past the edge: no better


def test_a_best_scale_on_the_grid_s_edge_is_followed_past_it_while_bleu_rises():
    peaked_at_1_3 = lambda candidate: (30.0 - 10 * abs(candidate[0] - 1.3) - candidate[1], "sig")
    up = choose_length(peaked_at_1_3, candidates_of([1.0, 1.1, 1.2]), "valid")
    assert up["grid"] == [[1.0, False], [1.0, True], [1.1, False], [1.1, True], [1.2, False], [1.2, True]]
    assert up["candidates"][6:] == [[1.3, False], [1.4, False]] and up["chosen"] == [1.3, False]
    assert up["bleu"][6:] == [30.0, 29.0]
    capped = choose_length(peaked_at_1_3, candidates_of([1.0, 1.1, 1.2]), "valid", max_extra_steps=0)
    assert capped["candidates"] == capped["grid"] and capped["chosen"] == [1.2, False]

    peaked_at_0_8 = lambda candidate: (30.0 - 10 * abs(candidate[0] - 0.8) - (not candidate[1]), "sig")
    down = choose_length(peaked_at_0_8, candidates_of([1.0, 1.05]), "valid")
    assert [scale for scale, _ in down["candidates"][4:]] == [0.95, 0.9, 0.85, 0.8, 0.75]
    assert all(exact for _, exact in down["candidates"][4:]) and down["chosen"] == [0.8, True]

    rising_to_zero = choose_length(lambda candidate: (-candidate[0], "sig"), candidates_of([0.5, 1.0]), "valid")
    assert rising_to_zero["chosen"] == [0.5, False] and len(rising_to_zero["candidates"]) == 4  # no scale <= 0
    plateau = choose_length(lambda candidate: (20.0 + 0.3 * candidate[0] + 0.5 * (candidate[0] >= 1.2), "sig"),
                            candidates_of([1.0, 1.1, 1.2]), "valid")
    assert plateau["candidates"][6:] == [[1.3, False]] and plateau["chosen"] == [1.2, False]  # +0.03: not taken
    inside = choose_length(lambda candidate: (-abs(candidate[0] - 1.1), "sig"), candidates_of([1.0, 1.1, 1.2]),
                           "valid")
    assert inside["candidates"] == inside["grid"] and inside["chosen"] == [1.1, False]


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
    assert list(scores)[:4] == ["--length-scale 1", "--length-scale 1 --exact-length", "--length-scale 1.5",
                                "--length-scale 1.5 --exact-length"]
    chosen = result.stdout.splitlines()[-1].split(" decodes with ")[1].split(" (")[0]
    expected = max(list(scores)[:4], key=scores.get)
    for setting in list(scores)[4:]:  # the edge the best lay on, followed while each step gained 0.1 or more
        if scores[setting] >= round(scores[expected] + MIN_GAIN_PAST_EDGE, 2):
            expected = setting
    assert chosen == expected
    beyond = list(scores)[4:]
    assert all(setting.endswith("--exact-length") == chosen.endswith("--exact-length") for setting in beyond)
    assert all(not 1.0 <= float(setting.split()[1]) <= 1.5 for setting in beyond)

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

    # a record whose choice another rule made: the rule applied again to its scores, still nothing decoded
    import torch

    state = torch.load(checkpoint, map_location="cpu", weights_only=False)
    record = state["extra_state"]["length_choice"]
    record["chosen"] = min(record["candidates"], key=lambda candidate: scores[describe(tuple(candidate))])
    torch.save(state, checkpoint)
    mended = choose(toy_data, checkpoint, "--scales", "1.0,1.5")
    assert mended.exit_code == 0 and mended.stdout == result.stdout
    task = torch.load(checkpoint, map_location="cpu", weights_only=False)["cfg"]["task"]
    assert describe((task["length_scale"], task["exact_length"])) == chosen


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


def test_a_larger_latent_beam_is_chosen_only_where_it_gains_enough_valid_bleu():
    from vqnat.generation.latent_beam_choice import MIN_GAIN, beams_of, choose_latent_beam

    assert beams_of([4, 1, 4.0]) == (1, 4)
    for bad in ([0], [1.5]):
        with pytest.raises(ValueError, match="--latent-beams must be whole numbers >= 1"):
            beams_of(bad)
    scores = {1: 20.0, 2: 20.0 + MIN_GAIN / 2, 4: 20.0 + MIN_GAIN}
    choose = lambda beams, length: choose_latent_beam(lambda beam: (scores[beam], "sig"), beams, "valid", length,
                                                      max_p=1)
    choice = choose((1, 2, 4), [1.2, False])
    assert choice["chosen"] == 4 and choice["bleu"] == [20.0, 20.05, 20.1] and choice["length"] == [1.2, False]
    assert choice["p"] == [None, None, None] and choice["max_p"] == 1  # no test asked for: none run
    scores[4] = 20.0 + MIN_GAIN / 2
    assert choose((1, 2, 4), [1.0, True])["chosen"] == 1
    scores[1] = 21.0
    assert choose((1, 4), [1.0, True])["chosen"] == 1


def test_a_larger_latent_beam_s_gain_must_also_be_significant():
    from vqnat.generation.latent_beam_choice import MAX_P, choose_latent_beam

    scores = {1: 20.0, 2: 20.05, 4: 21.0, 8: 21.5}
    p_values = {(1, 4): MAX_P * 2, (1, 8): MAX_P}
    tested = []

    def p_value(chosen, beam):
        tested.append((chosen, beam))
        return p_values[chosen, beam]

    choice = choose_latent_beam(lambda beam: (scores[beam], "sig"), (1, 2, 4, 8), "valid", [1.0, False], p_value)
    assert choice["chosen"] == 8 and choice["max_p"] == MAX_P
    assert tested == [(1, 4), (1, 8)]  # beam 2 gains too little to be tested; 4 is tested and not kept
    assert choice["p"] == [None, None, MAX_P * 2, MAX_P] and choice["against"] == [None, None, 1, 1]
    p_values[1, 8] = MAX_P * 1.01
    assert choose_latent_beam(lambda beam: (scores[beam], "sig"), (1, 4, 8), "valid", [1.0, False],
                              p_value)["chosen"] == 1
    with pytest.raises(ValueError, match="paired test"):
        choose_latent_beam(lambda beam: (scores[beam], "sig"), (1, 4), "valid", [1.0, False])


def test_the_paired_bootstrap_tells_a_real_gain_from_one_changed_sentence():
    import random

    from vqnat.scoring import paired_bootstrap_p

    rng = random.Random(0)
    words = [f"w{i}" for i in range(300)]
    references = [" ".join(rng.choice(words) for _ in range(12)) for _ in range(300)]
    halves = [" ".join(reference.split()[:6]) for reference in references]
    assert paired_bootstrap_p(halves, references, references) <= 0.01
    one_changed = halves[:-1] + [references[-1]]
    assert paired_bootstrap_p(halves, one_changed, references) > 0.2


@pytest.mark.slow
def test_the_latent_beam_chosen_at_the_chosen_length_becomes_the_model_s_default(toy_data, tmp_path, monkeypatch):
    import torch

    from vqnat.generation.latent_beam_choice import MAX_P, MIN_GAIN
    from vqnat.translate import Translator

    checkpoint = tmp_path / "pairs" / "checkpoint_last.pt"
    trained = CliRunner().invoke(cli, ["train", "vqnat", str(toy_data), "--save-dir", str(checkpoint.parent),
                                       "--preset", "tiny", "--recipe", "pairs", "--max-update", "10"])
    assert trained.exit_code == 0, trained.output
    result = choose(toy_data, checkpoint, "--scales", "1.0", "--latent-beams", "1,3")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    one_pass = float(lines[0].split("BLEU = ")[1].split(" with ")[0])  # the length's own score, not decoded again
    beams = {int(line.split("--latent-beam ")[1]): float(line.split("BLEU = ")[1].split(" with ")[0])
             for line in lines if "--latent-beam " in line and "BLEU = " in line}
    assert set(beams) == {1, 3} and beams[1] == one_pass
    gains = beams[3] >= round(beams[1] + MIN_GAIN, 2)
    tested = [line for line in lines if "paired bootstrap p = " in line]
    assert len(tested) == gains and all(line.endswith("against --latent-beam 1)") for line in tested)
    significant = gains and float(tested[0].split("p = ")[1].split(" ")[0]) <= MAX_P
    expected = 3 if significant else 1
    assert lines[-1].split(" decodes with ")[1].split(" (")[0].endswith(f"--latent-beam {expected}")

    state = torch.load(checkpoint, map_location="cpu", weights_only=False)
    assert state["cfg"]["task"]["latent_beam"] == expected
    assert state["extra_state"]["latent_beam_choice"]["bleu"] == [beams[1], beams[3]]
    assert state["extra_state"]["latent_beam_choice"]["max_p"] == MAX_P
    assert Translator(str(checkpoint), str(toy_data)).generator.latent_beam == expected
    assert Translator(str(checkpoint), str(toy_data), latent_beam=2).generator.latent_beam == 2
    sampled = Translator(str(checkpoint), str(toy_data), latent_samples=2).generator
    assert (sampled.latent_beam, sampled.latent_samples) == (1, 2)  # samples replace the model's own beam

    monkeypatch.setattr("vqnat.translate.Translator.__init__", lambda *args, **kwargs: pytest.fail("decoded"))
    again = choose(toy_data, checkpoint, "--scales", "1.0", "--latent-beams", "1,3")
    assert again.exit_code == 0 and again.stdout == result.stdout
    monkeypatch.undo()
    on_gain_alone = choose(toy_data, checkpoint, "--scales", "1.0", "--latent-beams", "1,3", "--latent-beam-p", "1")
    assert on_gain_alone.exit_code == 0 and "paired bootstrap" not in on_gain_alone.stdout
    assert on_gain_alone.stdout.splitlines()[-1].split(" (")[0].endswith(f"--latent-beam {3 if gains else 1}")
    state = torch.load(checkpoint, map_location="cpu", weights_only=False)
    assert state["extra_state"]["latent_beam_choice"]["max_p"] == 1

    monkeypatch.setattr("vqnat.generation.latent_beam_choice.MIN_GAIN", -100.0)  # every beam gains: all tested
    tested_run = choose(toy_data, checkpoint, "--scales", "1.0", "--latent-beams", "1,3")
    assert tested_run.exit_code == 0, tested_run.output
    record = torch.load(checkpoint, map_location="cpu", weights_only=False)["extra_state"]["latent_beam_choice"]
    assert record["against"] == [None, 1] and record["p"][0] is None and 0 < record["p"][1] <= 1
    assert f"--latent-beam 3 (paired bootstrap p = {record['p'][1]:.3f} against --latent-beam 1)" in tested_run.stdout
    assert record["chosen"] == (3 if record["p"][1] <= MAX_P else 1)


@pytest.mark.slow
def test_a_beam_over_a_parallel_predictor_s_codes_is_refused_and_nothing_is_written(briefly_trained, toy_data,
                                                                                     tmp_path, monkeypatch):
    checkpoint = tmp_path / "parallel.pt"
    shutil.copy(briefly_trained["vqnat"], checkpoint)
    before = checkpoint.read_bytes()
    monkeypatch.setattr("vqnat.translate.Translator.__init__", lambda *args, **kwargs: pytest.fail("decoded"))
    result = choose(toy_data, checkpoint, "--scales", "1.0", "--latent-beams", "1,4")
    assert result.exit_code == 1 and "latent predictor is parallel" in result.output
    assert str(checkpoint) in result.output and len(result.output.strip().splitlines()) == 1
    assert checkpoint.read_bytes() == before
    bad = choose(toy_data, checkpoint, "--latent-beams", "0,1")
    assert bad.exit_code == 1 and "--latent-beams must be whole numbers >= 1" in bad.output


def test_the_help_shows_beams_as_whole_numbers_and_scales_as_numbers():
    shown = CliRunner().invoke(cli, ["choose-length", "-h"]).output
    assert "--latent-beams INT[,INT...]" in shown and "--scales FLOAT[,FLOAT...]" in shown
