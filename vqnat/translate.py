"""Translate with any fairseq translation checkpoint (AR teacher, vqnat, fairseq's NAT models).

One loader and one loop for ``vqnat generate``, ``teacher-decode`` and ``bench``, built on fairseq's
``GeneratorHubInterface``: it batches by length and returns hypotheses in input order. What it adds:
sources straight from a binarized split or raw text, detokenization with the data directory's codec,
and a hard error when any input is left without a hypothesis.
"""
import copy
import logging
import os
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Union

import torch
from fairseq import utils

logger = logging.getLogger("vqnat.translate")


class TranslationError(RuntimeError):
    """A translation run that cannot give exactly one hypothesis per input."""


class Translator:
    """A loaded checkpoint with its task, generator settings and the data directory's text codec.

    The Python API: ``Translator(checkpoint, data).translate(["a sentence", ...])``.

    Args:
        checkpoint: a fairseq checkpoint file (AR teacher, vqnat, or fairseq's NAT models).
        data: the fairseq data directory it was trained on (dictionaries, spm model, raw references).
        beam: beam size of AR models.
        latent_beam: beam size over latent codes of vqnat models (None: the model's own, 1 unless
            ``vqnat choose-length --latent-beams`` chose another).
        batch_size: sentences per batch.
        threads: torch threads for this process (None: torch's default).
        max_tokens: source tokens per batch (None: no token cap).
        cpu: force CPU even when CUDA is present.
        generation: further generation options (``lenpen``, ``length_rule``, ``iter_decode_max_iter``, ...),
            set on fairseq's generation config.
    """

    def __init__(self, checkpoint: str, data: str, beam: int = 1, latent_beam: Optional[int] = None,
                 batch_size: int = 64, threads: Optional[int] = None, max_tokens: Optional[int] = None,
                 cpu: bool = False, **generation):
        from fairseq import hub_utils

        from vqnat.data.text_codec import TextCodec
        from vqnat.safe_load import describe_load_error
        from vqnat.threads import set_torch_threads

        path = Path(checkpoint)
        if not path.is_file():
            raise FileNotFoundError(f"checkpoint not found: {checkpoint}")
        if threads is not None:
            set_torch_threads(threads)
        try:
            loaded = hub_utils.from_pretrained(str(path.parent), path.name, os.path.abspath(data))
        except Exception as error:  # fairseq raises many kinds; the user needs the file name
            raise TranslationError(describe_load_error(checkpoint, error)) from error
        self.hub = hub_utils.GeneratorHubInterface(loaded["args"], loaded["task"], loaded["models"])
        self.hub.eval()
        if torch.cuda.is_available() and not cpu:
            self.hub.cuda()
        self.hub.cfg.dataset.batch_size = batch_size
        self.hub.cfg.dataset.max_tokens = max_tokens
        self.generation: Dict = {"beam": beam, **generation}
        if latent_beam is not None:
            self.generation["latent_beam"] = latent_beam
        if (self.generation.get("latent_samples") or 1) > 1:
            self.generation.setdefault("latent_beam", 1)  # sampled codes replace the model's own beam
        self.task = self.hub.task
        self.device = next(self.model.parameters()).device
        self._refuse_latent_options_the_model_cannot_take()
        self.generator = self.build_generator()
        self._warn_if_refining_a_glancing_model()
        self.source_lang = self.task.cfg.source_lang
        self.target_lang = self.task.cfg.target_lang
        self.data = Path(data)
        self.codec = TextCodec.from_data_dir(data)

    def _refuse_latent_options_the_model_cannot_take(self) -> None:
        """A latent beam searches an autoregressive latent predictor, and sampled codes replace that search:
        say so before any sentence is translated."""
        parallel = getattr(self.model, "parallel", None)
        samples = self.generation.get("latent_samples") or 1
        beam = self.generation.get("latent_beam") or getattr(self.task.cfg, "latent_beam", 1) or 1
        if parallel is True and beam > 1:
            raise TranslationError("--latent-beam searches an autoregressive latent predictor; this model's is "
                                   "parallel: use --latent-samples for several code sequences")
        if beam > 1 and samples > 1:
            raise TranslationError("--latent-beam and --latent-samples each give several code sequences: "
                                   "choose one")

    def _warn_if_refining_a_glancing_model(self) -> None:
        """Mask-predict passes feed a glancing-trained latent predictor more revealed codes than it saw in
        training once it is accurate (README: Recipes); say so rather than let BLEU drop silently."""
        iterations = self.generation.get("latent_iterations") or 1
        criterion = self.hub.cfg.get("criterion") or {}
        if iterations > 1 and getattr(self.model, "parallel", False) and criterion.get("reveal") != "uniform":
            logger.warning("--latent-iterations %d on a latent predictor trained with glancing: refinement can "
                           "lower BLEU once the predictor is accurate; train with --reveal uniform for it",
                           iterations)

    @property
    def model(self) -> torch.nn.Module:
        return self.hub.models[0]

    def split_sources(self, subset: str) -> List[torch.LongTensor]:
        """Source token ids of a binarized split, in file order."""
        self.task.load_dataset(subset)
        sources = self.task.dataset(subset).src
        return [sources[index] for index in range(len(sources))]

    def encode_lines(self, lines: Sequence[str]) -> List[torch.LongTensor]:
        """Raw source sentences to token ids, exactly as preprocess encoded the training data."""
        dictionary = self.task.source_dictionary
        return [
            dictionary.encode_line(self.codec.encode(line, self.source_lang), add_if_not_exist=False).long()
            for line in lines
        ]

    def build_generator(self, **overrides):
        """fairseq's generator for this model (SequenceGenerator, vqnat's, or the NAT one) and options."""
        from omegaconf import open_dict

        config = copy.deepcopy(self.hub.cfg.generation)
        with open_dict(config):
            for key, value in {**self.generation, **overrides}.items():
                setattr(config, key, value)
        return self.task.build_generator(self.hub.models, config)

    def batches(self, sources: Sequence[torch.LongTensor], batch_size: Optional[int] = None) -> Iterator[dict]:
        """Length-sorted batches of ``sources``; each sample's ``id`` is its input position."""
        lengths = torch.LongTensor([tokens.numel() for tokens in sources])
        iterator = self.task.get_batch_iterator(
            dataset=self.task.build_dataset_for_inference(list(sources), lengths),
            max_tokens=self.hub.cfg.dataset.max_tokens,
            max_sentences=batch_size or self.hub.cfg.dataset.batch_size,
            max_positions=self.hub.max_positions,
            ignore_invalid_inputs=False,
            disable_iterator_cache=True,
        )
        for batch in iterator.next_epoch_itr(shuffle=False):
            yield utils.apply_to_sample(lambda tensor: tensor.to(self.device), batch)

    @torch.inference_mode()
    def generate(self, sources: Sequence[torch.LongTensor], generator=None, batch_size: Optional[int] = None,
                 on_batch: Optional[Callable[[int], None]] = None) -> List[torch.LongTensor]:
        """Best hypothesis (token ids, EOS removed) for every source, in input order.

        ``on_batch(n)`` is called after each batch of n sentences (progress bars)."""
        generator = generator or self.generator
        eos = self.task.target_dictionary.eos()
        best: List[Optional[torch.LongTensor]] = [None] * len(sources)
        for batch in self.batches(sources, batch_size):
            hypotheses = self.task.inference_step(generator, self.hub.models, batch)
            for index, candidates in zip(batch["id"].tolist(), hypotheses):
                if candidates:
                    tokens = candidates[0]["tokens"].cpu()
                    best[index] = tokens[tokens != eos]
            if on_batch is not None:
                on_batch(len(batch["id"]))
        missing = [index for index, tokens in enumerate(best) if tokens is None]
        if missing:
            raise TranslationError(f"{len(missing)} of {len(sources)} inputs got no hypothesis "
                                   f"(first: input {missing[0]})")
        return best

    def translate(self, sentences: Union[str, Sequence[str]]) -> Union[str, List[str]]:
        """Raw source sentences -> detokenized translations in the same order (a single string -> a string)."""
        if isinstance(sentences, str):
            return self.translate([sentences])[0]
        if not sentences:
            return []
        return [self.detokenize(tokens) for tokens in self.generate(self.encode_lines(sentences))]

    def pieces(self, tokens: torch.LongTensor) -> str:
        """Hypothesis token ids as the space-separated subword pieces the data directory stores."""
        return self.task.target_dictionary.string(tokens)

    def detokenize(self, tokens: torch.LongTensor) -> str:
        """Hypothesis token ids as plain text (sentencepiece decoded, Moses detokenized)."""
        return self.codec.decode(self.pieces(tokens), self.target_lang)

    def raw_references(self, subset: str) -> Path:
        """The untouched reference file of a split, kept by preprocess for BLEU."""
        return self.data / "raw" / f"{subset}.{self.target_lang}"
