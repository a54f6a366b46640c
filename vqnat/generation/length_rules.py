"""Lengths: how long each translation may be (so how many latents to decode), and what training covers.

Decoding (``--length-rule``):
``predicted``: the model's target-length classifier predicts T^ from the source; ceil(T^ / 2^n_c) latents
    are decoded and the translation ends at T^ tokens at the latest.
``paper``: the target length is fixed at 2 x the source length S (EOS included), rounded up to a multiple of
    2^n_c: 2S / 2^n_c latents (PAPER C.1).
Either way the translation ends at the decoder's first EOS if that comes earlier, unless the length is exact
(``--exact-length``: EOS is not allowed before it, as in Mask-Predict). ``--length-scale S`` multiplies the
rule's length by S: a model distilled from a teacher that translates short, or whose decoder ends early,
translates short too, and the valid split can choose S as ``teacher-decode`` chooses its length penalty.

Training (``--train-padding``):
``paper``: the autoencoder covers roundup(max(T, 2S)) target positions, those past the target reading as
    padding (PAPER B.3), so the latent predictor and decoder also learn what follows a sentence.
``none``: it covers the target only (about half the positions: cheaper). A model trained so decodes badly
    with ``--length-rule paper``, which asks it for latents past the sentence.
"""
from typing import List, Optional, Tuple

from torch import Tensor

from vqnat.models.conv_autoencoder import latent_count

LENGTH_RULES: List[str] = ["predicted", "paper"]
TRAIN_PADDINGS: List[str] = ["paper", "none"]


def paper_target_lengths(src_lengths: Tensor, compress_steps: int) -> Tensor:
    """The paper's decoded length: 2 x the source length, rounded up to a multiple of 2^n_c."""
    return latent_count(2 * src_lengths, compress_steps) * 2**compress_steps


def autoencoder_lengths(padding: str, src_lengths: Tensor, compress_steps: int) -> Optional[Tensor]:
    """Target positions the compressor covers in training with ``padding`` (None: the target itself)."""
    if padding == "paper":
        return paper_target_lengths(src_lengths, compress_steps)
    if padding == "none":
        return None
    raise ValueError(f"unknown --train-padding {padding!r}; choose one of {', '.join(TRAIN_PADDINGS)}")


def decoding_lengths(rule: str, model, encoder_out, src_lengths: Tensor,
                     scale: float = 1.0) -> Tuple[Tensor, Tensor]:
    """(B,) latents to generate and (B,) longest translation (tokens, EOS included) under ``rule``, that length
    times ``scale`` (rounded, at least 1)."""
    if rule == "paper":
        lengths = paper_target_lengths(src_lengths, model.compress_steps)
    elif rule == "predicted":
        lengths = model.length_predictor.predict(model.length_predictor(encoder_out), src_lengths)
    else:
        raise ValueError(f"unknown --length-rule {rule!r}; choose one of {', '.join(LENGTH_RULES)}")
    if scale != 1.0:
        lengths = (lengths.double() * scale).round().long().clamp_min(1)
    return latent_count(lengths, model.compress_steps), lengths


def candidate_lengths(lengths: Tensor, beam: int) -> Tensor:
    """(B,) lengths -> (B, beam): each length, then one shorter, one longer, two shorter, ... (at least 1)."""
    offsets = [0] + [sign * step for step in range(1, beam) for sign in (-1, 1)]
    offsets = lengths.new_tensor(offsets[:beam])
    return (lengths[:, None] + offsets[None, :]).clamp_min(1)
