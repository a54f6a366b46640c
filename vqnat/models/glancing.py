"""Which positions glancing reveals (Qian et al. 2021), shared by the latent predictor and the decoder.

A first pass predicts every position; a sentence with m mistakes then has floor(ratio x m) positions revealed,
drawn uniformly among its real positions (not only among the mistakes), so that a sentence the model already
gets right is trained on its own predictions, and a hard one sees more of the reference.
"""
from typing import Optional

import torch
from torch import Tensor


def glanced_positions(mistakes: Tensor, mask: Tensor, ratio: float,
                      generator: Optional[torch.Generator] = None) -> Tensor:
    """Revealed positions (B, N) given a first pass's ``mistakes`` (B, N) and the real positions ``mask`` (B, N)."""
    count = torch.floor((mistakes & mask).sum(1).float() * ratio).long()  # (B,)
    draws = torch.rand(mask.shape, device=mask.device, generator=generator).masked_fill(~mask, 2.0)
    ranks = draws.argsort(1).argsort(1)  # rank of each position among the sentence's real positions
    return ranks < count[:, None]
