"""``run_bench``: measure every system in its own fresh process, then write the table, JSON and plot.

One process per system (multiprocessing "spawn") keeps each system's peak memory its own and stops one
model's caches, threads or allocator state from changing the next one's timings. Systems run one after
another, never side by side, on the same machine, threads and test set.
"""
import logging
import multiprocessing
from pathlib import Path
from typing import Dict, Sequence, Union

from vqnat.bench.budget import training_updates
from vqnat.bench.compare import add_comparisons
from vqnat.bench.environment import describe_machine
from vqnat.bench.report import write_reports
from vqnat.bench.systems import BenchError, SystemSpec, parse_batch_sizes, parse_system

logger = logging.getLogger("vqnat.bench")

LOG_FORMAT = "%(asctime)s | %(levelname)s | %(name)s | %(message)s"
COMPARED = ("device", "threads", "torch", "fairseq")


def _measure_in_child(connection, spec: SystemSpec, settings: Dict, log_level: int) -> None:
    """Entry point of a system's process: send back its measurements or a one-line error."""
    logging.basicConfig(level=log_level, format=LOG_FORMAT, force=True)  # a fresh process: fairseq's format
    import torch

    from vqnat.bench.measure import measure_system

    torch.set_num_interop_threads(settings["threads"])  # possible once per process, before any parallel work

    from vqnat.translate import TranslationError

    try:
        connection.send({"result": measure_system(spec, **settings)})
    except Exception as error:  # reported to the parent as one line; the traceback goes to the debug log
        logger.debug("measuring %s failed", spec.name, exc_info=True)
        known = isinstance(error, (TranslationError, ValueError, KeyError, OSError))
        message = " ".join(str(error).split()) or type(error).__name__
        connection.send({"error": message if known else f"{type(error).__name__}: {message}"})
    finally:
        connection.close()


def measure_in_own_process(spec: SystemSpec, settings: Dict) -> Dict:
    """``measure_system`` for one system, in a fresh spawned process."""
    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    level = logging.getLogger().getEffectiveLevel()
    process = context.Process(target=_measure_in_child, args=(sender, spec, settings, level),
                              name=f"bench-{spec.name}")
    process.start()
    sender.close()
    try:
        message = receiver.recv()
    except EOFError:
        message = None
    finally:
        process.join()
        receiver.close()
    if message is None:
        raise BenchError(f"--system {spec.text!r}: its process died without a result "
                         f"(exit code {process.exitcode})")
    if "error" in message:
        raise BenchError(f"--system {spec.text!r}: {message['error']}")
    return message["result"]


def _convert_ahead(spec: SystemSpec, data: Path) -> None:
    """Convert a CTranslate2 system's checkpoint here (cached), so that its own process only decodes and
    its peak memory is not the converter's."""
    if spec.engine != "ct2" or spec.kind != "ar":  # a vqnat model is converted from the model it loads
        return
    from vqnat.engines import EngineError
    from vqnat.engines.ct2 import converted_model

    try:
        converted_model(Path(spec.checkpoint), data, spec.quantize)
    except EngineError as error:
        raise BenchError(f"--system {spec.text!r}: {error}")


def _check_request(specs: Sequence[SystemSpec], data: Path, threads: int, warmup: int) -> None:
    if not specs:
        raise BenchError("no --system given: name at least one NAME=CHECKPOINT")
    names = [spec.name for spec in specs]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise BenchError(f"--system names must be distinct; repeated: {', '.join(repeated)}")
    if not (data / "manifest.json").is_file():
        raise BenchError(f"--data {data}: not a data directory made by `vqnat preprocess` (no manifest.json)")
    if threads < 1 or warmup < 0:
        raise BenchError(f"--threads must be >= 1 and --warmup >= 0 (got {threads}, {warmup})")
    autoregressive = {spec.beam for spec in specs
                      if spec.kind == "ar" and spec.engine == "torch" and spec.quantize == "float32"}
    if 1 not in autoregressive or not any(beam > 1 for beam in autoregressive):
        logger.warning("no AR %s system: its speed-up column will be empty",
                       "greedy" if 1 not in autoregressive else "beam")


def run_bench(data: Union[str, Path], systems: Sequence[Union[str, SystemSpec]], subset: str = "test",
              batch_sizes: Union[str, Sequence[int]] = (1, 64), threads: int = 1, warmup: int = 10,
              out_dir: Union[str, Path] = "bench", cpu: bool = False) -> Dict:
    """Measure ``systems`` (``NAME=CHECKPOINT[,opt=value...]`` strings, or specs from ``parse_system``).

    Writes ``bench.md``, ``bench.json`` and ``bench.png`` into ``out_dir`` and returns the report that
    bench.json holds: ``settings``, ``environment``, ``references`` (names of the AR beam and greedy
    rows) and ``systems`` (one dict per system with every raw number). Raises BenchError (one line) on
    a bad request or a system that cannot be measured.
    """
    specs = [system if isinstance(system, SystemSpec) else parse_system(system) for system in systems]
    sizes = parse_batch_sizes(batch_sizes if isinstance(batch_sizes, str) else ",".join(map(str, batch_sizes)))
    data = Path(data).resolve()
    _check_request(specs, data, threads, warmup)
    settings = {"data": str(data), "subset": subset, "batch_sizes": list(sizes), "threads": threads,
                "warmup": warmup, "cpu": cpu}

    results = []
    for position, spec in enumerate(specs, 1):
        logger.info("system %d/%d: %s (%s)", position, len(specs), spec.name, spec.text)
        _convert_ahead(spec, data)
        budget = training_updates(spec.checkpoint)
        results.append({**measure_in_own_process(spec, settings), "training_updates": budget})
    environment = {**describe_machine(), **results[0]["environment"]}
    for result in results[1:]:
        differing = [key for key in COMPARED if result["environment"][key] != environment[key]]
        if differing:
            logger.warning("%s ran with a different %s than %s", result["name"], ", ".join(differing),
                           results[0]["name"])
    report = {"format_version": 1, "settings": settings, "environment": environment,
              "references": add_comparisons(results), "systems": results}
    paths = write_reports(report, Path(out_dir))
    logger.info("wrote %s", ", ".join(str(path) for path in paths.values()))
    return report
