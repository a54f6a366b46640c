"""``vqnat bench``: one table like the paper's Table 1 for any set of checkpoints on one test set."""
import click

SYSTEM_HELP = (
    "A system to measure, NAME=CHECKPOINT[,opt=value...]; repeat for each system. Options: AR models "
    "beam, lenpen; vqnat models latent-beam, length-rule (paper|predicted), length-beam (candidate lengths), "
    "latent-iterations (mask-predict passes of a parallel latent predictor), latent-samples and "
    "latent-temperature (its most likely and N - 1 sampled code sequences per length), rescore (an AR checkpoint that "
    "scores the candidates in one teacher-forced pass, its time counted), rescore-engine (torch|ct2) and "
    "rescore-quantize (float32|int8) for that teacher; fairseq NAT models "
    "iterations (refinement iterations, 0 = one pass), length-beam; every model engine (torch|ct2: "
    "CTranslate2, `pip install 'vqnat[ct2]'`, AR models converted once into CHECKPOINT_STEM.ct2-QUANTIZE/ "
    "beside the checkpoint, and the search of vqnat's autoregressive latent predictor (CHECKPOINT_STEM.ct2latent-"
    "QUANTIZE/; its other networks in ONNX Runtime, as onnx); onnx: ONNX Runtime, vqnat models only, "
    "`pip install 'vqnat[onnx]'`, exported once into CHECKPOINT_STEM.onnx-QUANTIZE/) and quantize (float32|int8). "
    "Example: "
    "--system ar-beam4=teacher.pt,beam=4 --system ar-greedy=teacher.pt --system vqnat=model.pt,length-beam=3,rescore=teacher.pt "
    "--system ct2-int8=teacher.pt,engine=ct2,quantize=int8 --system vqnat-int8=model.pt,engine=onnx,quantize=int8 "
    "--system vqnat-ct2-int8=model.pt,engine=ct2,quantize=int8"
)


@click.command()
@click.option("--data", required=True, type=click.Path(exists=True, file_okay=False),
              help="Data directory from `vqnat preprocess` (dictionaries, spm model, raw references).")
@click.option("--system", "systems", multiple=True, required=True, metavar="NAME=CHECKPOINT[,opt=value...]",
              help=SYSTEM_HELP)
@click.option("--subset", default="test", show_default=True, help="Binarized split to translate and score.")
@click.option("--batch-sizes", default="1,64", show_default=True,
              help="Comma-separated batch sizes for throughput; latency is always measured at batch 1.")
@click.option("--threads", type=click.IntRange(min=1), default=1, show_default=True,
              help="torch threads, the same for every system.")
@click.option("--warmup", type=click.IntRange(min=0), default=10, show_default=True,
              help="Untimed sentences run before the batch-1 timing (and one untimed batch per batch size).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="bench", show_default=True,
              help="Folder for bench.md, bench.json (every raw number) and bench.png (BLEU vs latency).")
@click.option("--cpu", is_flag=True, help="Use the CPU even when a GPU is present.")
def bench(data, systems, subset, batch_sizes, threads, warmup, out_dir, cpu) -> None:
    """Measure BLEU, latency, speed-up, decoder steps, throughput and peak memory of every --system.

    Each system runs in its own fresh process with the same threads and test set. vqnat systems are also
    scored decoding from the codes of the references themselves (what a perfect latent predictor would give)
    and from random codes (what a latent predictor at chance would give).
    """
    from vqnat.bench import BenchError, parse_batch_sizes, render_markdown, run_bench

    try:
        report = run_bench(data, systems, subset=subset, batch_sizes=parse_batch_sizes(batch_sizes),
                           threads=threads, warmup=warmup, out_dir=out_dir, cpu=cpu)
    except BenchError as error:
        raise click.ClickException(str(error))
    click.echo(render_markdown(report))
