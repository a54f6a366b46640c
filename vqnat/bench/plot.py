"""BLEU against latency, one labelled point per system, with the Pareto front drawn through the best."""
import io
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

from vqnat.atomic import atomic_write_bytes


def pareto_front(points: Sequence[Tuple[float, float]]) -> List[int]:
    """Indices of the (latency, BLEU) points that no other point beats, fastest first.

    A point is beaten by one that is at least as fast and at least as good, and strictly better in one.
    """
    def beaten(i: int) -> bool:
        latency, bleu = points[i]
        return any(other_latency <= latency and other_bleu >= bleu and (other_latency, other_bleu) != (latency, bleu)
                   for other_latency, other_bleu in points)

    return sorted((i for i in range(len(points)) if not beaten(i)), key=lambda i: points[i])


def plot_bleu_latency(systems: Sequence[Dict], path: Path, title: str) -> None:
    """Write the plot as a PNG at ``path`` (through a temporary file, so never half-written)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    points = [(system["latency_ms"]["median"], system["bleu"]) for system in systems]
    figure = Figure(figsize=(6.4, 4.4), dpi=120)
    axes = figure.add_subplot()
    front = pareto_front(points)
    colours = ["tab:orange" if i in front else "tab:blue" for i in range(len(points))]
    axes.scatter([p[0] for p in points], [p[1] for p in points], color=colours, zorder=3)
    by_latency = sorted(range(len(points)), key=lambda i: points[i])
    for rank, i in enumerate(by_latency):  # alternate label heights so that neighbours do not overlap
        axes.annotate(systems[i]["name"], points[i], textcoords="offset points",
                      xytext=(5, 5 if rank % 2 == 0 else -12), fontsize=8)
    axes.plot([points[i][0] for i in front], [points[i][1] for i in front], color="tab:orange", linestyle="--",
              drawstyle="steps-post", label="Pareto front", zorder=2)
    if max(p[0] for p in points) > 10 * min(p[0] for p in points):
        from matplotlib.ticker import FuncFormatter

        axes.set_xscale("log")
        axes.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        axes.xaxis.set_minor_formatter(FuncFormatter(lambda value, _: f"{value:g}" if f"{value:g}"[0] in "25" else ""))
    axes.margins(x=0.08, y=0.12)
    axes.set_xlabel("latency per sentence, median (ms)")
    axes.set_ylabel("sacreBLEU")
    axes.set_title(title, fontsize=9)
    axes.grid(True, alpha=0.3)
    axes.legend(loc="lower right", fontsize=8)
    figure.tight_layout()

    image = io.BytesIO()
    figure.savefig(image, format="png")
    atomic_write_bytes(path, image.getvalue())
