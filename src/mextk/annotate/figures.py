"""Figures of the agreement report (matplotlib, PNG): for the ``/report`` page and ``agreement --plots DIR``.

* ``confusion``: the compared pair's confusion matrix (CMED: stage 1 rows, stage 2 columns).
* ``raters_STEP``: each rater's agreement with the final label at a multi-rater step.
* ``aus_STEP``: AU reliability per action unit.
* ``keyframes_STEP``: mean absolute difference from the combined key frame, in ms.

Each figure is drawn on its own ``Figure`` (no global pyplot state), so the
server can draw them from several threads.
"""

from __future__ import annotations

import io
from typing import Any


def report_figures(report: dict[str, Any]) -> dict[str, bytes]:
    """PNG images of the report, by name (a report without the data for a figure has no such figure)."""
    out: dict[str, bytes] = {}
    if report.get("steps") and report.get("n"):
        out["confusion"] = _confusion(report)
    for step, m in report.get("multi", {}).items():
        if m["per_rater"]:
            names = list(m["per_rater"])
            values = [m["per_rater"][r]["agreement"] for r in names]
            out[f"raters_{step}"] = _bars(names, values, f"{step}: agreement with the final label", "share", 1.0)
    for step, a in report.get("au_reliability", {}).items():
        if a["per_au"]:
            names = list(a["per_au"])
            out[f"aus_{step}"] = _bars(
                names, [a["per_au"][x] for x in names], f"{step}: AU reliability", "2|both| / (|1| + |2|)", 1.0
            )
    for step, k in report.get("keyframes", {}).items():
        if k.get("n_items"):
            names = ["onset", "apex", "offset"]
            out[f"keyframes_{step}"] = _bars(names, [k[n]["mad_ms"] for n in names],
                                             f"{step}: distance from the combined frame", "ms", None)  # fmt: skip
    return out


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return buf.getvalue()


def _confusion(report: dict[str, Any]) -> bytes:
    import numpy as np
    from matplotlib.figure import Figure

    m = np.array(report["confusion"])
    classes = report["classes"]
    fig = Figure(figsize=(0.6 * len(classes) + 2, 0.6 * len(classes) + 1.5))
    ax = fig.add_subplot()
    ax.imshow(m, cmap="Blues")
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    ax.set_ylabel(report["steps"][0])
    ax.set_xlabel(report["steps"][1])
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            if m[i, j]:
                ax.text(
                    j, i, str(m[i, j]), ha="center", va="center", color="white" if m[i, j] > m.max() / 2 else "black"
                )
    return _png(fig)


def _bars(names: list[str], values: list[float], title: str, ylabel: str, top: float | None) -> bytes:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(max(3.0, 0.5 * len(names) + 1.5), 2.8))
    ax = fig.add_subplot()
    ax.bar(range(len(names)), [0 if v is None or v != v else v for v in values], color="#4a78b5")
    ax.set_xticks(
        range(len(names)), names, rotation=45 if len(names) > 6 else 0, ha="right" if len(names) > 6 else "center"
    )
    ax.set_title(title, fontsize=10)
    ax.set_ylabel(ylabel)
    if top is not None:
        ax.set_ylim(0, top)
    return _png(fig)
