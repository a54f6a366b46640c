"""``vqnat choose-length``: the decoding length (and beam over codes) a vqnat model translates best with,
chosen on valid."""
import click

from vqnat_cli.number_list import NumberList


@click.command(name="choose-length")
@click.option("--data", required=True, type=click.Path(exists=True, file_okay=False),
              help="Data directory from `vqnat preprocess` (its valid split and references).")
@click.option("--checkpoint", required=True, type=click.Path(exists=True, dir_okay=False),
              help="The vqnat checkpoint; the choice is written into it.")
@click.option("--scales", type=NumberList("scale"), default="1.0,1.05,1.1,1.15,1.2", show_default=True,
              help="Length scales to try, each with and without --exact-length. When the best is the largest "
                   "(smallest) of them, scales a step beyond are tried while each gains 0.1 valid BLEU or more "
                   "(at most 10).")
@click.option("--latent-beams", type=NumberList("beam", metavar="INT[,INT...]"), default="1", show_default=True,
              help="Beams over the codes to try at the chosen length (an autoregressive latent predictor's); a "
                   "larger one is chosen only where it gains 0.1 valid BLEU or more over the one chosen among the "
                   "smaller ones, significantly (--latent-beam-p).")
@click.option("--latent-beam-p", type=click.FloatRange(min=0, max=1, min_open=True), default=0.05,
              show_default=True,
              help="The p-value, by sacreBLEU's paired bootstrap on SUBSET, a larger beam's gain must not exceed; "
                   "1 chooses on the 0.1 BLEU gain alone.")
@click.option("--subset", default="valid", show_default=True, help="Split the choice is made on.")
@click.option("--batch-size", type=click.IntRange(min=1), default=64, show_default=True,
              help="Sentences per batch.")
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="CPU threads for torch (default: this machine's cores).")
@click.option("--cpu", is_flag=True, help="Use the CPU even when a GPU is present.")
def choose_length(data, checkpoint, scales, latent_beams, latent_beam_p, subset, batch_size, threads, cpu) -> None:
    """Decode SUBSET with every length scale, with and without an exact length, and record the best in CHECKPOINT;
    then, at that length, with every --latent-beams beam, each larger one kept only for a significant gain.

    A best scale on the edge of --scales is followed past it, a step at a time, while each step gains 0.1 BLEU
    or more (a longer length costs latent steps). The length is chosen in one pass over the codes.

    `vqnat generate`, `vqnat bench` and the Python API then decode with them unless given --length-scale,
    --[no-]exact-length or --latent-beam. Rerun with the same candidates and --latent-beam-p, it decodes only
    what the recorded scores lack."""
    import functools
    from pathlib import Path

    from vqnat.generation.latent_beam_choice import (beams_of, choose_latent_beam, recorded_beam_choice,
                                                     refuse_beams_over_parallel_codes, set_beam_choice)
    from vqnat.generation.length_choice import (LengthChoiceError, candidates_of, choose_length as choose,
                                                describe, read_checkpoint, recorded_choice, set_choice,
                                                write_checkpoint)
    from vqnat.scoring import paired_bootstrap_p, read_references, sacrebleu_score
    from vqnat.threads import set_torch_threads, threads_per_process
    from vqnat.translate import Translator, TranslationError

    path = Path(checkpoint)
    try:
        candidates = candidates_of(scales)
        beams = beams_of(latent_beams)
        state = read_checkpoint(path)
        refuse_beams_over_parallel_codes(state, beams, path)
    except (LengthChoiceError, ValueError) as error:
        raise click.ClickException(str(error))
    record = recorded_choice(state, candidates, subset)
    known = {tuple(candidate): bleu for candidate, bleu in zip(record.get("candidates", []), record.get("bleu", []))}

    @functools.lru_cache(maxsize=None)
    def decoding():
        """The model and SUBSET's sources and references, loaded once, and only if a candidate needs decoding."""
        set_torch_threads(threads or threads_per_process())
        try:
            translator = Translator(str(path), data, batch_size=batch_size, cpu=cpu)
            sources = translator.split_sources(subset)
            return translator, sources, read_references(translator.raw_references(subset), len(sources))
        except (TranslationError, FileNotFoundError, KeyError, ValueError) as error:
            raise click.ClickException(str(error))

    def score(candidate):
        if candidate in known:  # scored by an earlier run on the same grid: the rule is applied again, not decoded
            return known[candidate], record["signature"]
        return bleu_of(*candidate, 1)

    @functools.lru_cache(maxsize=None)
    def translations(length_scale, exact_length, latent_beam):
        """SUBSET translated with these settings, kept for the paired test of two beams."""
        translator, sources, _ = decoding()
        generator = translator.build_generator(length_scale=length_scale, exact_length=exact_length,
                                               latent_beam=latent_beam)
        return [translator.detokenize(tokens) for tokens in translator.generate(sources, generator)]

    def bleu_of(length_scale, exact_length, latent_beam):
        return sacrebleu_score(translations(length_scale, exact_length, latent_beam), decoding()[2])

    choice = choose(score, candidates, subset)
    length = choice["chosen"]
    one_pass = dict(zip(map(tuple, choice["candidates"]), choice["bleu"]))[tuple(length)]
    beam_record = recorded_beam_choice(state, beams, subset, length, latent_beam_p)

    def beam_score(beam):
        if beam == 1:  # the length was chosen in one pass
            return one_pass, choice["signature"]
        return bleu_of(*length, beam)

    def p_value(chosen, beam):
        return paired_bootstrap_p(translations(*length, chosen), translations(*length, beam), decoding()[2])

    beam_choice = beam_record or choose_latent_beam(beam_score, beams, subset, length, p_value, latent_beam_p)
    if choice != record or beam_choice != beam_record:
        set_choice(state, choice)
        set_beam_choice(state, beam_choice)
        write_checkpoint(path, state)
    for candidate, bleu in zip(choice["candidates"], choice["bleu"]):
        click.echo(f"{subset} BLEU = {bleu:.2f} with {describe(tuple(candidate))}")
    if len(beams) > 1:
        for beam, bleu, p, against in zip(*(beam_choice[key] for key in ("beams", "bleu", "p", "against"))):
            tested = f" (paired bootstrap p = {p:.3f} against --latent-beam {against})" if p is not None else ""
            click.echo(f"{subset} BLEU = {bleu:.2f} with {describe(tuple(length))} --latent-beam {beam}{tested}")
    chosen = describe(tuple(length)) + (f" --latent-beam {beam_choice['chosen']}" if len(beams) > 1 else "")
    click.echo(f"{path} decodes with {chosen} ({choice['signature']})")
