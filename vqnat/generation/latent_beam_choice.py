"""A vqnat model's beam over codes, chosen on the valid split at its chosen length and recorded in its checkpoint.

A beam of 4 over an autoregressive latent predictor's codes gains 0.2-0.9 test BLEU at every Bible budget
measured and loses 0.55-0.57 on the software messages (BENCHMARKS.md), so whether it pays is a property of the
model and the corpus: like the decoding length (``length_choice``), it is chosen per model on valid and
written into the checkpoint's task settings, which ``vqnat generate``, ``vqnat bench``, the Python API and
every engine decode with unless told otherwise. A larger beam costs latent predictor time, so it has to beat
the beam chosen among the smaller ones by ``MIN_GAIN`` valid BLEU, and by a gain that sacreBLEU's paired
bootstrap finds significant at ``MAX_P``: 0.1 BLEU alone is inside the noise of a valid split of 1,500 short
sentences, where it chose the beam of 4 (+0.64, p = 0.12) that loses on test (BENCHMARKS.md, "`run.sh` with
the 0.1-BLEU latent beam rule"). The scores travel with the choice: a rerun with the same beams, length and
``max_p`` decodes nothing.
"""
from typing import Callable, Dict, Optional, Sequence, Tuple

#: What a larger beam has to gain over the one chosen among the smaller (sacreBLEU's two decimals) to be chosen.
MIN_GAIN = 0.1
#: The paired bootstrap's p-value a larger beam's gain must not exceed; 1 leaves ``MIN_GAIN`` alone to decide.
MAX_P = 0.05
#: Where the scores are kept in the checkpoint, beside ``length_choice``'s.
RECORD_KEY = "latent_beam_choice"


def beams_of(values: Sequence[float]) -> Tuple[int, ...]:
    """``--latent-beams`` as whole numbers >= 1, smallest first; refused in one line otherwise."""
    if any(value != int(value) or value < 1 for value in values):
        raise ValueError(f"--latent-beams must be whole numbers >= 1, got {', '.join(f'{v:g}' for v in values)}")
    return tuple(sorted({int(value) for value in values}))


def refuse_beams_over_parallel_codes(state: Dict, beams: Sequence[int], path) -> None:
    """A beam searches an autoregressive latent predictor: say so for a parallel one before anything is decoded."""
    model = (state.get("cfg") or {}).get("model")
    kind = model.get("latent_predictor") if isinstance(model, dict) else getattr(model, "latent_predictor", None)
    if max(beams) > 1 and kind == "parallel":
        raise ValueError(f"--latent-beams: {path}'s latent predictor is parallel, with no beam search over codes: "
                         "give 1")


def recorded_beam_choice(state: Dict, beams: Sequence[int], subset: str, length: Sequence, max_p: float) -> Dict:
    """The choice recorded in ``state`` among these beams on this split at this length and ``max_p`` ({} when
    there is none)."""
    choice = (state.get("extra_state") or {}).get(RECORD_KEY) or {}
    same = (choice.get("beams") == list(beams) and choice.get("subset") == subset
            and choice.get("length") == list(length) and choice.get("max_p") == max_p)
    return choice if same else {}


def choose_latent_beam(score: Callable[[int], Tuple[float, str]], beams: Sequence[int], subset: str,
                       length: Sequence, p_value: Optional[Callable[[int, int], float]] = None,
                       max_p: float = MAX_P) -> Dict:
    """The beam valid translates best with by ``score(beam) -> (BLEU, signature)``, smallest first: a larger
    beam replaces the one chosen so far only where it beats it by ``MIN_GAIN`` (scores compared at
    sacreBLEU's two decimals) and, unless ``max_p`` is 1, where ``p_value(chosen, beam)`` (a paired test of
    the two beams' translations) is at most ``max_p``."""
    if max_p < 1 and p_value is None:
        raise ValueError("a latent beam chosen at max_p < 1 needs a paired test of two beams' translations")
    scores, p_values, against, signature = [], [], [], ""
    chosen, chosen_bleu = None, None
    for beam in beams:
        bleu, signature = score(beam)
        scores.append(round(bleu, 2))
        gains = chosen is not None and scores[-1] >= round(chosen_bleu + MIN_GAIN, 2)
        p_values.append(p_value(chosen, beam) if gains and max_p < 1 else None)
        against.append(chosen if gains and max_p < 1 else None)
        if chosen is None or (gains and (p_values[-1] is None or p_values[-1] <= max_p)):
            chosen, chosen_bleu = beam, scores[-1]
    return {"beams": list(beams), "subset": subset, "length": list(length), "bleu": scores, "max_p": max_p,
            "p": p_values, "against": against, "chosen": chosen, "signature": signature}


def set_beam_choice(state: Dict, choice: Dict) -> None:
    """Make the chosen beam the checkpoint's task default and keep the scores (the caller writes ``state``)."""
    state["cfg"]["task"]["latent_beam"] = int(choice["chosen"])
    state.setdefault("extra_state", {})[RECORD_KEY] = choice
