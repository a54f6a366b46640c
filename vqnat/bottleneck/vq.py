"""Gradient-trained VQ (van den Oord et al. 2017): the codebook is a parameter pulled by the codebook loss."""
from torch import Tensor, nn

from vqnat.bottleneck.codebook import CodebookQuantizer, uniform_unit_scaling
from vqnat.bottleneck.distances import DEFAULT_CHUNK_SIZE

#: Decay of the running use counts behind ``dead_codes`` and ``restart_dead`` (they do not train anything here).
USAGE_DECAY = 0.999


class VectorQuantizer(CodebookQuantizer):
    """Nearest-code VQ with straight-through, loss = ||sg(x) - e||^2 + beta ||x - sg(e)||^2 (van den Oord et al. 2017).

    Args:
        dim: D, size of each input vector.
        num_codes: K.
        beta: commitment weight (0.25).
        dead_threshold: a code picked fewer times per call than this (running average) counts as dead.
        kmeans_init: set the codebook by k-means on the first training batches (pooled until >= K vectors).
        kmeans_iterations: Lloyd iterations after k-means++ seeding.
        restart_dead: every ``restart_interval`` training calls, move dead codes onto random batch vectors.
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
        dead_threshold: float = 0.01,
        kmeans_init: bool = False,
        kmeans_iterations: int = 10,
        restart_dead: bool = False,
        restart_interval: int = 100,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        seed: int = 0,
    ) -> None:
        super().__init__(
            dim, num_codes, beta=beta, decay=USAGE_DECAY, dead_threshold=dead_threshold, kmeans_init=kmeans_init,
            kmeans_iterations=kmeans_iterations, restart_dead=restart_dead, restart_interval=restart_interval,
            chunk_size=chunk_size, seed=seed,
        )
        self.codebook = nn.Parameter(uniform_unit_scaling((num_codes, dim)))  # e, (K, D)

    def auxiliary_loss(self, targets: Tensor, quantized: Tensor, valid: Tensor) -> Tensor:
        """Codebook loss (trains e only) + beta * commitment loss (trains the encoder only)."""
        codebook_loss = self.mean_squared_error(targets.detach(), quantized, valid)
        commitment = self.mean_squared_error(targets, quantized.detach(), valid)
        return codebook_loss + self.beta * commitment
