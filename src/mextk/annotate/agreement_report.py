"""The agreement report of a project, read from its database (``mextk annotate agreement``, the ``/report`` page).

What it holds depends on the protocol's steps; every figure comes from the
pure statistics of :mod:`mextk.annotate.agreement`:

* ``kappa``, ``alpha``, ``confusion``: the first step that compares with an earlier one
  (CMED: stage 2 against stage 1) against that step, over the segments answered at both:
  Cohen's kappa, Krippendorff's alpha and the confusion matrix (rows: the earlier step).
* ``multi``: for each class step with several raters, Fleiss' kappa over the segments
  every rater answered, Krippendorff's alpha over all answers (missing ones allowed), and
  each rater against the final label (``raters``: confusion, agreement, count).
* ``au_reliability``: for each action-unit step with two coders, DFME's reliability
  overall, per segment and per AU.
* ``keyframes``: for each key-frame step, each rater's onset, apex and offset against the
  combined frames and against each other, in frames and ms, and the share within
  ``tolerance_ms``.
* ``accepted`` (per step), ``rejected``, ``flagged``, ``open``, ``routed`` (segments sent to
  each later step) and ``expression`` (micro and macro counts).

No name of a person who was filmed appears; raters appear by account name (staff).
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from sqlalchemy import select

from mextk.annotate.agreement import (
    au_reliability,
    cohen_kappa,
    confusion,
    fleiss_kappa,
    keyframe_agreement,
    krippendorff_alpha,
    rater_confusion,
    ratings_table,
)
from mextk.annotate.protocol import LABEL_KINDS


def project_agreement(project: Any, *, tolerance_ms: float = 10.0) -> dict[str, Any]:
    """The agreement report of a project (see the module docstring)."""
    from mextk.annotate.store import Answer, Clip, Segment, Task, User

    proto = project.protocol
    with project.Session() as s:
        answers = pd.DataFrame(
            s.execute(
                select(Answer.segment_id, Answer.step, Answer.label, Answer.value, Task.seat, User.name)
                .join(Task, Task.id == Answer.task_id).join(User, User.id == Answer.user_id)
            ).all(),
            columns=["segment", "step", "label", "value", "seat", "rater"],
        )  # fmt: skip
        segments = pd.DataFrame(
            s.execute(
                select(Segment.id, Segment.status, Segment.decided_at_step, Segment.label, Segment.expression,
                       Segment.results, Clip.fps).join(Clip, Clip.id == Segment.clip_id)
            ).all(),
            columns=["segment", "status", "step", "label", "expression", "results", "fps"],
        )  # fmt: skip
        routed = pd.DataFrame(
            s.execute(select(Task.step, Task.segment_id).where(Task.segment_id.is_not(None)).distinct()).all(),
            columns=["step", "segment"],
        )
    classes = list(proto.classes)
    report: dict[str, Any] = {"classes": classes, **_pair(proto, answers, classes)}
    final = {int(r.segment): r.label for r in segments.itertuples() if r.status == "accepted" and r.label}
    report["multi"] = {
        step.id: _multi(step, answers[answers["step"] == step.id], classes, final)
        for step in proto.steps
        if step.kind in LABEL_KINDS and step.raters > 1
    }
    report["au_reliability"] = {
        step.id: _aus(answers[answers["step"] == step.id])
        for step in proto.steps
        if step.kind == "aus" and step.raters == 2
    }
    report["keyframes"] = {
        step.id: _keyframes(step.id, answers[answers["step"] == step.id], segments, tolerance_ms)
        for step in proto.steps
        if step.kind == "keyframes"
    }
    status = segments["status"] if len(segments) else pd.Series([], dtype=object)
    accepted = segments[status == "accepted"].groupby("step").size().to_dict() if len(segments) else {}
    report.update(
        accepted={step.id: int(accepted.get(step.id, 0)) for step in proto.steps[1:]},
        corrected=int(accepted.get("correction", 0)),
        rejected=int((status == "rejected").sum()),
        flagged=int((status == "flagged").sum()),
        open=int((status == "open").sum()),
        routed={step.id: int((routed["step"] == step.id).sum()) for step in proto.steps[1:]},
        expression={k: int(v) for k, v in segments["expression"].dropna().value_counts().items()},
        tolerance_ms=tolerance_ms,
    )
    return report


def _pair(proto: Any, answers: pd.DataFrame, classes: list[str]) -> dict[str, Any]:
    """Cohen's kappa, Krippendorff's alpha and the confusion of the first comparing step against its reference."""
    compared = next((s for s in proto.steps if s.compare_with), None)
    if compared is None:
        return {"steps": [], "n": 0, "kappa": float("nan"), "alpha": float("nan"), "confusion": []}
    first, second = compared.compare_with, compared.id
    one = answers[answers["step"] == first].groupby("segment")["label"].first()
    # a step with several raters is represented by each segment's most common answer
    two = answers[answers["step"] == second].groupby("segment")["label"].agg(lambda x: x.value_counts().index[0])
    both = pd.concat([one.rename("a"), two.rename("b")], axis=1).dropna()
    a, b = both["a"].tolist(), both["b"].tolist()
    return {
        "steps": [first, second],
        "n": len(a),
        "kappa": cohen_kappa(a, b, classes) if a else float("nan"),
        "alpha": krippendorff_alpha([a, b]) if a else float("nan"),
        "confusion": confusion(a, b, classes).tolist(),
    }


def _multi(step: Any, rows: pd.DataFrame, classes: list[str], final: dict[int, str]) -> dict[str, Any]:
    by_item = rows.groupby("segment")["label"].apply(list)
    complete = [labels for labels in by_item if len(labels) == step.raters]
    seats = sorted(rows["seat"].unique().tolist()) if len(rows) else []
    matrix = [
        [dict(zip(g["segment"], g["label"], strict=True)).get(item) for item in by_item.index]
        for _, g in rows.groupby("seat")
    ]
    ratings: dict[str, dict[Any, str]] = {}
    for r in rows.itertuples():
        ratings.setdefault(r.rater, {})[int(r.segment)] = r.label
    return {
        "raters": step.raters,
        "n_items": len(by_item),
        "n_complete": len(complete),
        "fleiss_kappa": fleiss_kappa(ratings_table(complete, classes)) if complete else float("nan"),
        "krippendorff_alpha": krippendorff_alpha(matrix) if len(seats) > 1 else float("nan"),
        "per_rater": rater_confusion(ratings, final, classes),
    }


def _aus(rows: pd.DataFrame) -> dict[str, Any]:
    by_item = rows.sort_values("seat").groupby("segment")["value"].apply(list)
    pairs = [v for v in by_item if len(v) == 2]
    result = au_reliability([set(p[0] or []) for p in pairs], [set(p[1] or []) for p in pairs])
    result["n"] = len(pairs)
    return result


def _keyframes(step_id: str, rows: pd.DataFrame, segments: pd.DataFrame, tolerance_ms: float) -> dict[str, Any]:
    done = segments[[isinstance(r, dict) and step_id in r for r in segments["results"]]]
    marks, combined, fps = [], [], []
    for seg in done.itertuples():
        given = rows.loc[rows["segment"] == seg.segment, "value"]
        marks.append([(v["onset"], v.get("apex"), v["offset"]) for v in given])
        r = seg.results[step_id]
        combined.append((r["onset"], r.get("apex"), r["offset"]))
        fps.append(float(seg.fps))
    out: dict[str, Any] = keyframe_agreement(marks, combined, fps, tolerance_ms=tolerance_ms)
    out["n_items"] = len(marks)
    return out


def jsonable(report: Any) -> Any:
    """The report with ``nan`` as ``None`` (JSON has no NaN) and numpy numbers as Python ones."""
    if isinstance(report, dict):
        return {str(k): jsonable(v) for k, v in report.items()}
    if isinstance(report, (list, tuple)):
        return [jsonable(v) for v in report]
    if hasattr(report, "item"):
        report = report.item()
    if isinstance(report, float) and report != report:
        return None
    return report


def report_lines(report: dict[str, Any]) -> list[str]:
    """The report as plain text lines (``mextk annotate agreement``)."""

    def num(x: Any, digits: int = 4) -> str:
        return "n/a" if x is None or x != x else f"{x:.{digits}f}"

    lines = []
    if report["steps"]:
        first, second = report["steps"]
        lines.append(f"Cohen's kappa, {first} vs {second}: {num(report['kappa'])} over {report['n']} segments "
                     f"(Krippendorff's alpha {num(report['alpha'])})")  # fmt: skip
    for step, m in report["multi"].items():
        lines.append(f"{step}: Fleiss' kappa {num(m['fleiss_kappa'])} over {m['n_complete']} segments with all "
                     f"{m['raters']} raters; Krippendorff's alpha {num(m['krippendorff_alpha'])} "
                     f"over {m['n_items']}")  # fmt: skip
        for rater, r in m["per_rater"].items():
            lines.append(f"  {rater}: agrees with the final label on {num(r['agreement'], 3)} of {r['n']}")
    for step, a in report["au_reliability"].items():
        per_au = ", ".join(f"{au} {num(v, 2)}" for au, v in a["per_au"].items())
        lines.append(f"{step}: AU reliability {num(a['overall'])} over {a['n']} segments; per AU: {per_au}")
    for step, k in report["keyframes"].items():
        for name in ("onset", "apex", "offset"):
            x = k[name]
            lines.append(f"{step} {name}: {num(x['mad_frames'], 2)} frames ({num(x['mad_ms'], 2)} ms) from the "
                         f"combined frame on average, {num(x['pairwise_ms'], 2)} ms between two raters; "
                         f"{num(x['within_tolerance'], 3)} within {report['tolerance_ms']:g} ms")  # fmt: skip
    lines.append(
        "accepted: " + ", ".join(f"{k} {v}" for k, v in report["accepted"].items())
        + f"; corrected {report['corrected']}; rejected {report['rejected']}; flagged {report['flagged']}; "
        f"open {report['open']}"
        + ("; " + ", ".join(f"{k} {v}" for k, v in report["expression"].items()) if report["expression"] else "")
    )  # fmt: skip
    if report["steps"]:
        classes = report["classes"]
        width = max(len(c) for c in classes)
        lines.append(f"confusion ({report['steps'][0]} rows, {report['steps'][1]} columns):")
        lines.append(" " * (width + 1) + " ".join(f"{c[:6]:>6s}" for c in classes))
        for c, row in zip(classes, report["confusion"], strict=True):
            lines.append(f"{c:{width}s} " + " ".join(f"{v:6d}" for v in row))
    return lines
