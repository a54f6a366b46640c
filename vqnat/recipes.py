"""Training recipes of ``vqnat train vqnat``: which codes, which latent predictor, how they are trained.

A recipe is a list of flags placed after the preset's and before the user's (so any flag after ``--``
still wins). ``paper`` is Roy et al. 2018 as written: soft EM over 2^n_c-token codes, an autoregressive
latent predictor, targets padded to 2 x the source length. ``parallel`` makes the codes predictable from the
source, as latent-GLAT does (Bao et al. 2022): one code per target token out of 64, a latent predictor that
predicts them all in one pass, trained with glancing, and a decoder that also learns from the codes the
predictor chose. ``pairs`` is the paper's model at the compression the source predicts best among those
with a large codebook (n_c = 1, K = 1,024: a code per two target tokens), with the flags that keep its
codebook in use and soft EM drawing its codes at temperature 2. BENCHMARKS.md measures all three.
"""
from typing import Dict, List

#: Codes the source can predict: one per token (n_c = 0) among K = 64, hard EM (latent-GLAT's EMA codebook).
_PARALLEL_CODES = {"--bottleneck": "ema", "--codebook-size": "64", "--compress": "0"}
_PAPER_CODES = {"--bottleneck": "soft_em", "--num-samples": "10"}
#: The paper's soft EM over codes of two target tokens among 1,024 (BENCHMARKS.md: "K x n_c").
_PAIRS_CODES = {**_PAPER_CODES, "--codebook-size": "1024", "--compress": "1"}
#: What keeps a 1,024-code book in use on real text (README: "Keeping the codebook in use on real text"), and
#: codes drawn from a flatter posterior, T = 2, chosen on the valid splits of two corpora (BENCHMARKS.md: "What
#: the latent predictor reads and learns from").
_PAIRS_ARGS = ["--train-padding", "none", "--em-decay", "0.99", "--restart-dead-codes", "--latent-predictor-detach",
               "--em-temperature", "2"]
_CODES = {"parallel": _PARALLEL_CODES, "paper": _PAPER_CODES, "pairs": _PAIRS_CODES}
RECIPES = tuple(_CODES)


def recipe_codes(recipe: str) -> Dict[str, str]:
    """The bottleneck flags a recipe chooses unless the user gives them (``--bottleneck``, ``--compress``...)."""
    _check(recipe)
    return dict(_CODES[recipe])


def recipe_args(recipe: str, max_update: int) -> List[str]:
    """The recipe's training flags; ``parallel``'s glancing ratio anneals from 0.5 to 0.3 over the whole run.

    ``parallel`` quantizes the token embeddings themselves (n_c = 0: no compressor), so the codebook is
    k-means over the embeddings (initialised by k-means, kept up by EM) and no commitment loss pulls the
    embeddings, which the encoder and the output softmax share, towards 64 centroids."""
    _check(recipe)
    if recipe == "paper":
        return []
    if recipe == "pairs":
        return list(_PAIRS_ARGS)
    return [
        "--latent-predictor", "parallel", "--decoder-bidirectional", "--train-padding", "none",
        "--latent-predictor-detach", "--em-decay", "0.99", "--restart-dead-codes", "--kmeans-init",
        "--commitment-beta", "0",
        "--glance-ratio", "0.5", "--glance-ratio-end", "0.3", "--glance-anneal-updates", str(max_update),
        "--code-mix-prob", "0.5",
    ]


def _check(recipe: str) -> None:
    if recipe not in RECIPES:
        raise ValueError(f"unknown recipe {recipe!r}; choose one of {', '.join(RECIPES)}")
