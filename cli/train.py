"""``vqnat train teacher|vqnat``: fairseq-train with the plugin, a preset, and resume by default."""
import logging
from pathlib import Path
from typing import List, Optional, Sequence

import click

logger = logging.getLogger("vqnat.train")

FORWARD = {"ignore_unknown_options": True, "allow_extra_args": True}
BOTTLENECKS = ("vq", "ema", "soft_em", "dvq", "semhash")
PRESET_CHOICE = click.Choice(["tiny", "small", "base", "big"])


def _common(function):
    """Options shared by both trainers; fairseq's own flags go after ``--``."""
    decorators = [
        click.argument("data", type=click.Path(exists=True, file_okay=False)),
        click.option("--save-dir", required=True, type=click.Path(file_okay=False),
                     help="Checkpoint folder; training resumes from its checkpoint_last.pt."),
        click.option("--preset", type=PRESET_CHOICE, default="small", show_default=True,
                     help="Model size and optimisation preset (see README: Presets)."),
        click.option("--max-update", type=click.IntRange(min=1), default=None,
                     help="Number of updates (default: the preset's budget)."),
        click.option("--nproc", type=click.IntRange(min=1), default=1, show_default=True,
                     help="Workers on this machine: GPUs with nccl, else CPU processes with gloo."),
        click.option("--seed", type=int, default=1, show_default=True, help="Random seed."),
        click.argument("fairseq_args", nargs=-1, type=click.UNPROCESSED),
    ]
    for decorator in reversed(decorators):
        function = decorator(function)
    return function


def build_argv(data: str, save_dir: str, preset: str, max_update: Optional[int], seed: int,
               model_args: List[str], fairseq_args: Sequence[str]) -> List[str]:
    """The full fairseq-train command line: data, plugin, preset, run control, then the user's flags."""
    from vqnat.presets import default_max_update, save_interval_updates
    from vqnat_cli.fairseq_bridge import cuda_count, user_dir

    argv = [data, "--user-dir", user_dir(), *model_args, "--save-dir", save_dir, "--seed", str(seed),
            "--max-update", str(max_update or default_max_update(preset)),
            "--no-epoch-checkpoints", "--save-interval-updates", str(save_interval_updates(preset)),
            "--keep-interval-updates", "1", "--log-format", "simple", "--log-interval", "25",
            "--skip-invalid-size-inputs-valid-test"]
    if cuda_count() == 0:
        argv.append("--cpu")
    return [*argv, *fairseq_args]


def trained_updates(checkpoint: Path) -> int:
    """Updates already done by the run whose last checkpoint this is (0 when there is none)."""
    if not checkpoint.exists():
        return 0
    import torch

    import vqnat  # noqa: F401  (allow-lists the checkpoint types)

    state = torch.load(checkpoint, map_location="cpu", mmap=True)
    return state["optimizer_history"][-1]["num_updates"]


def _run(argv: List[str], nproc: int, save_dir: str) -> None:
    from vqnat_cli.fairseq_bridge import train_workers

    resume = Path(save_dir, "checkpoint_last.pt")
    last_flag = len(argv) - 1 - argv[::-1].index("--max-update")  # fairseq lets the last one win
    done, budget = trained_updates(resume), int(argv[last_flag + 1])
    if done >= budget:  # fairseq would still take one more step before checking its budget
        click.echo(f"checkpoint: {resume} (already trained for {done} updates)")
        return
    logger.info("%s from %s", f"resuming after {done} updates" if done else "training", save_dir)
    logger.info("fairseq-train %s", " ".join(argv))
    train_workers(argv, nproc)
    if not resume.exists():
        raise click.ClickException(f"training ended without writing {resume}")
    click.echo(f"checkpoint: {resume}")


@click.group()
def train() -> None:
    """Train the AR teacher or the vqnat model (thin layer over fairseq-train)."""


@train.command(context_settings=FORWARD)
@_common
def teacher(data, save_dir, preset, max_update, nproc, seed, fairseq_args) -> None:
    """Train an autoregressive Transformer teacher on DATA."""
    from vqnat.presets import teacher_args

    argv = build_argv(data, save_dir, preset, max_update, seed, teacher_args(preset), fairseq_args)
    _run(argv, nproc, save_dir)


@train.command(name="vqnat", context_settings=FORWARD)
@_common
@click.option("--bottleneck", type=click.Choice(BOTTLENECKS), default="soft_em", show_default=True,
              help="How the discrete bottleneck is trained: gradient VQ, hard EM, soft EM, DVQ, semhash.")
@click.option("--codebook-size", type=click.IntRange(min=2), default=None,
              help="Number of codes K (default: the preset's).")
@click.option("--num-samples", type=click.IntRange(min=1), default=None,
              help="Monte Carlo samples m per latent for soft EM (default 10).")
@click.option("--compress", type=click.IntRange(min=1), default=None,
              help="n_c: the target is compressed 2^n_c times (default: the preset's).")
def vqnat_command(data, save_dir, preset, max_update, nproc, seed, fairseq_args,
                  bottleneck, codebook_size, num_samples, compress) -> None:
    """Train a VQ-VAE Latent Transformer on DATA (original or distilled)."""
    from vqnat.presets import vqnat_args

    model_args = [*vqnat_args(preset), "--bottleneck", bottleneck]
    for flag, value in (("--codebook-size", codebook_size), ("--num-samples", num_samples),
                        ("--compress", compress)):
        if value is not None:
            model_args += [flag, str(value)]
    argv = build_argv(data, save_dir, preset, max_update, seed, model_args, fairseq_args)
    _run(argv, nproc, save_dir)
