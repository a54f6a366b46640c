"""``vqnat average``: one checkpoint whose weights are the mean of a run's last mid-epoch checkpoints."""
import click


@click.command()
@click.argument("save_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--last", type=click.IntRange(min=1), default=5, show_default=True,
              help="How many of the newest mid-epoch checkpoints (checkpoint_E_U.pt) to average (all of them "
                   "when there are fewer).")
@click.option("--min-update", type=click.IntRange(min=0), default=0, show_default=True,
              help="Leave out checkpoints saved before this update: a short run's early weights pull the "
                   "average down (run.sh: 60% of the run's updates).")
@click.option("--output", type=click.Path(dir_okay=False), default=None,
              help="Checkpoint to write (default: SAVE_DIR/checkpoint_average.pt).")
def average(save_dir, last, min_update, output) -> None:
    """Average the weights of SAVE_DIR's last checkpoints; generate with the result as with any checkpoint.

    Rerun, it does nothing while the average is newer than the checkpoints it would average."""
    from pathlib import Path

    from vqnat.checkpoint_average import AverageError, is_up_to_date, last_checkpoints, write_average

    output = Path(output) if output else Path(save_dir, "checkpoint_average.pt")
    try:
        paths = last_checkpoints(Path(save_dir), last, min_update)
        if is_up_to_date(output, paths):
            click.echo(f"checkpoint: {output} (up to date)")
            return
        write_average(paths, output)
    except AverageError as error:
        raise click.ClickException(str(error))
    click.echo(f"checkpoint: {output} (the mean of {', '.join(path.name for path in paths)})")
