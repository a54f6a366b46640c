"""``vqnat curves``: training curves of one or more runs as a PNG, from their fairseq logs."""
import click


@click.command()
@click.argument("runs", nargs=-1, required=True, metavar="NAME=LOG...")
@click.option("--out", "out_png", type=click.Path(dir_okay=False), default="curves.png", show_default=True,
              help="PNG to write.")
@click.option("--x", "x_axis", type=click.Choice(["updates", "minutes"]), default="updates", show_default=True,
              help="Horizontal axis.")
@click.option("--title", default=None, help="Figure title.")
def curves(runs, out_png, x_axis, title) -> None:
    """Plot training/validation NLL (and codebook usage of vqnat runs) from fairseq logs.

    Each run is NAME=LOG, LOG being what `vqnat train` (or fairseq-train --log-format simple) printed.
    """
    from pathlib import Path

    from vqnat.training_curves import CurveError, parse_fairseq_log, plot_curves

    parsed = {}
    for run in runs:
        name, separator, log = run.partition("=")
        if not separator or not name or not log:
            raise click.BadParameter(f"{run!r} is not NAME=LOG", param_hint="RUNS")
        if not Path(log).is_file():
            raise click.BadParameter(f"log file {log} not found", param_hint="RUNS")
        try:
            parsed[name] = parse_fairseq_log(Path(log))
        except CurveError as error:
            raise click.ClickException(str(error))
    x = "num_updates" if x_axis == "updates" else "minutes"
    click.echo(f"curves written to {plot_curves(parsed, Path(out_png), x=x, title=title)}")
