"""The demo's closing summary: the bench's headline numbers and a few test translations side by side."""
import shutil
from typing import Dict, List, Sequence

from vqnat.bench.budget import describe_updates


def bench_lines(report: Dict) -> List[str]:
    """Training updates, BLEU, batch-1 latency and speed-ups of every system in ``bench.json``, aligned for a
    terminal."""
    def speedup(value) -> str:
        return "-" if value is None else f"{value:.2f}x"

    header = ["system", "updates", "BLEU", "latency (ms, batch 1)", "speed-up vs beam", "vs greedy"]
    rows = [[system["name"], describe_updates(system.get("training_updates")) or "-", f"{system['bleu']:.2f}",
             f"{system['latency_ms']['median']:.1f}", speedup(system["speedup_vs_beam"]),
             speedup(system["speedup_vs_greedy"])]
            for system in report["systems"]]
    widths = [max(len(row[column]) for row in [header, *rows]) for column in range(len(header))]
    return ["  " + "  ".join(cell.ljust(width) if column == 0 else cell.rjust(width)
                             for column, (cell, width) in enumerate(zip(row, widths)))
            for row in [header, *rows]]


def _fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[:width - 4] + " ..."


def example_lines(sources: Sequence[str], references: Sequence[str], translations: Dict[str, Sequence[str]],
                  count: int = 3) -> List[str]:
    """The ``count`` shortest test sentences of six words or more: source, reference and every system's output."""
    longer = [index for index, source in enumerate(sources) if len(source.split()) >= 6]
    chosen = sorted(longer or range(len(sources)), key=lambda index: (len(sources[index]), index))[:count]
    labels = ["source", "reference", *translations]
    label_width = max(map(len, labels))
    width = max(40, shutil.get_terminal_size().columns - label_width - 4)
    lines: List[str] = []
    for index in chosen:
        texts = [sources[index], references[index], *(outputs[index] for outputs in translations.values())]
        lines += [f"  {label:<{label_width}}  {_fit(text, width)}" for label, text in zip(labels, texts)] + [""]
    return lines[:-1]
