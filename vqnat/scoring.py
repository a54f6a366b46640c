"""BLEU as people report it: sacreBLEU on detokenized text, with its signature."""
from pathlib import Path
from typing import List, Sequence, Tuple


def read_references(path: Path, expected: int) -> List[str]:
    """Reference lines of a split; their count must match the hypotheses'."""
    if not path.is_file():
        raise FileNotFoundError(f"reference file not found: {path}")
    lines = path.read_text(encoding="utf-8").splitlines()
    if len(lines) != expected:
        raise ValueError(f"{path} has {len(lines)} lines but there are {expected} hypotheses")
    return lines


def sacrebleu_score(hypotheses: Sequence[str], references: Sequence[str],
                    tokenize: str = "13a") -> Tuple[float, str]:
    """Corpus BLEU and sacreBLEU's signature (``tokenize='none'`` scores pre-tokenized text)."""
    from sacrebleu.metrics import BLEU

    bleu = BLEU(tokenize=tokenize, force=tokenize == "none")  # pre-tokenized on purpose: no warning
    score = bleu.corpus_score(list(hypotheses), [list(references)])
    return score.score, str(bleu.get_signature())


def paired_bootstrap_p(baseline: Sequence[str], system: Sequence[str], references: Sequence[str],
                       tokenize: str = "13a") -> float:
    """sacreBLEU's paired bootstrap (1,000 resamples, its fixed seed): the p-value of SYSTEM's BLEU differing from
    BASELINE's on these sentences by chance."""
    from sacrebleu.metrics import BLEU
    from sacrebleu.significance import PairedTest

    test = PairedTest([("baseline", list(baseline)), ("system", list(system))], {"BLEU": BLEU(tokenize=tokenize)},
                      [list(references)], test_type="bs")
    return test()[1]["BLEU"][1].p_value
