"""A Transformer decoder over dense input vectors, built from fairseq's own decoder layers.

Both the parallel decoder (input: decompressed latents) and the latent predictor (input: codebook
vectors) consume vectors, not tokens, so fairseq's ``TransformerDecoder`` (which embeds tokens) does not
fit; its layers do. Incremental decoding uses fairseq's per-layer key/value cache, so each new step costs
one position, and ``reorder_incremental_state_scripting`` reorders the cache for beam search.
"""
from typing import Dict, List, Optional, Union

import torch
from fairseq import utils
from fairseq.models import FairseqIncrementalDecoder
from fairseq.models.transformer import TransformerConfig
from fairseq.modules import FairseqDropout, LayerNorm, SinusoidalPositionalEmbedding
from fairseq.modules.transformer_layer import TransformerDecoderLayerBase
from torch import Tensor, nn

EncoderOut = Dict[str, List[Tensor]]
IncrementalState = Dict[str, Dict[str, Optional[Tensor]]]


class DenseTransformerDecoder(FairseqIncrementalDecoder):
    """Sinusoidal positions + ``cfg.decoder.layers`` fairseq decoder layers attending to the source.

    Args:
        cfg: fairseq transformer config (its ``decoder`` group gives width, depth, heads, pre/post norm).
        dictionary: the target dictionary (fairseq decoders carry one; it is not used here).
        causal: mask attention to later positions (required for incremental decoding).
    """

    def __init__(self, cfg: TransformerConfig, dictionary, causal: bool):
        super().__init__(dictionary)
        self.causal = causal
        self.embed_dim = cfg.decoder.embed_dim
        self.max_target_positions = cfg.max_target_positions
        self.dropout_module = FairseqDropout(cfg.dropout, module_name=self.__class__.__name__)
        self.layers = nn.ModuleList([TransformerDecoderLayerBase(cfg) for _ in range(cfg.decoder.layers)])
        self.layer_norm = LayerNorm(self.embed_dim) if cfg.decoder.normalize_before else None
        table = SinusoidalPositionalEmbedding.get_embedding(cfg.max_target_positions + 1, self.embed_dim)
        self.register_buffer("position_table", table, persistent=False)

    def positions(self, first: Union[int, Tensor], length: int) -> Tensor:
        """Sinusoidal vectors of positions first..first+length-1: (length, D). ``first`` may be a tensor of
        one element, so that an exported step graph takes its position as an input."""
        if not torch.is_tensor(first) and first + length > self.position_table.size(0):
            self.position_table = SinusoidalPositionalEmbedding.get_embedding(2 * (first + length), self.embed_dim).to(
                self.position_table
            )
        index = torch.arange(length, device=self.position_table.device) + first
        return self.position_table.index_select(0, index.view(-1))

    def forward(
        self,
        inputs: Tensor,
        mask: Tensor,
        encoder_out: EncoderOut,
        incremental_state: Optional[IncrementalState] = None,
        first_position: Union[int, Tensor] = 0,
    ) -> Tensor:
        """Run the stack.

        Args:
            inputs: (B, T, D) input vectors. With ``incremental_state``, only the newest step(s).
            mask: (B, T) bool, True on real positions (ignored in incremental mode, where all are real).
            encoder_out: fairseq encoder output (T x B x C states and the source padding mask).
            incremental_state: key/value cache of earlier steps; None for a full (training) pass.
            first_position: position index of ``inputs[:, 0]`` (the number of cached steps).

        Returns:
            (B, T, D) features after the final LayerNorm (pre-norm) or the last layer (post-norm).
        """
        if incremental_state is not None and not self.causal:
            raise ValueError("incremental decoding needs a causal decoder")
        x = inputs + self.positions(first_position, inputs.size(1)).to(inputs.dtype)
        x = self.dropout_module(x).transpose(0, 1)  # (T, B, D)
        source = encoder_out["encoder_out"][0]
        source_padding = encoder_out["encoder_padding_mask"][0] if encoder_out["encoder_padding_mask"] else None
        self_attn_mask = self.future_mask(x.size(0), x) if self.causal and incremental_state is None else None
        key_padding = None
        if incremental_state is None and not bool(mask.all()):
            key_padding = ~mask
        for layer in self.layers:
            x, _, _ = layer(
                x,
                source,
                source_padding,
                incremental_state,
                self_attn_mask=self_attn_mask,
                self_attn_padding_mask=key_padding,
            )
        if self.layer_norm is not None:
            x = self.layer_norm(x)
        return x.transpose(0, 1)

    @staticmethod
    def future_mask(length: int, like: Tensor) -> Tensor:
        """(T, T) additive mask: -inf above the diagonal."""
        return torch.triu(utils.fill_with_neg_inf(like.new_zeros(length, length)), 1)

    def max_positions(self) -> int:
        return self.max_target_positions
