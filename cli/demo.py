"""``vqnat demo``: the whole pipeline on the embedded English-Spanish corpus, end to end, told in stages.

Every stage is one of the ordinary commands, with its full log in ``WORKDIR/logs/<stage>.log``; rerunning
the demo with the same ``--workdir`` skips the stages that finished and resumes the one that was interrupted.
"""
import json
from pathlib import Path
from typing import List

import click

from vqnat_cli.train import RECIPES, default_recipe, resumed_run

STAGES = 6


def read_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def read_lines(path: Path) -> List[str]:
    return path.read_text(encoding="utf-8").splitlines()


def train_stage(ctx: click.Context, command: click.Command, checkpoint: Path, updates: int, log: Path,
                **options) -> str:
    """Run ``vqnat train`` with a bar over its updates; returns ``600 updates, valid loss 7.41``."""
    from vqnat.training_curves import CurveError, parse_fairseq_log
    from vqnat_cli.train import trained_updates
    from vqnat_cli.update_bar import update_bar

    with update_bar(updates, min(trained_updates(checkpoint), updates)):
        ctx.invoke(command, save_dir=str(checkpoint.parent), max_update=updates, fairseq_args=(), **options)
    summary = f"{trained_updates(checkpoint):,} updates"
    try:
        valid = parse_fairseq_log(log).valid
    except CurveError:  # no metric line in the log: nothing was left to train
        return summary
    return f"{summary}, valid loss {valid[-1]['loss']:.2f}" if valid else summary


@click.command()
@click.option("--workdir", type=click.Path(file_okay=False), default="demo-run", show_default=True,
              help="Where every artifact goes; rerunning resumes the stages not yet finished.")
@click.option("--preset", type=click.Choice(["tiny", "small"]), default="tiny", show_default=True,
              help="Model size for the teacher and the vqnat model.")
@click.option("--teacher-updates", type=click.IntRange(min=1), default=600, show_default=True,
              help="Updates for the AR teacher.")
@click.option("--vqnat-updates", type=click.IntRange(min=1), default=600, show_default=True,
              help="Updates for the vqnat model.")
@click.option("--recipe", type=click.Choice(RECIPES), default=None,
              help="Training recipe of the vqnat model (default: `vqnat train vqnat`'s for the preset; see README: "
                   "Recipes); it starts from the teacher either way.")
@click.option("--sentences", type=click.IntRange(min=10), default=None,
              help="Use only the first N sentence pairs of each split: a quick run-through, whose scores mean "
                   "nothing (default: all of them).")
@click.option("-v", "--verbose", is_flag=True, help="Show each stage's full log as it is written.")
@click.pass_context
def demo(ctx: click.Context, workdir: str, preset: str, teacher_updates: int, vqnat_updates: int,
         recipe: str, sentences: int, verbose: bool) -> None:
    """Preprocess, train a teacher, distil, train vqnat, translate and benchmark, on the embedded corpus."""
    from vqnat.data.embedded import EMBEDDED_SOURCE_LANG as SRC
    from vqnat.data.embedded import EMBEDDED_TARGET_LANG as TGT
    from vqnat.data.embedded import extract_embedded_corpus
    from vqnat_cli.bench import bench
    from vqnat_cli.demo_summary import bench_lines, example_lines
    from vqnat_cli.generate import generate
    from vqnat_cli.preprocess import preprocess
    from vqnat_cli.stages import Stages
    from vqnat_cli.teacher_decode import teacher_decode
    from vqnat_cli.train import teacher, vqnat_command

    work = Path(workdir)
    data, distilled, logs = work / "data", work / "distilled", work / "logs"
    teacher_checkpoint = work / "teacher" / "checkpoint_last.pt"
    vqnat_checkpoint = work / "vqnat" / "checkpoint_last.pt"
    recipe = recipe or default_recipe(preset, resumed_run(vqnat_checkpoint).latent_predictor)
    hypotheses = {"teacher": work / f"teacher.test.{TGT}", "vqnat": work / f"vqnat.test.{TGT}"}
    stages = Stages(logs, STAGES, verbose)

    with stages.run("preprocess", "preprocess the embedded corpus") as done:
        if not (data / "manifest.json").exists():
            raw = extract_embedded_corpus(work / "raw", max_lines=sentences)
            ctx.invoke(preprocess, source_lang=SRC, target_lang=TGT, trainpref=str(raw / "train"),
                       validpref=str(raw / "valid"), testpref=str(raw / "test"), destdir=str(data),
                       vocab_size=4000, force=True)
        splits = read_json(data / "manifest.json")["splits"]
        done.append(" / ".join(f"{splits[split]['kept']:,}" for split in ("train", "valid", "test"))
                    + " sentence pairs (train / valid / test)")
    with stages.run("teacher", f"train the autoregressive teacher ({preset} preset)") as done:
        done.append(train_stage(ctx, teacher, teacher_checkpoint, teacher_updates, logs / "teacher.log",
                                data=str(data), preset=preset))
    with stages.run("distil", "distil the training split with the teacher (beam 4)") as done:
        if not (distilled / "manifest.json").exists():
            ctx.invoke(teacher_decode, data=str(data), checkpoint=str(teacher_checkpoint), destdir=str(distilled),
                       max_len_a=1.5, max_len_b=10)
        manifest = read_json(distilled / "manifest.json")
        done.append(f"{manifest['num_sentences']:,} sentences")
        if "teacher_valid_bleu" in manifest:
            done.append(f"teacher valid BLEU {manifest['teacher_valid_bleu']['score']:.2f}")
    with stages.run("vqnat", f"train vqnat ({recipe} recipe, from the teacher) on the distilled data") as done:
        done.append(train_stage(ctx, vqnat_command, vqnat_checkpoint, vqnat_updates, logs / "vqnat.log",
                                data=str(distilled), preset=preset, recipe=recipe,
                                init_from=str(teacher_checkpoint)))
    with stages.run("translate", "translate the test split with the teacher (beam 4) and vqnat") as done:
        for name, checkpoint in (("teacher", teacher_checkpoint), ("vqnat", vqnat_checkpoint)):
            ctx.invoke(generate, data=str(data), checkpoint=str(checkpoint), beam=4, output=str(hypotheses[name]))
        done.append(f"{len(read_lines(hypotheses['vqnat'])):,} sentences each")
    systems = (f"ar-beam4={teacher_checkpoint},beam=4", f"ar-greedy={teacher_checkpoint},beam=1",
               f"vqnat-{recipe}={vqnat_checkpoint}")
    with stages.run("bench", "benchmark: BLEU, latency, speed-up") as done:
        ctx.invoke(bench, data=str(data), out_dir=str(work / "bench"), systems=systems)
        done.append(f"{len(systems)} systems")

    click.echo("\n".join([
        "", *bench_lines(read_json(work / "bench" / "bench.json")), "",
        *example_lines(read_lines(data / "raw" / f"test.{SRC}"), read_lines(data / "raw" / f"test.{TGT}"),
                       {name: read_lines(path) for name, path in hypotheses.items()}), "",
        "artifacts:",
        f"  data directory    {data}",
        f"  teacher           {teacher_checkpoint}",
        f"  distilled data    {distilled}",
        f"  vqnat model       {vqnat_checkpoint}",
        f"  translations      {hypotheses['teacher']}, {hypotheses['vqnat']}",
        f"  bench tables      {work / 'bench' / 'bench.md'} (every column), bench.json",
        f"  plot              {work / 'bench' / 'bench.png'}",
        f"  logs              {logs}/ (training curves: vqnat curves teacher={logs / 'teacher.log'} "
        f"vqnat={logs / 'vqnat.log'} --out curves.png)",
    ]))
