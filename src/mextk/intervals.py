"""Frame intervals and the signals they are found in: overlap, matching, suppression, peaks, smoothing, and
DFME's micro/macro duration rule.  Pure functions, shared by spotting, evaluation and annotation.

An interval is an inclusive frame range ``(onset, offset)``: ``(10, 19)`` is ten frames.

* :func:`interval_iou` and :func:`shared_of_shorter`: how much two intervals overlap;
* :func:`match_intervals`: MEGC's one-to-one matching of spotted to true intervals;
* :func:`suppress`: greedy non-maximum suppression of scored candidates; :func:`separate`: no overlaps at all;
* :func:`moving_average`: centred smoothing that ignores missing values;
* :func:`megc_threshold` and :func:`peak_frames`: MEGC's peak threshold and the peaks above a height;
* :func:`expression_type`: DFME's rule for a micro- or a macro-expression.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def interval_iou(a: tuple[int, int], b: tuple[int, int]) -> float:
    """IoU of two inclusive frame ranges.

    Examples
    --------
    >>> interval_iou((0, 9), (5, 14))   # 5 shared frames of 15
    0.3333333333333333
    >>> interval_iou((0, 9), (0, 19))   # 10 of 20: exactly 0.5
    0.5
    """
    inter = min(a[1], b[1]) - max(a[0], b[0]) + 1
    if inter <= 0:
        return 0.0
    union = (a[1] - a[0] + 1) + (b[1] - b[0] + 1) - inter
    return inter / union


def shared_of_shorter(a: tuple[int, int], b: tuple[int, int]) -> float:
    """The frames two inclusive ranges share, over the shorter one's frames (1: one lies inside the other).

    Examples
    --------
    >>> shared_of_shorter((0, 9), (5, 30))   # 5 of the shorter's 10 frames
    0.5
    >>> shared_of_shorter((0, 9), (10, 19))
    0.0
    """
    inter = min(a[1], b[1]) - max(a[0], b[0]) + 1
    if inter <= 0:
        return 0.0
    return inter / min(a[1] - a[0] + 1, b[1] - b[0] + 1)


def match_intervals(
    spotted: Sequence[tuple[int, int]],
    truth: Sequence[tuple[int, int]],
    *,
    iou: float = 0.5,
    scores: Sequence[float] | None = None,
) -> list[tuple[int, int, float]]:
    """One-to-one matches ``(spotted index, truth index, IoU)`` with IoU at least ``iou``, as many as exist.

    A maximum matching over the pairs with IoU >= ``iou`` (MEGC's true positives are the spotted
    intervals matched one-to-one to ground-truth intervals): the most matches; among matchings with
    as many, the largest total IoU; then the higher-scored spotted intervals.  Solved as an
    assignment problem (:func:`scipy.optimize.linear_sum_assignment`), so a match never blocks a
    better set: a greedy pass by IoU can take one pair that leaves two others unmatched.

    Examples
    --------
    >>> match_intervals([(0, 9), (1, 10)], [(0, 9)])   # two proposals on one interval: one TP
    [(0, 0, 1.0)]
    >>> [(i, j) for i, j, _ in match_intervals([(5, 19), (10, 23)], [(7, 22), (14, 25)])]  # greedy finds 1
    [(0, 0), (1, 1)]
    """
    from scipy.optimize import linear_sum_assignment

    n, m = len(spotted), len(truth)
    if n == 0 or m == 0:
        return []
    values = np.array([[interval_iou(s, t) for t in truth] for s in spotted], dtype=float)
    valid = values >= iou - 1e-12
    if not valid.any():
        return []
    score = np.zeros(n) if scores is None else np.asarray(scores, dtype=float)
    ranked = np.argsort(np.argsort(score, kind="stable"), kind="stable") / max(n, 1)  # 0..1, higher score higher
    # one more match outweighs any IoU total (each IoU <= 1 and at most min(n, m) of them), which outweighs scores
    big = float(min(n, m) + 1)
    weight = np.where(valid, big * big + big * values + ranked[:, None] / big, 0.0)
    rows, cols = linear_sum_assignment(weight, maximize=True)
    return sorted((int(i), int(j), float(values[i, j])) for i, j in zip(rows, cols, strict=True) if valid[i, j])


def suppress(candidates: Sequence[dict[str, Any]], overlap: float) -> list[dict[str, Any]]:
    """Greedy non-maximum suppression: by falling ``score``, keep a candidate unless it shares at least
    ``overlap`` of the shorter one's frames (:func:`shared_of_shorter`, and at least one frame) with one
    already kept.  Candidates are dicts with ``onset``, ``offset`` and ``score``; the kept ones come back by
    onset.

    Examples
    --------
    >>> c = [{"onset": 0, "offset": 9, "score": 1.0}, {"onset": 5, "offset": 14, "score": 2.0}]
    >>> [k["onset"] for k in suppress(c, 0.5)], [k["onset"] for k in suppress(c, 0.6)]
    ([5], [0, 5])
    """
    kept: list[dict[str, Any]] = []
    for c in sorted(candidates, key=lambda c: -c["score"]):
        span = (c["onset"], c["offset"])
        if all(not 0 < shared_of_shorter(span, (o["onset"], o["offset"])) >= overlap for o in kept):
            kept.append(c)
    return sorted(kept, key=lambda c: c["onset"])


def separate(intervals: Sequence[dict[str, Any]], *, min_frames: int = 3) -> list[dict[str, Any]]:
    """Intervals that never overlap: by falling ``score``, each one is cut back to the frames that no stronger
    one holds, on the side of its ``apex``; one whose apex a stronger one holds, or that keeps fewer than
    ``min_frames`` frames, is dropped.  The kept ones (copies) come back by onset.

    Examples
    --------
    >>> c = [{"onset": 0, "apex": 3, "offset": 9, "score": 1.0}, {"onset": 6, "apex": 10, "offset": 14, "score": 2.0}]
    >>> [(k["onset"], k["offset"]) for k in separate(c)]
    [(0, 5), (6, 14)]
    """
    kept: list[dict[str, Any]] = []
    for c in sorted(intervals, key=lambda c: -c["score"]):
        c = dict(c)
        for o in kept:
            if o["onset"] <= c["apex"] <= o["offset"]:
                break
            if o["offset"] < c["apex"]:
                c["onset"] = max(c["onset"], o["offset"] + 1)
            else:
                c["offset"] = min(c["offset"], o["onset"] - 1)
        else:
            if c["offset"] - c["onset"] + 1 >= min_frames:
                kept.append(c)
    return sorted(kept, key=lambda c: c["onset"])


def moving_average(x: np.ndarray, width: float, *, fill: bool = False) -> np.ndarray:
    """A centred moving average over ``width`` frames, rounded to an odd count; missing values (``nan``) are
    left out of every mean.  A missing value stays missing, unless ``fill``: then it takes the mean of the
    values around it (missing only where none is).

    Examples
    --------
    >>> moving_average(np.array([0.0, 3.0, np.nan, 3.0, 0.0]), 3)
    array([1.5, 1.5, nan, 1.5, 1.5])
    >>> moving_average(np.array([0.0, 3.0, np.nan, 3.0, 0.0]), 3, fill=True)
    array([1.5, 1.5, 3. , 1.5, 1.5])
    """
    x = np.asarray(x, dtype=np.float64)
    w = int(round(width)) // 2 * 2 + 1
    if w <= 1:
        return x
    finite = np.isfinite(x)
    kernel = np.ones(w)
    sums = np.convolve(np.where(finite, x, 0.0), kernel, mode="same")
    counts = np.convolve(finite.astype(float), kernel, mode="same")
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = sums / np.maximum(counts, 1)
    return np.where(counts > 0, mean, np.nan) if fill else np.where(finite, mean, np.nan)


def megc_threshold(x: np.ndarray, p: float, *, floor: float = -np.inf) -> float | None:
    """MEGC's peak threshold of a score signal, ``mean + p * (max - mean)`` over its finite values (at least
    ``floor``); ``None`` when it has none.

    Examples
    --------
    >>> megc_threshold(np.array([1.0, 1.0, np.nan, 4.0]), 0.5)  # mean 2, top 4
    3.0
    """
    finite = np.asarray(x, dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    if not len(finite):
        return None
    mean, top = float(finite.mean()), float(finite.max())
    return max(mean + p * (top - mean), floor)


def peak_frames(x: np.ndarray, *, height: float, distance: int = 1) -> np.ndarray:
    """Frames of the local maxima of ``x`` at ``height`` or more, at least ``distance`` frames apart (the
    higher kept; :func:`scipy.signal.find_peaks`); missing values are never peaks.

    Examples
    --------
    >>> peak_frames(np.array([0, 2, 0, np.nan, 5, 1, 4, 0]), height=1.5).tolist()
    [1, 4, 6]
    >>> peak_frames(np.array([0, 2, 0, np.nan, 5, 1, 4, 0]), height=1.5, distance=3).tolist()
    [1, 4]
    """
    from scipy.signal import find_peaks

    peaks, _ = find_peaks(
        np.nan_to_num(np.asarray(x, dtype=np.float64), nan=-np.inf), height=height, distance=max(1, int(distance))
    )
    return peaks


def expression_type(
    onset: int,
    apex: int | None,
    offset: int,
    fps: float,
    *,
    micro_max_ms: float = 500.0,
    micro_max_onset_apex_ms: float = 250.0,
) -> str:
    """``"micro"`` or ``"macro"`` by DFME's duration rule (section 3.3.2).

    A segment is a micro-expression when onset to offset lasts under ``micro_max_ms`` (500 ms)
    *or* onset to apex under ``micro_max_onset_apex_ms`` (250 ms), in time at the clip's frame
    rate (``(offset - onset) / fps``); otherwise a macro-expression.

    Examples
    --------
    >>> expression_type(0, 60, 300, fps=500)   # 600 ms long, but the apex comes at 120 ms
    'micro'
    >>> expression_type(0, 150, 300, fps=500)  # 600 ms long, apex at 300 ms
    'macro'
    """
    duration = 1000.0 * (offset - onset) / fps
    rise = None if apex is None else 1000.0 * (apex - onset) / fps
    return "micro" if duration < micro_max_ms or (rise is not None and rise < micro_max_onset_apex_ms) else "macro"
