"""Where batch-1 latency goes: the encoder, the sequential decoder passes, the parallel decoder, the rest.

A speed-up is bounded by what a model must still do once per sentence: the encoder and, for vqnat, the
parallel decoder and its token softmax. The stages are methods of the model, timed by wrapping them as
instance attributes for the duration of the run (so fairseq's direct ``decoder.forward`` calls are timed
too, which module hooks would miss):

- encoder: ``encoder.forward`` (every kind);
- sequential: the AR decoder's ``forward`` (once per output token, output projection included), vqnat's
  ``latent_predictor.step`` (once per latent, code softmax included), its ``search_codes`` (the whole
  search in CTranslate2, which encodes the source again) or, for the parallel latent predictor, its
  ``forward`` (once per refinement pass);
- parallel: vqnat's ``decode_codes`` (decompression, one decoder pass, token projection) and a rescoring
  teacher's teacher-forced pass;
  a fairseq NAT model's ``decoder.forward`` (once per refinement iteration);
- rest: the generator's time outside them (search bookkeeping, length prediction, hypotheses).
"""
import functools
import time
from typing import Callable, Dict, List, Optional, Tuple

from torch import nn

STAGES = ("encoder", "sequential", "parallel")


def stage_methods(model: nn.Module, kind: str) -> List[Tuple[str, object, str]]:
    """(stage, owner, method name) of the methods that make up each stage of a model of ``kind``."""
    if kind == "vqnat" and model.parallel:
        return [("encoder", model.encoder, "forward"), ("sequential", model.latent_predictor, "forward"),
                ("parallel", model, "decode_codes")]
    if kind == "vqnat":
        searches = ([("sequential", model.latent_predictor, "search_codes")]
                    if hasattr(model.latent_predictor, "search_codes") else [])  # the search in CTranslate2
        return [("encoder", model.encoder, "forward"), ("sequential", model.latent_predictor, "step"), *searches,
                ("parallel", model, "decode_codes")]
    if kind == "ar":
        return [("encoder", model.encoder, "forward"), ("sequential", model.decoder, "forward")]
    if kind == "nat":
        return [("encoder", model.encoder, "forward"), ("parallel", model.decoder, "forward")]
    raise ValueError(f"no latency stages for models of kind {kind!r}")


class StageTimer:
    """Seconds spent in each stage since the last ``reset``, until ``remove`` restores the model's methods.

    Args:
        model: the model the generator runs.
        kind: ``ar``, ``vqnat`` or ``nat``.
        synchronize: called before reading the clock (CUDA's, so that a stage's kernels count in it).
        rescorer: a teacher that scores vqnat's candidates; its teacher-forced pass counts as parallel.
    """

    def __init__(self, model: nn.Module, kind: str, synchronize: Optional[Callable[[], None]] = None,
                 rescorer: Optional[object] = None):
        self.synchronize = synchronize or (lambda: None)
        self.seconds: Dict[str, float] = dict.fromkeys(STAGES, 0.0)
        self._depth = 0
        self._wrapped: List[Tuple[object, str]] = []
        methods = stage_methods(model, kind)
        if rescorer is not None:  # a PyTorch teacher, or one in CTranslate2 (its ``score``)
            methods.append(("parallel", rescorer, "forward" if isinstance(rescorer, nn.Module) else "score"))
        for stage, owner, name in methods:
            setattr(owner, name, self._timed(stage, getattr(owner, name)))
            self._wrapped.append((owner, name))

    def _timed(self, stage: str, method: Callable) -> Callable:
        @functools.wraps(method)
        def timed(*args, **kwargs):
            if self._depth:  # inside another stage: already counted there
                return method(*args, **kwargs)
            self._depth += 1
            self.synchronize()
            start = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                self.synchronize()
                self.seconds[stage] += time.perf_counter() - start
                self._depth -= 1
        return timed

    def reset(self) -> None:
        self.seconds = dict.fromkeys(STAGES, 0.0)

    def remove(self) -> None:
        """Give the model back its own methods."""
        for owner, name in self._wrapped:
            delattr(owner, name)
        self._wrapped = []
