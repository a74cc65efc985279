"""Agreement between the labellers of a project: Cohen's kappa, the confusion matrix, acceptance per step.

Cohen's kappa (Cohen 1960) between the classes given at two steps on the same
segments: ``kappa = (p_o - p_e) / (1 - p_e)``, with ``p_o`` the share of
segments on which they agree and ``p_e`` the agreement expected by chance from
each step's class frequencies.  When both steps used a single class and agree
(``p_e = 1``), kappa is 1 by convention here (scikit-learn returns ``nan``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import select


def cohen_kappa(a: list[str], b: list[str], classes: list[str] | None = None) -> float:
    """Cohen's kappa of two raters' labels on the same items.

    Examples
    --------
    >>> round(cohen_kappa(["x", "x", "y", "y"], ["x", "y", "y", "y"]), 4)
    0.5
    """
    if len(a) != len(b):
        raise ValueError(f"kappa needs the same items rated twice, got {len(a)} and {len(b)} labels")
    if not a:
        return float("nan")
    labels = classes or sorted(set(a) | set(b))
    m = confusion(a, b, labels)
    n = m.sum()
    p_o = np.trace(m) / n
    p_e = float((m.sum(axis=1) * m.sum(axis=0)).sum()) / n**2
    return 1.0 if p_e == 1.0 else float((p_o - p_e) / (1 - p_e))


def confusion(a: list[str], b: list[str], labels: list[str]) -> np.ndarray:
    """Counts of (a's class, b's class) over the items, rows a, columns b, in ``labels`` order."""
    index = {c: i for i, c in enumerate(labels)}
    m = np.zeros((len(labels), len(labels)), dtype=np.int64)
    for x, y in zip(a, b, strict=True):
        m[index[x], index[y]] += 1
    return m


def project_agreement(project: Any) -> dict[str, Any]:
    """The agreement report of a project: kappa and confusion between its first two labelling steps, and acceptance.

    Returns
    -------
    dict
        ``steps`` (the two compared), ``n`` (segments answered at both), ``kappa``,
        ``classes``, ``confusion`` (rows: first step), ``accepted`` (per step),
        ``rejected``, ``open`` and ``routed`` (segments sent on to each later step).
    """
    from mextk.annotate.store import Answer, Segment, Task

    proto = project.protocol
    compared = next((s for s in proto.steps if s.compare_with), None)
    first = compared.compare_with if compared else proto.first.id
    second = compared.id if compared else proto.first.id
    with project.Session() as s:
        answers = pd.DataFrame(
            s.execute(select(Answer.segment_id, Answer.step, Answer.label)).all(), columns=["segment", "step", "label"]
        )
        segments = pd.DataFrame(
            s.execute(select(Segment.id, Segment.status, Segment.decided_at_step)).all(),
            columns=["segment", "status", "step"],
        )
        routed = pd.DataFrame(
            s.execute(select(Task.step, Task.segment_id).where(Task.segment_id.is_not(None))).all(),
            columns=["step", "segment"],
        )
    pairs = answers.pivot_table(index="segment", columns="step", values="label", aggfunc="first")
    both = pairs.dropna(subset=[c for c in (first, second) if c in pairs.columns]) if len(pairs) else pairs
    a = both[first].tolist() if first in both.columns and second in both.columns else []
    b = both[second].tolist() if a else []
    classes = list(proto.classes)
    accepted = segments[segments["status"] == "accepted"].groupby("step").size().to_dict() if len(segments) else {}
    return {
        "steps": [first, second],
        "n": len(a),
        "kappa": cohen_kappa(a, b, classes) if a else float("nan"),
        "classes": classes,
        "confusion": confusion(a, b, classes).tolist(),
        "accepted": {step.id: int(accepted.get(step.id, 0)) for step in proto.steps[1:]},
        "rejected": int((segments["status"] == "rejected").sum()) if len(segments) else 0,
        "open": int((segments["status"] == "open").sum()) if len(segments) else 0,
        "routed": {step.id: int((routed["step"] == step.id).sum()) for step in proto.steps[1:]},
    }
