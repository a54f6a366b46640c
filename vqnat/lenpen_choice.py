"""The teacher's length penalty for distillation, chosen on the valid split.

A student learns its teacher's lengths (BENCHMARKS.md, "how to split a budget"): a teacher whose beam search
is short on valid distils short training targets, and the student's translations come out shorter still.
Which penalty fixes that depends on the teacher and the corpus (2.0 for a Bible teacher, 1.0 for a
software-messages one), so ``teacher-decode --lenpen 1.0,1.5,2.0,3.0`` translates the valid split with each
and distils with the one whose translations score best (sacreBLEU; a tie goes to the smaller penalty).
The choice is recorded in the destination, so a resumed run does not decode valid again.
"""
import json
import logging
from pathlib import Path
from typing import Callable, Dict, Sequence, Tuple

from vqnat.atomic import atomic_write_text

logger = logging.getLogger("vqnat.distill")

CHOICE_FILE = "lenpen_choice.json"


def recorded_choice(record: Path, checkpoint_sha256: str, candidates: Sequence[float]) -> Dict:
    """The choice an earlier run made for this teacher among these candidates ({} when there is none)."""
    if not record.is_file():
        return {}
    choice = json.loads(record.read_text(encoding="utf-8"))
    same = choice.get("checkpoint_sha256") == checkpoint_sha256 and choice.get("candidates") == list(candidates)
    return choice if same else {}


def choose_lenpen(score: Callable[[float], Tuple[float, str]], candidates: Sequence[float], record: Path,
                  checkpoint_sha256: str) -> Dict:
    """The best of ``candidates`` by ``score(lenpen) -> (valid BLEU, signature)``, or the recorded choice.

    Returns the choice (``chosen``, ``valid_bleu`` by penalty, ``signature``); ``write_choice`` records it once
    the destination is claimed."""
    choice = recorded_choice(record, checkpoint_sha256, candidates)
    if choice:
        logger.info("--lenpen %s, chosen on valid earlier (%s)", choice["chosen"], record)
        return choice
    scores, signature = {}, ""
    for lenpen in candidates:
        scores[lenpen], signature = score(lenpen)
        logger.info("teacher valid BLEU with --lenpen %s: %.2f", lenpen, scores[lenpen])
    chosen = max(sorted(candidates), key=lambda lenpen: scores[lenpen])  # max keeps the first of equals
    logger.info("--lenpen %s distils (valid BLEU %.2f)", chosen, scores[chosen])
    return {"checkpoint_sha256": checkpoint_sha256, "candidates": list(candidates), "chosen": chosen,
            "valid_bleu": {str(lenpen): round(scores[lenpen], 2) for lenpen in candidates},
            "signature": signature}


def write_choice(record: Path, choice: Dict) -> None:
    atomic_write_text(record, json.dumps(choice, indent=2) + "\n")
