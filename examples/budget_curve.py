"""Test BLEU against training budget, from several `vqnat bench` runs: does vqnat's ratio to an equally
trained AR model rise with the budget, and how fast?

    python examples/budget_curve.py --reference "AR greedy=ar-greedy-ct2-int8-*" \
        --series "vqnat one pass=vqnat-s1-ct2-int8-*,vqnat-s2-ct2-int8-*" \
        --series "vqnat latent beam 4=vqnat-*-lb4-*" \
        --out budget-curve.png bench-3000/bench.json bench-4000/bench.json bench-5000/bench.json

Each series is a label and shell-style patterns (comma-separated) over the bench rows' names; a row that
several runs benched (the same checkpoint and options) counts once. A row's budget is all the updates
behind it (a warm-started vqnat model: its teacher's and its own, as the bench records them). The right
panel divides each row's BLEU by the reference series' BLEU at the same budget (the mean where several
rows give it), so only equal budgets are compared. It prints the points as a Markdown table and writes
both panels as a PNG.
"""
import argparse
import fnmatch
import io
import json
import logging
import sys
from collections import defaultdict
from pathlib import Path
from statistics import mean
from typing import Dict, List, Sequence, Tuple

from vqnat.atomic import atomic_write_bytes

Points = Dict[str, List[Tuple[int, float]]]  # series label -> (budget, BLEU) of every row it matched

#: The targets for vqnat's BLEU as a share of the equal-budget AR model's (BENCHMARKS.md, "The targets").
TARGET_RATIOS = (0.90, 0.97)


def parse_series(spec: str) -> Tuple[str, List[str]]:
    """``LABEL=PATTERN[,PATTERN...]`` -> (label, patterns)."""
    label, equals, patterns = spec.partition("=")
    if not equals or not label or not patterns:
        raise argparse.ArgumentTypeError(f"expected LABEL=PATTERN[,PATTERN...], got {spec!r}")
    return label, patterns.split(",")


def budget(system: Dict) -> int:
    """All the training updates behind a bench row: its own and its warm start's."""
    updates = system.get("training_updates") or {}
    if updates.get("own") is None:
        raise ValueError(f"bench row {system['name']!r} records no training updates")
    return updates["own"] + (updates.get("warm_start") or 0)


def collect(benches: Sequence[Path], series: Sequence[Tuple[str, List[str]]]) -> Points:
    """Every row that one of a series' patterns matches, in every bench file, as (budget, BLEU) under its label."""
    points: Points = defaultdict(list)
    seen = set()
    for path in benches:
        try:
            systems = json.loads(path.read_text(encoding="utf-8"))["systems"]
            for label, patterns in series:
                for system in systems:
                    row = (label, system["checkpoint"], json.dumps(system.get("options"), sort_keys=True))
                    if row not in seen and any(fnmatch.fnmatchcase(system["name"], p) for p in patterns):
                        seen.add(row)
                        points[label].append((budget(system), system["bleu"]))
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise ValueError(f"{path}: not a vqnat bench.json ({error!r})") from None
    return dict(points)


def reference_bleu(points: Points, reference: str) -> Dict[int, float]:
    """The reference series' mean BLEU at each of its budgets."""
    by_budget: Dict[int, List[float]] = defaultdict(list)
    for updates, bleu in points.get(reference, []):
        by_budget[updates].append(bleu)
    return {updates: mean(bleus) for updates, bleus in by_budget.items()}


def ratios(points: Points, reference: str) -> Dict[str, List[Tuple[int, float]]]:
    """Each non-reference row's BLEU over the reference's mean BLEU at the same budget; rows whose budget the
    reference does not have are left out."""
    references = reference_bleu(points, reference)
    return {label: [(updates, bleu / references[updates]) for updates, bleu in rows if updates in references]
            for label, rows in points.items() if label != reference}


def markdown_table(points: Points, reference: str) -> str:
    references = reference_bleu(points, reference)
    lines = ["| series | updates | BLEU | x reference |", "|---|---:|---:|---:|"]
    for label, rows in points.items():
        for updates, bleu in sorted(rows):
            ratio = f"{bleu / references[updates]:.2f}" if updates in references else "-"
            lines.append(f"| {label} | {updates:,} | {bleu:.2f} | {ratio} |")
    return "\n".join(lines)


def mean_line(rows: Sequence[Tuple[int, float]]) -> Tuple[List[int], List[float]]:
    """The series' line: the mean at each budget, budgets in order."""
    grouped: Dict[int, List[float]] = defaultdict(list)
    for updates, value in rows:
        grouped[updates].append(value)
    budgets = sorted(grouped)
    return budgets, [mean(grouped[updates]) for updates in budgets]


def plot(points: Points, reference: str, path: Path, title: str) -> None:
    """BLEU against budget (left) and the share of the reference's BLEU (right), written atomically."""
    logging.getLogger("matplotlib").setLevel(logging.WARNING)  # the plugin's import leaves the root logger open
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(10, 4.2), dpi=120, layout="constrained")
    FigureCanvasAgg(figure)
    bleu_axes, ratio_axes = figure.subplots(1, 2)
    shares = ratios(points, reference)
    for index, (label, rows) in enumerate(points.items()):
        colour = f"C{index}"  # a series keeps its colour in both panels
        for axes, values in ((bleu_axes, rows), (ratio_axes, shares.get(label))):
            if values:
                axes.scatter(*zip(*values), color=colour, zorder=3)
                axes.plot(*mean_line(values), color=colour, label=label)
    for target in TARGET_RATIOS:
        ratio_axes.axhline(target, color="grey", linestyle=":", linewidth=1)
        ratio_axes.annotate(f"{target:.2f}x", (0, target), xycoords=("axes fraction", "data"), fontsize=8,
                            xytext=(3, 2), textcoords="offset points", color="grey")
    bleu_axes.set_ylabel("test sacreBLEU")
    ratio_axes.set_ylabel(f"x {reference} (same budget)")
    for axes in (bleu_axes, ratio_axes):
        axes.set_xlabel("training updates (a warm start's included)")
        axes.grid(True, alpha=0.3)
        axes.legend(fontsize=8, loc="lower right")
    figure.suptitle(title, fontsize=9)
    image = io.BytesIO()
    figure.savefig(image, format="png")
    atomic_write_bytes(path, image.getvalue())


def main(argv: Sequence[str] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("benches", nargs="+", type=Path, help="bench.json files of `vqnat bench` runs")
    parser.add_argument("--reference", type=parse_series, required=True,
                        help="LABEL=PATTERN[,PATTERN...]: the AR rows the ratios divide by")
    parser.add_argument("--series", type=parse_series, action="append", required=True,
                        help="LABEL=PATTERN[,PATTERN...]: rows to draw (repeat)")
    parser.add_argument("--out", type=Path, required=True, help="the PNG to write")
    parser.add_argument("--title", default="test BLEU against training budget")
    args = parser.parse_args(argv)
    series = [args.reference, *args.series]
    try:
        points = collect(args.benches, series)
    except ValueError as error:
        parser.exit(1, f"budget_curve.py: error: {error}\n")
    missing = [label for label, _ in series if label not in points]
    if missing:
        parser.exit(1, f"budget_curve.py: error: no bench row matches --series/--reference {missing[0]!r}\n")
    reference = args.reference[0]
    print(markdown_table(points, reference))
    plot(points, reference, args.out, args.title)
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
