"""The latent predictor lp(z | x): a causal Transformer over the codes that attends to the source (PAPER B.8).

Its input at position j is the codebook vector of code j-1 (a zero vector at j = 0): in training the
bottleneck's straight-through output, at inference ``bottleneck.embed`` of the codes decoded so far.
"""
from typing import Optional, Union

import torch
from fairseq.models.transformer import TransformerConfig
from torch import Tensor, nn

from vqnat.models.code_output import code_output
from vqnat.models.dense_decoder import DenseTransformerDecoder, EncoderOut, IncrementalState


def shift_right(x: Tensor) -> Tensor:
    """(B, T, D) -> (B, T, D) with a zero vector first and the last position dropped."""
    return torch.cat([x.new_zeros(x.size(0), 1, x.size(2)), x[:, :-1]], dim=1)


def drop_code_inputs(code_vectors: Tensor, prob: float) -> Tensor:
    """(B, N, D) code vectors with each position replaced, with chance ``prob``, by the zero start vector.

    Word dropout over the predictor's inputs: when it translates, the earlier codes it reads are its own
    choices, most of them wrong, so in training it should not learn to copy patterns from its prefix alone."""
    keep = torch.rand(code_vectors.shape[:2], device=code_vectors.device) >= prob
    return code_vectors * keep.unsqueeze(-1).to(code_vectors.dtype)


class LatentPredictor(nn.Module):
    """Causal decoder over dense code vectors with a K-way softmax over the next code."""

    def __init__(self, cfg: TransformerConfig, dictionary, num_codes: int, output: str = "free"):
        super().__init__()
        self.decoder = DenseTransformerDecoder(cfg, dictionary, causal=True)
        self.output_projection = code_output(output, cfg.decoder.embed_dim, num_codes)

    def forward(self, code_vectors: Tensor, mask: Tensor, encoder_out: EncoderOut) -> Tensor:
        """Teacher-forced logits (B, N, K) of every code given the vectors (B, N, D) of all codes."""
        return self.output_projection(self.features(code_vectors, mask, encoder_out))

    def features(self, code_vectors: Tensor, mask: Tensor, encoder_out: EncoderOut) -> Tensor:
        """Teacher-forced states (B, N, D) from which code j is predicted (they read codes < j)."""
        return self.decoder(shift_right(code_vectors), mask, encoder_out)

    def step(
        self,
        previous_vector: Optional[Tensor],
        step: Union[int, Tensor],
        encoder_out: EncoderOut,
        incremental_state: IncrementalState,
    ) -> Tensor:
        """Logits (B, K) of code ``step`` given the vector (B, D) of code ``step - 1`` (None at step 0).

        Earlier steps live in ``incremental_state``; only the new position runs through the layers. ``step``
        may be a one-element tensor (the exported step graph's input).
        """
        batch = encoder_out["encoder_out"][0].size(1)
        if previous_vector is None:
            previous_vector = encoder_out["encoder_out"][0].new_zeros(batch, self.decoder.embed_dim)
        inputs = previous_vector.unsqueeze(1)  # (B, 1, D)
        mask = torch.ones(batch, 1, dtype=torch.bool, device=inputs.device)
        features = self.decoder(inputs, mask, encoder_out, incremental_state, first_position=step)
        return self.output_projection(features[:, 0])

    def reorder_cache(self, incremental_state: IncrementalState, rows: Tensor) -> None:
        """Keep the cached steps of ``rows`` (beam search's surviving hypotheses), in that order."""
        self.decoder.reorder_incremental_state_scripting(incremental_state, rows)


class LatentTokenHead(nn.Module):
    """States (B, N, D) -> (B, N * 2^n_c, D): one vector per target token a code covers, which the shared
    output embedding turns into token logits (``--latent-token-prediction``).

    Starts as copies of the state (the identity for every token), so that a predictor warm-started from the AR
    teacher's decoder begins from the teacher's own next-token readout."""

    def __init__(self, dim: int, compress_steps: int):
        super().__init__()
        self.tokens_per_code = 2**compress_steps
        self.projection = nn.Linear(dim, self.tokens_per_code * dim)
        with torch.no_grad():
            self.projection.weight.copy_(torch.eye(dim).repeat(self.tokens_per_code, 1))
            self.projection.bias.zero_()

    def forward(self, states: Tensor) -> Tensor:
        batch, latents, dim = states.shape
        return self.projection(states).view(batch, latents * self.tokens_per_code, dim)
