"""Count the sequential decoder passes a model really makes, with forward hooks.

A "decoder stack" is every fairseq decoder in the model that is not inside another one (attention
modules, which fairseq also derives from its decoder class, excepted): the AR Transformer's decoder (one
pass per output token), a NAT model's decoder (one pass per refinement iteration), and vqnat's latent
predictor and parallel decoder. Each pass through a stack runs its first layer exactly once, so a
pre-hook on that layer counts passes, whatever method the generator calls (fairseq's beam search calls
``decoder.forward`` directly, which module hooks on the decoder itself would miss).
"""
import functools
from typing import Dict, List, Tuple

from torch import nn


def decoder_stacks(model: nn.Module) -> List[Tuple[str, nn.Module]]:
    """(name, module) of every outermost fairseq decoder inside ``model``, in registration order."""
    from fairseq.models import FairseqDecoder
    from fairseq.modules import MultiheadAttention

    stacks: List[Tuple[str, nn.Module]] = []
    for name, module in model.named_modules():
        # fairseq's attention is a FairseqIncrementalDecoder too (for its cache), also in encoders
        is_stack = isinstance(module, FairseqDecoder) and not isinstance(module, MultiheadAttention)
        inside_another = any(name.startswith(outer + ".") for outer, _ in stacks)
        if is_stack and not inside_another:
            stacks.append((name, module))
    return stacks


def _probe(stack: nn.Module) -> nn.Module:
    """The module that runs once per pass: the first layer, or the stack itself when it has none."""
    layers = getattr(stack, "layers", None)
    return layers[0] if isinstance(layers, nn.ModuleList) and len(layers) else stack


class DecoderStepCounter:
    """Counts passes through each decoder stack of a model until ``remove`` is called."""

    def __init__(self, model: nn.Module, **others):
        """Count ``model``'s stacks, and those of ``others`` (e.g. a rescoring teacher) under their names; an
        ``other`` that is not a PyTorch model (the teacher in CTranslate2) counts one pass per ``score`` call."""
        stacks = decoder_stacks(model)
        scorers = {}
        for prefix, other in others.items():
            if isinstance(other, nn.Module):
                stacks += [(f"{prefix}.{name}", stack) for name, stack in decoder_stacks(other)]
            else:
                scorers[prefix] = other
        if not stacks:
            raise ValueError(f"{type(model).__name__} has no fairseq decoder to count steps of")
        self.counts: Dict[str, int] = {name: 0 for name in [name for name, _ in stacks] + list(scorers)}
        self._handles = [_probe(stack).register_forward_pre_hook(self._hook(name)) for name, stack in stacks]
        self._scorers = [(scorer, scorer.score) for scorer in scorers.values()]
        for name, scorer in scorers.items():
            scorer.score = self._counted(name, scorer.score)

    def _hook(self, name: str):
        def count(module, inputs):
            # a stack whose call runs several passes in another engine (CTranslate2's search) says how many
            self.counts[name] += module.passes_per_call(*inputs) if hasattr(module, "passes_per_call") else 1
        return count

    def _counted(self, name: str, score):
        @functools.wraps(score)
        def counted(*args, **kwargs):
            self.counts[name] += 1
            return score(*args, **kwargs)
        return counted

    def reset(self) -> None:
        for name in self.counts:
            self.counts[name] = 0

    @property
    def total(self) -> int:
        """Sequential decoder passes since the last reset, over all stacks."""
        return sum(self.counts.values())

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []
        for scorer, score in self._scorers:
            scorer.score = score
        self._scorers = []
