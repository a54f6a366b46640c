"""The one place that calls fairseq's command-line entry points, in-process.

fairseq owns its flags: the CLI only prepends the plugin's ``--user-dir`` and preset flags and lets
fairseq's strict parser see everything else.
"""
import importlib.util
import logging
import multiprocessing
import os
import socket
import sys
from typing import List, Optional, Sequence

from vqnat_cli.fairseq_noise import fairseq_noise_dropped
from vqnat_cli.interval_checkpoints import train_main
from vqnat_cli.stage_log import LOG_FORMAT

logger = logging.getLogger("vqnat.train")


def user_dir() -> str:
    """The plugin folder fairseq imports with ``--user-dir``, found without importing it."""
    spec = importlib.util.find_spec("vqnat")
    return os.path.dirname(spec.origin)


def cuda_count() -> int:
    import torch

    return torch.cuda.device_count()


def run_fairseq_train(argv: Sequence[str], threads: Optional[int] = None) -> None:
    """``fairseq-train ARGV`` in this process (fairseq spawns GPU workers itself when asked to), without the
    noise that is not the user's business; its metric lines stay. ``threads``: torch threads for it."""
    # a spawned worker logs as fairseq does, to stdout (a no-op where the CLI configured logging already)
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT, stream=sys.stdout)
    with fairseq_noise_dropped():
        import vqnat  # noqa: F401  (allow-lists checkpoint types before fairseq resumes)
        from fairseq import options
        from fairseq.dataclass.utils import convert_namespace_to_omegaconf
        from fairseq.distributed import utils as distributed_utils
        import fairseq_cli.train  # noqa: F401  (sets up logging, also in a spawned worker)

        if threads is not None:
            import torch

            from vqnat.threads import set_torch_threads

            set_torch_threads(threads)
            logger.info("%d torch thread(s) in this process", torch.get_num_threads())

        parser = options.get_training_parser()
        args = options.parse_args_and_arch(parser, input_args=list(argv))
        cfg = convert_namespace_to_omegaconf(args)
        distributed_utils.call_main(cfg, train_main)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cpu_worker_args(world_size: int, rank: int, port: int) -> List[str]:
    """Flags for one gloo worker on CPU; the only combination that trains (notes/fairseq.md, trap 5)."""
    return [
        "--distributed-world-size", str(world_size), "--distributed-rank", str(rank),
        "--distributed-init-method", f"tcp://127.0.0.1:{port}", "--distributed-no-spawn",
        "--distributed-backend", "gloo", "--ddp-backend", "legacy_ddp",
    ]


def train_workers(argv: Sequence[str], nproc: int, threads: int) -> None:
    """Train with ``nproc`` workers of ``threads`` torch threads each: fairseq's own spawn on GPUs, one
    process per gloo rank on CPU."""
    if nproc <= 1:
        run_fairseq_train(argv, threads)
        return
    if cuda_count() >= nproc:
        os.environ["OMP_NUM_THREADS"] = str(threads)  # torch's thread count in the workers fairseq spawns
        run_fairseq_train([*argv, "--distributed-world-size", str(nproc)])
        return
    port = _free_port()
    context = multiprocessing.get_context("spawn")
    workers = [
        context.Process(target=run_fairseq_train, args=([*argv, *cpu_worker_args(nproc, rank, port)], threads))
        for rank in range(nproc)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    failed = [rank for rank, worker in enumerate(workers) if worker.exitcode != 0]
    if failed:
        raise RuntimeError(f"training worker(s) {failed} of {nproc} failed; see the log above")
