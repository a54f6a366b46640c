"""``vqnat teacher-decode``: distil a split with an AR teacher into a new data directory (resumable)."""
import click

from vqnat_cli.number_list import NumberList


@click.command(name="teacher-decode")
@click.option("--data", required=True, type=click.Path(exists=True, file_okay=False),
              help="Data directory from `vqnat preprocess`.")
@click.option("--checkpoint", required=True, type=click.Path(dir_okay=False),
              help="The AR teacher's checkpoint.")
@click.option("--destdir", required=True, type=click.Path(file_okay=False),
              help="Distilled data directory to write (or to resume).")
@click.option("--subset", default="train", show_default=True, help="Split to re-translate.")
@click.option("--beam", type=click.IntRange(min=1), default=4, show_default=True, help="Teacher beam size.")
@click.option("--lenpen", type=NumberList("penalty"), default="1.0", show_default=True,
              help="The teacher's length penalty, or several separated by commas (e.g. 1.0,1.5,2.0,3.0): each "
                   "translates the valid split and the one whose translations score best distils (recorded in "
                   "DESTDIR/lenpen_choice.json).")
@click.option("--max-len-a", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="Longest output = a x source length + b tokens (fairseq's --max-len-a): bounds the time a "
                   "weak teacher spends repeating itself, e.g. 1.5 with b = 10.")
@click.option("--max-len-b", type=click.IntRange(min=1), default=200, show_default=True,
              help="Longest output = a x source length + b tokens (fairseq's --max-len-b).")
@click.option("--max-tokens", type=click.IntRange(min=1), default=8000, show_default=True,
              help="Source tokens per batch (batches are sorted by length).")
@click.option("--batch-size", type=click.IntRange(min=1), default=128, show_default=True,
              help="Sentences per batch.")
@click.option("--chunk-size", type=click.IntRange(min=1), default=2000, show_default=True,
              help="Sentences per atomically written chunk: the most a crash can cost.")
@click.option("--num-shards", type=click.IntRange(min=1), default=1, show_default=True,
              help="Split the work over this many machines (sharing --destdir or copied into it).")
@click.option("--shard-id", type=click.IntRange(min=0), default=0, show_default=True,
              help="Which shard this run decodes.")
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="torch threads (default: this machine's cores divided by --num-shards, for shards run side "
                   "by side on it; with one shard per machine give each its machine's cores).")
@click.option("--no-valid-bleu", is_flag=True,
              help="Skip translating the valid split: no teacher valid BLEU in the manifest and no valid_distilled "
                   "split (the teacher's translations of valid, on which `vqnat train vqnat` also validates).")
@click.option("--cpu", is_flag=True, help="Use the CPU even when a GPU is present.")
@click.option("--stop-after-chunks", type=click.IntRange(min=1), default=None, hidden=True,
              help="Stop after this many chunks (tests the resume path).")
def teacher_decode(data, checkpoint, destdir, subset, beam, lenpen, max_len_a, max_len_b, max_tokens,
                   batch_size, chunk_size, num_shards, shard_id, threads, no_valid_bleu, cpu,
                   stop_after_chunks) -> None:
    """Re-translate a split with the AR teacher and write DESTDIR as a fairseq data directory."""
    from pathlib import Path

    from vqnat.distill import DistillError
    from vqnat.teacher_decode import teacher_decode as run
    from vqnat.translate import TranslationError

    try:
        manifest = run(Path(data), Path(checkpoint), Path(destdir), subset=subset, beam=beam, lenpen=lenpen,
                       max_len_a=max_len_a, max_len_b=max_len_b, batch_size=batch_size, max_tokens=max_tokens,
                       chunk_size=chunk_size, num_shards=num_shards, shard_id=shard_id,
                       stop_after_chunks=stop_after_chunks, score_valid=not no_valid_bleu, cpu=cpu,
                       threads=threads)
    except (DistillError, TranslationError, FileNotFoundError) as error:
        raise click.ClickException(str(error))
    if manifest is None:
        click.echo(f"shard {shard_id} done; the merge runs when every shard's chunks are in {destdir}")
        return
    summary = manifest["last_run"]
    click.echo(f"distilled {manifest['num_sentences']} sentences into {destdir} "
               f"({summary['sentences']} decoded now in {summary['seconds']} s, "
               f"{summary['sentences_per_second']} sentences/s with {summary['threads']} thread(s); "
               f"{manifest['empty_outputs']} empty, "
               f"{manifest['outputs_at_length_limit']} at the length limit)")
    if "teacher_valid_bleu" in manifest:
        bleu = manifest["teacher_valid_bleu"]
        click.echo(f"teacher valid BLEU = {bleu['score']} ({bleu['signature']})")
