"""EM-trained codebooks (Roy et al. 2018): hard EM (nearest code) and Monte-Carlo soft EM.

The codebook is not a parameter. Every training call runs the E-step (assignments from the old codebook), then
the online M-step of Roy et al. 2018 (eqs. 4-5, in the form of tensor2tensor's code) on EMAs of the counts C
and sums M, after summing the batch statistics over workers:
    C_k <- lambda C_k + (1 - lambda) n_k,    M_k <- lambda M_k + (1 - lambda) s_k,    e_k <- M_k / C^_k
with C^ the Laplace-smoothed counts (used only for the division; C itself is stored unsmoothed).

Two initialisations of the EMAs (``debias``):
    False, as in the t2t code: C = 0, M = e0, no bias correction. After the first step a used code is inflated
        ~1000/n_k-fold and an unused one ~1e5-fold; the transient decays over ~ln(1e5) / (1 - lambda) steps.
    True (default): C = M = 0 with bias correction C / (1 - lambda^t), M / (1 - lambda^t), as in Sonnet; a code
        never assigned keeps its vector. With lambda = 0 each call is exactly one Lloyd (k-means) step.

Why True is the default (measured; lambda = 0.999, eps = 1e-5, uniform-unit-scaling init, mean of 3 seeds):
    Online k-means of a 64-component Gaussian mixture in 16-d (means ~ N(0, I), sigma 0.3), K = 256, batches of
    256 fresh points; held-out quantization MSE per element (data variance 1.09) / share of codes used:
        step          100            1000           3000          10000 (1 seed)   20000 (1 seed)
        t2t init      1.075 / 0.5%   1.073 / 0.5%   1.068 / 0.5%  0.110 / 27%      0.102 / 29%
        debiased      0.102 / 35%    0.101 / 37%    0.101 / 38%   -                -
    The t2t initialisation sits collapsed on one or two codes for ~6-10k steps (the unused codes are parked
    ~1e5 away until lambda^t cancels the 1/eps), then reaches what the debiased EMA had after ~10 steps.
    Tiny autoencoder on the same data (MLP encoder + LayerNorm, D = 16, K = 256, Adam 1e-3, 2000 steps):
    reconstruction MSE 1.104 (one code used: total collapse) with the t2t init against 0.177 (21% of codes,
    perplexity 52) debiased.

Options beyond the paper (off by default), same two set-ups, debiased, at step 3000 / 2000:
    k-means init:       k-means MSE 0.083 (100% of codes used), autoencoder 0.091 (49%); with the t2t init
                        the transient undoes it (autoencoder 1.106, one code).
    dead-code restart:  k-means MSE 0.083 (100%), autoencoder 0.089 (82%); it also rescues the t2t init
                        (autoencoder 0.090, 84%). Defaults: checked every 100 calls, threshold 0.01 per call.
"""
from typing import Optional

import torch
from torch import Tensor

from vqnat.bottleneck.codebook import CodebookQuantizer, check_option, uniform_unit_scaling
from vqnat.bottleneck.distances import DEFAULT_CHUNK_SIZE, sample_codes
from vqnat.bottleneck.ema import debias_factor, ema_update_, laplace_smoothed_counts


class EMQuantizerBase(CodebookQuantizer):
    """EMA M-step on G groups of codes; buffers ``codebook``, ``ema_count`` (C), ``ema_sum`` (M) stay fp32."""

    def __init__(self, dim: int, num_codes: int, *, groups: int = 1, epsilon: float = 1e-5, debias: bool = True,
                 **options) -> None:
        check_option("epsilon", epsilon > 0, f"must be > 0, got {epsilon}")
        super().__init__(dim, num_codes, groups=groups, **options)
        self.epsilon = epsilon  # Laplace smoothing of the counts
        self.debias = debias
        codebook = uniform_unit_scaling(self.codebook_shape())
        self.register_buffer("codebook", codebook)  # e, (K, D) or (n_d, K', d)
        self.register_buffer("ema_sum", torch.zeros_like(codebook) if debias else codebook.clone())  # M

    def update_state_(self, counts: Tensor, sums: Tensor) -> None:
        ema_update_(self.ema_count, counts.view_as(self.ema_count), self.decay)
        ema_update_(self.ema_sum, sums.view_as(self.ema_sum), self.decay)
        self.codebook.copy_(self.codebook_from_ema())

    def codebook_from_ema(self) -> Tensor:
        """e = M / C^ per group; a group that has seen no data yet (and, debiased, a never-used code) keeps e."""
        shape = (self.groups, self.codes_per_group)
        counts, sums = self.ema_count.view(shape), self.ema_sum.view(*shape, self.group_dim)
        factor = debias_factor(self.decay, int(self.num_updates))
        if self.debias and factor > 0:
            counts, sums = counts / factor, sums / factor
        smoothed = laplace_smoothed_counts(counts, self.epsilon)  # (G, K')
        keep = counts.sum(-1, keepdim=True) <= 0  # (G, 1)
        if self.debias:
            keep = keep | (counts == 0)
        new = sums / smoothed.unsqueeze(-1)
        return torch.where(keep.unsqueeze(-1), self.grouped_codebook_data(), new).view_as(self.codebook)

    def reset_codes_(self, group: int, codes: Tensor, vectors: Tensor, count: float) -> None:
        super().reset_codes_(group, codes, vectors, count)
        self.ema_sum.view(self.groups, self.codes_per_group, self.group_dim)[group, codes] = vectors * count

    def shared_state(self):
        return super().shared_state() + [self.ema_sum]

    def after_kmeans_init_(self) -> None:
        """Restart the EMAs from the k-means codebook, initialised as for a fresh codebook."""
        self.ema_count.zero_()
        self.ema_sum.copy_(torch.zeros_like(self.codebook) if self.debias else self.codebook)


class HardEMQuantizer(EMQuantizerBase):
    """Hard EM (the NAT paper's "VQ-VAE"): nearest code, straight-through, loss beta ||x - sg(e)||^2.

    Args:
        dim: D, size of each input vector.
        num_codes: K (4096 = 2^12 in the paper).
        beta: commitment weight (0.25).
        decay: lambda of the EMAs (0.999).
        epsilon: Laplace smoothing of the counts (1e-5).
        debias: bias-corrected EMAs started at zero (True) or the t2t initialisation (False); module docstring.
        dead_threshold: a code picked fewer times per call than this (running average) counts as dead.
        kmeans_init: set the codebook by k-means on the first training batches, gathered over workers and pooled
            until there are K vectors.
        kmeans_iterations: Lloyd iterations after k-means++ seeding.
        restart_dead: every ``restart_interval`` training calls, move dead codes onto random batch vectors and
            reset their EMAs.
        restart_interval: training calls between dead-code checks.
        chunk_size: largest (positions x K) distance block computed at once.
        seed: seed of the k-means and restart draws (shared by all workers).
    """

    def __init__(
        self,
        dim: int,
        num_codes: int = 4096,
        *,
        beta: float = 0.25,
        decay: float = 0.999,
        epsilon: float = 1e-5,
        debias: bool = True,
        dead_threshold: float = 0.01,
        kmeans_init: bool = False,
        kmeans_iterations: int = 10,
        restart_dead: bool = False,
        restart_interval: int = 100,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        seed: int = 0,
    ) -> None:
        super().__init__(
            dim, num_codes, epsilon=epsilon, debias=debias, beta=beta, decay=decay, dead_threshold=dead_threshold,
            kmeans_init=kmeans_init, kmeans_iterations=kmeans_iterations, restart_dead=restart_dead,
            restart_interval=restart_interval, chunk_size=chunk_size, seed=seed,
        )


class SoftEMQuantizer(HardEMQuantizer):
    """Monte-Carlo soft EM (Roy et al. 2018, §3): in training, m codes per latent from softmax(-||x - e_k||^2 / T).

    The decoder input is the mean of the m drawn vectors (straight-through), the EM statistics use the
    averaged one-hots r (returned as ``soft_labels``), ``codes`` is the most drawn code (argmax r). In eval
    mode the nearest code is used (deterministic) and r is its one-hot.

    Args:
        num_samples: m (10 in the code; the paper's runs used 5 or 10).
        temperature: T (1 in the paper).
        **options: those of ``HardEMQuantizer``.
    """

    def __init__(self, dim: int, num_codes: int = 4096, *, num_samples: int = 10, temperature: float = 1.0,
                 **options) -> None:
        check_option("num_samples", num_samples >= 1, f"must be >= 1, got {num_samples}")
        check_option("temperature", temperature > 0, f"must be > 0, got {temperature}")
        super().__init__(dim, num_codes, **options)
        self.num_samples = num_samples  # m
        self.temperature = temperature  # T

    def assign(self, targets: Tensor) -> Tensor:
        if not self.training:
            return super().assign(targets)
        return sample_codes(targets, self.grouped_codebook(), self.num_samples, self.temperature, self.chunk_size)

    def soft_labels(self, codes: Tensor) -> Optional[Tensor]:
        """r_i = (1/m) sum_l onehot(z_i^l), (N, K), detached."""
        samples = codes[0]  # (N, m)
        weight = torch.full(samples.shape, 1.0 / samples.shape[-1], device=samples.device)
        return torch.zeros(samples.shape[0], self.num_codes, device=samples.device).scatter_add_(1, samples, weight)

    def output_codes(self, codes: Tensor, soft_labels: Optional[Tensor]) -> Tensor:
        return soft_labels.argmax(-1)
