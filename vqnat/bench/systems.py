"""What ``--system NAME=CHECKPOINT[,opt=value...]`` means, checked before any model is loaded.

Every mistake in a system description (no name, a missing or foreign checkpoint, an unknown option, an
option that does not apply to the checkpoint's kind of model) is reported as one line naming the
``--system`` value, before a single system is measured.
"""
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, Tuple, Union

from vqnat.engines import ENGINES, QUANTIZATIONS, RESCORE_ENGINES, EngineError, check_engine


class BenchError(ValueError):
    """A bench request that cannot be run; the message is one line meant for the user."""


#: fairseq task name of a checkpoint -> kind of model.
KINDS = {"translation": "ar", "translation_vqnat": "vqnat", "translation_lev": "nat"}
KIND_NAMES = {"ar": "autoregressive", "vqnat": "vqnat", "nat": "fairseq NAT"}
LENGTH_RULES = ("paper", "predicted")


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError("must be >= 1")
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise ValueError("must be >= 0")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise ValueError("must be > 0")
    return value


def _boolean(text: str) -> bool:
    if text.lower() not in ("true", "false", "yes", "no", "1", "0"):
        raise ValueError("must be true or false")
    return text.lower() in ("true", "yes", "1")


def _existing_file(text: str) -> str:
    if not Path(text).is_file():
        raise ValueError("no such file")
    return text


def _one_of(*values: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if text not in values:
            raise ValueError(f"must be one of {', '.join(values)}")
        return text
    return parse


def _length_rule(text: str) -> str:
    if text not in LENGTH_RULES:
        raise ValueError(f"must be one of {', '.join(LENGTH_RULES)}")
    return text


@dataclass(frozen=True)
class Option:
    """One ``opt=value`` of a system: the generation setting it sets (one name, or one per kind), its parser,
    the kinds it fits."""

    setting: Union[str, Dict[str, str]]
    parse: Callable[[str], object]
    kinds: Tuple[str, ...]

    def setting_for(self, kind: str) -> str:
        return self.setting if isinstance(self.setting, str) else self.setting[kind]


#: Options a --system value may carry (``-`` and ``_`` are interchangeable in their names).
OPTIONS: Dict[str, Option] = {
    "beam": Option("beam", _positive_int, ("ar",)),
    "lenpen": Option("lenpen", float, ("ar",)),
    "latent_beam": Option("latent_beam", _positive_int, ("vqnat",)),
    "length_rule": Option("length_rule", _length_rule, ("vqnat",)),
    "length_scale": Option("length_scale", _positive_float, ("vqnat",)),
    "exact_length": Option("exact_length", _boolean, ("vqnat",)),
    "iterations": Option("iter_decode_max_iter", _non_negative_int, ("nat",)),
    "iter_decode_max_iter": Option("iter_decode_max_iter", _non_negative_int, ("nat",)),
    "length_beam": Option({"nat": "iter_decode_with_beam", "vqnat": "length_beam"}, _positive_int, ("nat", "vqnat")),
    "rescore": Option("rescore", _existing_file, ("vqnat",)),
    "rescore_engine": Option("rescore_engine", _one_of(*RESCORE_ENGINES), ("vqnat",)),
    "rescore_quantize": Option("rescore_quantize", _one_of(*QUANTIZATIONS), ("vqnat",)),
    "latent_iterations": Option("latent_iterations", _positive_int, ("vqnat",)),
    "latent_samples": Option("latent_samples", _positive_int, ("vqnat",)),
    "latent_temperature": Option("latent_temperature", _positive_float, ("vqnat",)),
    "engine": Option("engine", _one_of(*ENGINES), ("ar", "vqnat", "nat")),
    "quantize": Option("quantize", _one_of(*QUANTIZATIONS), ("ar", "vqnat", "nat")),
}
#: Options that choose how the model runs (``vqnat.engines``) rather than a generation setting.
ENGINE_OPTIONS = ("engine", "quantize")


@dataclass
class SystemSpec:
    """A system to measure: its name in the table, its checkpoint and its generation settings."""

    name: str
    checkpoint: str
    options: Dict[str, object] = field(default_factory=dict)
    text: str = ""
    kind: str = ""

    @property
    def generation(self) -> Dict[str, object]:
        """The options as fairseq generation settings (``iterations`` -> ``iter_decode_max_iter``)."""
        return {OPTIONS[name].setting_for(self.kind): value for name, value in self.options.items()
                if name not in ENGINE_OPTIONS}

    @property
    def engine(self) -> str:
        return str(self.options.get("engine", "torch"))

    @property
    def quantize(self) -> str:
        return str(self.options.get("quantize", "float32"))

    @property
    def beam(self) -> int:
        """Beam size of an AR system (1 = greedy); 0 for other kinds."""
        return int(self.options.get("beam", 1)) if self.kind == "ar" else 0


def parse_system(text: str) -> SystemSpec:
    """``NAME=CHECKPOINT[,opt=value...]`` -> SystemSpec; the checkpoint must exist and be readable.

    The name ends at the first ``=``, the checkpoint at the first ``,`` (so its path cannot hold commas).
    """
    def fail(reason: str) -> BenchError:
        return BenchError(f"--system {text!r}: {reason}")

    name, sep, rest = text.partition("=")
    name = name.strip()
    if not sep or not name or not rest:
        raise fail("expected NAME=CHECKPOINT[,opt=value...]")
    checkpoint, *pairs = rest.split(",")
    options: Dict[str, object] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip().replace("-", "_")
        if not sep:
            raise fail(f"option {pair!r} is not opt=value")
        if key not in OPTIONS:
            raise fail(f"unknown option {key!r} (known: {', '.join(OPTIONS)})")
        try:
            options[key] = OPTIONS[key].parse(value.strip())
        except ValueError as error:
            raise fail(f"bad value {value!r} for {key}: {error}")
    if not Path(checkpoint).is_file():
        raise fail(f"checkpoint not found: {checkpoint}")
    spec = SystemSpec(name=name, checkpoint=checkpoint, options=options, text=text)
    try:
        spec.kind = checkpoint_kind(checkpoint)
    except BenchError as error:
        raise fail(str(error))
    for key in options:
        if spec.kind not in OPTIONS[key].kinds:
            raise fail(f"option {key!r} does not apply to {KIND_NAMES[spec.kind]} models")
    if ("rescore_engine" in options or "rescore_quantize" in options) and "rescore" not in options:
        raise fail("rescore-engine and rescore-quantize set how the rescoring teacher runs: add rescore=TEACHER.pt")
    try:
        check_engine(spec.engine, spec.kind)
        check_engine(str(options.get("rescore_engine", "torch")), "ar")
    except EngineError as error:
        raise fail(str(error))
    return spec


def checkpoint_kind(checkpoint: str) -> str:
    """``ar``, ``vqnat`` or ``nat``, from the task a fairseq checkpoint was trained with.

    The file is memory-mapped, so reading its config does not load the weights into memory.
    """
    from vqnat.safe_load import CheckpointLoadError, load_checkpoint_state

    try:
        state = load_checkpoint_state(checkpoint)
    except CheckpointLoadError as error:
        raise BenchError(str(error))
    task = None
    if isinstance(state, dict):
        config = state.get("cfg") or {}
        task = (config.get("task") or {}).get("_name") if isinstance(config, dict) else None
        task = task or getattr(state.get("args"), "task", None)
    if task not in KINDS:
        raise BenchError(f"{checkpoint} is not a translation checkpoint this bench knows (task: {task}; "
                         f"known: {', '.join(KINDS)})")
    return KINDS[task]


def parse_batch_sizes(text: str) -> Tuple[int, ...]:
    """``"1,64"`` -> (1, 64): distinct positive sizes in the given order."""
    try:
        sizes = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise BenchError(f"--batch-sizes {text!r}: expected comma-separated integers such as 1,64")
    if not sizes or min(sizes) < 1 or len(set(sizes)) != len(sizes):
        raise BenchError(f"--batch-sizes {text!r}: sizes must be distinct and >= 1")
    return sizes
