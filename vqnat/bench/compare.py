"""Speed-ups and BLEU ratios against the AR baselines, computed from the stored medians and scores.

The references are found by model kind and beam: "vs beam" is the first AR system with beam > 1,
"vs greedy" the first AR system with beam 1, in the order the systems were given; only rows that run
fairseq's own PyTorch decoding in fp32 qualify (not CTranslate2 or int8 rows).
"""
from typing import Dict, List, Optional


def speedup_references(systems: List[Dict]) -> Dict[str, Optional[Dict]]:
    """The AR beam and AR greedy rows (None when a run has no such system)."""
    autoregressive = [system for system in systems if system["kind"] == "ar"
                      and system.get("engine", "torch") == "torch" and system.get("quantize", "float32") == "float32"]
    return {
        "beam": next((system for system in autoregressive if system["beam"] > 1), None),
        "greedy": next((system for system in autoregressive if system["beam"] == 1), None),
    }


def add_comparisons(systems: List[Dict]) -> Dict[str, Optional[str]]:
    """Set ``speedup_vs_beam`` and ``speedup_vs_greedy`` (reference median / own median) and
    ``bleu_vs_greedy`` (own BLEU / the AR greedy row's) on every row.

    Returns the names of the reference systems.
    """
    references = speedup_references(systems)
    greedy = references["greedy"]
    for system in systems:
        for key, reference in references.items():
            system[f"speedup_vs_{key}"] = (
                reference["latency_ms"]["median"] / system["latency_ms"]["median"] if reference else None
            )
        system["bleu_vs_greedy"] = (system["bleu"] / greedy["bleu"]
                                    if greedy and greedy.get("bleu") and "bleu" in system else None)
    return {key: reference["name"] if reference else None for key, reference in references.items()}
