"""Measure one system: quality, latency at batch 1 (and by stage), throughput at larger batches, steps and memory.

vqnat systems are also decoded from their references' own codes, from random ones and from their own at
the reference's length (``oracle.py``), untimed, after the memory peak is read.

Runs inside the system's own process (see ``run.py``), so peak memory is this system's alone. Timing
covers ``task.inference_step`` only: batches are built and moved to the device before the clock starts,
hypotheses are read after it stops, and CUDA is synchronized on both sides when it is in use. Warm-up
runs are never timed. Decoder steps are counted by forward hooks during the batch-1 run; a hook is one
Python call per decoder pass, negligible next to the pass it counts.
"""
import itertools
import logging
import resource
import sys
import time
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from tqdm import tqdm

from vqnat.bench.oracle import oracle_quality
from vqnat.bench.quality import bleu_scores
from vqnat.bench.stages import STAGES, StageTimer
from vqnat.bench.steps import DecoderStepCounter
from vqnat.bench.systems import KINDS, SystemSpec

logger = logging.getLogger("vqnat.bench")


def peak_rss_mb() -> float:
    """This process's peak resident memory so far.

    Linux's VmHWM belongs to the current address space; ``ru_maxrss`` survives ``exec`` and would report
    the peak of the (possibly much larger) process that spawned this one.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def summarize_ms(seconds: Sequence[float]) -> Dict[str, object]:
    """Median, p90 and mean in milliseconds, plus every value."""
    values = np.asarray(seconds, dtype=np.float64) * 1000.0
    return {"median": float(np.median(values)), "p90": float(np.percentile(values, 90)),
            "mean": float(values.mean()), "per_sentence": values.tolist()}


class GenerationTimer:
    """One generator call on one batch, timed; hypotheses reduced to the best token ids per sentence."""

    def __init__(self, translator, generator):
        self.translator, self.generator = translator, generator
        self.cuda = translator.device.type == "cuda"
        self.eos = translator.task.target_dictionary.eos()

    def timed(self, sample: dict) -> Tuple[list, float]:
        """fairseq's hypotheses for ``sample`` and the seconds the generator took (CUDA synchronized)."""
        if self.cuda:
            torch.cuda.synchronize(self.translator.device)
        start = time.perf_counter()
        hypotheses = self.translator.task.inference_step(self.generator, self.translator.hub.models, sample)
        if self.cuda:
            torch.cuda.synchronize(self.translator.device)
        return hypotheses, time.perf_counter() - start

    def best(self, hypotheses: list) -> List[Optional[torch.Tensor]]:
        """Token ids (EOS removed, on the CPU) of each sentence's best hypothesis; None where there is none."""
        best = []
        for candidates in hypotheses:
            tokens = candidates[0]["tokens"].cpu() if candidates else None
            best.append(None if tokens is None else tokens[tokens != self.eos])
        return best

    def warm_up(self, samples: list, count: int) -> None:
        """Run ``count`` samples (cycling through them) untimed."""
        for sample in itertools.islice(itertools.cycle(samples), count):
            self.timed(sample)


def _check_complete(tokens: list, label: str) -> None:
    missing = [index for index, value in enumerate(tokens) if value is None]
    if missing:
        from vqnat.translate import TranslationError

        raise TranslationError(f"{label}: {len(missing)} of {len(tokens)} inputs got no hypothesis "
                               f"(first: input {missing[0]})")


def time_sentences(timer: GenerationTimer, sources: Sequence[torch.Tensor], warmup: int, label: str,
                   kind: str) -> Dict:
    """Batch 1 over every source: per-sentence latency, its stages, decoder steps and best tokens, in input
    order."""
    samples = list(timer.translator.batches(sources, 1))
    timer.warm_up(samples, warmup)
    size = len(sources)
    seconds, steps, tokens = [0.0] * size, [0] * size, [None] * size
    stages: Dict[str, List[float]] = {stage: [0.0] * size for stage in STAGES}
    by_stack: Dict[str, int] = {}
    model = timer.translator.model
    rescorer = getattr(timer.generator, "rescorer", None)
    counter = DecoderStepCounter(model, **({"rescorer": rescorer} if rescorer is not None else {}))
    stage_timer = StageTimer(model, kind, (lambda: torch.cuda.synchronize(timer.translator.device))
                             if timer.cuda else None, rescorer)
    try:
        for sample in tqdm(samples, desc=f"{label} batch 1", unit="sent", file=sys.stderr, mininterval=1.0):
            counter.reset()
            stage_timer.reset()
            hypotheses, elapsed = timer.timed(sample)
            index = int(sample["id"][0])
            seconds[index], steps[index], tokens[index] = elapsed, counter.total, timer.best(hypotheses)[0]
            for name, count in counter.counts.items():
                by_stack[name] = by_stack.get(name, 0) + count
            for stage, spent in stage_timer.seconds.items():
                stages[stage][index] = spent
    finally:
        counter.remove()
        stage_timer.remove()
    _check_complete(tokens, f"{label} batch 1")
    return {"seconds": seconds, "steps": steps, "tokens": tokens, "steps_by_stack": by_stack, "stages": stages}


def summarize_stages(seconds: Sequence[float], stages: Dict[str, List[float]]) -> Dict[str, Dict[str, object]]:
    """Mean milliseconds per sentence in each stage and in the rest of generation; they add up to the mean
    latency."""
    stages = dict(stages, rest=[total - sum(spent[index] for spent in stages.values())
                                for index, total in enumerate(seconds)])
    return {stage: {"mean": 1000.0 * float(np.mean(values)), "per_sentence": [1000.0 * value for value in values]}
            for stage, values in stages.items()}


def time_batches(timer: GenerationTimer, sources: Sequence[torch.Tensor], batch_size: int, warmup: int,
                 label: str) -> Tuple[Dict[str, float], list]:
    """Throughput at ``batch_size``: total timed seconds, sentences/s, target tokens/s; best tokens."""
    samples = list(timer.translator.batches(sources, batch_size))
    timer.warm_up(samples, min(warmup, 1))
    seconds, tokens = 0.0, [None] * len(sources)
    for sample in tqdm(samples, desc=f"{label} batch {batch_size}", unit="batch", file=sys.stderr,
                       mininterval=1.0):
        hypotheses, elapsed = timer.timed(sample)
        seconds += elapsed
        for index, best in zip(sample["id"].tolist(), timer.best(hypotheses)):
            tokens[index] = best
    _check_complete(tokens, f"{label} batch {batch_size}")
    return throughput_entry(batch_size, seconds, tokens), tokens


def throughput_entry(batch_size: int, seconds: float, tokens: Sequence[torch.Tensor]) -> Dict[str, float]:
    """Sentences and target tokens (EOS excluded) per second of timed generation."""
    produced = sum(int(value.numel()) for value in tokens)
    return {"batch_size": batch_size, "seconds": seconds, "sentences_per_s": len(tokens) / seconds,
            "tokens_per_s": produced / seconds}


def environment_of_process(device: torch.device) -> Dict[str, object]:
    """What this process runs on: device, its name, torch threads, library versions."""
    import fairseq

    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    return {"device": str(device), "device_name": name, "threads": torch.get_num_threads(),
            "interop_threads": torch.get_num_interop_threads(), "torch": torch.__version__,
            "fairseq": fairseq.__version__}


def measure_system(spec: SystemSpec, data: str, subset: str, batch_sizes: Sequence[int], threads: int,
                   warmup: int, cpu: bool = False) -> Dict[str, object]:
    """Every number of one system's row, plus the raw per-sentence values behind them."""
    from vqnat.engines import use_engine
    from vqnat.scoring import read_references, sacrebleu_score
    from vqnat.translate import Translator

    torch.set_num_threads(threads)
    baseline_mb = peak_rss_mb()
    start = time.perf_counter()
    translator = Translator(spec.checkpoint, data, cpu=cpu, **spec.generation)
    use_engine(translator, spec.checkpoint, spec.engine, spec.quantize)
    load_seconds = time.perf_counter() - start
    kind = KINDS.get(translator.hub.cfg.task._name, spec.kind)
    sources = translator.split_sources(subset)
    if not sources:
        raise ValueError(f"subset {subset!r} of {data} is empty")
    references = read_references(translator.raw_references(subset), len(sources))
    if translator.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(translator.device)
    timer = GenerationTimer(translator, translator.generator)
    logger.info("%s: %s model, %d sentences, generation %s", spec.name, kind, len(sources), translator.generation)
    with torch.inference_mode():
        single = time_sentences(timer, sources, warmup, spec.name, kind)
        throughput = []
        for batch_size in batch_sizes:
            if batch_size == 1:
                tokens = single["tokens"]
                entry = throughput_entry(1, sum(single["seconds"]), tokens)
            else:
                entry, tokens = time_batches(timer, sources, batch_size, warmup, spec.name)
            entry["bleu"] = sacrebleu_score([translator.detokenize(t) for t in tokens], references)[0]
            throughput.append(entry)
    memory = {"baseline_rss_mb": baseline_mb, "peak_rss_mb": peak_rss_mb(),
              "cuda_peak_mb": (torch.cuda.max_memory_allocated(translator.device) / 2**20
                               if translator.device.type == "cuda" else None)}
    oracle = oracle_quality(translator, subset, references) if kind == "vqnat" else None  # after the peak
    hypotheses = [translator.detokenize(tokens) for tokens in single["tokens"]]
    lengths = [int(tokens.numel()) for tokens in single["tokens"]]
    row = {
        "name": spec.name, "system": spec.text, "checkpoint": spec.checkpoint, "kind": kind,
        "engine": spec.engine, "quantize": spec.quantize,
        "options": spec.options, "generation": dict(translator.generation),
        "beam": int(translator.generation.get("beam", 1)) if kind == "ar" else None,
        "decoding_length": ({"scale": float(translator.generator.length_scale),
                             "exact": bool(translator.generator.exact_length)} if kind == "vqnat" else None),
        "latent_beam": int(translator.generator.latent_beam) if kind == "vqnat" else None,
        "sentences": len(sources),
        **bleu_scores(hypotheses, references, translator.target_lang),
        "latency_ms": summarize_ms(single["seconds"]),
        "latency_by_stage_ms": summarize_stages(single["seconds"], single["stages"]),
        "steps": {"mean": float(np.mean(single["steps"])), "per_sentence": single["steps"],
                  "by_stack": single["steps_by_stack"]},
        "target_tokens": {"mean": float(np.mean(lengths)), "per_sentence": lengths},
        "throughput": throughput,
        "memory": memory,
        "oracle_codes": oracle,
        "load_seconds": load_seconds,
        "environment": environment_of_process(translator.device),
    }
    if spec.engine == "ct2":
        import ctranslate2

        if kind == "ar":  # its passes run inside CTranslate2, where no hook counts or times them
            row["steps"] = row["latency_by_stage_ms"] = None
        row["environment"]["ctranslate2"] = ctranslate2.__version__
    if spec.engine == "onnx" or (spec.engine == "ct2" and kind == "vqnat"):
        import onnxruntime

        row["environment"]["onnxruntime"] = onnxruntime.__version__
    return row
