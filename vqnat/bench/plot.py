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


#: Gap between a label and its point (pixels at the figure's dpi).
LABEL_OFFSET_PX = 6


def label_bottoms(spans: Sequence[Tuple[float, float]], anchor_heights: Sequence[float], height: float) -> List[float]:
    """Pixel heights of the labels' bottom edges, so that no two labels overlap.

    ``spans`` are the labels' horizontal extents (left, right), ``anchor_heights`` their points' heights and
    ``height`` the vertical room one label takes.
    Labels are placed bottom-up in order of their point's height, each centred on its point unless it would
    overlap one placed before it (their spans intersect): then it moves up just above that one. Points a run
    puts close together (the same model at neighbouring budgets) get stacked labels, not overprints.
    """
    placed: List[Tuple[float, float, float]] = []  # (left, right, bottom)
    bottoms = [0.0] * len(spans)
    for i in sorted(range(len(spans)), key=lambda i: anchor_heights[i]):
        left, right = spans[i]
        bottom = anchor_heights[i] - height / 2
        for other_left, other_right, other_bottom in sorted(placed, key=lambda box: box[2]):
            if left < other_right and other_left < right and abs(bottom - other_bottom) < height:
                bottom = other_bottom + height
        placed.append((left, right, bottom))
        bottoms[i] = bottom
    return bottoms


def plot_bleu_latency(systems: Sequence[Dict], path: Path, title: str) -> None:
    """Write the plot as a PNG at ``path`` (through a temporary file, so never half-written)."""
    figure = bleu_latency_figure(systems, title)
    image = io.BytesIO()
    figure.savefig(image, format="png")
    atomic_write_bytes(path, image.getvalue())


def bleu_latency_figure(systems: Sequence[Dict], title: str):
    """The matplotlib figure of ``plot_bleu_latency``, on an Agg canvas, labels placed."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    points = [(system["latency_ms"]["median"], system["bleu"]) for system in systems]
    figure = Figure(figsize=(6.4, 4.4), dpi=120)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    front = pareto_front(points)
    colours = ["tab:orange" if i in front else "tab:blue" for i in range(len(points))]
    axes.scatter([p[0] for p in points], [p[1] for p in points], color=colours, zorder=3)
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

    annotate_points(figure, axes, [system["name"] for system in systems], points)
    return figure


def annotate_points(figure, axes, names: Sequence[str], points: Sequence[Tuple[float, float]]) -> None:
    """Label each point right of it (left of it near the right edge), stacked by ``label_bottoms``; a label
    pushed off its point gets a thin leader line to it. Call after the axes' limits and layout are final."""
    renderer = figure.canvas.get_renderer()
    widths, heights = [], []
    for name, point in zip(names, points):  # measure each label once, then place them all
        probe = axes.annotate(name, point, fontsize=8)
        extent = probe.get_window_extent(renderer)
        widths.append(extent.width)
        heights.append(extent.height)
        probe.remove()
    height = max(heights) + 1
    anchors = [tuple(axes.transData.transform(point)) for point in points]
    right_edge = axes.get_window_extent(renderer).x1
    on_left = [x + LABEL_OFFSET_PX + width > right_edge for (x, _), width in zip(anchors, widths)]
    spans = [(x - LABEL_OFFSET_PX - width, x) if left else (x, x + LABEL_OFFSET_PX + width)
             for (x, _), width, left in zip(anchors, widths, on_left)]
    bottoms = label_bottoms(spans, [y for _, y in anchors], height)
    for name, point, (_, y), bottom, left in zip(names, points, anchors, bottoms, on_left):
        moved = bottom > y  # pushed up off its point: draw a leader to it
        axes.annotate(name, point, xytext=(-LABEL_OFFSET_PX if left else LABEL_OFFSET_PX, bottom - y),
                      textcoords="offset pixels", fontsize=8, va="bottom", ha="right" if left else "left",
                      arrowprops=dict(arrowstyle="-", color="0.6", linewidth=0.6, shrinkA=0, shrinkB=3,
                                      relpos=(1.0 if left else 0.0, 0.0)) if moved else None)
