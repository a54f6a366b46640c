"""Two gloo workers on CPU end with identical codebooks, equal to one worker that saw the global batch."""
import socket

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from vqnat.bottleneck import build_bottleneck

DIM, CODES, ROWS, STEPS, WORLD = 4, 9, 10, 4, 2
CONFIGS = {
    "ema": ("ema", {}),
    "ema_faithful": ("ema", {"debias": False}),
    "ema_kmeans": ("ema", {"kmeans_init": True, "decay": 0.9}),
    "dvq_projected": ("dvq", {"num_slices": 2, "projection": True, "decay": 0.9}),
    "ema_restart": ("ema", {"restart_dead": True, "restart_interval": 1, "dead_threshold": 0.5, "decay": 0.9}),
    "soft_em": ("soft_em", {"num_samples": 3, "decay": 0.9}),
    "semhash": ("semhash", {"num_codes": 8}),
}
SAME_AS_ONE_WORKER = ["ema", "ema_faithful", "ema_kmeans", "dvq_projected"]  # no local randomness


def global_batches():
    """(STEPS, WORLD, ROWS, DIM) inputs and masks; worker 1's batch at step 1 is fully padded."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(STEPS, WORLD, ROWS, DIM, generator=generator) * 2
    mask = torch.rand(STEPS, WORLD, ROWS, generator=generator) < 0.8
    mask[0] = True  # k-means needs >= CODES vectors in the first global batch
    mask[1, 1] = False
    return x, mask


def build_all(seed):
    torch.manual_seed(seed)
    return {name: build_bottleneck(kind, dim=DIM, **{"num_codes": CODES, **options}).train()
            for name, (kind, options) in CONFIGS.items()}


class EncoderWithBottleneck(torch.nn.Module):
    """A tiny encoder + EM bottleneck, to run under c10d DDP (which also broadcasts buffers every forward)."""

    def __init__(self):
        super().__init__()
        self.encoder = torch.nn.Linear(DIM, DIM)
        self.bottleneck = build_bottleneck("ema", dim=DIM, num_codes=CODES)

    def forward(self, x, mask):
        return self.bottleneck(self.encoder(x), mask=mask)


def worker(rank, port, out_dir):
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=WORLD)
    modules = build_all(seed=100 + rank)  # different initial codebooks: the first update takes rank 0's
    torch.manual_seed(7)
    model = EncoderWithBottleneck()
    ddp = torch.nn.parallel.DistributedDataParallel(model)
    x, mask = global_batches()
    for step in range(STEPS):
        torch.manual_seed(1000 * step + rank)
        for module in modules.values():
            module(x[step, rank], mask=mask[step, rank])
        out = ddp(x[step, rank], mask=mask[step, rank])
        (out.quantized.sum() + out.loss).backward()
    states = {name: dict(module.named_buffers()) for name, module in modules.items()}  # parameters are DDP's job
    states["ddp"] = model.state_dict()
    torch.save(states, f"{out_dir}/rank{rank}.pt")
    dist.barrier()  # neither worker tears gloo down while the other still talks to it (a worker aborted once)
    dist.destroy_process_group()


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_two_workers_match_each_other_and_one_worker_on_the_global_batch(tmp_path):
    mp.spawn(worker, args=(free_port(), str(tmp_path)), nprocs=WORLD, join=True)
    states = [torch.load(tmp_path / f"rank{rank}.pt", weights_only=True) for rank in range(WORLD)]
    for name in list(CONFIGS) + ["ddp"]:
        for key, value in states[0][name].items():
            assert torch.equal(value, states[1][name][key]), (name, key)

    single = build_all(seed=100)
    x, mask = global_batches()
    for step in range(STEPS):
        for name in SAME_AS_ONE_WORKER:
            single[name](x[step].reshape(-1, DIM), mask=mask[step].reshape(-1))
    for name in SAME_AS_ONE_WORKER:
        for key, value in single[name].named_buffers():
            assert torch.allclose(value.float(), states[0][name][key].float(), rtol=1e-4, atol=1e-5), (name, key)
    assert int(states[0]["ema"]["num_updates"]) == STEPS
