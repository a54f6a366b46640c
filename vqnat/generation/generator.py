"""``VQNATGenerator``: translate with a vqnat model in fairseq's generator interface.

encode -> length and number of latents (length rule) -> codes by the latent predictor (greedy or beam)
-> decompress -> ONE parallel decoder pass -> argmax per position -> end at the first EOS or at the length
rule's longest translation, whichever comes first (EOS appended there). With a length beam, sampled codes
or a teacher to rescore with, several candidates per sentence go through that one pass and are ranked.
Returns fairseq's hypothesis format, so ``fairseq-generate``, ``fairseq-interactive`` and ``--eval-bleu``
work unchanged. Deterministic: sampled codes draw their noise from generators seeded by each sentence's
source tokens, so a translation depends neither on the run nor on the batch.
"""
from typing import Any, Dict, List, Optional

import torch
import torch.nn.functional as F
from torch import Tensor

from vqnat.generation.code_sampling import candidate_seed
from vqnat.generation.latent_search import search_latents
from vqnat.generation.length_rules import LENGTH_RULES, candidate_lengths, decoding_lengths
from vqnat.models.conv_autoencoder import latent_count


class VQNATGenerator:
    """fairseq-style generator for ``VQNATModel``.

    Args:
        tgt_dict: target dictionary (for EOS, PAD and BOS ids).
        length_rule: ``predicted`` (the model's target-length classifier) or ``paper`` (2 x source length).
        latent_beam: beam size over codes (1 = greedy, the paper's).
        latent_iterations: passes of a parallel latent predictor (0: the model's ``--latent-iterations``).
        length_beam: lengths decoded per sentence: the length rule's T, then T - 1, T + 1, T - 2, ...
        latent_samples: code sequences per length from the latent predictor: its most likely codes and
            ``latent_samples - 1`` drawn from its softmax at ``latent_temperature`` (noisy parallel decoding;
            an autoregressive predictor draws each code given the candidate's earlier ones).
        rescorer: an autoregressive fairseq model (the teacher) that scores every candidate teacher-forced, or
            that teacher in another engine (``vqnat.engines.ct2.CTranslate2Scorer``).
        length_scale: the length rule's length times this (rounded): more or fewer latents and tokens.
        exact_length: translations take exactly the (scaled) length: EOS is not allowed before its last
            position, instead of ending the translation at the decoder's first EOS.

    With ``length_beam`` or ``latent_samples`` > 1 or a ``rescorer``, every candidate (each length x each
    final latent beam or sample) is decoded in one batched decoder pass and the hypotheses come back best
    first: by the rescorer's mean token log-probability when there is one (one teacher-forced pass over all
    candidates, no AR decoding; Gu et al. 2018's noisy parallel decoding), else by the decoder's own.
    Otherwise the latent search's best code sequence is decoded alone, as the paper does.
    """

    def __init__(self, tgt_dict, length_rule: str = "predicted", latent_beam: int = 1, length_beam: int = 1,
                 rescorer=None, latent_iterations: int = 0, latent_samples: int = 1,
                 latent_temperature: float = 1.0, length_scale: float = 1.0, exact_length: bool = False):
        if length_rule not in LENGTH_RULES:
            raise ValueError(f"unknown --length-rule {length_rule!r}; choose one of {', '.join(LENGTH_RULES)}")
        if latent_beam < 1:
            raise ValueError(f"--latent-beam must be >= 1, got {latent_beam}")
        if length_beam < 1:
            raise ValueError(f"--length-beam must be >= 1, got {length_beam}")
        if latent_samples < 1:
            raise ValueError(f"--latent-samples must be >= 1, got {latent_samples}")
        if latent_temperature <= 0:
            raise ValueError(f"--latent-temperature must be > 0, got {latent_temperature}")
        if length_scale <= 0:
            raise ValueError(f"--length-scale must be > 0, got {length_scale}")
        self.tgt_dict = tgt_dict
        self.eos, self.pad, self.bos = tgt_dict.eos(), tgt_dict.pad(), tgt_dict.bos()
        self.length_rule = length_rule
        self.latent_beam = latent_beam
        self.latent_iterations = latent_iterations
        self.length_beam = length_beam
        self.latent_samples = latent_samples
        self.latent_temperature = latent_temperature
        self.rescorer = rescorer
        self.length_scale = length_scale
        self.exact_length = exact_length

    @property
    def ranks_candidates(self) -> bool:
        """Whether several candidates per sentence are decoded and ranked."""
        return self.length_beam > 1 or self.latent_samples > 1 or self.rescorer is not None

    @torch.no_grad()
    def generate(self, models, sample: Dict[str, Any], prefix_tokens: Optional[Tensor] = None,
                 constraints: Optional[Tensor] = None, **unused) -> List[List[Dict[str, Any]]]:
        """The hypotheses of every sentence of ``sample`` (best first), in batch order."""
        if len(models) != 1:
            raise ValueError(f"vqnat generation takes one model, got an ensemble of {len(models)} (--path)")
        if prefix_tokens is not None or constraints is not None:
            raise ValueError("vqnat generation supports neither --prefix-size nor --constraints")
        model = models[0]
        src_tokens, src_lengths = sample["net_input"]["src_tokens"], sample["net_input"]["src_lengths"]
        encoder_out = model.encode(src_tokens, src_lengths)
        num_latents, max_lengths = decoding_lengths(self.length_rule, model, encoder_out, src_lengths,
                                                    self.length_scale)  # (B,)
        if not self.ranks_candidates:
            codes, code_scores = search_latents(model, encoder_out, num_latents, self.latent_beam,
                                                iterations=self.iterations(model))
            return [[hypothesis] for hypothesis in
                    self.decode(model, codes, num_latents, max_lengths, encoder_out, code_scores)]

        batch = src_tokens.size(0)
        lengths = candidate_lengths(max_lengths, self.length_beam).view(-1)  # (B * L,)
        rows = torch.arange(batch, device=lengths.device).repeat_interleave(self.length_beam)
        encoder_out = model.encoder.reorder_encoder_out(encoder_out, rows)
        num_latents = latent_count(lengths, model.compress_steps)
        codes, code_scores = search_latents(model, encoder_out, num_latents, self.latent_beam, all_beams=True,
                                            iterations=self.iterations(model),
                                            sample_seeds=self.sample_seeds(model, src_tokens, rows, lengths),
                                            temperature=self.latent_temperature)
        beams = codes.size(1)
        rows = rows.repeat_interleave(beams)  # sentence of each candidate, (B * L * beams,)
        encoder_out = model.encoder.reorder_encoder_out(
            encoder_out, torch.arange(lengths.numel(), device=rows.device).repeat_interleave(beams))
        candidates = self.decode(model, codes.flatten(0, 1), num_latents.repeat_interleave(beams),
                                 lengths.repeat_interleave(beams), encoder_out, code_scores.flatten())
        if self.rescorer is not None:
            for candidate, score in zip(candidates, self.rescore(src_tokens[rows], src_lengths[rows], candidates)):
                candidate["decoder_score"], candidate["score"] = candidate["score"], score
        per_sentence = self.length_beam * beams
        return [sorted(candidates[i * per_sentence:(i + 1) * per_sentence], key=lambda h: -float(h["score"]))
                for i in range(batch)]

    def sample_seeds(self, model, src_tokens: Tensor, rows: Tensor, lengths: Tensor):
        """Per candidate row (a sentence at one length): None for the most likely codes, then one noise seed
        per sample; None when nothing is sampled."""
        if self.latent_samples == 1:
            return None
        pad = model.encoder.dictionary.pad()
        return [[None] + [candidate_seed(src_tokens[row], pad, length, sample)
                          for sample in range(1, self.latent_samples)]
                for row, length in zip(rows.tolist(), lengths.tolist())]

    def iterations(self, model) -> int:
        """Passes of the parallel latent predictor: this generator's, else the model's default."""
        return self.latent_iterations or getattr(model.args, "latent_iterations", 1)

    def decode(self, model, codes: Tensor, num_latents: Tensor, max_lengths: Tensor, encoder_out,
               code_scores: Tensor) -> List[Dict[str, Any]]:
        """One parallel decoder pass over the codes (B, N) of B rows; one hypothesis per row."""
        latent_mask = torch.arange(codes.size(1), device=codes.device)[None, :] < num_latents[:, None]
        logits = model.decode_codes(codes, latent_mask, encoder_out, keep=int(max_lengths.max()))  # (B, L, V)
        lprobs = F.log_softmax(logits.float(), dim=-1)
        lprobs[..., self.pad] = float("-inf")
        lprobs[..., self.bos] = float("-inf")
        if self.exact_length:
            early = torch.arange(lprobs.size(1), device=lprobs.device)[None, :] < (max_lengths[:, None] - 1)
            lprobs[..., self.eos] = lprobs[..., self.eos].masked_fill(early, float("-inf"))
        token_scores, tokens = lprobs.max(dim=-1)  # (B, L)
        return [self.hypothesis(tokens[i], token_scores[i], int(max_lengths[i]), codes[i, : num_latents[i]],
                                code_scores[i])
                for i in range(tokens.size(0))]

    def rescore(self, src_tokens: Tensor, src_lengths: Tensor, candidates: List[Dict[str, Any]]) -> List[Tensor]:
        """The rescorer's mean token log-probability of each candidate given its source, in one
        teacher-forced pass (fairseq's ``SequenceScorer``, or the rescorer's own ``score`` when it is not a
        PyTorch model: the teacher in CTranslate2)."""
        from fairseq.data import data_utils
        from fairseq.sequence_scorer import SequenceScorer

        tokens = [candidate["tokens"] for candidate in candidates]
        if not isinstance(self.rescorer, torch.nn.Module):
            return self.rescorer.score(src_tokens, tokens)
        target = data_utils.collate_tokens(tokens, self.pad, self.eos)
        previous = data_utils.collate_tokens(tokens, self.pad, self.eos, move_eos_to_beginning=True)
        sample = {"net_input": {"src_tokens": src_tokens, "src_lengths": src_lengths, "prev_output_tokens": previous},
                  "target": target}
        scored = SequenceScorer(self.tgt_dict).generate([self.rescorer], sample)
        return [hypotheses[0]["score"] for hypotheses in scored]

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
