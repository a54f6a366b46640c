"""A VQ-VAE for 32x32 RGB images in van den Oord et al.'s CIFAR-10 layout, around any vqnat bottleneck.

Encoder: two 4x4 stride-2 convolutions (32 -> 16 -> 8), two residual blocks (ReLU, 3x3 conv, ReLU, 1x1 conv),
then a 1x1 convolution to ``latents_per_position * code_dim`` channels. The channel vector at each of the
8x8 positions is cut into ``latents_per_position`` slices of ``code_dim`` values, each quantized by the same
bottleneck, so an image has N = 8 * 8 * latents_per_position discrete latents (vdO's CIFAR model: 8x8x10).
The decoder mirrors the encoder with transposed convolutions and ends in a discrete likelihood.
"""
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Dict, NamedTuple, Union

from torch import Tensor, nn

from vqnat.bottleneck import build_bottleneck
from vqnat.image.likelihood import build_likelihood, to_unit_range

LATENT_SIZE = 8  # 32x32 images, two stride-2 convolutions


@dataclass
class VQVAEConfig:
    """Model hyper-parameters; stored in checkpoints as a plain dict."""

    channels: int = 256  # hidden channels of the encoder and decoder (vdO: 256)
    residual_channels: int = 256  # hidden channels inside a residual block
    latents_per_position: int = 10  # slices per 8x8 position, each one discrete latent (vdO: 10)
    code_dim: int = 64  # D of the bottleneck: the size of one slice
    num_codes: int = 512  # K
    bottleneck: str = "ema"  # vq | ema | soft_em | dvq | semhash (ema: best measured, see examples/image)
    beta: float = 0.25  # commitment weight
    decay: float = 0.99  # EMA decay lambda of the EM kinds (vdO's images: 0.99)
    epsilon: float = 1e-5  # Laplace smoothing of the EMA counts
    num_samples: int = 10  # m, codes sampled per latent by soft EM
    temperature: float = 1.0  # soft-EM sampling temperature
    num_slices: int = 2  # n_d, codebooks of dvq
    projection: bool = False  # dvq: random projections instead of slices
    kmeans_init: bool = False  # codebook kinds: k-means on the first batches (at least K vectors)
    restart_dead: bool = False  # codebook kinds: move dead codes onto recent encoder outputs
    likelihood: str = "logistic"  # logistic | categorical
    num_mixtures: int = 5  # logistic components per subpixel

    @classmethod
    def from_dict(cls, values: Dict[str, Any]) -> "VQVAEConfig":
        """Build a config from a checkpoint's dict, ignoring keys this version does not know."""
        known = {field.name for field in fields(cls)}
        return cls(**{key: value for key, value in values.items() if key in known})

    def build_bottleneck(self) -> nn.Module:
        """Build the bottleneck shared by all latents (also a cheap check of the bottleneck options)."""
        return build_bottleneck(self.bottleneck, dim=self.code_dim, num_codes=self.num_codes,
                                **self.bottleneck_options())

    def bottleneck_options(self) -> Dict[str, Any]:
        """Return the options of ``build_bottleneck`` that the chosen kind reads."""
        codebook = {"beta": self.beta, "kmeans_init": self.kmeans_init, "restart_dead": self.restart_dead}
        em = {**codebook, "decay": self.decay, "epsilon": self.epsilon}
        per_kind = {
            "vq": codebook,
            "ema": em,
            "soft_em": {**em, "num_samples": self.num_samples, "temperature": self.temperature},
            "dvq": {**em, "num_slices": self.num_slices, "projection": self.projection},
            "semhash": {},
        }
        if self.bottleneck not in per_kind:
            raise ValueError(f"unknown bottleneck {self.bottleneck!r} (choose from {', '.join(per_kind)})")
        return per_kind[self.bottleneck]


class ResidualBlock(nn.Module):
    """x + conv1x1(relu(conv3x3(relu(x)))), vdO's residual block."""

    def __init__(self, channels: int, hidden: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.ReLU(), nn.Conv2d(channels, hidden, 3, padding=1), nn.ReLU(), nn.Conv2d(hidden, channels, 1)
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


def build_encoder(config: VQVAEConfig) -> nn.Sequential:
    """Images (B, 3, 32, 32) in [-1, 1] -> latents (B, S * D, 8, 8)."""
    width = config.channels
    return nn.Sequential(
        nn.Conv2d(3, width, 4, stride=2, padding=1), nn.ReLU(),
        nn.Conv2d(width, width, 4, stride=2, padding=1),
        ResidualBlock(width, config.residual_channels), ResidualBlock(width, config.residual_channels), nn.ReLU(),
        nn.Conv2d(width, config.latents_per_position * config.code_dim, 1),
    )


def build_decoder(config: VQVAEConfig, out_channels: int) -> nn.Sequential:
    """Quantized latents (B, S * D, 8, 8) -> likelihood parameters (B, out_channels, 32, 32)."""
    width = config.channels
    return nn.Sequential(
        nn.Conv2d(config.latents_per_position * config.code_dim, width, 3, padding=1),
        ResidualBlock(width, config.residual_channels), ResidualBlock(width, config.residual_channels), nn.ReLU(),
        nn.ConvTranspose2d(width, width, 4, stride=2, padding=1), nn.ReLU(),
        nn.ConvTranspose2d(width, out_channels, 4, stride=2, padding=1),
    )


class VQVAEOutput(NamedTuple):
    """What :meth:`ImageVQVAE.forward` returns.

    Attributes:
        params: (B, P, 32, 32) decoder output, the parameters of p(x | z_q).
        recon_nll: (B,) -log p(x | z_q) in nats per image.
        codes: (B, 8, 8, S) LongTensor, one code in [0, K) per latent.
        bottleneck: the bottleneck's own output (its ``loss`` and ``stats``).
    """

    params: Tensor
    recon_nll: Tensor
    codes: Tensor
    bottleneck: Any


class ImageVQVAE(nn.Module):
    """Encoder, bottleneck shared by all latents, decoder and discrete likelihood."""

    def __init__(self, config: VQVAEConfig) -> None:
        super().__init__()
        self.config = config
        self.likelihood = build_likelihood(config.likelihood, config.num_mixtures)
        self.encoder = build_encoder(config)
        self.bottleneck = config.build_bottleneck()
        self.decoder = build_decoder(config, self.likelihood.channels)

    @property
    def num_codes(self) -> int:
        return int(self.bottleneck.num_codes)

    @property
    def latent_shape(self):
        """(8, 8, S): the grid of latents of one image."""
        return (LATENT_SIZE, LATENT_SIZE, self.config.latents_per_position)

    @property
    def num_latents(self) -> int:
        return LATENT_SIZE * LATENT_SIZE * self.config.latents_per_position

    def encode(self, images: Tensor) -> Tensor:
        """uint8 images (B, 32, 32, 3) -> continuous latents (B, 8, 8, S, D)."""
        hidden = self.encoder(to_unit_range(images).permute(0, 3, 1, 2))  # (B, S * D, 8, 8)
        batch = hidden.shape[0]
        return hidden.permute(0, 2, 3, 1).reshape(batch, *self.latent_shape, self.config.code_dim)

    def decode(self, quantized: Tensor) -> Tensor:
        """Quantized latents (B, 8, 8, S, D) -> likelihood parameters (B, P, 32, 32)."""
        hidden = quantized.flatten(3).permute(0, 3, 1, 2)  # (B, S * D, 8, 8)
        return self.decoder(hidden)

    def decode_codes(self, codes: Tensor) -> Tensor:
        """Codes (B, 8, 8, S) -> likelihood parameters (B, P, 32, 32), through the codebook."""
        return self.decode(self.bottleneck.embed(self.bottleneck.split_codes(codes)))

    def forward(self, images: Tensor) -> VQVAEOutput:
        """Encode, quantize and decode uint8 images (B, 32, 32, 3); training mode updates EM codebooks."""
        bottleneck_out = self.bottleneck(self.encode(images))
        params = self.decode(bottleneck_out.quantized)
        recon_nll = self.likelihood.nll(params, images)
        codes = self.bottleneck.join_codes(bottleneck_out.codes)  # dvq's per-slice codes -> one index in [0, K)
        return VQVAEOutput(params, recon_nll, codes, bottleneck_out)


def load_vqvae(path: Union[str, Path], device: str = "cpu") -> ImageVQVAE:
    """Load a trained VQ-VAE from a checkpoint, in eval mode, on ``device``."""
    from vqnat.image.checkpoint import VQVAE_KIND, load_checkpoint

    state = load_checkpoint(path, VQVAE_KIND)
    model = ImageVQVAE(VQVAEConfig.from_dict(state["config"]))
    model.load_state_dict(state["model"])
    return model.to(device).eval()
