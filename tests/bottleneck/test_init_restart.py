"""Optional k-means initialisation and dead-code restart."""
import pytest
import torch

from vqnat.bottleneck import build_bottleneck, kmeans

CENTRES = torch.tensor([[-4.0, -4.0], [-4.0, 4.0], [4.0, -4.0], [4.0, 4.0]])


def blobs(rows, seed):
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(rows) % 4
    return CENTRES[labels] + 0.2 * torch.randn(rows, 2, generator=generator), labels


def sort_rows(points):
    return points[torch.argsort(points[:, 0] * 100 + points[:, 1])]


def test_kmeans_finds_separated_centres_and_is_deterministic():
    x, labels = blobs(200, seed=0)
    centroids = kmeans(x, 4, generator=torch.Generator().manual_seed(1))
    means = torch.stack([x[labels == k].mean(0) for k in range(4)])
    assert torch.allclose(sort_rows(centroids), sort_rows(means), atol=1e-5)
    assert torch.equal(centroids, kmeans(x, 4, generator=torch.Generator().manual_seed(1)))


@pytest.mark.parametrize("kind", ["ema", "vq", "soft_em"])
def test_kmeans_init_on_the_first_training_batch(kind):
    x, labels = blobs(200, seed=0)
    module = build_bottleneck(kind, dim=2, num_codes=4, kmeans_init=True, decay=0.0) if kind != "vq" else \
        build_bottleneck(kind, dim=2, num_codes=4, kmeans_init=True)
    module.eval()(x)
    assert not module.initialized  # eval never initialises
    out = module.train()(x)
    means = torch.stack([x[labels == k].mean(0) for k in range(4)])
    assert torch.allclose(sort_rows(module.codebook.detach()), sort_rows(means), atol=1e-4)
    assert out.stats["usage"] == 1.0 and module.initialized


def test_kmeans_needs_as_many_vectors_as_clusters():
    with pytest.raises(ValueError, match="k-means init needs at least num_codes=8 vectors, got 6"):
        kmeans(torch.randn(6, 2), 8)


def test_kmeans_init_pools_batches_until_it_has_as_many_vectors_as_codes():
    x, labels = blobs(12, seed=0)  # three points per blob, two batches of six
    module = build_bottleneck("ema", dim=2, num_codes=8, kmeans_init=True, decay=0.0).train()
    start = module.codebook.clone()
    module(x[:6])
    assert not module.initialized and len(module.kmeans_pool) == 1
    assert not torch.equal(module.codebook, start)  # the random codebook trains meanwhile
    module(x[6:])
    assert module.initialized and module.kmeans_pool == []
    # k-means over all 12 pooled points: every code holds a point or a mean of points of one blob
    blob_of_code = [labels[torch.cdist(code[None], x).argmin()] for code in module.codebook]
    assert sorted(set(int(b) for b in blob_of_code)) == [0, 1, 2, 3]
    assert "kmeans_pool" not in module.state_dict()


@pytest.mark.parametrize("debias", [False, True])
def test_dead_codes_restart_on_batch_vectors_with_fresh_ema_state(debias):
    torch.manual_seed(0)
    module = build_bottleneck("ema", dim=2, num_codes=8, restart_dead=True, restart_interval=1,
                              dead_threshold=0.5, decay=0.9, debias=debias).train()
    with torch.no_grad():
        module.codebook.copy_(torch.cat([CENTRES + 0.1, torch.full((4, 2), 50.0)]))
        module.ema_sum.copy_(torch.zeros(8, 2) if debias else module.codebook)
    x, _ = blobs(64, seed=3)
    out = module(x)
    assert out.stats["usage"] == 0.5  # this call still used the far codes' old positions
    restarted = module.codebook[4:]
    assert all((x == row).all(-1).any() for row in restarted)  # each moved onto a batch vector
    factor = 1 - 0.9
    assert torch.allclose(module.ema_count[4:], torch.full((4,), 0.5 * factor))
    assert torch.allclose(module.ema_sum[4:], restarted * 0.5 * factor)
    assert module(x).stats["usage"] > 0.5
    assert module.dead_codes() < 4


def test_dead_code_statistic_uses_the_threshold():
    module = build_bottleneck("ema", dim=2, num_codes=4, decay=0.5, dead_threshold=1.0).train()
    with torch.no_grad():
        module.codebook.copy_(CENTRES)
    x = torch.cat([CENTRES[:1].repeat(5, 1), CENTRES[1:2]])  # code 0 five times, code 1 once, 2 and 3 never
    out = module(x)
    assert out.stats["dead_codes"] == 2.0  # counts 5, 1, 0, 0 against threshold 1
    assert torch.allclose(out.stats["usage"], torch.tensor(0.5))
    probs = torch.tensor([5 / 6, 1 / 6])
    assert torch.allclose(out.stats["perplexity"], torch.exp(-(probs * probs.log()).sum()))
