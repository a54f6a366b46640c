"""``vqnat generate``: translate a split (or raw lines) with any checkpoint and score it with sacreBLEU."""
import logging
import sys
import time

import click

logger = logging.getLogger("vqnat.generate")


@click.command()
@click.option("--data", required=True, type=click.Path(exists=True, file_okay=False),
              help="Data directory from `vqnat preprocess` (dictionaries, spm model, references).")
@click.option("--checkpoint", required=True, type=click.Path(exists=True, dir_okay=False),
              help="Checkpoint of an AR teacher, a vqnat model or a fairseq NAT model.")
@click.option("--subset", default="test", show_default=True, help="Binarized split to translate.")
@click.option("--input", "input_file", type=click.File("r", encoding="utf-8"), default=None,
              help="Translate raw source lines from this file ('-' = stdin) instead of --subset.")
@click.option("--reference", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Score --input against this raw reference file.")
@click.option("--beam", type=click.IntRange(min=1), default=4, show_default=True,
              help="Beam size for AR models.")
@click.option("--lenpen", type=float, default=1.0, show_default=True, help="Length penalty for AR beam search.")
@click.option("--latent-beam", type=click.IntRange(min=1), default=None,
              help="Beam size over latent codes for vqnat models (default: the model's own, 1 unless `vqnat "
                   "choose-length --latent-beams` chose another).")
@click.option("--latent-iterations", type=click.IntRange(min=1), default=None,
              help="vqnat, parallel latent predictor: mask-predict passes over the codes (default: the model's, "
                   "one pass).")
@click.option("--length-beam", type=click.IntRange(min=1), default=1, show_default=True,
              help="vqnat: lengths decoded per sentence (T, T-1, T+1, ...); the best-scored candidate is kept.")
@click.option("--latent-samples", type=click.IntRange(min=1), default=1, show_default=True,
              help="vqnat: code sequences per length, the latent predictor's most likely and N - 1 sampled "
                   "(left to right for an autoregressive one); the best-scored candidate is kept (with "
                   "--rescore: noisy parallel decoding).")
@click.option("--latent-temperature", type=click.FloatRange(min=0, min_open=True), default=1.0, show_default=True,
              help="vqnat: temperature of the codes --latent-samples draws.")
@click.option("--rescore", type=click.Path(exists=True, dir_okay=False), default=None,
              help="vqnat: AR teacher checkpoint that scores every candidate in one teacher-forced pass.")
@click.option("--rescore-engine", type=click.Choice(["torch", "ct2"]), default=None,
              help="How --rescore's teacher runs: torch (default) or ct2 (CTranslate2, `pip install 'vqnat[ct2]'`; "
                   "converted once beside the teacher's checkpoint): its scores are fairseq's in float32.")
@click.option("--rescore-quantize", type=click.Choice(["float32", "int8"]), default=None,
              help="int8: int8 weights for --rescore's teacher (default float32).")
@click.option("--length-rule", type=click.Choice(["paper", "predicted"]), default=None,
              help="How vqnat models choose the number of latents (default: the model's).")
@click.option("--length-scale", type=click.FloatRange(min=0, min_open=True), default=None,
              help="vqnat: multiply the length rule's length by this (more or fewer latents and tokens); default: "
                   "the model's (1, or what `vqnat choose-length` recorded in the checkpoint).")
@click.option("--exact-length/--no-exact-length", default=None,
              help="vqnat: translations take exactly the (scaled) length: no EOS before it; default: the model's.")
@click.option("--batch-size", type=click.IntRange(min=1), default=64, show_default=True,
              help="Sentences per batch.")
@click.option("--output", type=click.Path(dir_okay=False, allow_dash=True), default=None,
              help="Write hypotheses here ('-' = stdout); default: no file.")
@click.option("--engine", type=click.Choice(["torch", "ct2", "onnx"]), default="torch", show_default=True,
              help="torch: the checkpoint in PyTorch; ct2: CTranslate2 (`pip install 'vqnat[ct2]'`): an AR "
                   "checkpoint converted once into CHECKPOINT_STEM.ct2-QUANTIZE/ beside it, or a vqnat one's "
                   "latent search (autoregressive predictor, CPU; CHECKPOINT_STEM.ct2latent-QUANTIZE/) with its "
                   "other networks in ONNX Runtime as onnx; onnx: ONNX Runtime (vqnat checkpoints, CPU; `pip "
                   "install 'vqnat[onnx]'`), exported once into CHECKPOINT_STEM.onnx-QUANTIZE/.")
@click.option("--quantize", type=click.Choice(["float32", "int8"]), default="float32", show_default=True,
              help="int8: int8 weights (torch: every Linear layer, dynamic quantization, CPU only; onnx: "
                   "ONNX Runtime's dynamic quantization; ct2: CTranslate2's int8).")
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="CPU threads for torch, CTranslate2 or ONNX Runtime (default: this machine's cores).")
@click.option("--cpu", is_flag=True, help="Use the CPU even when a GPU is present.")
def generate(data, checkpoint, subset, input_file, reference, beam, lenpen, latent_beam, latent_iterations,
             length_beam, latent_samples, latent_temperature, rescore, rescore_engine, rescore_quantize, length_rule, length_scale,
             exact_length, batch_size, output, engine,
             quantize, threads, cpu) -> None:
    """Translate with CHECKPOINT; one detokenized hypothesis per input line, in input order."""
    from pathlib import Path

    from vqnat.atomic import atomic_write_text
    from vqnat.engines import use_engine
    from vqnat.scoring import read_references, sacrebleu_score
    from vqnat.threads import set_torch_threads, threads_per_process
    from vqnat.translate import Translator, TranslationError

    options = {"lenpen": lenpen, "latent_beam": latent_beam, "length_beam": length_beam,
               "latent_samples": latent_samples, "latent_temperature": latent_temperature}
    for name, value in (("length_scale", length_scale), ("exact_length", exact_length)):
        if value is not None:  # else the model's own
            options[name] = value
    if length_rule:
        options["length_rule"] = length_rule
    if (rescore_engine or rescore_quantize) and not rescore:
        raise click.UsageError("--rescore-engine and --rescore-quantize set how --rescore's teacher runs: add "
                               "--rescore TEACHER.pt")
    if rescore:
        options.update(rescore=rescore, rescore_engine=rescore_engine or "torch",
                       rescore_quantize=rescore_quantize or "float32")
    if latent_iterations:
        options["latent_iterations"] = latent_iterations
    set_torch_threads(threads or threads_per_process())
    try:
        translator = Translator(checkpoint, data, batch_size=batch_size, cpu=cpu, beam=beam, **options)
        use_engine(translator, checkpoint, engine, quantize)
        if input_file is not None:
            sources = translator.encode_lines(input_file.read().splitlines())
        else:
            sources = translator.split_sources(subset)
        start = time.perf_counter()
        hypotheses = [translator.detokenize(tokens) for tokens in translator.generate(sources)]
    except (TranslationError, FileNotFoundError, KeyError) as error:
        raise click.ClickException(str(error))
    elapsed = time.perf_counter() - start
    logger.info("translated %d sentences in %.1f s (%.1f sentences/s)", len(hypotheses), elapsed,
                len(hypotheses) / max(elapsed, 1e-9))

    text = "".join(line + "\n" for line in hypotheses)
    if output == "-":
        sys.stdout.write(text)
    elif output:
        atomic_write_text(Path(output), text)
        logger.info("hypotheses written to %s", output)

    reference_path = Path(reference) if reference else None if input_file else translator.raw_references(subset)
    if reference_path is None:
        return
    try:
        references = read_references(reference_path, len(hypotheses))
    except (FileNotFoundError, ValueError) as error:
        raise click.ClickException(str(error))
    score, signature = sacrebleu_score(hypotheses, references)
    click.echo(f"BLEU = {score:.2f} ({signature})", err=output == "-")
