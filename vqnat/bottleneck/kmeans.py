"""k-means++ seeding followed by Lloyd iterations: the optional data-dependent codebook initialisation."""
import torch
from torch import Tensor

from vqnat.bottleneck.distances import DEFAULT_CHUNK_SIZE, nearest_codes, squared_distances
from vqnat.bottleneck.ema import code_statistics


def kmeans_plus_plus(vectors: Tensor, num_clusters: int, generator: torch.Generator) -> Tensor:
    """Pick ``num_clusters`` rows of (N, d) ``vectors``, each new one with probability proportional to its
    squared distance to the nearest row picked so far (Arthur & Vassilvitskii 2007)."""
    first = torch.randint(vectors.shape[0], (1,), generator=generator, device="cpu").item()
    picked = [first]
    nearest = squared_distances(vectors[None], vectors[None, first:first + 1])[0, :, 0]  # (N,)
    for _ in range(1, num_clusters):
        weights = nearest.cpu().double()
        if weights.sum() <= 0:  # every vector coincides with a centre: fall back to a uniform draw
            weights = torch.ones_like(weights)
        index = torch.multinomial(weights, 1, generator=generator).item()
        picked.append(index)
        new = squared_distances(vectors[None], vectors[None, index:index + 1])[0, :, 0]
        nearest = torch.minimum(nearest, new)
    return vectors[picked].clone()


@torch.no_grad()
def kmeans(
    vectors: Tensor,
    num_clusters: int,
    iterations: int = 10,
    generator: torch.Generator = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> Tensor:
    """Return (num_clusters, d) k-means centroids of the (N, d) fp32 ``vectors``.

    A cluster that loses all its points keeps its centroid. Deterministic for a given ``generator``.

    Raises:
        ValueError: fewer vectors than clusters.
    """
    if vectors.shape[0] < num_clusters:
        raise ValueError(
            f"k-means init needs at least num_codes={num_clusters} vectors, got {vectors.shape[0]} "
            "(pool more batches or use fewer codes)"
        )
    generator = generator if generator is not None else torch.Generator().manual_seed(0)
    vectors = vectors.float()
    centroids = kmeans_plus_plus(vectors, num_clusters, generator)
    valid = torch.ones(vectors.shape[0], dtype=torch.bool, device=vectors.device)
    for _ in range(iterations):
        codes = nearest_codes(vectors[None], centroids[None], chunk_size)  # (1, N)
        counts, sums = code_statistics(vectors[None], codes.unsqueeze(-1), valid, num_clusters)
        counts, sums = counts[0], sums[0]
        centroids = torch.where(counts[:, None] > 0, sums / counts.clamp_min(1e-12)[:, None], centroids)
    return centroids
