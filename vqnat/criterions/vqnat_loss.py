"""``vqnat_loss``: the Latent Transformer's training objective (PAPER B.9, NAT code).

    L = CE_tokens (mean over target tokens not revealed by decoder glancing, optional label smoothing)
        + bottleneck loss (beta * commitment, plus the codebook loss for ``vq``)
        + [t >= latent_loss_start] * w_latent * CE_latent (mean over latents not revealed by glancing; soft
          labels under soft EM)
        + [t >= latent_loss_start] * w_latent * w_latent_tokens * CE_latent_tokens (per target token, like
          the token loss; with --latent-token-prediction: the latent predictor's logits of each code's tokens)
        + w_length * CE_length (mean over sentences; the target-length classifier)
        + [t >= latent_loss_start] * w_prior * KL(q(z | y) || p(z | x)) (mean over latents; with
          --prior-matching-weight: the ELBO's prior term, q the codebook's posterior softmax(-d / T) of the
          compressor's vectors, p the latent predictor's teacher-forced distribution, held fixed: it trains the
          compressor towards codes the source predicts)

fairseq divides the returned loss by ``sample_size`` = target tokens, so the mean terms are scaled by the
token count here to keep the paper's per-term means.
"""
import logging
import math
from dataclasses import dataclass, field
from typing import Any, Dict, List

import torch.nn.functional as F
from fairseq import metrics, utils
from fairseq.criterions import FairseqCriterion, register_criterion
from fairseq.criterions.label_smoothed_cross_entropy import label_smoothed_nll_loss
from fairseq.dataclass import ChoiceEnum, FairseqDataclass
from torch import Tensor

from vqnat.criterions.schedules import linear_anneal, teacher_forcing_prob
from vqnat.generation.length_rules import autoencoder_lengths

logger = logging.getLogger(__name__)

#: Updates between two codebook-collapse warnings.
COLLAPSE_WARNING_INTERVAL = 100


@dataclass
class VQNATLossConfig(FairseqDataclass):
    label_smoothing: float = field(default=0.0, metadata={"help": "label smoothing of the token loss (paper: 0)"})
    tf_warmup_updates: int = field(
        default=0,
        metadata={"help": "teacher-forcing warm-up W: decoder inputs are replaced by true target embeddings "
                          "with probability 1 - invlin(W) * invexp(W/4), fading to 0 at update W (PAPER B.9, "
                          "paper: 50000; needs the causal decoder); 0 disables"},
    )
    latent_loss_start: int = field(
        default=0, metadata={"help": "update from which the latent predictor's loss counts (paper: 50000)"}
    )
    latent_loss_weight: float = field(default=1.0, metadata={"help": "weight of the latent predictor's loss"})
    latent_token_loss_weight: float = field(
        default=1.0, metadata={"help": "weight of the latent predictor's loss on the tokens of each code it "
                                       "predicts (a model trained with --latent-token-prediction)"}
    )
    prior_matching_weight: float = field(
        default=0.0,
        metadata={"help": "weight of KL(q(z | y) || p(z | x)) per latent: the compressor's code posterior pulled "
                          "towards the latent predictor's (held fixed), so that the codes are ones the source "
                          "predicts; the ELBO's prior term, which the paper's objective leaves out. 0: off"},
    )
    length_loss_weight: float = field(
        default=0.1, metadata={"help": "weight of the target-length classifier's loss (the 'predicted' length rule)"}
    )
    reveal: ChoiceEnum(["glance", "uniform"]) = field(
        default="glance",
        metadata={"help": "which reference codes the parallel latent predictor sees in training: 'glance', "
                          "--glance-ratio x its first-pass mistakes (GLAT; one more forward pass), or 'uniform', a "
                          "uniformly drawn share of the latents (CMLM's masks), the states that --latent-iterations "
                          "decoding passes through"},
    )
    glance_ratio: float = field(
        default=0.0,
        metadata={"help": "parallel latent predictor: glancing ratio at the start of training, the share of a "
                          "first pass's code mistakes whose reference codes are revealed before the trained pass "
                          "(Qian et al. 2021; latent-GLAT: 0.5); 0 trains it without glancing"},
    )
    glance_ratio_end: float = field(
        default=-1.0, metadata={"help": "glancing ratio reached at --glance-anneal-updates (default: no annealing)"}
    )
    glance_anneal_updates: int = field(
        default=0, metadata={"help": "updates over which the glancing ratios move linearly to --glance-ratio-end "
                                     "and --token-glance-ratio-end"}
    )
    token_glance_ratio: float = field(
        default=0.0,
        metadata={"help": "decoder glancing ratio at the start of training: the share of a first decoder pass's "
                          "token mistakes whose target embeddings the decoder reads before the trained pass, left "
                          "out of the token loss (GLAT; latent-GLAT glances at tokens and codes: 0.5); one more "
                          "decoder pass in training, none in generation; needs --decoder-bidirectional; 0 disables"},
    )
    token_glance_ratio_end: float = field(
        default=-1.0,
        metadata={"help": "decoder glancing ratio reached at --glance-anneal-updates (default: no annealing)"},
    )
    code_mix_prob: float = field(
        default=0.0,
        metadata={"help": "share of latent positions whose decoder input is the latent predictor's code instead "
                          "of the reference's, so that the decoder learns to read predicted codes (CNAT's and "
                          "latent-GLAT's 0.5 mix); 0 feeds only reference codes (the paper)"},
    )
    code_mix_start: int = field(
        default=0, metadata={"help": "update from which --code-mix-prob applies (the predictor's first codes are noise)"}
    )
    collapse_threshold: float = field(
        default=0.1,
        metadata={"help": "warn when a training batch uses fewer distinct codes than this share of "
                          "min(K, latents in the batch)"},
    )


def soft_cross_entropy(logits: Tensor, labels: Tensor) -> Tensor:
    """-sum_k r_k log softmax(logits)_k per position; ``labels`` (..., K) sum to 1 (no gradient)."""
    return -(labels.detach() * F.log_softmax(logits.float(), dim=-1)).sum(-1)


@register_criterion("vqnat_loss", dataclass=VQNATLossConfig)
class VQNATLoss(FairseqCriterion):
    def __init__(self, task, label_smoothing: float, tf_warmup_updates: int, latent_loss_start: int,
                 latent_loss_weight: float, latent_token_loss_weight: float, prior_matching_weight: float,
                 length_loss_weight: float, reveal: str, glance_ratio: float,
                 glance_ratio_end: float,
                 glance_anneal_updates: int, token_glance_ratio: float, token_glance_ratio_end: float,
                 code_mix_prob: float, code_mix_start: int, collapse_threshold: float):
        super().__init__(task)
        for name, value in (("--glance-ratio", glance_ratio), ("--token-glance-ratio", token_glance_ratio),
                            ("--code-mix-prob", code_mix_prob)):
            if not 0 <= value <= 1:
                raise ValueError(f"{name} must be in [0, 1], got {value}")
        if prior_matching_weight < 0:
            raise ValueError(f"--prior-matching-weight must be >= 0, got {prior_matching_weight}")
        self.reveal = reveal
        self.glance_ratio = glance_ratio
        self.glance_ratio_end = glance_ratio if glance_ratio_end < 0 else glance_ratio_end
        self.glance_anneal_updates = glance_anneal_updates
        self.token_glance_ratio = token_glance_ratio
        self.token_glance_ratio_end = token_glance_ratio if token_glance_ratio_end < 0 else token_glance_ratio_end
        self.code_mix_prob = code_mix_prob
        self.code_mix_start = code_mix_start
        self.label_smoothing = label_smoothing
        self.tf_warmup_updates = tf_warmup_updates
        self.latent_loss_start = latent_loss_start
        self.latent_loss_weight = latent_loss_weight
        self.latent_token_loss_weight = latent_token_loss_weight
        self.prior_matching_weight = prior_matching_weight
        self.length_loss_weight = length_loss_weight
        self.collapse_threshold = collapse_threshold
        self.last_collapse_warning = -COLLAPSE_WARNING_INTERVAL

    def forward(self, model, sample: Dict[str, Any], reduce: bool = True):
        updates = int(getattr(model, "num_updates", 0))
        tf_prob = teacher_forcing_prob(updates, self.tf_warmup_updates) if model.training else 0.0
        if tf_prob > 0 and not model.decoder.causal:
            raise ValueError("--tf-warmup-updates feeds true target tokens to the decoder: drop --decoder-bidirectional")
        glance = linear_anneal(updates, self.glance_ratio, self.glance_ratio_end, self.glance_anneal_updates)
        if (glance > 0 or self.reveal == "uniform") and not model.parallel:
            raise ValueError("--glance-ratio and --reveal train the parallel latent predictor: add --latent-predictor "
                             "parallel")
        token_glance = linear_anneal(updates, self.token_glance_ratio, self.token_glance_ratio_end,
                                     self.glance_anneal_updates)
        if token_glance > 0 and model.decoder.causal:
            raise ValueError("--token-glance-ratio reveals target tokens to a decoder that reads its inputs shifted: "
                             "add --decoder-bidirectional")
        mix = self.code_mix_prob if updates >= self.code_mix_start else 0.0
        net_input = sample["net_input"]
        padding = getattr(self.task.cfg, "train_padding", "paper")
        out = model(**net_input, target=sample["target"], teacher_forcing_prob=tf_prob, glance_ratio=glance,
                    code_mix_prob=mix, reveal=self.reveal, token_glance_ratio=token_glance,
                    autoencoder_lengths=autoencoder_lengths(padding, net_input["src_lengths"], model.compress_steps))

        ntokens = out["target"].ne(self.padding_idx).sum()
        token_mask = out["token_loss_mask"]  # decoder glancing leaves revealed tokens out
        lprobs = F.log_softmax(out["token_logits"][token_mask].float(), dim=-1)
        token_loss, nll_loss = label_smoothed_nll_loss(lprobs, out["target"][token_mask], self.label_smoothing)
        share = ntokens / token_mask.sum().clamp_min(1)  # the mean over the loss's tokens, per target token
        token_loss, nll_loss = token_loss * share, nll_loss * share

        latent_mask, loss_mask = out["latent_mask"], out["latent_loss_mask"]
        codes = out["codes"][latent_mask]  # (n,)
        latent_logits = out["latent_logits"][loss_mask]  # (n', K): glancing leaves revealed codes out
        if out["soft_labels"] is not None:
            latent_losses = soft_cross_entropy(latent_logits, out["soft_labels"][loss_mask])
        else:
            latent_losses = F.cross_entropy(latent_logits.float(), out["codes"][loss_mask], reduction="none")
        nlatents = latent_mask.sum()
        latent_loss = latent_losses.sum()
        loss_latents = loss_mask.sum()
        length_loss = F.cross_entropy(out["length_logits"].float(), out["length_target"], reduction="sum")
        nsentences = sample["target"].size(0)

        latent_weight = self.latent_loss_weight if updates >= self.latent_loss_start else 0.0
        loss = token_loss + ntokens * (out["bottleneck_loss"]
                                       + latent_weight * latent_loss / loss_latents.clamp_min(1)
                                       + self.length_loss_weight * length_loss / nsentences)
        latent_token_loss = None
        if out["latent_token_logits"] is not None:
            real = out["target"].ne(self.padding_idx)
            latent_token_loss = F.cross_entropy(out["latent_token_logits"][real].float(), out["target"][real],
                                                reduction="sum")
            loss = loss + latent_weight * self.latent_token_loss_weight * latent_token_loss
        prior_kl = None
        if self.prior_matching_weight > 0:
            prior_kl = self.prior_kl(model, out)
            loss = loss + ntokens * latent_weight * self.prior_matching_weight * prior_kl / nlatents.clamp_min(1)
        if model.training:
            self.warn_on_collapse(codes, model.bottleneck.num_codes, updates)
        stats = out["bottleneck_stats"]
        logging_output = {
            "loss": loss.data,
            "nll_loss": nll_loss.data,
            "ntokens": ntokens.data,
            "nsentences": nsentences,
            "sample_size": ntokens.data,
            "nlatents": nlatents.data,
            "loss_latents": loss_latents.data,
            "latent_loss": latent_loss.data,
            "latent_correct": (out["predicted_codes"][latent_mask] == codes).sum().data,
            "length_loss": length_loss.data,
            "length_correct": (out["length_logits"].argmax(-1) == out["length_target"]).sum().data,
            "nbatches": 1,
            "bottleneck_loss": out["bottleneck_loss"].data,
            "codebook_perplexity": stats["perplexity"],
            "codebook_usage": stats["usage"],
            "dead_codes": stats["dead_codes"],
            "tf_prob": tf_prob,
            "glance_ratio": glance,
            "token_glance_ratio": token_glance,
        }
        if latent_token_loss is not None:
            logging_output["latent_token_loss"] = latent_token_loss.data
        if prior_kl is not None:
            logging_output["prior_kl"] = prior_kl.data
        return loss, ntokens.data, logging_output

    @staticmethod
    def prior_kl(model, out: Dict[str, Any]) -> Tensor:
        """sum over latents of KL(q(z | y) || p(z | x)): gradient into the compressor only."""
        if not hasattr(model.bottleneck, "log_posterior"):
            raise ValueError("--prior-matching-weight needs a codebook posterior: --bottleneck ema, soft_em or vq")
        mask = out["latent_mask"]
        log_q = model.bottleneck.log_posterior(out["code_inputs"][mask])  # (n, K)
        log_p = F.log_softmax(out["latent_logits"][mask].detach().float(), dim=-1)
        return (log_q.exp() * (log_q - log_p)).sum()

    def warn_on_collapse(self, codes: Tensor, num_codes: int, updates: int) -> None:
        """Log a warning (at most every ``COLLAPSE_WARNING_INTERVAL`` updates) when few codes are in use."""
        if codes.numel() == 0 or updates - self.last_collapse_warning < COLLAPSE_WARNING_INTERVAL:
            return
        distinct = int(codes.unique().numel())
        capacity = min(num_codes, codes.numel())
        if distinct < self.collapse_threshold * capacity:
            self.last_collapse_warning = updates
            logger.warning(f"codebook collapse at update {updates}: {distinct} distinct codes for {codes.numel()} "
                           f"latents (K = {num_codes}); see codebook_usage / codebook_perplexity")

    @classmethod
    def reduce_metrics(cls, logging_outputs: List[Dict[str, Any]]) -> None:
        def total(key: str) -> float:
            return float(sum(log.get(key, 0) for log in logging_outputs))

        sample_size, ntokens = total("sample_size"), total("ntokens")
        nlatents, nsentences, nbatches = total("nlatents"), total("nsentences"), total("nbatches")
        metrics.log_scalar("loss", total("loss") / max(sample_size, 1) / math.log(2), sample_size, round=3)
        metrics.log_scalar("nll_loss", total("nll_loss") / max(ntokens, 1) / math.log(2), ntokens, round=3)
        metrics.log_derived("ppl", lambda meters: utils.get_perplexity(meters["nll_loss"].avg))
        loss_latents = total("loss_latents")
        metrics.log_scalar("latent_loss", total("latent_loss") / max(loss_latents, 1) / math.log(2), loss_latents,
                           round=3)
        metrics.log_scalar("latent_acc", total("latent_correct") / max(nlatents, 1), nlatents, round=3)
        if any("prior_kl" in log for log in logging_outputs):
            metrics.log_scalar("prior_kl", total("prior_kl") / max(nlatents, 1) / math.log(2), nlatents, round=3)
        if any("latent_token_loss" in log for log in logging_outputs):
            metrics.log_scalar("latent_token_loss", total("latent_token_loss") / max(ntokens, 1) / math.log(2),
                               ntokens, round=3)
        metrics.log_scalar("length_loss", total("length_loss") / max(nsentences, 1) / math.log(2), nsentences,
                           round=3)
        metrics.log_scalar("length_acc", total("length_correct") / max(nsentences, 1), nsentences, round=3)
        for key in ("bottleneck_loss", "codebook_perplexity", "codebook_usage", "dead_codes", "tf_prob",
                    "glance_ratio", "token_glance_ratio"):
            metrics.log_scalar(key, total(key) / max(nbatches, 1), nbatches, round=3)

    @staticmethod
    def logging_outputs_can_be_summed() -> bool:
        return True
