"""Warm start a vqnat model from a trained AR teacher (Guo et al. 2020: a NAT initialised from an AR model).

The teacher is fairseq's ``transformer``: its source encoder is the same module as vqnat's, its decoder
layers are the same layers as vqnat's parallel decoder and latent predictor (which read vectors instead of
tokens). What is copied: the whole encoder and the shared embeddings (refused unless every tensor fits),
and each decoder layer into the same layer of the parallel decoder and of the latent predictor wherever
its shape matches. Everything vqnat adds (compressor, codebook, decompressor, output heads) starts fresh.
The teacher's update count is recorded in the model's settings (``warm_start_updates``): its training budget
is the teacher's plus its own, and an AR model compared with it deserves as many.
"""
import logging
from pathlib import Path
from typing import Any, Dict, List, Optional

import torch
from torch import Tensor

logger = logging.getLogger(__name__)


class WarmStartError(ValueError):
    """A teacher that cannot initialise this model; the message is one line naming the checkpoint."""


def teacher_key(name: str) -> Optional[str]:
    """The teacher tensor that initialises the vqnat tensor ``name`` (None: vqnat's own)."""
    if name.startswith("encoder."):
        return name
    if name == "embed_tokens.weight":
        return "encoder.embed_tokens.weight"
    if name.startswith("latent_predictor."):
        name = name[len("latent_predictor."):]
    if name.startswith(("decoder.layers.", "decoder.layer_norm.")):
        return name
    return None


def load_teacher_state(path: str) -> Dict:
    """The teacher checkpoint's state, read with vqnat's safe loader."""
    from vqnat.safe_load import CheckpointLoadError, load_checkpoint_state

    if not Path(path).is_file():
        raise WarmStartError(f"--init-from {path}: no such file")
    try:
        state = load_checkpoint_state(path)
    except CheckpointLoadError as error:
        raise WarmStartError(f"--init-from {error}") from None
    if not isinstance(state, dict):
        raise WarmStartError(f"--init-from {path}: not a fairseq checkpoint")
    return state


def model_setting(state: Dict, name: str) -> Any:
    """A model setting of a fairseq checkpoint: its ``cfg.model`` (a Namespace or a dict), else its legacy
    ``args``; None when neither says."""
    config = state.get("cfg") or {}
    model = config.get("model") if isinstance(config, dict) else None
    value = model.get(name) if isinstance(model, dict) else getattr(model, name, None)
    if value is None and state.get("args") is not None:
        value = getattr(state["args"], name, None)
    return value


def teacher_pre_norm(state: Dict) -> Optional[bool]:
    """Whether the teacher's layers normalise before each block (None when its config does not say)."""
    value = model_setting(state, "encoder_normalize_before")
    return None if value is None else bool(value)


def checkpoint_updates(state: Dict) -> Optional[int]:
    """The updates a fairseq checkpoint was trained for (None when its history does not say)."""
    history = state.get("optimizer_history")
    last = history[-1] if isinstance(history, list) and history else None
    updates = last.get("num_updates") if isinstance(last, dict) else None
    return None if updates is None else int(updates)


def warm_start(model: torch.nn.Module, path: str) -> List[str]:
    """Copy the teacher at ``path`` into ``model`` (a VQNATModel); returns the names of the copied tensors."""
    state = load_teacher_state(path)
    weights: Dict[str, Tensor] = state.get("model") or {}
    if "encoder.embed_tokens.weight" not in weights or "decoder.layers.0.fc1.weight" not in weights:
        raise WarmStartError(f"--init-from {path}: not a checkpoint of fairseq's transformer (no encoder/decoder)")
    pre_norm = teacher_pre_norm(state)
    if pre_norm is not None and pre_norm == bool(model.args.post_norm):
        placement = "before" if pre_norm else "after"
        flag = "drop --post-norm" if pre_norm else "add --post-norm"
        raise WarmStartError(f"--init-from {path}: the teacher normalises {placement} each block; {flag}")
    own = model.state_dict()
    teacher_embed = weights["encoder.embed_tokens.weight"]
    if teacher_embed.shape != own["embed_tokens.weight"].shape:
        (tv, td), (v, d) = teacher_embed.shape, own["embed_tokens.weight"].shape
        what = f"width {td} != {d}" if td != d else f"dictionary of {tv} symbols != {v}"
        raise WarmStartError(f"--init-from {path}: teacher {what} (same data directory and preset needed)")
    copied, loaded = [], {}
    for name, tensor in own.items():
        source = teacher_key(name)
        if source is None or source not in weights:
            continue
        if weights[source].shape != tensor.shape:
            if name.startswith("encoder."):
                raise WarmStartError(f"--init-from {path}: teacher encoder tensor {source} has shape "
                                     f"{tuple(weights[source].shape)}, the model's {tuple(tensor.shape)}")
            continue
        loaded[name] = weights[source].to(tensor.dtype)
        copied.append(name)
    model.load_state_dict(loaded, strict=False)
    model.args.warm_start_updates = checkpoint_updates(state)
    logger.info(f"warm start from {path}: copied {len(copied)} of {len(own)} tensors "
                f"(encoder, embeddings, decoder layers where shapes match)")
    return copied
