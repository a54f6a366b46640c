"""``VQNATGenerator``: translate with a vqnat model in fairseq's generator interface.

encode -> length and number of latents (length rule) -> codes by the latent predictor (greedy or beam)
-> decompress -> ONE parallel decoder pass -> argmax per position -> end at the first EOS or at the length
rule's longest translation, whichever comes first (EOS appended there). Returns fairseq's hypothesis format, so ``fairseq-generate``,
``fairseq-interactive`` and ``--eval-bleu`` work unchanged. Deterministic: no sampling anywhere.
"""
from typing import Any, Dict, List, Optional

import torch
import torch.nn.functional as F
from torch import Tensor

from vqnat.generation.latent_search import search_latents
from vqnat.generation.length_rules import LENGTH_RULES, decoding_lengths


class VQNATGenerator:
    """fairseq-style generator for ``VQNATModel``.

    Args:
        tgt_dict: target dictionary (for EOS, PAD and BOS ids).
        length_rule: ``predicted`` (the model's target-length classifier) or ``paper`` (2 x source length).
        latent_beam: beam size over codes (1 = greedy, the paper's).
    """

    def __init__(self, tgt_dict, length_rule: str = "predicted", latent_beam: int = 1):
        if length_rule not in LENGTH_RULES:
            raise ValueError(f"unknown --length-rule {length_rule!r}; choose one of {', '.join(LENGTH_RULES)}")
        if latent_beam < 1:
            raise ValueError(f"--latent-beam must be >= 1, got {latent_beam}")
        self.eos, self.pad, self.bos = tgt_dict.eos(), tgt_dict.pad(), tgt_dict.bos()
        self.length_rule = length_rule
        self.latent_beam = latent_beam

    @torch.no_grad()
    def generate(self, models, sample: Dict[str, Any], prefix_tokens: Optional[Tensor] = None,
                 constraints: Optional[Tensor] = None, **unused) -> List[List[Dict[str, Any]]]:
        """One hypothesis per sentence of ``sample``, in batch order."""
        if len(models) != 1:
            raise ValueError(f"vqnat generation takes one model, got an ensemble of {len(models)} (--path)")
        if prefix_tokens is not None or constraints is not None:
            raise ValueError("vqnat generation supports neither --prefix-size nor --constraints")
        model = models[0]
        src_tokens, src_lengths = sample["net_input"]["src_tokens"], sample["net_input"]["src_lengths"]
        encoder_out = model.encode(src_tokens, src_lengths)
        num_latents, max_lengths = decoding_lengths(self.length_rule, model, encoder_out, src_lengths)  # (B,)
        codes, code_scores = search_latents(model, encoder_out, num_latents, self.latent_beam)
        latent_mask = torch.arange(codes.size(1), device=codes.device)[None, :] < num_latents[:, None]
        logits = model.decode_codes(codes, latent_mask, encoder_out, keep=int(max_lengths.max()))  # (B, L, V)
        lprobs = F.log_softmax(logits.float(), dim=-1)
        lprobs[..., self.pad] = float("-inf")
        lprobs[..., self.bos] = float("-inf")
        token_scores, tokens = lprobs.max(dim=-1)  # (B, L)
        return [
            [self.hypothesis(tokens[i], token_scores[i], int(max_lengths[i]), codes[i, : num_latents[i]],
                             code_scores[i])]
            for i in range(tokens.size(0))
        ]

    def hypothesis(self, tokens: Tensor, scores: Tensor, max_length: int, codes: Tensor,
                   code_score: Tensor) -> Dict[str, Any]:
        """End at the first EOS or after ``max_length - 1`` tokens (then an EOS scored 0 is appended).

        The score is the mean token log-probability.
        """
        eos_positions = (tokens[:max_length] == self.eos).nonzero()
        if len(eos_positions):
            end = int(eos_positions[0]) + 1
            tokens, scores = tokens[:end], scores[:end]
        else:
            tokens = torch.cat([tokens[: max_length - 1], tokens.new_full((1,), self.eos)])
            scores = torch.cat([scores[: max_length - 1], scores.new_zeros(1)])
        return {
            "tokens": tokens,
            "score": scores.mean(),
            "positional_scores": scores,
            "alignment": None,
            "attention": None,
            "latent_codes": codes,
            "latent_score": code_score,
        }
