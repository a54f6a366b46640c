"""``vqnat demo``: the whole pipeline on the embedded English-Spanish corpus, end to end.

Every stage is one of the ordinary commands; rerunning the demo with the same ``--workdir`` skips the
stages that finished and resumes the one that was interrupted.
"""
import logging
from pathlib import Path

import click

logger = logging.getLogger("vqnat.demo")


@click.command()
@click.option("--workdir", type=click.Path(file_okay=False), default="demo-run", show_default=True,
              help="Where every artifact goes; rerunning resumes the stages not yet finished.")
@click.option("--preset", type=click.Choice(["tiny", "small"]), default="tiny", show_default=True,
              help="Model size for the teacher and the vqnat model.")
@click.option("--teacher-updates", type=click.IntRange(min=1), default=600, show_default=True,
              help="Updates for the AR teacher.")
@click.option("--vqnat-updates", type=click.IntRange(min=1), default=600, show_default=True,
              help="Updates for the vqnat model.")
@click.option("--bottleneck", type=click.Choice(["vq", "ema", "soft_em", "dvq", "semhash"]), default="soft_em",
              show_default=True, help="Discrete bottleneck of the vqnat model.")
@click.pass_context
def demo(ctx: click.Context, workdir: str, preset: str, teacher_updates: int, vqnat_updates: int,
         bottleneck: str) -> None:
    """Preprocess, train a teacher, distil, train vqnat, translate and benchmark, on the embedded corpus."""
    from vqnat.data.embedded import extract_embedded_corpus
    from vqnat_cli.bench import bench
    from vqnat_cli.generate import generate
    from vqnat_cli.preprocess import preprocess
    from vqnat_cli.teacher_decode import teacher_decode
    from vqnat_cli.train import teacher, vqnat_command

    work = Path(workdir)
    raw = extract_embedded_corpus(work / "raw")
    data, distilled = work / "data", work / "distilled"
    teacher_dir, vqnat_dir = work / "teacher", work / "vqnat"
    stage = lambda name: click.secho(f"== {name}", bold=True)  # noqa: E731

    stage("1/6 preprocess the embedded corpus")
    if not (data / "manifest.json").exists():
        ctx.invoke(preprocess, source_lang="en", target_lang="es", trainpref=str(raw / "train"),
                   validpref=str(raw / "valid"), testpref=str(raw / "test"), destdir=str(data),
                   vocab_size=4000, force=True)
    stage("2/6 train the autoregressive teacher")
    ctx.invoke(teacher, data=str(data), save_dir=str(teacher_dir), preset=preset,
               max_update=teacher_updates, fairseq_args=())
    teacher_checkpoint = teacher_dir / "checkpoint_last.pt"
    stage("3/6 distil the training split with the teacher (beam 4)")
    if not (distilled / "manifest.json").exists():
        ctx.invoke(teacher_decode, data=str(data), checkpoint=str(teacher_checkpoint), destdir=str(distilled),
                   max_len_a=1.5, max_len_b=10)
    stage("4/6 train vqnat on the distilled data")
    ctx.invoke(vqnat_command, data=str(distilled), save_dir=str(vqnat_dir), preset=preset,
               max_update=vqnat_updates, bottleneck=bottleneck, fairseq_args=())
    vqnat_checkpoint = vqnat_dir / "checkpoint_last.pt"
    stage("5/6 translate the test split with vqnat")
    hypotheses = work / "vqnat.test.es"
    ctx.invoke(generate, data=str(data), checkpoint=str(vqnat_checkpoint), output=str(hypotheses))
    stage("6/6 benchmark: BLEU, latency, speed-up")
    ctx.invoke(bench, data=str(data), out_dir=str(work / "bench"), systems=(
        f"ar-beam4={teacher_checkpoint},beam=4", f"ar-greedy={teacher_checkpoint},beam=1",
        f"vqnat-{bottleneck}={vqnat_checkpoint}"))
    click.echo("\n".join([
        "artifacts:",
        f"  raw corpus        {raw}",
        f"  data directory    {data}",
        f"  teacher           {teacher_checkpoint}",
        f"  distilled data    {distilled}",
        f"  vqnat model       {vqnat_checkpoint}",
        f"  vqnat hypotheses  {hypotheses}",
        f"  bench table/plot  {work / 'bench'}/bench.md, bench.json, bench.png",
    ]))
