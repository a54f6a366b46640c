"""The latent predictor's last layer: its states -> one logit per code.

``free`` is the paper's: a linear layer, one row per code, learned from the codes' occurrences alone (on
29k sentences a code of 1,024 is seen a few hundred times). ``codebook`` ties the layer to the codebook,
as language models tie their output to their word embeddings: a code's logit is the scaled dot product of
a projection of the state with that code's own vector, plus a bias. Codes with similar vectors (they stand
for similar target tokens) get similar scores, and a code's logit follows its vector when EM moves it or
restarts a dead code.
"""
import math
from typing import Callable, Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

LATENT_OUTPUT_KINDS = ["free", "codebook"]


class CodebookOutput(nn.Module):
    """States (..., D) -> logits (..., K): ``proj(state) . code_vector_k / sqrt(D) + bias_k``.

    ``code_table`` is set by the model that owns the codebook: a function returning the (K, D) code vectors
    in the model width (detached unless the latent predictor's loss may train the codes).
    """

    def __init__(self, dim: int, num_codes: int):
        super().__init__()
        self.proj = nn.Linear(dim, dim, bias=False)
        self.bias = nn.Parameter(torch.zeros(num_codes))
        self.scale = 1.0 / math.sqrt(dim)
        self.code_table: Optional[Callable[[], Tensor]] = None

    def forward(self, states: Tensor) -> Tensor:
        if self.code_table is None:
            raise RuntimeError("CodebookOutput needs its model's code_table before it scores codes")
        table = self.code_table().to(states.dtype)
        return F.linear(self.proj(states) * self.scale, table, self.bias.to(states.dtype))


def code_output(kind: str, dim: int, num_codes: int) -> nn.Module:
    """The latent predictor's output layer of ``kind`` (``LATENT_OUTPUT_KINDS``)."""
    if kind == "codebook":
        return CodebookOutput(dim, num_codes)
    if kind == "free":
        return nn.Linear(dim, num_codes)
    raise ValueError(f"--latent-output must be one of {', '.join(LATENT_OUTPUT_KINDS)}, got {kind!r}")
