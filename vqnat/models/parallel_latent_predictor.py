"""A latent predictor that predicts every code of a sentence in one pass from the source (latent-GLAT style).

The paper's latent predictor is autoregressive over 2^n_c-token codes that the source does not determine;
on small corpora it memorizes them. This one reads, at each latent position, the source embedding that a
uniform copy maps there (Gu et al. 2018's copy of the source into the target's length), attends to the
source, and scores all K codes of all positions at once. It is trained with glancing (Qian et al. 2021,
used for codes by Bao et al. 2022): a first pass predicts the codes, then a share of the positions it got
wrong is revealed (their inputs become the reference's code vectors) and the loss covers the rest; or, as
CMLM trains, a uniformly drawn share is revealed. Generation costs one pass of the predictor, or a few
when it refines its codes (mask-predict: the most confident codes are revealed and the rest predicted
again), instead of one per code.
"""
from typing import Callable, Optional, Tuple

import torch
from fairseq.models.transformer import TransformerConfig
from torch import Tensor, nn

from vqnat.models.code_output import code_output
from vqnat.models.dense_decoder import DenseTransformerDecoder, EncoderOut
from vqnat.models.glancing import glanced_positions


def uniform_copy(encoder_out: EncoderOut, mask: Tensor) -> Tensor:
    """The source embeddings copied uniformly onto ``mask``'s positions: (B, N, D).

    Position j of a sequence of n gets source token round(j (S - 1) / (n - 1)), S the source length, as
    fairseq's NAT models assign them (n = 1 takes the first token). Positions past n get zeros. Left- and
    right-padded sources give the same result.
    """
    embedded = encoder_out["encoder_embedding"][0]  # (B, S, D): scaled token embeddings, no positions
    if encoder_out["encoder_padding_mask"]:
        real = ~encoder_out["encoder_padding_mask"][0]
    else:
        real = torch.ones(embedded.shape[:2], dtype=torch.bool, device=embedded.device)
    source_lengths = real.sum(1)
    real_positions = real.long().argsort(dim=1, descending=True, stable=True)  # each row's tokens first, in order
    steps = (source_lengths - 1).float() / (mask.sum(1) - 1).clamp_min(1).float()  # (B,)
    positions = torch.arange(mask.size(1), device=mask.device).float()
    index = torch.round(steps[:, None] * positions[None, :]).long()
    index = torch.minimum(index, (source_lengths - 1)[:, None])  # (B, N)
    copied = embedded.gather(1, real_positions.gather(1, index).unsqueeze(-1).expand(-1, -1, embedded.size(-1)))
    return copied * mask.unsqueeze(-1).to(copied.dtype)


class ParallelLatentPredictor(nn.Module):
    """Non-causal decoder over copied source embeddings with a K-way softmax at every latent position."""

    def __init__(self, cfg: TransformerConfig, dictionary, num_codes: int, output: str = "free"):
        super().__init__()
        self.decoder = DenseTransformerDecoder(cfg, dictionary, causal=False)
        self.output_projection = code_output(output, cfg.decoder.embed_dim, num_codes)

    def forward(self, inputs: Tensor, mask: Tensor, encoder_out: EncoderOut) -> Tensor:
        """Logits (B, N, K) of every code from the inputs (B, N, D) (copied source, some codes revealed)."""
        return self.output_projection(self.decoder(inputs, mask, encoder_out))

    def glance(self, inputs: Tensor, code_vectors: Tensor, codes: Tensor, mask: Tensor, encoder_out: EncoderOut,
               ratio: float, generator: Optional[torch.Generator] = None) -> Tuple[Tensor, Tensor, Tensor]:
        """Reveal reference codes where a first pass erred: (new inputs, revealed (B, N), first-pass codes).

        Each sentence reveals floor(ratio x its first-pass mistakes) positions, chosen uniformly among its
        latents, so a sentence the predictor already gets right is trained on its own predictions only.
        """
        with torch.no_grad():
            predicted = self(inputs, mask, encoder_out).argmax(-1)  # (B, N)
        revealed = glanced_positions(predicted != codes, mask, ratio, generator)
        return reveal(inputs, code_vectors, revealed), revealed, predicted

    def reveal_uniformly(self, inputs: Tensor, code_vectors: Tensor, mask: Tensor,
                         generator: Optional[torch.Generator] = None) -> Tuple[Tensor, Tensor]:
        """Reveal a uniformly drawn share of each sentence's latents, at least one left to predict, as
        CMLM masks tokens (Ghazvininejad et al. 2019): the states iterative decoding passes through.
        Returns (new inputs, revealed (B, N))."""
        lengths = mask.sum(1)
        share = torch.rand(lengths.shape, device=mask.device, generator=generator)
        count = torch.minimum(torch.floor(share * lengths.float()).long(), lengths - 1)
        draws = torch.rand(mask.shape, device=mask.device, generator=generator).masked_fill(~mask, 2.0)
        revealed = draws.argsort(1).argsort(1) < count[:, None]
        return reveal(inputs, code_vectors, revealed), revealed

    def refine(self, copied: Tensor, mask: Tensor, encoder_out: EncoderOut, embed_codes,
               iterations: int, noise: Optional[Callable[[Tensor], Tensor]] = None) -> Tuple[Tensor, Tensor]:
        """Codes (B, N) and their log-probabilities (B, N) in at most ``iterations`` passes (mask-predict).

        The first pass predicts every code from the copied source. Each further pass fixes the most
        confident share of the codes (1/passes, 2/passes, ... of each sentence), reveals their code
        vectors as glancing does in training, and predicts the rest again. A sentence of N < iterations
        codes gets N passes, one more code fixed in each (the finest schedule there is), instead of passes
        that fix no further code. The batch runs its longest schedule; a sentence whose codes are all
        fixed keeps them, so its result does not depend on the batch.

        ``noise``, given a pass's log-probabilities (B, N, K), returns what to add to them before the argmax
        (Gumbel noise x a temperature: sampled codes instead of the most likely ones); the scores stay the
        chosen codes' log-probabilities.
        """
        lengths = mask.sum(1)
        passes = lengths.clamp(min=1, max=iterations)
        total = int(passes.max())
        revealed = torch.zeros_like(mask)
        inputs = copied
        for iteration in range(total):
            log_probs = torch.log_softmax(self(inputs, mask, encoder_out).float(), dim=-1)
            if noise is None:
                scores, codes = log_probs.max(dim=-1)
            else:
                codes = (log_probs + noise(log_probs)).argmax(dim=-1)
                scores = log_probs.gather(-1, codes.unsqueeze(-1)).squeeze(-1)
            if iteration:
                codes, scores = torch.where(revealed, best_codes, codes), torch.where(revealed, best_scores, scores)
            best_codes, best_scores = codes, scores
            if iteration + 1 == total:
                break
            keep = torch.div(lengths * (iteration + 1), passes, rounding_mode="floor")
            confidence = best_scores.masked_fill(~mask, float("-inf"))
            revealed = (confidence.argsort(1, descending=True).argsort(1) < keep[:, None]) & mask
            inputs = reveal(copied, embed_codes(best_codes), revealed)
        return best_codes, best_scores


def reveal(inputs: Tensor, code_vectors: Tensor, revealed: Tensor) -> Tensor:
    """``inputs`` (B, N, D) with the code vectors at the revealed positions (B, N)."""
    return torch.where(revealed.unsqueeze(-1), code_vectors.to(inputs.dtype), inputs)
