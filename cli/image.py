"""``vqnat image``: train, evaluate and sample a VQ-VAE on 32x32 RGB images (train, eval, prior, sample)."""
import functools
import json
import os
from pathlib import Path
from typing import Optional

import click

BOTTLENECKS = ("vq", "ema", "soft_em", "dvq", "semhash")
#: Below this share of codes in use, ``eval`` warns of a collapsed codebook.
COLLAPSE_USAGE = 0.1
DATA_HELP = ("cifar10 (through torchvision), sample-photos (patches of the photos scikit-image ships; offline), "
             "FILE.npz (uint8 array 'x', N x 32 x 32 x 3) or a folder of images.")


def clean_errors(command):
    """Turn data, checkpoint and option errors into one 'Error: ...' line and exit status 1."""
    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        from vqnat.image.checkpoint import CheckpointError
        from vqnat.image.data import ImageDataError

        try:
            return command(*args, **kwargs)
        except (ImageDataError, CheckpointError, ValueError, FloatingPointError) as error:
            raise click.ClickException(str(error)) from None
    return wrapper


def data_options(command):
    command = click.option("--data-root", default=None,
                           help="Where CIFAR-10 is kept (default ~/.cache/vqnat/cifar10).")(command)
    return click.option("--data", default="sample-photos", show_default=True, help=DATA_HELP)(command)


def device_options(command):
    command = click.option("--threads", type=click.IntRange(1), default=None,
                           help="CPU threads for torch (default: this machine's cores).")(command)
    return click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True,
                        help="Where to run; cuda needs a GPU.")(command)


def training_options(steps: int, batch_size: int, lr: float):
    def decorate(command):
        for option in reversed([
            click.option("--steps", type=click.IntRange(1), default=steps, show_default=True, help="Train up to this step."),
            click.option("--batch-size", type=click.IntRange(1), default=batch_size, show_default=True),
            click.option("--lr", type=float, default=lr, show_default=True, help="Adam learning rate."),
            click.option("--seed", type=int, default=0, show_default=True, help="Initialisation and batch order."),
            click.option("--save-interval", type=click.IntRange(1), default=1000, show_default=True,
                         help="Steps between checkpoints (checkpoint_last.pt, overwritten atomically)."),
            click.option("--log-interval", type=click.IntRange(1), default=50, show_default=True,
                         help="Steps between lines of train_log.jsonl."),
        ]):
            command = option(command)
        return command
    return decorate


def setup_device(device: str, threads: Optional[int]) -> None:
    import torch

    from vqnat.threads import set_torch_threads, threads_per_process

    set_torch_threads(threads or threads_per_process())
    if device == "cuda" and not torch.cuda.is_available():
        raise click.BadParameter("no CUDA device is available", param_hint="--device")


def write_json(values: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(values, indent=2) + "\n", encoding="utf-8")
    os.replace(temporary, path)


def describe_data(data: str, split: str) -> str:
    """Name the images evaluated on: a file or folder is its own split."""
    return f"{data} ({split})" if data in ("cifar10", "sample-photos") else data


def echo_metrics(title: str, metrics: dict) -> None:
    click.echo(title)
    for key, value in metrics.items():
        click.echo(f"  {key:28s} {value:.4f}" if isinstance(value, float) else f"  {key:28s} {value}")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def image() -> None:
    """VQ-VAE on 32x32 RGB images with any bottleneck: bits/dim, codebook use, a learned prior, samples."""


@image.command()
@data_options
@click.option("--save-dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Run folder: checkpoint_last.pt and train_log.jsonl; an existing run there is resumed.")
@click.option("--bottleneck", type=click.Choice(BOTTLENECKS), default="ema", show_default=True,
              help="vq: gradient codebook; ema: hard EM; soft_em: Monte-Carlo EM; dvq: sliced EM; semhash.")
@click.option("--codebook-size", "num_codes", type=click.IntRange(2), default=512, show_default=True, help="K.")
@click.option("--channels", type=click.IntRange(1), default=256, show_default=True, help="Encoder/decoder width.")
@click.option("--residual-channels", type=click.IntRange(1), default=None, help="Residual block width (default: --channels).")
@click.option("--latents-per-position", type=click.IntRange(1), default=10, show_default=True,
              help="Slices of each 8x8 position's vector, one code each: N = 64 x this latents per image.")
@click.option("--code-dim", type=click.IntRange(1), default=64, show_default=True, help="D, size of one slice.")
@click.option("--likelihood", type=click.Choice(["logistic", "categorical"]), default="logistic", show_default=True,
              help="p(x|z): discretized logistic mixture or 256-way softmax per subpixel.")
@click.option("--mixtures", "num_mixtures", type=click.IntRange(1), default=5, show_default=True,
              help="Logistic components per subpixel.")
@click.option("--beta", type=float, default=0.25, show_default=True, help="Commitment weight.")
@click.option("--decay", type=float, default=0.99, show_default=True, help="EMA decay of the EM codebooks.")
@click.option("--epsilon", type=float, default=1e-5, show_default=True, help="Laplace smoothing of EM counts.")
@click.option("--num-samples", type=click.IntRange(1), default=10, show_default=True, help="Soft EM: codes drawn per latent.")
@click.option("--temperature", type=float, default=1.0, show_default=True, help="Soft EM: sampling temperature.")
@click.option("--num-slices", type=click.IntRange(1), default=2, show_default=True, help="DVQ: number of codebooks.")
@click.option("--projection", is_flag=True, help="DVQ: random projections instead of slices.")
@click.option("--kmeans-init", is_flag=True,
              help="Initialise the codebook by k-means on the first batches (at least K vectors).")
@click.option("--restart-dead", is_flag=True, help="Move dead codes onto recent encoder outputs.")
@training_options(steps=10000, batch_size=64, lr=2e-4)
@device_options
@clean_errors
def train(data, data_root, save_dir, bottleneck, residual_channels, steps, batch_size, lr, seed, save_interval,
          log_interval, device, threads, **model_options) -> None:
    """Train a VQ-VAE (resumes the run in --save-dir when there is one)."""
    from vqnat.image.data import load_images
    from vqnat.image.train_vqvae import train_vqvae
    from vqnat.image.trainer import TrainSettings
    from vqnat.image.vqvae import VQVAEConfig

    setup_device(device, threads)
    config = VQVAEConfig(bottleneck=bottleneck, residual_channels=residual_channels or model_options["channels"],
                         **model_options)
    config.build_bottleneck()  # bad bottleneck options fail here, before the data is read
    settings = TrainSettings(steps, batch_size, lr, seed, save_interval, log_interval, device)
    images = load_images(data, "train", data_root)
    train_vqvae(images, save_dir, config, settings, data_name=data)
    click.echo(f"checkpoint: {save_dir / 'checkpoint_last.pt'} (step {settings.steps})")


@image.command(name="eval")
@click.option("--checkpoint", type=click.Path(dir_okay=False, path_type=Path), required=True)
@data_options
@click.option("--split", type=click.Choice(["train", "test"]), default="test", show_default=True,
              help="Split of cifar10/sample-photos (a file or folder is its own split).")
@click.option("--batch-size", type=click.IntRange(1), default=256, show_default=True)
@click.option("--grid", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Reconstruction grid PNG (default: recon_grid.png beside the checkpoint).")
@click.option("--metrics", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the numbers as JSON here.")
@device_options
@clean_errors
def evaluate(checkpoint, data, data_root, split, batch_size, grid, metrics, device, threads) -> None:
    """Bits/dim (reconstruction + uniform prior), codebook use and a reconstruction grid."""
    from vqnat.image.data import load_images
    from vqnat.image.evaluation import evaluate_vqvae
    from vqnat.image.grids import save_png
    from vqnat.image.vqvae import load_vqvae

    setup_device(device, threads)
    model = load_vqvae(checkpoint, device)
    values, picture = evaluate_vqvae(model, load_images(data, split, data_root), batch_size, device)
    grid = grid or checkpoint.parent / "recon_grid.png"
    save_png(picture, grid)
    echo_metrics(f"{checkpoint} on {describe_data(data, split)}:", values)
    if values["usage"] < COLLAPSE_USAGE:
        click.echo(f"warning: codebook collapse: {values['num_codes'] - values['dead_codes']} of "
                   f"{values['num_codes']} codes used", err=True)
    click.echo(f"reconstructions: {grid}")
    if metrics:
        write_json({"checkpoint": str(checkpoint), "data": data, "split": split, **values}, metrics)


@image.command()
@click.option("--checkpoint", type=click.Path(dir_okay=False, path_type=Path), required=True, help="A trained VQ-VAE.")
@data_options
@click.option("--eval-data", default=None, help="Images to report bits/dim on, split test (default: --data).")
@click.option("--save-dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Run folder of the prior; an existing run there is resumed.")
@click.option("--dim", type=click.IntRange(1), default=128, show_default=True, help="Transformer width.")
@click.option("--layers", type=click.IntRange(1), default=2, show_default=True)
@click.option("--heads", type=click.IntRange(1), default=4, show_default=True)
@click.option("--dropout", type=click.FloatRange(0, 1), default=0.0, show_default=True)
@training_options(steps=5000, batch_size=32, lr=1e-3)
@device_options
@clean_errors
def prior(checkpoint, data, data_root, eval_data, save_dir, dim, layers, heads, dropout, steps, batch_size, lr, seed,
          save_interval, log_interval, device, threads) -> None:
    """Fit an autoregressive prior over the code grid; report bits/dim under it."""
    from vqnat.image.data import load_images
    from vqnat.image.evaluation import learned_prior_report
    from vqnat.image.prior import PriorConfig
    from vqnat.image.train_prior import load_prior, train_prior
    from vqnat.image.trainer import TrainSettings
    from vqnat.image.vqvae import load_vqvae

    setup_device(device, threads)
    vqvae = load_vqvae(checkpoint, device)
    config = PriorConfig(dim=dim, layers=layers, heads=heads, dropout=dropout)
    settings = TrainSettings(steps, batch_size, lr, seed, save_interval, log_interval, device)
    train_prior(vqvae, load_images(data, "train", data_root), save_dir, config, settings)
    trained = load_prior(save_dir / "checkpoint_last.pt", vqvae, device)
    report = learned_prior_report(vqvae, trained, load_images(eval_data or data, "test", data_root), device=device)
    echo_metrics(f"{save_dir / 'checkpoint_last.pt'} on {describe_data(eval_data or data, 'test')}:", report)
    write_json({"checkpoint": str(checkpoint), "data": eval_data or data, **report}, save_dir / "prior_eval.json")


@image.command()
@click.option("--checkpoint", type=click.Path(dir_okay=False, path_type=Path), required=True, help="A trained VQ-VAE.")
@click.option("--prior", "prior_path", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Its prior (vqnat image prior).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True, help="PNG grid to write.")
@click.option("--num", type=click.IntRange(1), default=64, show_default=True, help="Images to draw.")
@click.option("--columns", type=click.IntRange(1), default=8, show_default=True)
@click.option("--temperature", type=click.FloatRange(min=0, min_open=True), default=1.0, show_default=True,
              help="Of the prior's softmax.")
@click.option("--pixels", type=click.Choice(["mean", "sample"]), default="mean", show_default=True,
              help="Show the decoder's mean image, or draw each subpixel from p(x|z).")
@click.option("--seed", type=int, default=0, show_default=True)
@device_options
@clean_errors
def sample(checkpoint, prior_path, out, num, columns, temperature, pixels, seed, device, threads) -> None:
    """Draw codes from the prior, decode them, write a PNG grid."""
    from vqnat.image.grids import image_grid, save_png
    from vqnat.image.sampling import sample_images
    from vqnat.image.train_prior import load_prior
    from vqnat.image.vqvae import load_vqvae

    setup_device(device, threads)
    vqvae = load_vqvae(checkpoint, device)
    images = sample_images(vqvae, load_prior(prior_path, vqvae, device), num, temperature, seed, pixels)
    save_png(image_grid(images, columns), out)
    click.echo(f"{num} samples: {out}")
