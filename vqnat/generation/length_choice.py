"""A vqnat model's decoding length, chosen on the valid split and recorded in its checkpoint.

A latent model trained on distilled targets translates short (BENCHMARKS.md, "Translations as long as the
references": 0.82x the references' length on the Bible), and decoding at a scaled length, EOS held back to
its end, gains about a BLEU point. How much longer pays depends on the model and the corpus, so the scale
(and whether the length is exact) is chosen per model on valid, as the teacher's length penalty is
(``vqnat/lenpen_choice.py``), and written into the checkpoint's task settings: ``vqnat generate``, ``vqnat
bench``, the Python API and every engine then decode with it unless told otherwise. A best candidate on
the grid's edge (the software messages' student chooses the longest, 1.2) says the best length may lie
beyond it, so the search goes on past that edge, a step at a time, while each step gains at least
``MIN_GAIN_PAST_EDGE`` valid BLEU: a longer length costs latent predictor steps, and on a plateau (a Bible
student gained 0.01 a step from 1.25 to 1.7) the search would otherwise buy nothing with them. The scores
travel with the choice, so a rerun with the same candidates applies the rule to them again and decodes only
what they lack.
"""
import io
import logging
from pathlib import Path
from typing import Callable, Dict, List, Sequence, Tuple

from vqnat.atomic import atomic_write_bytes
from vqnat.safe_load import CheckpointLoadError, load_checkpoint_state

logger = logging.getLogger("vqnat.length_choice")

#: At most this many steps past the grid's edge when its best candidate lies on it.
MAX_EXTRA_STEPS = 10
#: What a step past the grid's edge has to gain over the best so far (sacreBLEU's two decimals) to be taken.
MIN_GAIN_PAST_EDGE = 0.1
#: Where the scores are kept in the checkpoint (fairseq keeps its own training state there too).
RECORD_KEY = "length_choice"

Candidate = Tuple[float, bool]  # (length scale, exact length)


class LengthChoiceError(ValueError):
    """A checkpoint whose length cannot be chosen; the message is one line naming the file."""


def candidates_of(scales: Sequence[float]) -> List[Candidate]:
    """Each scale as the translation's longest length and as its exact length; the rule's own first."""
    if any(scale <= 0 for scale in scales):
        raise LengthChoiceError(f"--scales must be > 0, got {', '.join(str(scale) for scale in scales)}")
    return [(float(scale), exact) for scale in scales for exact in (False, True)]


def describe(candidate: Candidate) -> str:
    """The candidate as the generate options that decode with it."""
    scale, exact = candidate
    return f"--length-scale {scale:g}" + (" --exact-length" if exact else "")


def read_checkpoint(path: Path) -> Dict:
    """The checkpoint's state; refused in one line unless it is a vqnat model's."""
    try:
        state = load_checkpoint_state(path)
    except CheckpointLoadError as error:
        raise LengthChoiceError(str(error)) from None
    task = ((state.get("cfg") or {}).get("task") or {}) if isinstance(state, dict) else {}
    if task.get("_name") != "translation_vqnat" or "model" not in state:
        raise LengthChoiceError(f"{path}: not a vqnat model's checkpoint (the decoding length is chosen for vqnat "
                                "models; AR teachers take --lenpen)")
    return state


def recorded_choice(state: Dict, candidates: Sequence[Candidate], subset: str) -> Dict:
    """The choice recorded in ``state`` among these candidates on this split ({} when there is none)."""
    choice = (state.get("extra_state") or {}).get(RECORD_KEY) or {}
    grid = choice.get("grid", choice.get("candidates"))  # a record without a grid: its candidates are its grid
    same = grid == [list(candidate) for candidate in candidates] and choice.get("subset") == subset
    return choice if same else {}


def choose_length(score: Callable[[Candidate], Tuple[float, str]], candidates: Sequence[Candidate],
                  subset: str, max_extra_steps: int = MAX_EXTRA_STEPS) -> Dict:
    """The best of ``candidates`` by ``score(candidate) -> (BLEU, signature)``; a tie goes to the earlier one
    (the rule's own length first), scores compared at sacreBLEU's two decimals. When the best has the grid's
    largest (smallest) scale, scales a grid step larger (smaller), with its exactness, are tried while each
    beats the best so far by ``MIN_GAIN_PAST_EDGE`` or more, at most ``max_extra_steps`` of them and never a
    scale <= 0."""
    scores, signature = {}, ""

    def tried(candidate: Candidate) -> float:
        nonlocal signature
        bleu, signature = score(candidate)
        bleu = scores[candidate] = round(bleu, 2)
        logger.info("%s BLEU with %s: %.2f", subset, describe(candidate), bleu)
        return bleu

    for candidate in candidates:
        tried(candidate)
    chosen = max(candidates, key=lambda candidate: scores[candidate])  # max keeps the first of equals
    scales = sorted({scale for scale, _ in candidates})
    if len(scales) > 1 and chosen[0] in (scales[0], scales[-1]):
        step = scales[-1] - scales[-2] if chosen[0] == scales[-1] else scales[0] - scales[1]
        for _ in range(max_extra_steps):
            beyond = (round(chosen[0] + step, 6), chosen[1])
            if beyond[0] <= 0 or tried(beyond) < round(scores[chosen] + MIN_GAIN_PAST_EDGE, 2):
                break
            chosen = beyond
    logger.info("%s decodes (%s BLEU %.2f against %.2f at the rule's own length)", describe(chosen), subset,
                scores[chosen], scores[candidates[0]])
    return {"grid": [list(candidate) for candidate in candidates], "subset": subset,
            "candidates": [list(candidate) for candidate in scores], "chosen": list(chosen),
            "bleu": list(scores.values()), "signature": signature}


def set_choice(state: Dict, choice: Dict) -> None:
    """Make the chosen length the checkpoint's task default and keep the scores (``write_checkpoint`` saves)."""
    scale, exact = choice["chosen"]
    state["cfg"]["task"]["length_scale"] = float(scale)
    state["cfg"]["task"]["exact_length"] = bool(exact)
    state.setdefault("extra_state", {})[RECORD_KEY] = choice


def write_checkpoint(path: Path, state: Dict) -> None:
    """The checkpoint with its recorded choices, rewritten atomically."""
    import torch

    buffer = io.BytesIO()
    torch.save(state, buffer)
    atomic_write_bytes(Path(path), buffer.getvalue())
