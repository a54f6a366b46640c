"""What the codebook kinds (vq, ema, soft_em, dvq) share: the forward pass as named steps, running use counts,
k-means initialisation and dead-code restart, all consistent across distributed workers.

The codebook is held as G groups of K' codes of size d = D / G: G = 1, K' = K for a plain codebook; G = n_d
slices for DVQ. Internally every tensor carries the group axis first: inputs (G, N, d), codes (G, N, m).
"""
import math
from typing import List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from vqnat.bottleneck.distances import DEFAULT_CHUNK_SIZE, nearest_codes, squared_distances
from vqnat.bottleneck.distributed import all_gather_rows, all_reduce_sum_, broadcast_
from vqnat.bottleneck.ema import code_statistics, debias_factor, ema_update_
from vqnat.bottleneck.kmeans import kmeans
from vqnat.bottleneck.outputs import BottleneckOutput
from vqnat.bottleneck.precision import Fp32StateModule
from vqnat.bottleneck.shapes import flatten_inputs
from vqnat.bottleneck.stats import usage_stats


def check_option(name: str, ok: bool, requirement: str) -> None:
    """Raise ValueError naming the option when ``ok`` is False."""
    if not ok:
        raise ValueError(f"bottleneck option {name!r} {requirement}")


def uniform_unit_scaling(shape: Tuple[int, ...]) -> Tensor:
    """TF's uniform_unit_scaling init used for the t2t codebook: U(+-sqrt(3 / prod(shape[:-1])))."""
    limit = math.sqrt(3.0 / math.prod(shape[:-1]))
    return torch.empty(shape).uniform_(-limit, limit)


class CodebookQuantizer(Fp32StateModule):
    """Base of the codebook kinds; subclasses set ``self.codebook`` and may override the hooks below.

    Buffers (checkpointed): ``ema_count`` running per-call count of each code (the EM count C_k for EM kinds),
    ``num_updates`` training calls so far, ``initialized`` whether the first-update set-up (sync from rank 0,
    optional k-means) is done.
    """

    fp32_buffers = ("codebook", "ema_count", "ema_sum")

    def __init__(
        self,
        dim: int,
        num_codes: int,
        *,
        groups: int = 1,
        beta: float = 0.25,
        decay: float = 0.999,
        dead_threshold: float = 0.01,
        kmeans_init: bool = False,
        kmeans_iterations: int = 10,
        restart_dead: bool = False,
        restart_interval: int = 100,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        seed: int = 0,
    ) -> None:
        super().__init__()
        check_option("dim", dim >= 1 and dim % groups == 0, f"must be a positive multiple of {groups}, got {dim}")
        check_option("num_codes", num_codes >= 2, f"must be >= 2, got {num_codes}")
        check_option("beta", beta >= 0, f"must be >= 0, got {beta}")
        check_option("decay", 0 <= decay <= 1, f"must be in [0, 1], got {decay}")
        check_option("dead_threshold", dead_threshold >= 0, f"must be >= 0, got {dead_threshold}")
        check_option("dead_threshold", dead_threshold > 0 or not restart_dead, "must be > 0 with restart_dead")
        check_option("kmeans_iterations", kmeans_iterations >= 0, f"must be >= 0, got {kmeans_iterations}")
        check_option("restart_interval", restart_interval >= 1, f"must be >= 1, got {restart_interval}")
        check_option("chunk_size", chunk_size >= 1, f"must be >= 1, got {chunk_size}")
        self.dim = dim  # D
        self.num_codes = num_codes  # K, the number of distinct (joint) codes
        self.groups = groups  # G (n_d for DVQ)
        self.codes_per_group = round(num_codes ** (1.0 / groups))  # K'
        self.group_dim = dim // groups  # d
        self.beta = beta  # commitment weight (van den Oord et al. 2017, eq. 3)
        self.decay = decay  # lambda of the EMAs (Roy et al. 2018, eqs. 4-5)
        self.dead_threshold = dead_threshold
        self.kmeans_init = kmeans_init
        self.kmeans_iterations = kmeans_iterations
        self.restart_dead = restart_dead
        self.restart_interval = restart_interval
        self.chunk_size = chunk_size
        self.seed = seed
        count_shape = (num_codes,) if groups == 1 else (groups, self.codes_per_group)
        self.register_buffer("ema_count", torch.zeros(count_shape))
        self.register_buffer("num_updates", torch.zeros((), dtype=torch.long))
        self.register_buffer("initialized", torch.zeros((), dtype=torch.bool))
        self.kmeans_pool: List[Tensor] = []  # (G, n, d) inputs seen before a k-means initialisation (not saved)

    def codebook_shape(self) -> Tuple[int, ...]:
        """(K, D), or (n_d, K', D / n_d) for DVQ: the public shape of ``codebook``."""
        if self.groups == 1:
            return (self.num_codes, self.dim)
        return (self.groups, self.codes_per_group, self.group_dim)

    # ---- hooks -------------------------------------------------------------------------------------------
    def group_inputs(self, flat: Tensor) -> Tensor:
        """(N, D) fp32 -> (G, N, d): the vectors each codebook quantizes (contiguous slices by default)."""
        return flat.view(flat.shape[0], self.groups, self.group_dim).transpose(0, 1)

    def merge_groups(self, quantized: Tensor) -> Tensor:
        """(G, N, d) -> (N, D): concatenate the groups back into one vector per position."""
        return quantized.transpose(0, 1).reshape(quantized.shape[1], self.dim)

    def assign(self, targets: Tensor) -> Tensor:
        """E-step: (G, N, d) -> (G, N, m) codes. Hard nearest-code assignment (m = 1) by default."""
        return nearest_codes(targets, self.grouped_codebook(), self.chunk_size).unsqueeze(-1)

    def auxiliary_loss(self, targets: Tensor, quantized: Tensor, valid: Tensor) -> Tensor:
        """beta * ||x - sg(q)||^2, averaged over the valid positions' elements (the EMA variant's only loss)."""
        return self.beta * self.mean_squared_error(targets, quantized.detach(), valid)

    def update_state_(self, counts: Tensor, sums: Tensor) -> None:
        """M-step side effect of a training call, given global (all-reduced) counts (G, K') and sums (G, K', d)."""
        ema_update_(self.ema_count, counts.view_as(self.ema_count), self.decay)

    def reset_codes_(self, group: int, codes: Tensor, vectors: Tensor, count: float) -> None:
        """Put ``vectors`` (n, d) at ``codes`` (n,) of ``group`` and give them the running count ``count``."""
        self.grouped_codebook_data()[group, codes] = vectors.to(self.codebook.dtype)
        self.ema_count.view(self.groups, self.codes_per_group)[group, codes] = count

    def shared_state(self) -> List[Tensor]:
        """Tensors rank 0 broadcasts before the first update so all workers start identical."""
        return [self.codebook.data, self.ema_count]

    def output_codes(self, codes: Tensor, soft_labels: Optional[Tensor]) -> Tensor:
        """(G, N, m) internal codes -> the (N,) codes returned to the caller."""
        return codes[0, :, 0]

    def soft_labels(self, codes: Tensor) -> Optional[Tensor]:
        """(N, K) soft targets for the latent predictor, or None (only soft EM has them)."""
        return None

    def log_posterior(self, x: Tensor) -> Tensor:
        """log q(k | x) = log softmax(-||x - e_k||^2 / T) over the codebook, (N, D) -> (N, K), differentiable in
        x only (the codebook is the EM's, not the gradient's). T is soft EM's temperature, 1 for the others.
        One codebook only: the joint posterior of DVQ's slices is not this softmax."""
        if self.groups != 1:
            raise ValueError("the code posterior is defined for one codebook (--bottleneck ema, soft_em or vq), "
                             f"not {self.groups} slices")
        distances = squared_distances(x.unsqueeze(0), self.grouped_codebook().detach())[0]  # (N, K)
        return F.log_softmax(-distances / getattr(self, "temperature", 1.0), dim=-1)

    def code_usage(self, counts: Tensor, codes: Tensor, valid: Tensor) -> Tensor:
        """(K,) per-code counts of this call for the logged statistics."""
        return counts[0]

    # ---- public helpers ----------------------------------------------------------------------------------
    def grouped_codebook(self) -> Tensor:
        """The codebook as fp32 (G, K', d), differentiable when it is a parameter."""
        return self.codebook.float().view(self.groups, self.codes_per_group, self.group_dim)

    def grouped_codebook_data(self) -> Tensor:
        """The codebook's storage as (G, K', d), for in-place writes outside autograd."""
        return self.codebook.data.view(self.groups, self.codes_per_group, self.group_dim)

    def lookup(self, codes: Tensor) -> Tensor:
        """(G, N, m) codes -> (G, N, d) fp32 mean of their vectors (soft-EM decoder input, Roy et al. eq. 12)."""
        codebook = self.grouped_codebook()  # (G, K', d)
        group_index = torch.arange(self.groups, device=codes.device).view(-1, 1)
        total = sum(codebook[group_index, codes[..., sample]] for sample in range(codes.shape[-1]))
        return total / codes.shape[-1]

    def embed(self, codes: Tensor) -> Tensor:
        """Map codes of the shape ``forward`` returns to their (..., D) vectors (in the model's dtype)."""
        return F.embedding(codes, self.codebook).to(self.nominal_dtype)

    def join_codes(self, codes: Tensor) -> Tensor:
        """Return the joint index in [0, K) of codes as ``forward`` returns them (identity for one codebook)."""
        return codes

    def split_codes(self, joint: Tensor) -> Tensor:
        """Inverse of ``join_codes``."""
        return joint

    def expected_counts(self) -> Tensor:
        """(G, K') running estimate of how many positions per call pick each code (bias-corrected EMA)."""
        factor = debias_factor(self.decay, int(self.num_updates))
        counts = self.ema_count.view(self.groups, self.codes_per_group)
        return counts / factor if factor > 0 else torch.zeros_like(counts)

    def dead_codes(self) -> Tensor:
        """Number of codes whose expected count per call is below ``dead_threshold``."""
        return (self.expected_counts() < self.dead_threshold).sum().float()

    def mean_squared_error(self, targets: Tensor, quantized: Tensor, valid: Tensor) -> Tensor:
        """Mean of (targets - quantized)^2 over the N_valid * D elements of valid positions (0 if none)."""
        per_position = (targets - quantized).pow(2).sum(dim=(0, 2))  # (N,)
        per_position = torch.where(valid, per_position, torch.zeros_like(per_position))
        return per_position.sum() / (valid.sum().clamp_min(1) * self.dim)

    # ---- forward -----------------------------------------------------------------------------------------
    def forward(self, x: Tensor, mask: Optional[Tensor] = None,
                update_codebook: Optional[bool] = None) -> BottleneckOutput:
        """Quantize x (..., D); padded positions (mask False) enter no statistic, loss or update.

        Args:
            x: (..., D) float tensor; all leading axes are positions.
            mask: optional (...) bool, True = real position.
            update_codebook: whether to update the running state (EM step, counts); default ``self.training``.
        """
        update = self.training if update_codebook is None else update_codebook
        flat, valid = flatten_inputs(x, mask, self.dim)  # (N, D), (N,)
        lead_shape = x.shape[:-1]
        flat_clean = flat.float().masked_fill(~valid[:, None], 0.0)  # padding may hold anything, even nan
        if update and not bool(self.initialized):
            self.initialize_(flat_clean.detach(), valid)
        targets = self.group_inputs(flat_clean)  # (G, N, d)
        codes = self.assign(targets.detach())  # (G, N, m)
        quantized = self.lookup(codes)  # (G, N, d), from the old codebook (the t2t order of operations)
        loss = self.auxiliary_loss(targets, quantized, valid)
        counts, sums = code_statistics(targets.detach(), codes, valid, self.codes_per_group)
        usage = self.code_usage(counts, codes, valid)
        if update:
            global_counts, global_sums = counts.clone(), sums.clone()
            all_reduce_sum_([global_counts, global_sums])
            self.num_updates += 1
            self.update_state_(global_counts, global_sums)
            if self.restart_dead and int(self.num_updates) % self.restart_interval == 0:
                self.restart_dead_codes_(targets.detach(), valid)
        dense = self.merge_groups(quantized.detach()).to(flat.dtype)  # (N, D)
        straight_through = flat + (dense - flat).detach()
        soft = self.soft_labels(codes)  # (N, K) or None
        codes_out = self.output_codes(codes, soft)  # (N,) or (N, n_d)
        return BottleneckOutput(
            quantized=straight_through.view(x.shape),
            codes=codes_out.view(*lead_shape, *codes_out.shape[1:]),
            loss=loss,
            stats=usage_stats(usage, self.dead_codes()),
            soft_labels=None if soft is None else soft.view(*lead_shape, soft.shape[-1]),
        )

    # ---- first update, restarts --------------------------------------------------------------------------
    def generator(self, salt: int = 0) -> torch.Generator:
        """A CPU generator seeded from (seed, num_updates, salt): the same on every worker for salt = 0."""
        return torch.Generator().manual_seed(hash((self.seed, int(self.num_updates), salt)) % (2 ** 62))

    def gather_valid_rows(self, targets: Tensor, valid: Tensor, limit: Optional[int] = None) -> Tensor:
        """All workers' valid positions (up to ``limit`` random ones per worker) as (G, P, d), in rank order."""
        rows = targets[:, valid]  # (G, n, d)
        if limit is not None and rows.shape[1] > limit:
            rank = torch.distributed.get_rank() if torch.distributed.is_initialized() else 0
            keep = torch.randperm(rows.shape[1], generator=self.generator(salt=1 + rank))[:limit]
            rows = rows[:, keep.to(rows.device)]
        flat_rows = rows.transpose(0, 1).reshape(rows.shape[1], self.groups * self.group_dim)  # (n, G * d)
        pooled = all_gather_rows(flat_rows)
        return pooled.view(pooled.shape[0], self.groups, self.group_dim).transpose(0, 1)

    @torch.no_grad()
    def initialize_(self, flat: Tensor, valid: Tensor) -> None:
        """Before the first update: take rank 0's state; with k-means init, pool the (gathered) valid inputs
        (N, D) of successive training calls until there are K' of them, then k-means them into the codebook.

        Until then the codebook trains from its random start, so a first batch with fewer latents than codes
        (a small CPU batch, say) only delays the k-means by a few updates.
        """
        broadcast_(self.shared_state())
        if self.kmeans_init:
            self.kmeans_pool.append(self.gather_valid_rows(self.group_inputs(flat), valid))
            pooled = torch.cat(self.kmeans_pool, dim=1)  # (G, P, d)
            if pooled.shape[1] < self.codes_per_group:
                return
            self.kmeans_pool = []
            generator = self.generator()
            for group in range(self.groups):
                centroids = kmeans(pooled[group], self.codes_per_group, self.kmeans_iterations, generator,
                                   self.chunk_size)
                self.grouped_codebook_data()[group] = centroids.to(self.codebook.dtype)
            self.after_kmeans_init_()
            broadcast_(self.shared_state())
        self.initialized.fill_(True)

    def after_kmeans_init_(self) -> None:
        """Make the running state consistent with the new codebook (nothing to do for gradient VQ)."""

    @torch.no_grad()
    def restart_dead_codes_(self, targets: Tensor, valid: Tensor) -> None:
        """Move codes used less than ``dead_threshold`` times per call onto random recent encoder outputs.

        The dead set comes from the all-reduced counts and the choice from gathered candidates with a shared
        generator, so every worker makes the same restart.
        """
        dead = self.expected_counts() < self.dead_threshold  # (G, K')
        most_dead = int(dead.sum(-1).max())
        if most_dead == 0:
            return
        pooled = self.gather_valid_rows(targets, valid, limit=most_dead)  # (G, P, d)
        pool_size = pooled.shape[1]
        if pool_size == 0:
            return
        generator = self.generator()
        count = self.dead_threshold * debias_factor(self.decay, int(self.num_updates))
        for group in range(self.groups):
            codes = dead[group].nonzero().squeeze(-1)
            if pool_size >= len(codes):
                pick = torch.randperm(pool_size, generator=generator)[: len(codes)]
            else:
                pick = torch.randint(pool_size, (len(codes),), generator=generator)
            self.reset_codes_(group, codes, pooled[group, pick.to(pooled.device)], count)
