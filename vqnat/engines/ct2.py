"""CTranslate2 for fairseq AR checkpoints (``engine=ct2``): what a user would deploy for fast CPU decoding.

The checkpoint is converted once into ``STEM.ct2-QUANTIZE/`` beside it (again when the checkpoint is
newer). ``CTranslate2Generator`` has fairseq's generator interface, so batching, the source tokens, the
length limits, detokenization, scoring and timing stay exactly those of every other system; only the
search runs in CTranslate2.
"""
from pathlib import Path
from typing import Dict, List

import torch

from vqnat.engines import EngineError
from vqnat.engines.cache import cached_conversion

INSTALL = "pip install 'vqnat[ct2]'"


def import_ctranslate2():
    """The ``ctranslate2`` module, or a one-line error naming the extra that installs it."""
    try:
        import ctranslate2
    except ImportError:
        raise EngineError(f"engine ct2 needs CTranslate2, which is not installed: {INSTALL}") from None
    return ctranslate2


def converted_model(checkpoint: Path, data: Path, quantize: str) -> Path:
    """The CTranslate2 model of ``checkpoint`` with ``quantize`` weights, converted unless an up-to-date one
    is cached beside it (``STEM.ct2-QUANTIZE/``)."""
    import_ctranslate2()

    def convert(folder: Path) -> None:
        # its safe loader reads fairseq checkpoints because importing vqnat allow-listed the types they hold
        from ctranslate2.converters import FairseqConverter

        FairseqConverter(str(checkpoint), str(data)).convert(str(folder), quantization=quantize, force=True)

    return cached_conversion(checkpoint, f"ct2-{quantize}", ["model.bin"], convert, "CTranslate2")


def vocabulary(dictionary) -> List[str]:
    """fairseq's symbols as the converter names them (``<pad>`` becomes ``<blank>``)."""
    return ["<blank>" if symbol == "<pad>" else symbol for symbol in dictionary.symbols]


def source_symbols(src_tokens: torch.Tensor, symbols: List[str], pad: int) -> List[List[str]]:
    """Each row of fairseq's padded source tokens as CTranslate2 takes it: symbols, without padding and without
    the final EOS (the converted model adds it)."""
    return [[symbols[token] for token in row if token != pad][:-1] for row in src_tokens.tolist()]


class CTranslate2Generator:
    """Beam search or greedy decoding in CTranslate2 behind fairseq's ``generate(models, sample)``.

    Args:
        model_dir: a converted model (``converted_model``).
        source_dictionary, target_dictionary: the task's dictionaries.
        quantize: ``float32`` or ``int8`` computation.
        device: ``cpu`` or ``cuda``.
        threads: CTranslate2's intra-op threads (the same as torch's in every other system).
        settings: fairseq generation settings; ``beam``, ``lenpen``, ``max_len_a``, ``max_len_b`` and
            ``min_len`` are applied as fairseq applies them.
        max_positions: the decoder's positions; outputs stop one short, as fairseq's do.
    """

    def __init__(self, model_dir: Path, source_dictionary, target_dictionary, quantize: str, device: str,
                 threads: int, settings: Dict, max_positions: int):
        ctranslate2 = import_ctranslate2()
        self.translator = ctranslate2.Translator(str(model_dir), device=device, compute_type=quantize,
                                                 inter_threads=1, intra_threads=threads)
        self.source_symbols = vocabulary(source_dictionary)
        self.target_index = {symbol: index for index, symbol in enumerate(vocabulary(target_dictionary))}
        self.pad, self.eos = source_dictionary.pad(), target_dictionary.eos()
        self.settings, self.max_positions = settings, max_positions

    def max_length(self, source_length: int) -> int:
        """fairseq's bound on the output tokens (EOS excluded) for a batch padded to ``source_length``."""
        limit = int(self.settings["max_len_a"] * source_length + self.settings["max_len_b"])
        return min(limit, self.max_positions - 1)

    def generate(self, models, sample: Dict, **unused) -> List[List[Dict]]:
        """One hypothesis per sentence of ``sample``, in its order, as fairseq's generators return them."""
        source_tokens = sample["net_input"]["src_tokens"]
        sources = source_symbols(source_tokens, self.source_symbols, self.pad)
        results = self.translator.translate_batch(
            sources, beam_size=self.settings["beam"], length_penalty=self.settings["lenpen"],
            max_decoding_length=self.max_length(source_tokens.size(1)),
            min_decoding_length=self.settings["min_len"], suppress_sequences=[["<blank>"]], return_scores=True)
        return [[{"tokens": torch.tensor([self.target_index[symbol] for symbol in result.hypotheses[0]]
                                         + [self.eos]),
                  "score": result.scores[0]}] for result in results]


class CTranslate2Scorer:
    """An AR teacher in CTranslate2 that scores candidate translations teacher-forced (``score_batch``):
    the rescoring pass of vqnat's generator where the teacher would be deployed, in int8 if asked.

    ``score`` gives what fairseq's ``SequenceScorer`` gives: each candidate's mean token log-probability,
    its EOS included (identical in float32).
    """

    def __init__(self, model_dir: Path, source_dictionary, target_dictionary, quantize: str, device: str,
                 threads: int):
        ctranslate2 = import_ctranslate2()
        self.translator = ctranslate2.Translator(str(model_dir), device=device, compute_type=quantize,
                                                 inter_threads=1, intra_threads=threads)
        self.source_symbols = vocabulary(source_dictionary)
        self.target_symbols = vocabulary(target_dictionary)
        self.pad = source_dictionary.pad()

    def score(self, src_tokens: torch.Tensor, candidates: List[torch.Tensor]) -> List[torch.Tensor]:
        """Mean log-probability of each candidate (token ids ending in EOS) given its row of ``src_tokens``."""
        sources = source_symbols(src_tokens, self.source_symbols, self.pad)
        targets = [[self.target_symbols[token] for token in tokens.tolist()[:-1]] for tokens in candidates]
        results = self.translator.score_batch(sources, targets)
        return [torch.tensor(sum(result.log_probs) / len(result.log_probs)) for result in results]


def ct2_scorer(checkpoint: Path, data: Path, source_dictionary, target_dictionary, quantize: str,
               device: str) -> CTranslate2Scorer:
    """The teacher at ``checkpoint`` as a CTranslate2 scorer (converted once, cached beside it), with
    torch's threads."""
    return CTranslate2Scorer(converted_model(checkpoint, data, quantize), source_dictionary, target_dictionary,
                             quantize, device, torch.get_num_threads())


def ct2_generator(translator, checkpoint: Path, quantize: str) -> CTranslate2Generator:
    """A CTranslate2 generator for ``Translator`` of ``checkpoint``, with its settings, device and torch's
    threads."""
    config = translator.hub.cfg.generation
    settings = {name: translator.generation.get(name, getattr(config, name))
                for name in ("beam", "lenpen", "max_len_a", "max_len_b", "min_len")}
    model_dir = converted_model(checkpoint, translator.data, quantize)
    return CTranslate2Generator(model_dir, translator.task.source_dictionary, translator.task.target_dictionary,
                                quantize, translator.device.type, torch.get_num_threads(), settings,
                                translator.model.max_decoder_positions())
