"""Inference engines for a loaded ``Translator``: PyTorch as trained (``torch``), optionally with int8
Linear layers, CTranslate2 (``ct2``: AR checkpoints, and the latent search of vqnat checkpoints beside ONNX
Runtime) or ONNX Runtime (``onnx``: vqnat checkpoints), the last two optional extras.

Every engine keeps the Translator's batching, tokenization and hypotheses, so its outputs are scored and
timed like any other.
"""
from pathlib import Path

from vqnat.translate import TranslationError

ENGINES = ("torch", "ct2", "onnx")
QUANTIZATIONS = ("float32", "int8")
#: The kinds of model (``vqnat.bench.systems.KINDS``) each engine runs.
ENGINE_KINDS = {"torch": ("ar", "vqnat", "nat"), "ct2": ("ar", "vqnat"), "onnx": ("vqnat",)}
#: Engines a teacher that rescores vqnat's candidates can run in: those that run AR models.
RESCORE_ENGINES = tuple(engine for engine in ENGINES if "ar" in ENGINE_KINDS[engine])


class EngineError(TranslationError):
    """An engine that cannot run this checkpoint here (not installed, wrong kind of model, wrong device)."""


def check_engine(engine: str, kind: str) -> None:
    """Raise EngineError (one line) when ``engine`` cannot run a model of ``kind`` or is not installed."""
    if kind not in ENGINE_KINDS[engine]:
        raise EngineError(f"engine {engine} runs {' and '.join(ENGINE_KINDS[engine])} models only, not {kind}")
    if engine == "ct2":
        from vqnat.engines.ct2 import import_ctranslate2

        import_ctranslate2()
    if engine == "onnx" or (engine == "ct2" and kind == "vqnat"):  # vqnat in ct2: its other networks in onnx
        from vqnat.engines.onnx import import_onnxruntime

        import_onnxruntime()


def use_engine(translator, checkpoint: Path, engine: str = "torch", quantize: str = "float32") -> None:
    """Make ``translator`` (loaded from ``checkpoint``) generate with ``engine`` at ``quantize`` precision.

    ``torch`` at float32 leaves it as loaded. CTranslate2 and ONNX Runtime run with as many threads as torch
    has now.
    """
    from vqnat.bench.systems import KINDS

    kind = KINDS.get(translator.task.cfg._name, translator.task.cfg._name)
    check_engine(engine, kind)
    if engine == "ct2" and kind == "vqnat":
        from vqnat.engines.ct2_latent import use_ctranslate2_latent_search

        use_ctranslate2_latent_search(translator.model, Path(checkpoint), quantize)
    elif engine == "ct2":
        from vqnat.engines.ct2 import ct2_generator

        translator.generator = ct2_generator(translator, Path(checkpoint), quantize)
    elif engine == "onnx":
        from vqnat.engines.onnx import use_onnxruntime

        use_onnxruntime(translator.model, Path(checkpoint), quantize)
    elif quantize == "int8":
        from vqnat.engines.quantize import quantize_linear_int8_

        if translator.device.type != "cpu":
            raise EngineError("quantize=int8 with engine torch runs on the CPU only: add --cpu")
        quantize_linear_int8_(translator.model)
