"""The codes of a batch from the latent predictor: left-to-right greedy (beam 1, the paper's), beam search
or several code sequences sampled left to right for the autoregressive one; for the parallel one the most
likely code at every position in one pass, or a few passes of mask-predict refinement, or several sampled
code sequences (``vqnat.generation.code_sampling``).

Each step runs only the newest position through the predictor (fairseq's incremental key/value cache);
beam search reorders that cache (``reorder_cache``). Sentences may need different numbers of latents: each
one's best hypothesis is taken at its own last step, so the codes of a sentence do not depend on the others
in the batch. A predictor with its own ``search_codes`` (``vqnat.engines.ct2_latent``) runs the greedy or
beam search itself.
"""
from typing import Dict, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from vqnat.generation.code_sampling import GumbelNoise
from vqnat.models.parallel_latent_predictor import uniform_copy


@torch.no_grad()
def search_latents(model, encoder_out, num_latents: Tensor, beam_size: int = 1,
                   all_beams: bool = False, iterations: int = 1,
                   sample_seeds: Optional[Sequence[Sequence[Optional[int]]]] = None,
                   temperature: float = 1.0) -> Tuple[Tensor, Tensor]:
    """Decode ``num_latents[i]`` codes for every sentence i.

    Args:
        model: a ``VQNATModel`` in eval mode.
        encoder_out: its encoder output for the batch of B sentences.
        num_latents: (B,) codes to decode per sentence (>= 1).
        beam_size: hypotheses kept per sentence (1 = greedy).
        all_beams: return every final beam, best first, instead of the best one.
        iterations: passes of a parallel latent predictor (mask-predict refinement).
        sample_seeds: for each of the B sentences, the noise seeds of its candidates (None: the most likely
            codes), which come back as its beams; not with ``beam_size`` > 1.
        temperature: the sampling temperature of ``sample_seeds``' candidates.

    Returns:
        codes (B, max N) with zeros past each sentence's count, and the log-probability (B,) of each; with
        ``all_beams``, (B, beam, max N) and (B, beam).
    """
    num_codes = model.bottleneck.num_codes
    if model.parallel and beam_size != 1:
        raise ValueError("--latent-beam searches the autoregressive latent predictor; this model's is parallel")
    if sample_seeds is not None:
        if beam_size != 1:
            raise ValueError("--latent-beam and --latent-samples each give several code sequences: choose one")
        return sampled_codes(model, encoder_out, num_latents, iterations, sample_seeds, temperature)
    if model.parallel:
        codes, scores = parallel_codes(model, encoder_out, num_latents, iterations)
        return (codes.unsqueeze(1), scores.unsqueeze(1)) if all_beams else (codes, scores)
    if not 1 <= beam_size <= num_codes:
        raise ValueError(f"--latent-beam must be in [1, K = {num_codes}], got {beam_size}")
    if hasattr(model.latent_predictor, "search_codes"):  # the whole search in another engine (CTranslate2)
        codes, scores = model.latent_predictor.search_codes(encoder_out, num_latents, beam_size)
        return (codes, scores) if all_beams else (codes[:, 0], scores[:, 0])
    batch, steps = num_latents.numel(), int(num_latents.max())
    device = num_latents.device
    if beam_size > 1:
        encoder_out = model.encoder.reorder_encoder_out(
            encoder_out, torch.arange(batch, device=device).repeat_interleave(beam_size))
    predictor = model.latent_predictor
    cache: Dict[str, Dict[str, Optional[Tensor]]] = {}
    scores = torch.full((batch, beam_size), float("-inf"), device=device)
    scores[:, 0] = 0.0  # all beams start identical: expand only the first
    hypotheses = torch.zeros(batch * beam_size, 0, dtype=torch.long, device=device)
    best_codes = torch.zeros(batch, beam_size, steps, dtype=torch.long, device=device)
    best_scores = torch.zeros(batch, beam_size, device=device)
    first_rows = torch.arange(batch, device=device).unsqueeze(1) * beam_size  # (B, 1): each sentence's beam 0
    last_steps = set(num_latents.tolist())  # the steps some sentence ends at: at batch 1, only the last one
    previous = None
    for step in range(steps):
        log_probs = F.log_softmax(predictor.step(previous, step, encoder_out, cache).float(), dim=-1)
        candidates = (scores.unsqueeze(-1) + log_probs.view(batch, beam_size, num_codes)).view(batch, -1)
        scores, flat_index = candidates.topk(beam_size, dim=-1)  # (B, beam), best first
        new_codes = flat_index % num_codes
        if beam_size > 1:
            rows = (first_rows + torch.div(flat_index, num_codes, rounding_mode="floor")).view(-1)
            hypotheses = hypotheses.index_select(0, rows)
            predictor.reorder_cache(cache, rows)
        hypotheses = torch.cat([hypotheses, new_codes.view(-1, 1)], dim=1)
        if step + 1 in last_steps:
            finished = num_latents == step + 1
            best_codes[finished, :, : step + 1] = hypotheses.view(batch, beam_size, -1)[finished]
            best_scores[finished] = scores[finished]
        previous = model.embed_codes(new_codes.view(-1))  # (B * beam, D)
    if all_beams:
        return best_codes, best_scores
    return best_codes[:, 0], best_scores[:, 0]


@torch.no_grad()
def parallel_codes(model, encoder_out, num_latents: Tensor, iterations: int = 1,
                   noise: Optional[GumbelNoise] = None) -> Tuple[Tensor, Tensor]:
    """The parallel latent predictor's codes in ``iterations`` passes (one: the most likely code at every
    position; with ``noise``, sampled codes); as ``search_latents``."""
    if iterations < 1:
        raise ValueError(f"--latent-iterations must be >= 1, got {iterations}")
    mask = torch.arange(int(num_latents.max()), device=num_latents.device)[None, :] < num_latents[:, None]
    codes, scores = model.latent_predictor.refine(uniform_copy(encoder_out, mask), mask, encoder_out,
                                                  model.embed_codes, iterations, noise)  # (B, N)
    return codes.masked_fill(~mask, 0), scores.masked_fill(~mask, 0.0).sum(1)


def sampled_codes(model, encoder_out, num_latents: Tensor, iterations: int,
                  sample_seeds: Sequence[Sequence[Optional[int]]], temperature: float) -> Tuple[Tensor, Tensor]:
    """Every sentence's candidates (B, S, N) and their log-probabilities (B, S): one row per seed, all
    through the same passes (parallel predictor) or steps (autoregressive one) of the predictor in one batch."""
    samples = len(sample_seeds[0])
    if any(len(seeds) != samples for seeds in sample_seeds):
        raise ValueError("every sentence needs as many candidate seeds")
    rows = torch.arange(num_latents.numel(), device=num_latents.device).repeat_interleave(samples)
    num_latents = num_latents[rows]
    encoder_out = model.encoder.reorder_encoder_out(encoder_out, rows)
    noise = GumbelNoise([seed for seeds in sample_seeds for seed in seeds], num_latents, temperature)
    if model.parallel:
        codes, scores = parallel_codes(model, encoder_out, num_latents, iterations, noise)
    else:
        codes, scores = sampled_left_to_right(model, encoder_out, num_latents, noise)
    return codes.view(-1, samples, codes.size(-1)), scores.view(-1, samples)


@torch.no_grad()
def sampled_left_to_right(model, encoder_out, num_latents: Tensor, noise: GumbelNoise) -> Tuple[Tensor, Tensor]:
    """The autoregressive predictor's codes (B, N), each drawn given the row's own earlier ones (ancestral
    sampling), and their log-probabilities (B,); one step a code, a row without noise is greedy search's."""
    steps = int(num_latents.max())
    device = num_latents.device
    gumbel = noise(torch.zeros(num_latents.numel(), steps, model.bottleneck.num_codes, device=device))
    cache: Dict[str, Dict[str, Optional[Tensor]]] = {}
    codes = torch.zeros(num_latents.numel(), steps, dtype=torch.long, device=device)
    scores = torch.zeros(num_latents.numel(), device=device)
    previous = None
    for step in range(steps):
        log_probs = F.log_softmax(model.latent_predictor.step(previous, step, encoder_out, cache).float(), dim=-1)
        codes[:, step] = (log_probs + gumbel[:, step]).argmax(-1)
        scores += log_probs.gather(1, codes[:, step:step + 1]).squeeze(1).masked_fill(step >= num_latents, 0.0)
        previous = model.embed_codes(codes[:, step])
    return codes.masked_fill(torch.arange(steps, device=device)[None, :] >= num_latents[:, None], 0), scores
