"""Size and optimisation presets for the AR teacher and the vqnat model (DESIGN.md section 5).

A preset is a list of fairseq flags; anything given after ``--`` on the command line comes later and
wins. Teacher and vqnat presets share width and depth so that latency comparisons are like for like.
"""
from typing import Dict, List

PRESETS = ("tiny", "small", "base", "big")

#: Teacher-only presets: a deep encoder and a one-layer decoder at a preset's width (Kasai et al. 2021, "Deep
#: Encoder, Shallow Decoder"), the AR model that competes with NAT on latency. name -> (width preset, encoder
#: layers, decoder layers): about the width preset's parameters and compute per sentence (small 3+3 -> 6+1,
#: base 6+6 -> 12+1), moved from the decoder, which runs once per output token, to the encoder, which runs once.
DEEP_SHALLOW = {"small-deep-shallow": ("small", 6, 1), "base-deep-shallow": ("base", 12, 1)}
TEACHER_PRESETS = PRESETS + tuple(DEEP_SHALLOW)

# width, ffn, heads, layers (encoder and each decoder stack)
_SIZES: Dict[str, tuple] = {
    "tiny": (32, 64, 2, 1),
    "small": (256, 1024, 4, 3),
    "base": (512, 2048, 8, 6),
    "big": (1024, 4096, 16, 6),
}

# learning rate, warm-up updates, max tokens per batch, default update budget, dropout
_OPTIMISATION: Dict[str, tuple] = {
    "tiny": (3e-3, 100, 2048, 600, 0.0),
    "small": (7e-4, 800, 4096, 4000, 0.1),
    "base": (7e-4, 4000, 8192, 300_000, 0.1),
    "big": (5e-4, 4000, 8192, 300_000, 0.3),
}


def _width_preset(preset: str, known=PRESETS) -> str:
    """The width preset whose size and optimisation ``preset`` shares (itself for all but deep-shallow)."""
    if preset not in known:
        raise ValueError(f"unknown preset {preset!r}; choose one of {', '.join(known)}")
    return DEEP_SHALLOW[preset][0] if preset in DEEP_SHALLOW else preset


def default_max_update(preset: str) -> int:
    """The update budget a preset trains for unless ``--max-update`` says otherwise."""
    return _OPTIMISATION[_width_preset(preset, TEACHER_PRESETS)][3]


# updates between mid-epoch checkpoints: about 20 minutes of CPU training for tiny/small, a few GPU minutes for
# base/big; an interrupted run resumes from the last one (fairseq alone saves only at epoch ends)
_SAVE_INTERVAL_UPDATES = {"tiny": 200, "small": 200, "base": 2000, "big": 2000}


def save_interval_updates(preset: str) -> int:
    """How often a run of this preset writes ``checkpoint_last.pt`` between epoch ends."""
    return _SAVE_INTERVAL_UPDATES[_width_preset(preset, TEACHER_PRESETS)]


def optimisation_args(preset: str) -> List[str]:
    """Adam with inverse-sqrt warm-up, as in the Transformer and the paper (PAPER.md B.10)."""
    lr, warmup, max_tokens, _, dropout = _OPTIMISATION[_width_preset(preset, TEACHER_PRESETS)]
    return [
        "--optimizer", "adam", "--adam-betas", "(0.9, 0.98)", "--clip-norm", "0.0",
        "--lr", str(lr), "--lr-scheduler", "inverse_sqrt", "--warmup-updates", str(warmup),
        "--warmup-init-lr", "1e-07", "--max-tokens", str(max_tokens), "--dropout", str(dropout),
    ]


def teacher_args(preset: str) -> List[str]:
    """fairseq ``transformer`` with the preset's width and depth (deep-shallow: its own depths), shared
    embeddings."""
    dim, ffn, heads, layers = _SIZES[_width_preset(preset, TEACHER_PRESETS)]
    depths = DEEP_SHALLOW[preset][1:] if preset in DEEP_SHALLOW else (layers, layers)
    size = []
    for side, depth in zip(("encoder", "decoder"), depths):
        size += [
            f"--{side}-embed-dim", str(dim), f"--{side}-ffn-embed-dim", str(ffn),
            f"--{side}-attention-heads", str(heads), f"--{side}-layers", str(depth),
        ]
    return [
        "--task", "translation", "--arch", "transformer", *size, "--share-all-embeddings",
        "--criterion", "label_smoothed_cross_entropy", "--label-smoothing", "0.1",
        *optimisation_args(preset),
    ]


def vqnat_args(preset: str) -> List[str]:
    """The plugin's task, architecture and criterion at the preset's size."""
    _width_preset(preset)
    return [
        "--task", "translation_vqnat", "--arch", f"vqnat_{preset}", "--criterion", "vqnat_loss",
        *optimisation_args(preset),
    ]
