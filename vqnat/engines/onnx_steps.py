"""An autoregressive latent predictor stepped in ONNX Runtime (``engine=onnx``), its key/value cache as tensors.

The latent predictor of ``--recipe paper`` and ``pairs`` runs once per code: in PyTorch each step costs
about a millisecond of operator dispatch at batch 1, most of such a model's latency. Two graphs run its
steps, both traced through the model's own ``LatentPredictor.step`` and fairseq's attention cache:

- ``latent_start``: the source states -> the first code's logits and the cache (per layer, the first
  step's self-attention keys/values and the source's keys/values, computed once per sentence);
- ``latent_step``: the previous code's vector, the step, the cache -> the next code's logits and the
  self-attention cache one step longer.

A third, its teacher-forced pass over given codes, serves the bench's latent accuracy. The generator's
search (greedy or beam, whose reordering ``reorder_cache`` does here) stays PyTorch's.
"""
from typing import Callable, Dict, List, Optional, Tuple

import torch
from fairseq.models import FairseqDecoder
from torch import Tensor, nn

#: Per layer of the latent predictor: the attention module and the names of its cached keys and values.
_CACHES = (("self_attn", "self"), ("encoder_attn", "cross"))


def cache_names(layers: int) -> List[str]:
    """The cache tensors of a ``layers``-deep predictor: self-attention ones first, then the source's."""
    return [f"{kind}_{part}_{index}" for _, kind in _CACHES for index in range(layers) for part in ("key", "value")]


def _flatten(predictor: nn.Module, cache: Dict, kinds: Tuple[str, ...]) -> List[Tensor]:
    """fairseq's per-layer attention buffers as a list of (B, heads, steps, head dim) tensors."""
    tensors = []
    for module, kind in _CACHES:
        if kind in kinds:
            for layer in predictor.decoder.layers:
                buffer = getattr(layer, module)._get_input_buffer(cache)
                tensors += [buffer["prev_key"], buffer["prev_value"]]
    return tensors


def _unflatten(predictor: nn.Module, tensors: List[Tensor], source_padding: Tensor) -> Dict:
    """The inverse of ``_flatten`` over both kinds: fairseq's cache dict, the source's padding mask included."""
    cache: Dict = {}
    layers = predictor.decoder.layers
    for (module, kind), start in zip(_CACHES, (0, 2 * len(layers))):
        for index, layer in enumerate(layers):
            key, value = tensors[start + 2 * index], tensors[start + 2 * index + 1]
            buffer = {"prev_key": key, "prev_value": value}
            if kind == "cross":
                buffer["prev_key_padding_mask"] = source_padding
            getattr(layer, module)._set_input_buffer(cache, buffer)
    return cache


class StartGraph(nn.Module):
    """The first step: (source (S, B, D), its padding (B, S)) -> (logits (B, K), *cache)."""

    def __init__(self, predictor: nn.Module):
        super().__init__()
        self.predictor = predictor

    def forward(self, source: Tensor, source_padding: Tensor):
        cache: Dict = {}
        logits = self.predictor.step(None, 0, {"encoder_out": [source], "encoder_padding_mask": [source_padding]},
                                     cache)
        return (logits, *_flatten(self.predictor, cache, ("self", "cross")))


class StepGraph(nn.Module):
    """A later step: (previous code vector (B, D), step (1,), source, padding, *cache) -> (logits, *self cache)."""

    def __init__(self, predictor: nn.Module):
        super().__init__()
        self.predictor = predictor

    def forward(self, previous: Tensor, step: Tensor, source: Tensor, source_padding: Tensor, *cache: Tensor):
        state = _unflatten(self.predictor, list(cache), source_padding)
        logits = self.predictor.step(previous, step, {"encoder_out": [source], "encoder_padding_mask": [source_padding]},
                                     state)
        return (logits, *_flatten(self.predictor, state, ("self",)))


def step_graph_specs(predictor: nn.Module, source: Tensor, source_padding: Tensor) -> Dict[str, tuple]:
    """Per graph: (module, example inputs, input names, output names, dynamic axes) for the exporter."""
    layers = len(predictor.decoder.layers)
    names = cache_names(layers)
    self_names = names[: 2 * layers]
    axes = {name: {0: "batch", 2: "steps" if name.startswith("self") else "source"} for name in names}
    source_axes = {"source": {0: "source", 1: "batch"}, "source_padding": {0: "batch", 1: "source"},
                   "logits": {0: "batch"}}
    start = StartGraph(predictor)
    with torch.no_grad():
        first = start(source, source_padding)
    previous = torch.randn(source.size(1), predictor.decoder.embed_dim)
    next_names = [f"next_{name}" for name in self_names]
    return {
        "latent_start": (start, (source, source_padding), ["source", "source_padding"], ["logits", *names],
                         {**source_axes, **axes}),
        "latent_step": (StepGraph(predictor), (previous, torch.tensor([1]), source, source_padding, *first[1:]),
                        ["previous", "step", "source", "source_padding", *names], ["logits", *next_names],
                        {**source_axes, **axes, "previous": {0: "batch"},
                         **{name: {0: "batch", 2: "next_steps"} for name in next_names}}),
    }


class _Passes(FairseqDecoder):
    """The predictor's ONNX Runtime sessions; one call is one pass through its layers, which the bench counts."""

    def __init__(self, sessions: Dict[str, Callable], dictionary):
        super().__init__(dictionary)
        self.sessions = sessions

    def forward(self, graph: str, **tensors: Tensor) -> List[Tensor]:
        return self.sessions[graph](**tensors)


class OnnxStepPredictor(nn.Module):
    """``LatentPredictor``'s teacher-forced pass, ``step`` and ``reorder_cache`` over ONNX Runtime sessions
    of ``latent_predictor`` (teacher-forced), ``latent_start`` and ``latent_step``. The cache of a search
    lives in the generator's ``incremental_state`` under ``onnx``."""

    def __init__(self, sessions: Dict[str, Callable], layers: int, dictionary):
        super().__init__()
        self.decoder = _Passes(sessions, dictionary)
        self.names = cache_names(layers)
        self.self_count = 2 * layers

    def forward(self, code_vectors: Tensor, mask: Tensor, encoder_out) -> Tensor:
        """Teacher-forced logits (B, N, K), as ``LatentPredictor.forward``."""
        return self.decoder("latent_predictor", inputs=code_vectors.float(), mask=mask,
                            source=encoder_out["encoder_out"][0],
                            source_padding=encoder_out["encoder_padding_mask"][0])[0]

    def step(self, previous_vector: Optional[Tensor], step: int, encoder_out, incremental_state) -> Tensor:
        """Logits (B, K) of code ``step``, as ``LatentPredictor.step``."""
        source, padding = encoder_out["encoder_out"][0], encoder_out["encoder_padding_mask"][0]
        if previous_vector is None:
            logits, *cache = self.decoder("latent_start", source=source, source_padding=padding)
        else:
            cache = incremental_state["onnx"]["cache"]
            logits, *grown = self.decoder("latent_step", previous=previous_vector.float(), step=torch.tensor([step]),
                                          source=source, source_padding=padding, **dict(zip(self.names, cache)))
            cache = [*grown, *cache[self.self_count:]]
        incremental_state["onnx"] = {"cache": cache}
        return logits

    def reorder_cache(self, incremental_state, rows: Tensor) -> None:
        """Keep the cached steps of ``rows``, in that order (every cache tensor is batch-first).

        A reordering that keeps the batch size is taken to be beam search's, which keeps each sentence's
        beams among its own rows, whose source keys/values are the same: then only the self-attention cache
        moves, as fairseq's encoder-decoder attention skips its own reordering (a third of a beam step's
        bookkeeping at batch 1)."""
        state = incremental_state["onnx"]
        cache = state["cache"]
        moved = self.self_count if rows.numel() == cache[0].size(0) else len(cache)
        state["cache"] = [tensor.index_select(0, rows) for tensor in cache[:moved]] + cache[moved:]
