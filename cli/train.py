"""``vqnat train teacher|vqnat``: fairseq-train with the plugin, a preset, and resume by default."""
import logging
from pathlib import Path
from typing import List, NamedTuple, Optional, Sequence

import click

logger = logging.getLogger("vqnat.train")

FORWARD = {"ignore_unknown_options": True, "allow_extra_args": True}
BOTTLENECKS = ("vq", "ema", "soft_em", "dvq", "semhash")
PRESETS = ("tiny", "small", "base", "big")
RECIPES = ("parallel", "paper", "pairs")  # vqnat.recipes.RECIPES, without importing the plugin
TEACHER_PRESETS = (*PRESETS, "small-deep-shallow", "base-deep-shallow")  # vqnat.presets.DEEP_SHALLOW
#: mid-epoch checkpoints a run keeps: what `vqnat average` averages by default
KEEP_INTERVAL_CHECKPOINTS = 5


def _common(presets: Sequence[str]):
    """Options shared by both trainers (``presets``: the --preset choices); fairseq's own flags go after ``--``."""
    decorators = [
        click.argument("data", type=click.Path(exists=True, file_okay=False)),
        click.option("--save-dir", required=True, type=click.Path(file_okay=False),
                     help="Checkpoint folder; training resumes from its checkpoint_last.pt."),
        click.option("--preset", type=click.Choice(presets), default="small", show_default=True,
                     help="Model size and optimisation preset (see README: Presets)."),
        click.option("--max-update", type=click.IntRange(min=1), default=None,
                     help="Number of updates (default: the preset's budget)."),
        click.option("--nproc", type=click.IntRange(min=1), default=1, show_default=True,
                     help="Workers on this machine: GPUs with nccl, else CPU processes with gloo."),
        click.option("--threads", type=click.IntRange(min=1), default=None,
                     help="torch threads per worker (default: this machine's cores divided by --nproc)."),
        click.option("--seed", type=int, default=1, show_default=True, help="Random seed."),
        click.argument("fairseq_args", nargs=-1, type=click.UNPROCESSED),
    ]
    def decorate(function):
        for decorator in reversed(decorators):
            function = decorator(function)
        return function
    return decorate


def build_argv(data: str, save_dir: str, preset: str, max_update: Optional[int], seed: int,
               model_args: List[str], fairseq_args: Sequence[str]) -> List[str]:
    """The full fairseq-train command line: data, plugin, preset, run control, then the user's flags."""
    from vqnat.presets import default_max_update, save_interval_updates
    from vqnat_cli.fairseq_bridge import cuda_count, user_dir

    argv = [data, "--user-dir", user_dir(), *model_args, "--save-dir", save_dir, "--seed", str(seed),
            "--max-update", str(max_update or default_max_update(preset)),
            "--no-epoch-checkpoints", "--save-interval-updates", str(save_interval_updates(preset)),
            "--keep-interval-updates", str(KEEP_INTERVAL_CHECKPOINTS),
            "--log-format", "simple", "--log-interval", "25",
            "--skip-invalid-size-inputs-valid-test"]
    if cuda_count() == 0:
        argv.append("--cpu")
    return [*argv, *fairseq_args]


class Resumed(NamedTuple):
    """What a run's last checkpoint says about resuming it: its updates, the teacher it was warm-started from,
    its latent predictor and its soft EM temperature (None: no checkpoint, or the checkpoint does not say)."""
    updates: int
    teacher: Optional[str]
    latent_predictor: Optional[str]
    em_temperature: Optional[float] = None


def resumed_run(checkpoint: Path) -> Resumed:
    """The run whose last checkpoint this is, from one read of it: a resumed run without ``--init-from`` or
    ``--recipe`` builds the same model (the teacher's norm placement, the recipe's latent predictor), keeps
    the teacher's updates in its budget and draws its codes at the temperature it started with."""
    if not checkpoint.exists():
        return Resumed(0, None, None)
    from vqnat.models.warm_start import checkpoint_updates, model_setting
    from vqnat.safe_load import CheckpointLoadError, load_checkpoint_state

    try:
        state = load_checkpoint_state(checkpoint)
    except CheckpointLoadError as error:
        raise click.ClickException(f"{error} (move it away to train from scratch)") from None
    updates = checkpoint_updates(state) if isinstance(state, dict) else None
    if updates is None:
        raise click.ClickException(f"{checkpoint} holds no fairseq training state to resume from "
                                   f"(move it away to train from scratch)")
    return Resumed(updates, model_setting(state, "init_from") or None, model_setting(state, "latent_predictor"),
                   model_setting(state, "em_temperature"))


def trained_updates(checkpoint: Path) -> int:
    """Updates already done by the run whose last checkpoint this is (0 when there is none)."""
    return resumed_run(checkpoint).updates


def _run(argv: List[str], nproc: int, threads: Optional[int], save_dir: str, done: int) -> None:
    """fairseq-train on ``argv`` unless the run in ``save_dir`` has already done (``done``) its budget."""
    from vqnat.threads import threads_per_process
    from vqnat_cli.fairseq_bridge import train_workers

    resume = Path(save_dir, "checkpoint_last.pt")
    last_flag = len(argv) - 1 - argv[::-1].index("--max-update")  # fairseq lets the last one win
    budget = int(argv[last_flag + 1])
    if done >= budget:  # fairseq would still take one more step before checking its budget
        click.echo(f"checkpoint: {resume} (already trained for {done} updates)")
        return
    logger.info("%s from %s", f"resuming after {done} updates" if done else "training", save_dir)
    logger.info("fairseq-train %s", " ".join(argv))
    train_workers(argv, nproc, threads or threads_per_process(nproc))
    if not resume.exists():
        raise click.ClickException(f"training ended without writing {resume}")
    click.echo(f"checkpoint: {resume}")


def default_recipe(preset: str, resumed_latent_predictor: Optional[str] = None) -> str:
    """``pairs``, better than ``parallel`` at every budget measured on two corpora with the small preset
    (BENCHMARKS.md); ``parallel`` for ``tiny``, the size of the tests and the demo, where it was chosen, and
    for a resumed run whose latent predictor is the parallel one (started before ``pairs`` was the default)."""
    return "parallel" if preset == "tiny" or resumed_latent_predictor == "parallel" else "pairs"


def validation_args(data: str, fairseq_args: Sequence[str]) -> List[str]:
    """``--valid-subset valid,valid_distilled`` when DATA holds the teacher's translations of valid (written by
    ``teacher-decode``) and the user chose no subsets: the latent predictor is measured on the codes of the
    translations it learns from as well as on the references'. The first subset still picks checkpoint_best."""
    from vqnat.teacher_decode import VALID_DISTILLED

    if any(arg.split("=")[0] == "--valid-subset" for arg in fairseq_args):
        return []
    if not any(Path(data).glob(f"{VALID_DISTILLED}.*.idx")) or not any(Path(data).glob("valid.*.idx")):
        return []
    return ["--valid-subset", f"valid,{VALID_DISTILLED}"]


def norm_placement_args(teacher: str) -> List[str]:
    """``--post-norm`` when the teacher normalises after each block (fairseq's transformer default)."""
    from vqnat.models.warm_start import WarmStartError, load_teacher_state, teacher_pre_norm

    try:
        pre_norm = teacher_pre_norm(load_teacher_state(teacher))
    except WarmStartError as error:
        raise click.ClickException(str(error))
    return [] if pre_norm is None or pre_norm else ["--post-norm"]


@click.group()
def train() -> None:
    """Train the AR teacher or the vqnat model (thin layer over fairseq-train)."""


@train.command(context_settings=FORWARD)
@_common(TEACHER_PRESETS)
def teacher(data, save_dir, preset, max_update, nproc, threads, seed, fairseq_args) -> None:
    """Train an autoregressive Transformer teacher on DATA (the *-deep-shallow presets: a deep encoder and one
    decoder layer, the fast AR baseline)."""
    from vqnat.presets import teacher_args

    argv = build_argv(data, save_dir, preset, max_update, seed, teacher_args(preset), fairseq_args)
    _run(argv, nproc, threads, save_dir, trained_updates(Path(save_dir, "checkpoint_last.pt")))


@train.command(name="vqnat", context_settings=FORWARD)
@_common(PRESETS)
@click.option("--recipe", type=click.Choice(RECIPES), default=None,
              help="pairs (the default from the small preset on): the paper's model with a code per two target "
                   "tokens among 1,024 (n_c = 1, K = 1,024, soft EM at temperature 2), its latent predictor "
                   "autoregressive; parallel (the tiny preset's default): a code per token (K = 64, hard EM) "
                   "predicted in one pass with glancing, the decoder also trained on predicted codes "
                   "(latent-GLAT); paper: Roy et al. 2018 as written (soft EM, m = 10, 2^n_c-token codes). A "
                   "resumed run with the parallel latent predictor stays parallel. See README: Recipes.")
@click.option("--bottleneck", type=click.Choice(BOTTLENECKS), default=None,
              help="How the discrete bottleneck is trained: gradient VQ, hard EM, soft EM, DVQ, semhash "
                   "(default: the recipe's).")
@click.option("--codebook-size", type=click.IntRange(min=2), default=None,
              help="Number of codes K (default: the recipe's, else the preset's).")
@click.option("--num-samples", type=click.IntRange(min=1), default=None,
              help="Monte Carlo samples m per latent for soft EM (default 10).")
@click.option("--compress", type=click.IntRange(min=0), default=None,
              help="n_c: the target is compressed 2^n_c times; 0: a code per token (default: the recipe's, "
                   "else the preset's).")
@click.option("--init-from", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Warm start from this AR teacher checkpoint (same data directory and preset): its encoder, "
                   "embeddings and decoder layers; sets --post-norm when the teacher normalises after each block. "
                   "A resumed run keeps the teacher it started from.")
def vqnat_command(data, save_dir, preset, max_update, nproc, threads, seed, fairseq_args, recipe,
                  bottleneck, codebook_size, num_samples, compress, init_from) -> None:
    """Train a VQ-VAE Latent Transformer on DATA (original or distilled)."""
    from vqnat.presets import default_max_update, vqnat_args
    from vqnat.recipes import recipe_args, recipe_codes

    resume = Path(save_dir, "checkpoint_last.pt")
    resumed = resumed_run(resume)
    recipe = recipe or default_recipe(preset, resumed.latent_predictor)
    codes = recipe_codes(recipe)
    for flag, value in (("--bottleneck", bottleneck), ("--codebook-size", codebook_size),
                        ("--num-samples", num_samples), ("--compress", compress)):
        if value is not None:
            codes[flag] = str(value)
    model_args = [*vqnat_args(preset), *(item for pair in codes.items() for item in pair),
                  *recipe_args(recipe, max_update or default_max_update(preset))]
    if resumed.em_temperature is not None:  # a recipe's temperature may have changed since; flags after -- still win
        model_args += ["--em-temperature", str(resumed.em_temperature)]
    if init_from is None and resumed.teacher is not None:
        if not Path(resumed.teacher).is_file():
            raise click.ClickException(f"{resume} was warm-started from {resumed.teacher}, which is gone: give "
                                       f"--init-from with that teacher to resume it")
        init_from = resumed.teacher
    if init_from is not None:
        model_args += ["--init-from", init_from]
    if init_from is not None and "--post-norm" not in fairseq_args:
        model_args += norm_placement_args(init_from)
    model_args += validation_args(data, fairseq_args)
    argv = build_argv(data, save_dir, preset, max_update, seed, model_args, fairseq_args)
    _run(argv, nproc, threads, save_dir, resumed.updates)
