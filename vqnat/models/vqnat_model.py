"""The Latent Transformer with a discrete bottleneck (Kaiser et al. 2018; Roy et al. 2018) as a fairseq model.

Training (``forward``): encode the source; compress the target 2^n_c-fold; quantize with the bottleneck;
predict the codes with the latent predictor (autoregressive, the paper's; or parallel, with glancing);
decompress and decode all target tokens in one pass. Generation (``vqnat.generation``) uses ``encode``,
``latent_predictor.step`` (autoregressive) or ``latent_logits`` (parallel), ``embed_codes`` and
``decode_codes``: the parallel decoder then runs once per batch.
"""
import contextlib
import math
from argparse import Namespace
from typing import Any, Dict, Optional, Tuple

import torch
import torch.nn.functional as F
from fairseq.dataclass.utils import gen_parser_from_dataclass
from fairseq.models import BaseFairseqModel, register_model
from fairseq.models.transformer import TransformerConfig, TransformerEncoderBase
from fairseq.models.transformer.transformer_base import Embedding
from torch import Tensor, nn

from vqnat.bottleneck import build_bottleneck
from vqnat.bottleneck.factory import BOTTLENECKS, accepted_options
from vqnat.models.config import VQNATConfig, fill_defaults
from vqnat.models.conv_autoencoder import LatentDecompressor, TargetCompressor, latent_count
from vqnat.models.dense_decoder import DenseTransformerDecoder, EncoderOut
from vqnat.models.glancing import glanced_positions
from vqnat.models.latent_predictor import LatentPredictor, LatentTokenHead, drop_code_inputs, shift_right
from vqnat.models.parallel_latent_predictor import ParallelLatentPredictor, uniform_copy
from vqnat.models.length_predictor import TargetLengthPredictor


def transformer_config(args: Namespace, decoder_layers: int, dropout: Optional[float] = None) -> TransformerConfig:
    """fairseq's transformer config for one width and the given decoder depth (only prefixed keys); ``dropout``
    overrides the model's."""
    dim, pre_norm = args.embed_dim, not args.post_norm
    flat = Namespace(dropout=args.dropout if dropout is None else dropout, attention_dropout=args.attention_dropout,
                     activation_dropout=args.activation_dropout, activation_fn=args.activation_fn,
                     max_source_positions=args.max_source_positions, max_target_positions=args.max_target_positions)
    for side, layers in (("encoder", args.encoder_layers), ("decoder", decoder_layers)):
        for key, value in (("embed_dim", dim), ("ffn_embed_dim", args.ffn_embed_dim), ("layers", layers),
                           ("attention_heads", args.attention_heads), ("normalize_before", pre_norm)):
            setattr(flat, f"{side}_{key}", value)
    flat.decoder_input_dim = flat.decoder_output_dim = dim
    return TransformerConfig.from_namespace(flat)


def bottleneck_options(args: Namespace) -> Dict[str, Any]:
    """The model flags as options of the chosen bottleneck kind (each kind takes a subset)."""
    options = dict(beta=args.commitment_beta, decay=args.em_decay, epsilon=args.em_epsilon,
                   num_samples=args.num_samples, temperature=args.em_temperature, num_slices=args.dvq_slices,
                   projection=args.dvq_projection, kmeans_init=args.kmeans_init, restart_dead=args.restart_dead_codes,
                   startup_steps=args.semhash_startup_steps, seed=getattr(args, "seed", None) or 0)
    accepted = accepted_options(BOTTLENECKS[args.bottleneck])
    return {name: value for name, value in options.items() if name in accepted}


def check_args(args: Namespace) -> None:
    """One clear line for options the modules would reject less clearly."""
    if args.embed_dim % args.attention_heads:
        raise ValueError(f"--embed-dim {args.embed_dim} must be divisible by --attention-heads {args.attention_heads}")
    if args.compress < 0:
        raise ValueError(f"--compress must be >= 0 (n_c stride-2 steps), got {args.compress}")
    if args.code_dim < 0:
        raise ValueError(f"--code-dim must be >= 0 (0: codes of the model width), got {args.code_dim}")
    if not 0.0 <= args.latent_input_dropout < 1.0:
        raise ValueError(f"--latent-input-dropout must be in [0, 1), got {args.latent_input_dropout}")
    if args.latent_input_dropout > 0 and args.latent_predictor == "parallel":
        raise ValueError("--latent-input-dropout drops the earlier codes an autoregressive latent predictor reads; "
                         "the parallel one reads none")
    if args.latent_token_prediction and args.latent_predictor == "parallel":
        raise ValueError("--latent-token-prediction trains the autoregressive latent predictor's states on the "
                         "tokens of its next code; the parallel one predicts all codes at once: drop it")
    if args.latent_dropout >= 1.0:
        raise ValueError(f"--latent-dropout must be < 1 (negative: --dropout's), got {args.latent_dropout}")
    if args.max_length_offset < 0:
        raise ValueError(f"--max-length-offset must be >= 0, got {args.max_length_offset}")


MODEL_NAME = "vqnat"


@register_model(MODEL_NAME)
class VQNATModel(BaseFairseqModel):
    """Source encoder, target compressor, bottleneck, decompressor, parallel decoder, latent predictor and
    target-length predictor. Source and target share one embedding (and the output softmax) when their
    dictionaries are the same, as with a joined dictionary."""

    def __init__(self, args: Namespace, src_dict, tgt_dict):
        super().__init__()
        self.args = args
        self.pad = tgt_dict.pad()
        self.compress_steps = args.compress  # n_c
        dim = args.embed_dim  # D
        encoder_embed = Embedding(len(src_dict), dim, src_dict.pad())
        shared = src_dict.symbols == tgt_dict.symbols
        self.embed_tokens = encoder_embed if shared else Embedding(len(tgt_dict), dim, tgt_dict.pad())
        self.embed_scale = math.sqrt(dim)
        config = transformer_config(args, args.decoder_layers)
        self.encoder = TransformerEncoderBase(config, src_dict, encoder_embed)
        self.compressor = TargetCompressor(dim, args.compress, args.dropout, local=args.local_codes)
        code_dim = args.code_dim or dim
        self.code_projection = nn.Linear(dim, code_dim) if args.code_dim else nn.Identity()  # latents -> codes
        self.code_expansion = nn.Linear(code_dim, dim) if args.code_dim else nn.Identity()  # code vectors -> D
        try:
            self.bottleneck = build_bottleneck(args.bottleneck, dim=code_dim, num_codes=args.codebook_size,
                                               **bottleneck_options(args))
        except ValueError as error:
            raise ValueError(f"--bottleneck {args.bottleneck} --codebook-size {args.codebook_size}: {error}") from None
        self.decompressor = LatentDecompressor(dim, args.compress, args.dropout)
        self.decoder = DenseTransformerDecoder(config, tgt_dict, causal=not args.decoder_bidirectional)
        predictor = ParallelLatentPredictor if args.latent_predictor == "parallel" else LatentPredictor
        latent_dropout = None if args.latent_dropout < 0 else args.latent_dropout
        self.latent_predictor = predictor(transformer_config(args, args.latent_layers, latent_dropout), tgt_dict,
                                          self.bottleneck.num_codes, args.latent_output)
        if args.latent_output == "codebook":
            self.latent_predictor.output_projection.code_table = self.code_table
        self.length_predictor = TargetLengthPredictor(dim, args.max_length_offset)
        self.latent_token_head = LatentTokenHead(dim, args.compress) if args.latent_token_prediction else None
        self.num_updates = 0

    @staticmethod
    def add_args(parser) -> None:
        gen_parser_from_dataclass(parser, VQNATConfig(), delete_default=True)

    @classmethod
    def build_model(cls, args: Namespace, task) -> "VQNATModel":
        fill_defaults(args)
        check_args(args)
        return cls(args, task.source_dictionary, task.target_dictionary)

    def set_num_updates(self, num_updates: int) -> None:
        """Remember the update count: the criterion's schedules read it."""
        self.num_updates = num_updates
        super().set_num_updates(num_updates)

    def codes_frozen(self) -> bool:
        """Whether ``--freeze-codes-after`` has stopped the codes (the compressor and the codebook) moving."""
        return 0 < self.args.freeze_codes_after <= self.num_updates

    def max_positions(self):
        return (self.args.max_source_positions, self.args.max_target_positions)

    # ---- training ----------------------------------------------------------------------------------------
    def forward(
        self,
        src_tokens: Tensor,
        src_lengths: Tensor,
        prev_output_tokens: Optional[Tensor] = None,
        target: Optional[Tensor] = None,
        autoencoder_lengths: Optional[Tensor] = None,
        teacher_forcing_prob: float = 0.0,
        glance_ratio: float = 0.0,
        code_mix_prob: float = 0.0,
        reveal: str = "glance",
        token_glance_ratio: float = 0.0,
    ) -> Dict[str, Any]:
        """Autoencode ``target`` (B, T) given the source; every output the criterion needs.

        Args:
            autoencoder_lengths: (B,) target positions the compressor covers (zeros past the target), e.g.
                the paper's roundup(max(T, 2S)); default: the target lengths T.
            teacher_forcing_prob: in training, the chance that a decoder input position is replaced by
                the true target embedding (PAPER B.9 schedule 2).
            glance_ratio: in training, the parallel latent predictor's glancing ratio (share of its
                first-pass mistakes revealed).
            reveal: which reference codes the parallel latent predictor sees in training: ``glance``
                (``glance_ratio`` of its mistakes) or ``uniform`` (a uniformly drawn share, as CMLM).
            code_mix_prob: in training, the chance that a latent position's decoder input is the code the
                latent predictor chose instead of the reference's, so that the decoder learns to read
                imperfect codes.
            token_glance_ratio: in training, the decoder's glancing ratio (share of its first-pass token
                mistakes whose target embeddings it reads instead of their codes; ``glance_tokens``).

        Returns:
            dict with ``token_logits`` (B, L, V) and ``target`` (B, L) padded to the decoded length L,
            ``latent_logits`` (B, N, K), ``latent_token_logits`` (B, L, V) (the latent predictor's
            logits of each code's target tokens; None without ``--latent-token-prediction``), ``codes`` (B, N)
            joint codes, ``soft_labels`` (B, N, K) or None, ``code_inputs`` (B, N, code dim) (the compressor's
            vectors the bottleneck quantizes),
            ``token_loss_mask`` (B, L) (target tokens the token loss covers: not the revealed ones),
            ``latent_mask`` (B, N), ``latent_loss_mask`` (B, N) (latents the latent loss covers: not the
            revealed ones), ``predicted_codes`` (B, N) (the latent predictor's choice: its first pass
            when glancing),
            ``bottleneck_loss`` and ``bottleneck_stats``, ``length_logits`` and ``length_target`` (class
            of the target length T).
        """
        if target is None:
            raise ValueError("the vqnat model autoencodes the target in training; translate with its generator")
        encoder_out = self.encode(src_tokens, src_lengths)
        target_lengths = target.ne(self.pad).sum(1)
        frozen = self.training and self.codes_frozen()
        if frozen:  # no gradients at all: fairseq's legacy DDP would hand Adam zeros, and its momentum moves them
            self.compressor.requires_grad_(False)
            self.code_projection.requires_grad_(False)
        with torch.no_grad() if frozen else contextlib.nullcontext():
            target, code_inputs, latent_mask = self.compress_target(target, autoencoder_lengths)
        bottleneck = self.bottleneck(code_inputs, mask=latent_mask, update_codebook=False if frozen else None)
        quantized = self.code_expansion(bottleneck.quantized)
        codes = self.bottleneck.join_codes(bottleneck.codes)
        code_vectors = quantized
        if self.args.latent_hard_inputs:  # the vectors of the codes themselves, straight through
            code_vectors = quantized + (self.embed_codes(codes).to(quantized.dtype) - quantized).detach()
        if self.args.latent_predictor_detach:
            code_vectors = code_vectors.detach()
        revealed = torch.zeros_like(latent_mask)
        predicted = latent_token_logits = None
        if self.parallel and self.training and reveal == "uniform":
            inputs, revealed = self.latent_predictor.reveal_uniformly(uniform_copy(encoder_out, latent_mask),
                                                                     code_vectors, latent_mask)
            latent_logits = self.latent_predictor(inputs, latent_mask, encoder_out)
        elif self.parallel and self.training and glance_ratio > 0:
            inputs, revealed, predicted = self.latent_predictor.glance(
                uniform_copy(encoder_out, latent_mask), code_vectors, codes, latent_mask, encoder_out, glance_ratio)
            latent_logits = self.latent_predictor(inputs, latent_mask, encoder_out)
        else:
            if self.training and self.args.latent_input_dropout > 0:
                code_vectors = drop_code_inputs(code_vectors, self.args.latent_input_dropout)
            if self.latent_token_head is not None:
                latent_states = self.latent_predictor.features(code_vectors, latent_mask, encoder_out)
                latent_logits = self.latent_predictor.output_projection(latent_states)
                latent_token_logits = F.linear(self.latent_token_head(latent_states), self.embed_tokens.weight)
            else:
                latent_logits = self.latent_logits(code_vectors, latent_mask, encoder_out)
        if predicted is None:
            predicted = latent_logits.detach().argmax(-1)
        decoder_vectors = quantized
        if self.training and code_mix_prob > 0:
            chosen = latent_mask & (torch.rand(latent_mask.shape, device=latent_mask.device) < code_mix_prob)
            decoder_vectors = torch.where(chosen.unsqueeze(-1), self.embed_codes(predicted).to(quantized.dtype),
                                          quantized)
        decoder_input, decoder_mask = self.decoder_input(decoder_vectors, latent_mask, encoder_out)
        if self.training and teacher_forcing_prob > 0:
            decoder_input = self.teacher_force(decoder_input, target, teacher_forcing_prob)
        revealed_tokens = torch.zeros_like(target, dtype=torch.bool)
        if self.training and token_glance_ratio > 0:
            decoder_input, revealed_tokens = self.glance_tokens(decoder_input, decoder_mask, encoder_out, target,
                                                                token_glance_ratio)
        return {
            "token_logits": self.decode(decoder_input, decoder_mask, encoder_out),
            "target": target,
            "token_loss_mask": target.ne(self.pad) & ~revealed_tokens,
            "latent_logits": latent_logits,
            "latent_token_logits": latent_token_logits,
            "codes": codes,
            "soft_labels": bottleneck.soft_labels,
            "code_inputs": code_inputs,
            "latent_mask": latent_mask,
            "latent_loss_mask": latent_mask & ~revealed,
            "predicted_codes": predicted,
            "bottleneck_loss": bottleneck.loss,
            "bottleneck_stats": bottleneck.stats,
            "length_logits": self.length_predictor(encoder_out),
            "length_target": self.length_predictor.target_classes(target_lengths, src_lengths),
        }

    @property
    def parallel(self) -> bool:
        """Whether the latent predictor predicts all codes in one pass (and the decoder reads the copied source)."""
        return self.args.latent_predictor == "parallel"

    def compress_target(self, target: Tensor, autoencoder_lengths: Optional[Tensor] = None):
        """Compress ``target`` (B, T): (target padded to (B, L), the bottleneck's inputs (B, N, code dim), latent
        mask (B, N)); ``autoencoder_lengths`` as in ``forward``."""
        target_lengths = target.ne(self.pad).sum(1)
        covered = target_lengths if autoencoder_lengths is None else torch.maximum(autoencoder_lengths, target_lengths)
        width = int(latent_count(covered, self.compress_steps).max()) * 2**self.compress_steps
        target = F.pad(target, (0, width - target.size(1)), value=self.pad)  # (B, L)
        covered_mask = torch.arange(width, device=target.device)[None, :] < covered[:, None]  # (B, L)
        latents, latent_mask = self.compressor(self.embed_scale * self.embed_tokens(target), covered_mask)
        return target, self.code_projection(latents), latent_mask

    def quantize_target(self, target: Tensor, autoencoder_lengths: Optional[Tensor] = None):
        """Compress and quantize ``target`` (B, T): (target padded to (B, L), bottleneck output, its vectors
        (B, N, D) in the model width, latent mask (B, N)); ``autoencoder_lengths`` as in ``forward``."""
        target, code_inputs, latent_mask = self.compress_target(target, autoencoder_lengths)
        bottleneck = self.bottleneck(code_inputs, mask=latent_mask)  # (B, N, code dim)
        return target, bottleneck, self.code_expansion(bottleneck.quantized), latent_mask

    def teacher_force(self, decoder_input: Tensor, target: Tensor, prob: float) -> Tensor:
        """Replace each target position's decoder input by its token embedding with probability ``prob``."""
        replace = target.ne(self.pad) & (torch.rand(target.shape, device=target.device) < prob)
        embedded = self.embed_scale * self.embed_tokens(target)
        return torch.where(replace.unsqueeze(-1), embedded.to(decoder_input.dtype), decoder_input)

    def glance_tokens(self, decoder_input: Tensor, mask: Tensor, encoder_out: EncoderOut, target: Tensor,
                      ratio: float) -> Tuple[Tensor, Tensor]:
        """Decoder glancing (GLAT; latent-GLAT glances at tokens and codes): reveal target tokens where a first
        decoder pass erred, so that the decoder learns which tokens depend on which.

        ``ratio`` x a sentence's first-pass token mistakes (floored) of its positions, drawn uniformly among
        its target tokens, read the token's embedding instead of their codes; the token loss leaves them
        out. Generation reveals nothing: it costs one decoder pass more in training only. Returns (decoder
        input (B, L, D), revealed (B, L)).
        """
        with torch.no_grad():
            first = self.decode(decoder_input, mask, encoder_out).argmax(-1)  # (B, L)
        revealed = glanced_positions(first != target, target.ne(self.pad), ratio)
        embedded = (self.embed_scale * self.embed_tokens(target)).to(decoder_input.dtype)
        return torch.where(revealed.unsqueeze(-1), embedded, decoder_input), revealed

    # ---- shared by training and generation ---------------------------------------------------------------
    def encode(self, src_tokens: Tensor, src_lengths: Tensor) -> EncoderOut:
        return self.encoder(src_tokens, src_lengths=src_lengths)

    def decode(self, decoder_input: Tensor, mask: Tensor, encoder_out: EncoderOut,
               keep: Optional[int] = None) -> Tensor:
        """The parallel decoder (PAPER B.7): (B, L, D) inputs -> (B, L, V) token logits in one pass.

        A causal decoder reads its inputs shifted right by one position, as in the paper's code. With
        ``keep``, only the first ``keep`` positions get logits (generation never emits the rest, and the
        output projection is a large part of a decoder pass).
        """
        if self.decoder.causal:
            decoder_input = shift_right(decoder_input)
        features = self.decoder(decoder_input, mask, encoder_out)
        return F.linear(features[:, :keep], self.embed_tokens.weight)

    def latent_logits(self, code_vectors: Optional[Tensor], latent_mask: Tensor, encoder_out: EncoderOut) -> Tensor:
        """The latent predictor's logits (B, N, K) for every latent: teacher-forced on ``code_vectors`` (B, N, D)
        when autoregressive; from the copied source in one pass when parallel (``code_vectors`` unused)."""
        if self.parallel:
            return self.latent_predictor(uniform_copy(encoder_out, latent_mask), latent_mask, encoder_out)
        return self.latent_predictor(code_vectors, latent_mask, encoder_out)

    def decoder_input(self, code_vectors: Tensor, latent_mask: Tensor, encoder_out: EncoderOut):
        """Code vectors (B, N, D) -> the parallel decoder's input (B, N * 2^n_c, D) and its mask: decompressed,
        plus the copied source when the latent predictor is parallel."""
        decoder_input, mask = self.decompressor(code_vectors, latent_mask)
        if self.parallel:
            decoder_input = decoder_input + uniform_copy(encoder_out, mask).to(decoder_input.dtype)
        return decoder_input, mask

    def code_table(self) -> Tensor:
        """Every code's vector in the model width (K, D), the latent predictor's output layer under
        ``--latent-output codebook``; detached when the predictor's loss must not train the codes."""
        table = self.embed_codes(torch.arange(self.bottleneck.num_codes, device=self.embed_tokens.weight.device))
        return table.detach() if self.args.latent_predictor_detach else table

    def embed_codes(self, codes: Tensor) -> Tensor:
        """Joint codes (...) -> their code vectors in the model width (..., D)."""
        return self.code_expansion(self.bottleneck.embed(self.bottleneck.split_codes(codes)))

    def decode_codes(self, codes: Tensor, latent_mask: Tensor, encoder_out: EncoderOut,
                     keep: Optional[int] = None) -> Tensor:
        """Codes (B, N) -> token logits (B, N * 2^n_c, V), or of the first ``keep`` positions: decompress,
        then one decoder pass."""
        decoder_input, mask = self.decoder_input(self.embed_codes(codes), latent_mask, encoder_out)
        return self.decode(decoder_input, mask, encoder_out, keep)

