"""MEGC's interval-spotting measure, and MEGC 2023's spot-then-recognise score (STRS).

Spotting (MEGC 2019-2023; Li et al., "Spotting micro-expressions on long videos
sequences", FG 2019, and the MEGC 2020-2023 challenge descriptions):

* intervals are frame ranges with both ends inside: ``[onset, offset]`` holds
  ``offset - onset + 1`` frames, and ``IoU = |X ∩ Y| / |X ∪ Y|`` in frames;
* a spotted interval is a true positive when its IoU with a ground-truth
  interval of the same video is at least ``iou`` (0.5, the boundary included);
  each ground-truth interval is matched at most once, and each spotted interval
  counts once.  Where one spotted interval could match two ground-truth
  intervals (possible only when those overlap), or one ground-truth interval
  two spotted ones, pairs are taken greedily by decreasing IoU (ties: the
  higher score, then the earlier row), so a match never blocks a better one;
* micro- and macro-expressions are scored apart: a spotted interval matches
  only ground truth of its own type (an interval given without a type is typed
  by its duration when the manifest is read, :mod:`mextk.spotting.long_manifest`);
* TP, FP (spotted, unmatched) and FN (ground truth, unmatched) are summed over
  all videos, then precision ``TP / (TP + FP)``, recall ``TP / (TP + FN)`` and
  ``F1`` (0 where a denominator is 0), for micro, macro and both together
  ("overall": the sums of the two), per dataset and over all datasets.

Spot-then-recognise (MEGC 2023; Liong, See and Chan, "Spot-then-recognize",
Signal Processing: Image Communication 110, 2023): the *analysis* task is
scored on the true-positive pairs whose ground-truth class is one of the
analysis classes: per class ``c``, one vs rest over those pairs, ``TP_c`` the
pairs where both say ``c``, ``FP_c`` where only the spotter does, ``FN_c``
where only the ground truth does.  The analysis precision and recall are the
means over classes, its F1 is their harmonic mean, and
``STRS = F1_spotting x F1_analysis`` (overall, micro and macro each).  UF1 (mean
per-class F1) and UAR (mean per-class recall) of the analysis are reported as well.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from mextk.intervals import match_intervals
from mextk.io.manifest import ManifestError, ManifestProblem
from mextk.spotting.long_manifest import TYPES, VIDEO_KEY

SCOPES: tuple[str, ...] = ("overall", *TYPES)


def prf(tp: int, fp: int, fn: int) -> dict[str, float | int]:
    """Counts with precision, recall and F1 (0 where a denominator is 0)."""
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"tp": tp, "fp": fp, "fn": fn, "precision": precision, "recall": recall, "f1": f1}


def _check_videos(spotted: pd.DataFrame, truth: pd.DataFrame) -> list[str]:
    """Spotted videos must be ground-truth videos; returns the truth videos that the spotter did not list."""
    known = set(map(tuple, truth[list(VIDEO_KEY)].to_numpy()))
    seen = set(map(tuple, spotted[list(VIDEO_KEY)].to_numpy()))
    src = str(spotted.attrs.get("source", "spotted"))
    problems = [
        ManifestProblem(f"{src}:{i + 2}", "video_id", f"video {key[0]}/{key[1]} is not in the ground truth")
        for i, key in enumerate(map(tuple, spotted[list(VIDEO_KEY)].to_numpy()))
        if key not in known
    ]
    if problems:
        raise ManifestError(problems[:20], src)
    return sorted(f"{d}/{v}" for d, v in known - seen)


def match_table(spotted: pd.DataFrame, truth: pd.DataFrame, *, iou: float = 0.5) -> pd.DataFrame:
    """Every spotted and every ground-truth interval with its outcome (``TP``, ``FP`` or ``FN``).

    Columns: dataset, video_id, type, outcome, spotted_onset, spotted_offset,
    truth_onset, truth_offset, iou, score, spotted_emotion, truth_emotion.
    """
    s_all = spotted[spotted["onset"].notna()].copy()
    t_all = truth[truth["onset"].notna()].copy()
    rows: list[dict[str, Any]] = []
    keys = list(dict.fromkeys(map(tuple, pd.concat([t_all, s_all])[[*VIDEO_KEY, "type"]].to_numpy())))
    s_groups = {k: g for k, g in s_all.groupby([*VIDEO_KEY, "type"], sort=False)} if len(s_all) else {}
    t_groups = {k: g for k, g in t_all.groupby([*VIDEO_KEY, "type"], sort=False)} if len(t_all) else {}
    for key in keys:
        s = s_groups.get(key, s_all.iloc[:0])
        t = t_groups.get(key, t_all.iloc[:0])
        s_iv = list(zip(s["onset"].astype(int), s["offset"].astype(int), strict=True))
        t_iv = list(zip(t["onset"].astype(int), t["offset"].astype(int), strict=True))
        scores = s["score"].fillna(0).tolist() if "score" in s.columns else None
        matches = match_intervals(s_iv, t_iv, iou=iou, scores=scores)
        hit_s = {i: (j, v) for i, j, v in matches}
        hit_t = {j for _, j, _ in matches}
        base = {"dataset": key[0], "video_id": key[1], "type": key[2]}

        def emo(frame: pd.DataFrame, k: int) -> str:
            return str(frame["emotion"].iat[k]) if "emotion" in frame.columns else ""

        for i, (on, off) in enumerate(s_iv):
            j, value = hit_s.get(i, (None, 0.0))
            rows.append(
                {
                    **base,
                    "outcome": "TP" if j is not None else "FP",
                    "spotted_onset": on,
                    "spotted_offset": off,
                    "truth_onset": t_iv[j][0] if j is not None else None,
                    "truth_offset": t_iv[j][1] if j is not None else None,
                    "iou": value,
                    "score": float(scores[i]) if scores is not None else float("nan"),
                    "spotted_emotion": emo(s, i),
                    "truth_emotion": emo(t, j) if j is not None else "",
                }
            )
        for j, (on, off) in enumerate(t_iv):
            if j not in hit_t:
                rows.append(
                    {
                        **base,
                        "outcome": "FN",
                        "spotted_onset": None,
                        "spotted_offset": None,
                        "truth_onset": on,
                        "truth_offset": off,
                        "iou": 0.0,
                        "score": float("nan"),
                        "spotted_emotion": "",
                        "truth_emotion": emo(t, j),
                    }
                )
    cols = [
        "dataset",
        "video_id",
        "type",
        "outcome",
        "spotted_onset",
        "spotted_offset",
        "truth_onset",
        "truth_offset",
        "iou",
        "score",
        "spotted_emotion",
        "truth_emotion",
    ]
    table = pd.DataFrame(rows, columns=cols)
    for col in ("spotted_onset", "spotted_offset", "truth_onset", "truth_offset"):
        table[col] = pd.array(table[col], dtype="Int64")
    return table


def _counts(table: pd.DataFrame) -> dict[str, dict[str, float | int]]:
    out = {}
    for scope in SCOPES:
        part = table if scope == "overall" else table[table["type"] == scope]
        n = part["outcome"].value_counts()
        out[scope] = prf(int(n.get("TP", 0)), int(n.get("FP", 0)), int(n.get("FN", 0)))
    return out


def analysis_scores(pairs: pd.DataFrame, classes: Sequence[str]) -> dict[str, Any]:
    """MEGC 2023's analysis scores over true-positive pairs (``spotted_emotion``, ``truth_emotion``).

    Examples
    --------
    >>> pairs = pd.DataFrame({"spotted_emotion": ["a", "a", "b"], "truth_emotion": ["a", "b", "b"]})
    >>> {k: round(v, 4) for k, v in analysis_scores(pairs, ["a", "b"]).items() if k in ("f1", "uf1")}
    {'f1': 0.75, 'uf1': 0.6667}
    """
    pairs = pairs[pairs["truth_emotion"].isin(list(classes))]
    per_class = {}
    for c in classes:
        truth, spot = pairs["truth_emotion"] == c, pairs["spotted_emotion"] == c
        per_class[c] = prf(int((truth & spot).sum()), int((~truth & spot).sum()), int((truth & ~spot).sum()))
    precision = float(np.mean([m["precision"] for m in per_class.values()])) if per_class else 0.0
    recall = float(np.mean([m["recall"] for m in per_class.values()])) if per_class else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "n": len(pairs),
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "uf1": float(np.mean([m["f1"] for m in per_class.values()])) if per_class else 0.0,
        "uar": recall,
        "per_class": per_class,
    }


def spotting_scores(
    spotted: pd.DataFrame,
    truth: pd.DataFrame,
    *,
    iou: float = 0.5,
    task: str | None = None,
) -> dict[str, Any]:
    """Score spotted intervals against ground truth (both long-video manifests, :mod:`~mextk.spotting.long_manifest`).

    Parameters
    ----------
    spotted, truth : pandas.DataFrame
        Typed long-video manifests.  Every spotted video must be a ground-truth video.
    iou : float
        The IoU a true positive needs (MEGC: 0.5).
    task : str, optional
        A taxonomy (:mod:`mextk.labels`) that both sides' ``emotion`` are mapped
        to for the spot-then-recognise score; without it the labels are compared
        as written (case and spaces ignored).  The score is given when the
        spotter gives a class for its intervals.

    Returns
    -------
    dict
        ``all`` and ``per_dataset``: for ``overall``, ``micro`` and ``macro``
        the counts, precision, recall and F1 (and, with classes, ``strs`` and
        ``analysis``); ``iou``; ``videos``; ``videos_without_spotting`` (truth
        videos the spotter did not list: their intervals count as missed);
        ``matches``, the table of :func:`match_table`.
    """
    missing = _check_videos(spotted, truth)
    spotted, truth = _labels(spotted, task), _labels(truth, task)
    table = match_table(spotted, truth, iou=iou)
    classes = _analysis_classes(truth, task)
    recognises = "emotion" in spotted.columns and bool((spotted.loc[spotted["onset"].notna(), "emotion"] != "").any())

    def block(part: pd.DataFrame) -> dict[str, Any]:
        out: dict[str, Any] = _counts(part)
        if recognises and classes:
            for scope in SCOPES:
                tp = part[(part["outcome"] == "TP") & ((part["type"] == scope) | (scope == "overall"))]
                analysis = analysis_scores(tp, classes)
                out[scope]["analysis"] = analysis
                out[scope]["strs"] = out[scope]["f1"] * analysis["f1"]
        return out

    result: dict[str, Any] = {
        "iou": iou,
        "videos": int(len(truth.drop_duplicates(list(VIDEO_KEY)))),
        "videos_without_spotting": missing,
        "classes": list(classes) if recognises else [],
        "all": block(table),
        "per_dataset": {str(d): block(g) for d, g in table.groupby("dataset", sort=True)},
        "matches": table,
    }
    return result


def _labels(df: pd.DataFrame, task: str | None) -> pd.DataFrame:
    """``emotion`` mapped to ``task``'s classes (unmapped: empty), or lower-cased and stripped."""
    if "emotion" not in df.columns:
        return df
    out = df.copy()
    if task is None:
        out["emotion"] = out["emotion"].fillna("").astype(str).str.strip().str.lower()
        return out
    from mextk.labels import get_taxonomy

    tax = get_taxonomy(task)
    mapped = []
    for text in out["emotion"].fillna("").astype(str):
        try:
            mapped.append(tax.map(text) or "" if text.strip() else "")
        except (KeyError, ValueError):
            mapped.append("")
    out["emotion"] = mapped
    return out


def _analysis_classes(truth: pd.DataFrame, task: str | None) -> list[str]:
    if task is not None:
        from mextk.labels import get_taxonomy

        return list(get_taxonomy(task).classes)
    if "emotion" not in truth.columns:
        return []
    values = truth.loc[truth["onset"].notna(), "emotion"]
    return sorted({v for v in values if v})
