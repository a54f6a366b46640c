"""``teacher-decode``: run sequence-level distillation end to end and write a fairseq data directory.

Distilling the training split also writes the teacher's translations of the valid split as a split of their
own, ``valid_distilled``: the codes a student learns are those of its teacher's translations, so its latent
predictor is measured on them too (``vqnat train vqnat`` validates on both splits). Against the human
references of ``valid`` it looks as if it learnt its training codes by heart; against the teacher's it does
not (BENCHMARKS.md, "What the latent predictor is measured against").
"""
import json
import logging
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

from vqnat.atomic import atomic_write_text
from vqnat.distill import (DistillError, DistillRun, claim_destination, copy_unchanged, decode_chunks,
                           file_sha256, merged_lines, shard_chunks)
from vqnat.lenpen_choice import CHOICE_FILE, choose_lenpen, write_choice

logger = logging.getLogger("vqnat.distill")

#: the split holding the teacher's translations of the valid split, written when the training split is distilled
VALID_DISTILLED = "valid_distilled"


def binarize_split(destdir: Path, subset: str, source_lang: str, target_lang: str,
                   source_pieces: List[str], target_pieces: List[str], dictionary: Path) -> None:
    """Binarize one split of subword pieces with the data directory's existing joined dictionary.

    fairseq-preprocess itself only writes splits named train/valid/test; its binarizer takes any name.
    """
    from fairseq.binarizer import FileBinarizer, VocabularyDatasetBinarizer
    from fairseq.data import Dictionary

    vocabulary = Dictionary.load(str(dictionary))
    with tempfile.TemporaryDirectory(dir=destdir) as scratch:
        for lang, lines in ((source_lang, source_pieces), (target_lang, target_pieces)):
            text = Path(scratch, f"{subset}.{lang}")
            text.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
            stem = f"{subset}.{source_lang}-{target_lang}.{lang}"
            FileBinarizer.multiprocess_dataset(str(text), "mmap", VocabularyDatasetBinarizer(vocabulary),
                                               str(Path(scratch, stem)), vocab_size=len(vocabulary))
            for suffix in (".bin", ".idx"):
                Path(scratch, stem + suffix).replace(destdir / (stem + suffix))


def check_dictionary(checkpoint: Path, data: Path) -> None:
    """Refuse a teacher whose output layer does not match the data's dictionary, in one line.

    Checked on the raw checkpoint: once fairseq builds the model with the data's dictionary, a mismatch
    only shows as a wall of ``size mismatch`` errors from ``load_state_dict``.
    """
    from fairseq.data import Dictionary, data_utils

    from vqnat.safe_load import CheckpointLoadError, load_checkpoint_state

    try:
        state = load_checkpoint_state(checkpoint)
    except CheckpointLoadError as error:
        raise DistillError(str(error)) from None
    try:
        weights, task = state["model"], state["cfg"]["task"]
    except (KeyError, TypeError) as error:
        raise DistillError(f"{checkpoint} is not a fairseq checkpoint (no {error})") from None
    output_layer = weights.get("decoder.embed_tokens.weight")
    if output_layer is None:  # not a fairseq transformer: the loader reports what it is
        return
    target_lang = task.get("target_lang") or data_utils.infer_language_pair(str(data))[1]
    dictionary = data / f"dict.{target_lang}.txt"
    if not dictionary.is_file():
        raise DistillError(f"{data} has no dictionary {dictionary.name} for the teacher's target language")
    data_vocab = len(Dictionary.load(str(dictionary)))
    if output_layer.shape[0] != data_vocab:
        raise DistillError(f"the teacher {checkpoint} has a {output_layer.shape[0]}-entry dictionary but "
                           f"{dictionary} has {data_vocab}: the teacher was trained on other data")


def teacher_decode(data: Path, checkpoint: Path, destdir: Path, subset: str = "train", beam: int = 4,
                   lenpen: Union[float, Sequence[float]] = 1.0, max_len_a: float = 0.0, max_len_b: int = 200,
                   batch_size: int = 128, max_tokens: Optional[int] = 8000, chunk_size: int = 2000, num_shards: int = 1,
                   shard_id: int = 0, stop_after_chunks: Optional[int] = None, score_valid: bool = True,
                   cpu: bool = False, threads: Optional[int] = None) -> Optional[dict]:
    """Distil ``subset`` of ``data`` into ``destdir``; returns the manifest once every shard is done.

    ``lenpen``: the teacher's length penalty, or several to choose from on the valid split
    (``vqnat.lenpen_choice``). ``threads``: torch threads; by default the cores divided among ``num_shards``
    shards side by side.
    """
    import torch

    from vqnat.threads import set_torch_threads, threads_per_process
    from vqnat.translate import Translator

    data, checkpoint, destdir = Path(data), Path(checkpoint), Path(destdir)
    if not checkpoint.is_file():
        raise DistillError(f"checkpoint not found: {checkpoint}")
    check_dictionary(checkpoint, data)
    set_torch_threads(threads or threads_per_process(num_shards))
    translator = Translator(str(checkpoint), str(data), batch_size=batch_size, max_tokens=max_tokens, cpu=cpu,
                            beam=beam, max_len_a=max_len_a, max_len_b=max_len_b)
    sources = translator.split_sources(subset)
    dictionary = data / f"dict.{translator.target_lang}.txt"
    checkpoint_sha256 = file_sha256(checkpoint)
    candidates = [float(lenpen)] if isinstance(lenpen, (int, float)) else [float(value) for value in lenpen]
    valid_translations: Dict[float, List] = {}

    def translate_valid(value: float) -> List:
        """The teacher's translations of valid with length penalty ``value``, made once: they score the
        penalty and, for the chosen one, become ``valid_distilled``."""
        if value not in valid_translations:
            valid_translations[value] = translator.generate(translator.split_sources("valid"),
                                                            generator=translator.build_generator(lenpen=value))
        return valid_translations[value]

    choice = {}
    if len(candidates) > 1:
        if not has_split(translator, data, "valid"):
            raise DistillError(f"--lenpen {','.join(map(str, candidates))}: the penalty is chosen on the valid "
                               f"split, and {data} has none")
        choice = choose_lenpen(lambda value: valid_bleu(translator, translate_valid(value)),
                               candidates, destdir / CHOICE_FILE, checkpoint_sha256)
    chosen = choice["chosen"] if choice else candidates[0]
    generator = translator.build_generator(lenpen=chosen)
    run = DistillRun(checkpoint_sha256=checkpoint_sha256, subset=subset, beam=beam, lenpen=chosen,
                     max_len_a=max_len_a, max_len_b=max_len_b, chunk_size=chunk_size, num_sentences=len(sources),
                     dictionary_sha256=file_sha256(dictionary))
    destdir.mkdir(parents=True, exist_ok=True)
    claim_destination(destdir, run)
    if choice:
        write_choice(destdir / CHOICE_FILE, choice)

    def translate(start: int, end: int, progress) -> List[str]:
        return [translator.pieces(tokens)
                for tokens in translator.generate(sources[start:end], generator=generator, on_batch=progress)]

    num_chunks = -(-len(sources) // chunk_size)
    summary = decode_chunks(destdir, translate, run, shard_chunks(num_chunks, num_shards, shard_id),
                            stop_after=stop_after_chunks)
    summary["threads"] = torch.get_num_threads()
    logger.info("shard %d/%d: %s", shard_id, num_shards, summary)
    try:
        targets = merged_lines(destdir, run)
    except DistillError as waiting:
        if num_shards > 1:
            logger.info("%s", waiting)
            return None
        raise
    return finish(translator, translate_valid, data, destdir, run, targets, sources, summary, score_valid, choice)


def has_split(translator, data: Path, subset: str) -> bool:
    """Whether ``data`` holds a binarized ``subset`` (valid is optional in a data directory)."""
    src, tgt = translator.source_lang, translator.target_lang
    return (data / f"{subset}.{src}-{tgt}.{src}.idx").exists()


def valid_bleu(translator, translations: List) -> Tuple[float, str]:
    """sacreBLEU (score, signature) of ``translations`` of the valid split (token ids in input order)."""
    from vqnat.scoring import read_references, sacrebleu_score

    hypotheses = [translator.detokenize(tokens) for tokens in translations]
    references = read_references(translator.raw_references("valid"), len(hypotheses))
    return sacrebleu_score(hypotheses, references)


def length_limit(run: DistillRun, source_length: int) -> int:
    """The longest output the teacher may write for a source of ``source_length`` tokens (EOS included),
    as fairseq's SequenceGenerator computes it: a * source length + b, without the EOS.

    fairseq applies it to the longest source of each batch; batches are sorted by length, so the
    sentence's own length is the bound that matters."""
    return int(run.max_len_a * source_length + run.max_len_b)


def finish(translator, translate_valid: Callable[[float], List], data: Path, destdir: Path, run: DistillRun,
           targets: List[str], sources, summary: dict, score_valid: bool, choice: dict) -> dict:
    """Binarize the merged outputs (and ``translate_valid(lenpen)``'s as valid_distilled), copy the rest of the
    data directory, and write the manifest."""
    src, tgt = translator.source_lang, translator.target_lang
    source_pieces = [translator.task.source_dictionary.string(tokens) for tokens in sources]
    copy_unchanged(data, destdir, run.subset)
    binarize_split(destdir, run.subset, src, tgt, source_pieces, targets, data / f"dict.{tgt}.txt")
    valid_translations = None
    if score_valid and run.subset != "valid" and has_split(translator, data, "valid"):
        valid_translations = translate_valid(run.lenpen)
        binarize_split(destdir, VALID_DISTILLED, src, tgt,
                       [translator.task.source_dictionary.string(tokens)
                        for tokens in translator.split_sources("valid")],
                       [translator.pieces(tokens) for tokens in valid_translations], data / f"dict.{tgt}.txt")
    manifest = {
        "kind": "distilled", "source_data": str(data.resolve()), **asdict(run),
        "empty_outputs": sum(1 for line in targets if not line.strip()),
        "outputs_at_length_limit": sum(1 for line, source in zip(targets, sources)
                                       if len(line.split()) >= length_limit(run, len(source))),
        "last_run": summary,
    }
    if valid_translations is not None:
        manifest[VALID_DISTILLED] = len(valid_translations)
    if choice:
        manifest["lenpen_choice"] = {key: choice[key] for key in ("candidates", "valid_bleu", "signature")}
    if choice and score_valid:  # the chosen penalty's translations of valid are already scored
        manifest["teacher_valid_bleu"] = {"score": choice["valid_bleu"][str(run.lenpen)],
                                          "signature": choice["signature"]}
    elif score_valid and has_split(translator, data, "valid"):
        score, signature = valid_bleu(translator, translate_valid(run.lenpen))
        manifest["teacher_valid_bleu"] = {"score": round(score, 2), "signature": signature}
    original = data / "manifest.json"
    if original.exists():
        manifest["preprocess"] = json.loads(original.read_text(encoding="utf-8"))
    atomic_write_text(destdir / "manifest.json", json.dumps(manifest, indent=2) + "\n")
    return manifest
