"""False alarms on footage without expressions: rates per minute with exact intervals, and thresholds calibrated
to a stated rate, leaving one clip out.

Calm real footage (people talking or listening, with no elicited expression) is where a spotter must stay
silent.  Such footage is scarce (minutes, not hours), so a rate is reported with its uncertainty and a
threshold is never judged on the footage that set it:

* :func:`poisson_rate`: a count of events over a duration as a rate per minute, with Garwood's exact
  (central, chi-squared) interval for a Poisson mean.  With 0 events in 1 minute the 95% interval is
  0 to 3.69 per minute: a short calm clip cannot show that a spotter is quiet, only that it is not loud.
* :func:`false_alarm_rates`: a spotter's intervals counted per video and type, with each video's minutes, and
  the rates pooled per condition (speaking, head moving, ...) and over all videos.
* :func:`calibrate_threshold` and :func:`leave_one_clip_out`: the least score threshold that keeps the
  candidates on calibration footage at or under a rate per minute, and the honest rate of that rule, each
  clip judged by the threshold that the other clips set (:func:`leave_one_group_out`: each person's clips,
  or a clip with its derived versions, left out together).

Candidates and thresholds.  A spotter run at a low threshold lists every candidate with its score; keeping
those at or above ``t`` stands for the spotter run at ``t``.  This holds for the training-free spotter
(:mod:`mextk.spotting.baseline`): a candidate that survives the suppression of weaker neighbours at a low
threshold survives it at a higher one, since suppression keeps the stronger of two overlapping candidates.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

#: The columns that identify a video in a long-video manifest.
VIDEO = ("dataset", "video_id")


def poisson_rate(count: int, minutes: float, *, confidence: float = 0.95) -> tuple[float, float, float]:
    """``count`` events in ``minutes`` as a rate per minute, with Garwood's exact central interval.

    The interval for a Poisson mean from ``n`` events is ``chi2(a/2, 2n)/2`` to ``chi2(1 - a/2, 2n + 2)/2``
    (lower 0 when ``n`` is 0), ``a = 1 - confidence``; divided by ``minutes``.

    Returns
    -------
    (rate, lower, upper) : tuple of float
        Per minute.

    Raises
    ------
    ValueError
        A negative count, a duration that is not positive, or a confidence outside (0, 1).
    """
    from scipy.stats import chi2

    if count < 0:
        raise ValueError(f"count must be at least 0, got {count}")
    if not minutes > 0:
        raise ValueError(f"minutes must be positive, got {minutes}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence}")
    a = 1.0 - confidence
    lower = 0.0 if count == 0 else float(chi2.ppf(a / 2, 2 * count)) / 2
    upper = float(chi2.ppf(1 - a / 2, 2 * count + 2)) / 2
    return count / minutes, lower / minutes, upper / minutes


def video_minutes(videos: pd.DataFrame) -> pd.Series:
    """Each video's length in minutes (``n_frames / fps / 60``), indexed by (dataset, video_id).

    Raises
    ------
    ValueError
        A video without ``n_frames`` or ``fps`` (its length cannot be known), named.
    """
    rows = videos.drop_duplicates(list(VIDEO)).set_index(list(VIDEO))
    minutes = pd.to_numeric(rows["n_frames"], errors="coerce") / pd.to_numeric(rows["fps"], errors="coerce") / 60.0
    bad = [f"{d}/{v}" for (d, v), m in minutes.items() if not np.isfinite(m) or m <= 0]
    if bad:
        raise ValueError(f"videos without a known length (n_frames and fps): {', '.join(bad)}")
    return minutes


def false_alarm_rates(
    intervals: pd.DataFrame,
    videos: pd.DataFrame,
    *,
    conditions: Mapping[str, str] | None = None,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Events per minute of each type, per video, per condition and over all videos.

    Parameters
    ----------
    intervals : DataFrame
        A spotter's long-video manifest (rows without an ``onset`` are videos without events).
    videos : DataFrame
        The videos looked at, with ``dataset``, ``video_id``, ``fps`` and ``n_frames``: every one counts, even
        one without any event.
    conditions : mapping of str to str, optional
        ``video_id`` -> condition (``speaking``, ``head moving``, ...); pooled rows per condition.
    confidence : float
        Of the pooled rows' intervals.

    Returns
    -------
    DataFrame
        One row per video (``scope`` ``video``), then per condition (``condition``) and one over all
        (``all``): ``name``, ``condition``, ``minutes``, ``micro``, ``macro``, ``micro_per_min`` with
        ``micro_lo`` and ``micro_hi``, and ``macro_per_min`` with ``macro_lo`` and ``macro_hi``.
    """
    minutes = video_minutes(videos)
    events = intervals[intervals["onset"].notna()] if len(intervals) else intervals
    counts = {
        kind: events[events["type"] == kind].groupby(list(VIDEO)).size() if len(events) else pd.Series(dtype=int)
        for kind in ("micro", "macro")
    }
    conditions = dict(conditions or {})
    rows: list[dict[str, Any]] = []
    for (dataset, video), mins in minutes.items():
        row = {"scope": "video", "name": f"{dataset}/{video}", "condition": conditions.get(str(video), ""),
               "minutes": float(mins)}  # fmt: skip
        for kind in ("micro", "macro"):
            row[kind] = int(counts[kind].get((dataset, video), 0))
        rows.append(row)
    per_video = pd.DataFrame(rows)
    groups: list[tuple[str, str, pd.DataFrame]] = []
    for condition in sorted({c for c in per_video["condition"] if c}):
        groups.append(("condition", condition, per_video[per_video["condition"] == condition]))
    groups.append(("all", "all", per_video))
    pooled = [
        {"scope": scope, "name": name, "condition": name if scope == "condition" else "",
         "minutes": float(part["minutes"].sum()), "micro": int(part["micro"].sum()),
         "macro": int(part["macro"].sum())}
        for scope, name, part in groups
    ]  # fmt: skip
    table = pd.concat([per_video, pd.DataFrame(pooled)], ignore_index=True)
    for kind in ("micro", "macro"):
        stats = [poisson_rate(int(n), float(m), confidence=confidence) for n, m in zip(table[kind], table["minutes"],
                                                                                      strict=True)]  # fmt: skip
        table[f"{kind}_per_min"] = [s[0] for s in stats]
        table[f"{kind}_lo"] = [s[1] for s in stats]
        table[f"{kind}_hi"] = [s[2] for s in stats]
    return table


def calibrate_threshold(scores: Sequence[float], minutes: float, per_minute: float) -> float:
    """The least threshold ``t`` with at most ``per_minute`` candidates a minute scoring ``>= t``.

    ``scores`` are the candidates' scores on ``minutes`` of calibration footage.  The allowed count is
    ``floor(per_minute x minutes)``; with ``m`` allowed, ``t`` is just above the ``(m + 1)``-th highest score
    (its next float up), so exactly the ``m`` highest pass (fewer where scores tie).  With no more candidates
    than allowed, every score passes: ``-inf``.

    Raises
    ------
    ValueError
        A duration that is not positive, or a negative rate.
    """
    if not minutes > 0:
        raise ValueError(f"minutes must be positive, got {minutes}")
    if per_minute < 0:
        raise ValueError(f"per_minute must be at least 0, got {per_minute}")
    allowed = int(np.floor(per_minute * minutes + 1e-9))
    ranked = np.sort(np.asarray(scores, dtype=float))[::-1]
    if len(ranked) <= allowed:
        return float("-inf")
    return float(np.nextafter(ranked[allowed], np.inf))


def leave_one_clip_out(
    candidates: pd.DataFrame,
    minutes: Mapping[str, float],
    per_minute: float,
    *,
    score: str = "score",
    kind: str = "micro",
) -> pd.DataFrame:
    """Each clip judged by the threshold that the other clips set (:func:`calibrate_threshold`).

    Parameters
    ----------
    candidates : DataFrame
        A spotter's candidates on calm footage (``video_id``, ``type``, ``score``), run at a low threshold.
    minutes : mapping of str to float
        Each calm clip's minutes, by ``video_id`` (a clip without candidates still counts).
    per_minute : float
        The rate the threshold is set for.
    score, kind : str
        The score column, and the type of interval counted.

    Returns
    -------
    DataFrame
        Per clip: ``video_id``, ``minutes``, ``threshold`` (from the other clips), ``events`` (its candidates at
        or above it); ``attrs["rate"]`` is the pooled ``(rate, lower, upper)`` per minute.
    """
    if len(minutes) < 2:
        raise ValueError("leave-one-clip-out needs at least two calm clips")
    of_kind = candidates[(candidates["type"] == kind) & candidates[score].notna()]
    rows = []
    for clip, mins in minutes.items():
        others = of_kind[of_kind["video_id"].astype(str) != str(clip)]
        rest = sum(m for c, m in minutes.items() if c != clip)
        t = calibrate_threshold(others[score].to_numpy(), rest, per_minute)
        mine = of_kind[of_kind["video_id"].astype(str) == str(clip)]
        rows.append({"video_id": clip, "minutes": float(mins), "threshold": t, "events": int((mine[score] >= t).sum())})
    table = pd.DataFrame(rows)
    table.attrs["rate"] = poisson_rate(int(table["events"].sum()), float(table["minutes"].sum()))
    return table


def leave_one_group_out(
    candidates: pd.DataFrame,
    videos: pd.DataFrame,
    groups: Mapping[str, str],
    per_minute: float,
    *,
    score: str = "score",
    kind: str = "micro",
) -> pd.DataFrame:
    """:func:`leave_one_clip_out` with each group's videos left out together: a person's, or a clip and the
    versions derived from it, which would otherwise help set the threshold that judges them.

    ``groups`` maps every ``video_id`` of ``videos`` to its group; the minutes of a group's videos add up, and the
    table's ``video_id`` column names the groups.  Candidates of videos outside ``groups`` are not counted.
    """
    minutes: dict[str, float] = {}
    for (_, video), mins in video_minutes(videos).items():
        group = groups[str(video)]
        minutes[group] = minutes.get(group, 0.0) + float(mins)
    if len(candidates):
        mine = candidates[candidates["video_id"].astype(str).isin(list(groups))]
        grouped = mine.assign(video_id=mine["video_id"].astype(str).map(groups))
    else:
        grouped = pd.DataFrame({"video_id": [], "type": [], score: []})
    return leave_one_clip_out(grouped, minutes, per_minute, score=score, kind=kind)
