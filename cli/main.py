"""The ``vqnat`` command: one click group, one module per command; heavy imports stay inside commands."""
import logging

import click

from vqnat_cli.fairseq_noise import fairseq_noise_dropped
from vqnat_cli.stage_log import LOG_FORMAT
from vqnat_cli.preprocess import preprocess
from vqnat_cli.train import train
from vqnat_cli.generate import generate
from vqnat_cli.demo import demo
from vqnat_cli.teacher_decode import teacher_decode
from vqnat_cli.bench import bench
from vqnat_cli.image import image
from vqnat_cli.curves import curves
from vqnat_cli.average import average
from vqnat_cli.choose_length import choose_length

REPORTED_LIBRARIES = ("fairseq-fixed", "torch", "sacrebleu", "ctranslate2", "onnxruntime")


def print_versions(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    """``--version``: vqnat's and the installed versions a bug report needs, read without importing them."""
    if not value or ctx.resilient_parsing:
        return
    from importlib.metadata import PackageNotFoundError, version

    def installed(name: str) -> str:
        try:
            return f"{name} {version(name)}"
        except PackageNotFoundError:
            return f"{name} not installed"
    click.echo(f"vqnat {version('vqnat')} ({', '.join(map(installed, REPORTED_LIBRARIES))})")
    ctx.exit()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Log debug messages.")
@click.option("--version", is_flag=True, expose_value=False, is_eager=True, callback=print_versions,
              help="Show the versions of vqnat and of the libraries it runs on, and exit.")
@click.pass_context
def cli(ctx: click.Context, verbose: bool) -> None:
    """vqnat: fast non-autoregressive translation with discrete latents trained by EM."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format=LOG_FORMAT)
    ctx.with_resource(fairseq_noise_dropped())


for command in (preprocess, teacher_decode, train, average, choose_length, generate, bench, curves, image, demo):
    cli.add_command(command)
