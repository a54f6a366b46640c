"""Training curves from fairseq's logs: loss, validation loss and codebook health against updates and time.

fairseq's ``simple`` log format writes one ``train_inner`` line every ``--log-interval`` updates
(``key=value, ...``) and one ``valid`` line per validation (``| key value |``); both carry
``num_updates`` and a timestamp. Nothing else is needed to plot a run, during or after training.
"""
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Dict, List, Mapping, Optional

_STAMP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),\d+ \| ")
_RECORD = re.compile(r"\| \w+ \| (?P<kind>train_inner|valid) \| (?P<rest>.*)$")
_INNER_PAIR = re.compile(r"(\w+)=([-+0-9.eE]+|nan|inf)")
_VALID_PAIR = re.compile(r"\| (\w+) ([-+0-9.eE]+|nan|inf)(?= \||$)")


class CurveError(ValueError):
    """A log that holds no training record."""


@dataclass
class Curve:
    """The records of one run: each a mapping of metric -> value, plus ``minutes`` since the log began."""

    train: List[Dict[str, float]] = field(default_factory=list)
    valid: List[Dict[str, float]] = field(default_factory=list)


def parse_fairseq_log(path: Path) -> Curve:
    """Every ``train_inner`` and ``valid`` record of a fairseq log (``--log-format simple``)."""
    curve, start = Curve(), None
    with open(path, encoding="utf-8", errors="replace") as log:
        for line in log:
            timestamp = _STAMP.match(line)
            if timestamp is None:
                continue
            stamp = datetime.strptime(timestamp[1], "%Y-%m-%d %H:%M:%S")
            start = start or stamp  # the log's first line: minutes count from the start of the run
            match = _RECORD.search(line.rstrip("\n"))
            if match is None:
                continue
            pairs = _INNER_PAIR.findall(match["rest"]) if match["kind"] == "train_inner" \
                else _VALID_PAIR.findall(match["rest"])
            record = {key: float(value) for key, value in pairs}
            if "num_updates" not in record:
                continue
            record["minutes"] = (stamp - start).total_seconds() / 60
            (curve.train if match["kind"] == "train_inner" else curve.valid).append(record)
    if not curve.train and not curve.valid:
        raise CurveError(f"{path}: no train_inner or valid lines (train with --log-format simple)")
    return curve


def _series(records: List[Dict[str, float]], x: str, y: str):
    points = [(record[x], record[y]) for record in records if y in record]
    return [p[0] for p in points], [p[1] for p in points]


def plot_curves(curves: Mapping[str, Curve], out_png: Path, x: str = "num_updates",
                title: Optional[str] = None) -> Path:
    """One PNG: training and validation NLL, and codebook usage where the runs report it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    has_codebook = any("codebook_usage" in record for curve in curves.values() for record in curve.train)
    panels = 3 if has_codebook else 2
    figure, axes = plt.subplots(1, panels, figsize=(5 * panels, 4))
    for name, curve in curves.items():
        axes[0].plot(*_series(curve.train, x, "nll_loss"), label=name)
        axes[1].plot(*_series(curve.valid, x, "nll_loss"), marker="o", label=name)
        usage = _series(curve.train, x, "codebook_usage")
        if usage[0]:  # AR runs have no codebook: no empty legend entry
            axes[2].plot(*usage, label=name)
    labels = ["training NLL (bits/token)", "validation NLL (bits/token)", "share of codes used"]
    for axis, label in zip(axes, labels):
        axis.set_xlabel("updates" if x == "num_updates" else "minutes")
        axis.set_ylabel(label)
        axis.grid(alpha=0.3)
        axis.legend(fontsize="small")
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    out_png = Path(out_png)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    temporary = out_png.with_name(out_png.name + ".tmp.png")
    figure.savefig(temporary, dpi=120)
    plt.close(figure)
    temporary.replace(out_png)
    return out_png
