"""Sampled code sequences from the latent predictor: the candidates of noisy parallel decoding.

Gu et al. (2018) sample several latent sequences, decode them all in parallel and let the AR teacher pick
one. A code drawn from softmax(log p / T) is argmax(log p + T g), g standard Gumbel noise, so sampling is
the predictor's own argmax with noise added. Each candidate row draws its noise from a generator seeded by
its sentence's source tokens, its length and its sample number: a translation is the same in every run and
in every batch, as greedy decoding is.
"""
import zlib
from typing import List, Optional, Sequence

import torch
from torch import Tensor


def candidate_seed(source_tokens: Tensor, pad: int, length: int, sample: int) -> int:
    """The noise seed of one candidate: its source tokens (padding dropped), its length and sample number."""
    tokens = source_tokens[source_tokens.ne(pad)].to("cpu", torch.int64).numpy().tobytes()
    return zlib.crc32(tokens) * 1_000_003 + length * 1_009 + sample


class GumbelNoise:
    """Gumbel noise x ``temperature`` for each row of a pass's log-probabilities (B, N, K).

    Row i draws its first ``num_latents[i]`` positions from its own generator (seed ``seeds[i]``), the same
    numbers whatever the batch is padded to; a row whose seed is None gets no noise (the greedy candidate).
    """

    def __init__(self, seeds: Sequence[Optional[int]], num_latents: Tensor, temperature: float):
        if temperature <= 0:
            raise ValueError(f"--latent-temperature must be > 0, got {temperature}")
        self.generators: List[Optional[torch.Generator]] = [
            None if seed is None else torch.Generator().manual_seed(seed) for seed in seeds]
        self.num_latents = num_latents.tolist()
        self.temperature = temperature

    def __call__(self, log_probs: Tensor) -> Tensor:
        noise = torch.zeros_like(log_probs)
        tiny = torch.finfo(torch.float32).tiny
        for row, (generator, count) in enumerate(zip(self.generators, self.num_latents)):
            if generator is None:
                continue
            uniform = torch.rand((count, log_probs.size(-1)), generator=generator).clamp_(min=tiny, max=1 - 1e-7)
            noise[row, :count] = (-torch.log(-torch.log(uniform)) * self.temperature).to(noise.device)
        return noise
