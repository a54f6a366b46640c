"""Choosing the teacher's length penalty on valid: the best score wins, a tie goes to the smaller penalty, a
recorded choice is reused only for the same teacher and candidates, and bad lists are refused."""
import json

import pytest

from vqnat.lenpen_choice import choose_lenpen, write_choice
from vqnat.number_list import parse_number_list

SHA = "a" * 64


def scorer(scores):
    calls = []

    def score(lenpen):
        calls.append(lenpen)
        return scores[lenpen], "nrefs:1|test"
    return score, calls


def test_the_best_valid_bleu_is_chosen_after_scoring_every_candidate(tmp_path):
    score, calls = scorer({1.0: 25.21, 1.5: 25.71, 2.0: 25.90, 3.0: 25.88})
    choice = choose_lenpen(score, [1.0, 1.5, 2.0, 3.0], tmp_path / "choice.json", SHA)
    assert calls == [1.0, 1.5, 2.0, 3.0]
    assert choice["chosen"] == 2.0
    assert choice["valid_bleu"] == {"1.0": 25.21, "1.5": 25.71, "2.0": 25.9, "3.0": 25.88}
    assert choice["signature"] == "nrefs:1|test" and choice["checkpoint_sha256"] == SHA


def test_a_tie_goes_to_the_smaller_penalty_whatever_the_order(tmp_path):
    score, _ = scorer({3.0: 30.0, 1.0: 30.0, 2.0: 29.0})
    assert choose_lenpen(score, [3.0, 2.0, 1.0], tmp_path / "choice.json", SHA)["chosen"] == 1.0


def test_a_recorded_choice_is_reused_without_scoring(tmp_path):
    record = tmp_path / "choice.json"
    first, _ = scorer({1.0: 20.0, 2.0: 21.0})
    write_choice(record, choose_lenpen(first, [1.0, 2.0], record, SHA))
    again, calls = scorer({1.0: 99.0, 2.0: 0.0})
    assert choose_lenpen(again, [1.0, 2.0], record, SHA)["chosen"] == 2.0
    assert calls == []
    assert json.loads(record.read_text())["chosen"] == 2.0


@pytest.mark.parametrize("sha, candidates", [("b" * 64, [1.0, 2.0]), (SHA, [1.0, 2.0, 3.0])])
def test_another_teacher_or_other_candidates_choose_again(tmp_path, sha, candidates):
    record = tmp_path / "choice.json"
    first, _ = scorer({1.0: 20.0, 2.0: 21.0})
    write_choice(record, choose_lenpen(first, [1.0, 2.0], record, SHA))
    again, calls = scorer({1.0: 22.0, 2.0: 21.0, 3.0: 0.0})
    assert choose_lenpen(again, candidates, record, sha)["chosen"] == 1.0
    assert calls == candidates


def test_lists_parse_and_bad_ones_are_refused_in_one_line():
    assert parse_number_list("2", "penalty") == [2.0]
    assert parse_number_list("1.0, 1.5,2", "penalty") == [1.0, 1.5, 2.0]
    with pytest.raises(ValueError, match="'x' is not a number"):
        parse_number_list("1.0,x", "penalty")
    with pytest.raises(ValueError, match="names a penalty twice"):
        parse_number_list("1,1.0", "penalty")
