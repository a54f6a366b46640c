"""The convolutional halves of the autoencoder: target -> latents (compress) and latents -> decoder input.

Both follow the paper's code (PAPER B.4, B.6). Every convolution reads padded positions as zeros, exactly
like the zero padding a sentence alone would get, so a sentence gives the same output alone and in a
padded batch. Masks are ``(B, L)`` bools, True on real positions; a position at compression level l is
real when any target position it covers is.
"""
from typing import Tuple

import torch
import torch.nn.functional as F
from fairseq.modules import FairseqDropout, LayerNorm
from torch import Tensor, nn


def zero_padding(x: Tensor, mask: Tensor) -> Tensor:
    """Zero the padded positions of ``x`` (B, L, C)."""
    return x * mask.unsqueeze(-1).to(x.dtype)


def halve_mask(mask: Tensor) -> Tensor:
    """(B, 2L) -> (B, L): a pair of positions is real when either is."""
    return mask.view(mask.size(0), -1, 2).any(dim=-1)


class ConvLayer(nn.Module):
    """[ReLU ->] Conv1d -> LayerNorm over (B, L, C) tensors: one layer of t2t's ``conv_block``.

    The convolution runs as one matrix product over the (B, L', k * C) windows of its input, with the
    weight of ``self.conv``: the same numbers as ``self.conv`` on the transposed input, but on CPU at batch
    1 (generation) torch's native path for such short inputs is several times slower than the product.
    """

    def __init__(self, in_dim: int, out_dim: int, kernel: int, stride: int = 1, first_relu: bool = True):
        super().__init__()
        padding = (kernel - 1) // 2 if stride == 1 else 0  # SAME for odd kernels, VALID for strided
        self.conv = nn.Conv1d(in_dim, out_dim, kernel, stride=stride, padding=padding, bias=False)
        self.norm = LayerNorm(out_dim)
        self.first_relu = first_relu

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        if self.first_relu:
            x = F.relu(x)
        return self.norm(self.convolve(zero_padding(x, mask)))

    def convolve(self, x: Tensor) -> Tensor:
        """``self.conv`` over the length of ``x`` (B, L, C): (B, L', out)."""
        (kernel,), (stride,), (padding,) = self.conv.kernel_size, self.conv.stride, self.conv.padding
        if padding:
            x = F.pad(x, (0, 0, padding, padding))
        windows = x.unfold(1, kernel, stride).flatten(2)  # (B, L', C * k), channel-major like the weight
        return F.linear(windows, self.conv.weight.flatten(1))


class ResidualConvBlock(nn.Module):
    """x + Dropout(ConvBlock(LayerNorm(x))), ConvBlock = ``depth`` x [ReLU, Conv1d(k=3), LayerNorm]."""

    def __init__(self, dim: int, depth: int, dropout: float):
        super().__init__()
        self.norm = LayerNorm(dim)
        self.layers = nn.ModuleList([ConvLayer(dim, dim, kernel=3) for _ in range(depth)])
        self.dropout = FairseqDropout(dropout, module_name=self.__class__.__name__)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        h = self.norm(x)
        for layer in self.layers:
            h = layer(h, mask)
        return zero_padding(x + self.dropout(h), mask)


class TargetCompressor(nn.Module):
    """Target embeddings (B, L, D) -> latents (B, L / 2^n_c, D), L a multiple of 2^n_c (PAPER B.4).

    n_c residual blocks of three kernel-3 convolutions, then n_c kernel-2 stride-2 convolutions. ``local``
    drops the residual blocks (and the ReLU on the embeddings): each latent then reads its own 2^n_c target
    tokens and nothing around them, so its code is a function of the tokens it stands for.
    """

    def __init__(self, dim: int, num_steps: int, dropout: float, local: bool = False):
        super().__init__()
        blocks = 0 if local else num_steps
        self.residual = nn.ModuleList([ResidualConvBlock(dim, depth=3, dropout=dropout) for _ in range(blocks)])
        self.strided = nn.ModuleList([ConvLayer(dim, dim, kernel=2, stride=2, first_relu=not (local and step == 0))
                                      for step in range(num_steps)])

    def forward(self, x: Tensor, mask: Tensor) -> Tuple[Tensor, Tensor]:
        """Return the latents and their mask."""
        x = zero_padding(x, mask)
        for block in self.residual:
            x = block(x, mask)
        for step in self.strided:
            x = step(x, mask)
            mask = halve_mask(mask)
            x = zero_padding(x, mask)
        return x, mask


class LatentDecompressor(nn.Module):
    """Dense latents (B, N, D) -> decoder input (B, N * 2^n_c, D) by sub-pixel upsampling (PAPER B.6).

    Each of the n_c steps: a residual block of one kernel-3 convolution, then a 1x1 convolution to 2D
    channels whose halves become two consecutive positions.
    """

    def __init__(self, dim: int, num_steps: int, dropout: float):
        super().__init__()
        self.residual = nn.ModuleList([ResidualConvBlock(dim, depth=1, dropout=dropout) for _ in range(num_steps)])
        self.widen = nn.ModuleList(
            [ConvLayer(dim, 2 * dim, kernel=1, first_relu=step > 0) for step in range(num_steps)]
        )

    def forward(self, x: Tensor, mask: Tensor) -> Tuple[Tensor, Tensor]:
        """Return the upsampled sequence and its mask."""
        batch, dim = x.size(0), x.size(-1)
        x = zero_padding(x, mask)
        for block, widen in zip(self.residual, self.widen):
            x = widen(block(x, mask), mask)  # (B, l, 2D)
            x = x.reshape(batch, -1, dim)  # (B, 2l, D): channels [:D] -> position 2j, [D:] -> 2j+1
            mask = mask.repeat_interleave(2, dim=1)
            x = zero_padding(x, mask)
        return x, mask


def latent_count(lengths: Tensor, num_steps: int) -> Tensor:
    """Latents covering ``lengths`` target positions: ceil(length / 2^n_c)."""
    factor = 2**num_steps
    return torch.div(lengths + factor - 1, factor, rounding_mode="floor")
