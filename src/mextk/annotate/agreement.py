"""Agreement between labellers: pure statistics on plain lists and tables, and the CMED project report.

* :func:`cohen_kappa` (two raters; Cohen 1960): ``kappa = (p_o - p_e) / (1 - p_e)``, with
  ``p_o`` the share of items on which they agree and ``p_e`` the agreement expected by chance
  from each rater's class frequencies.  When both used a single class and agree
  (``p_e = 1``), kappa is 1 by convention here (scikit-learn returns ``nan``).
* :func:`fleiss_kappa` (a fixed number of raters per item; Fleiss 1971, DFME section 3.3.3).
* :func:`krippendorff_alpha` (nominal; any number of raters per item, missing ratings allowed;
  Krippendorff 2011, "Computing Krippendorff's alpha-reliability").
* :func:`au_reliability` (DFME section 3.3.2: ``2 |both| / (|coder 1| + |coder 2|)``), per AU and overall.
* :func:`keyframe_agreement` (raters' onset, apex and offset against the combined frame and each other).
* :func:`rater_confusion` (each rater against the final label).

The report of a project, read from its database, is :mod:`mextk.annotate.agreement_report`.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def cohen_kappa(a: list[str], b: list[str], classes: list[str] | None = None) -> float:
    """Cohen's kappa of two raters' labels on the same items (see the module docstring).

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


def fleiss_kappa(table: np.ndarray) -> float:
    """Fleiss' kappa of an items x categories table of counts (each row: how many raters chose each category).

    Every item must have the same number of raters ``n`` (at least 2).  With
    ``p_j`` the share of all ratings in category ``j`` and ``P_i`` the share
    of agreeing rater pairs on item ``i``::

        P_i = (sum_j n_ij^2 - n) / (n (n - 1))
        kappa = (mean(P_i) - sum_j p_j^2) / (1 - sum_j p_j^2)

    When every rating falls in one category (``sum_j p_j^2 = 1``) kappa is 1 by
    convention here (statsmodels returns ``nan``).

    Examples
    --------
    >>> round(fleiss_kappa(np.array([[3, 0], [0, 3], [2, 1]])), 4)
    0.55
    """
    table = np.asarray(table, dtype=np.float64)
    if table.ndim != 2 or table.shape[0] == 0:
        raise ValueError(f"Fleiss' kappa needs an items x categories table, got shape {table.shape}")
    n = table.sum(axis=1)
    if not np.all(n == n[0]) or n[0] < 2:
        raise ValueError(
            "Fleiss' kappa needs the same number (>= 2) of raters on every item; use krippendorff_alpha for "
            f"missing ratings (raters per item: {sorted(set(n.astype(int).tolist()))})"
        )
    n = n[0]
    p_j = table.sum(axis=0) / table.sum()
    p_i = ((table**2).sum(axis=1) - n) / (n * (n - 1))
    p_e = float((p_j**2).sum())
    return 1.0 if p_e == 1.0 else float((p_i.mean() - p_e) / (1 - p_e))


def ratings_table(ratings: list[list[str]], categories: list[str]) -> np.ndarray:
    """The items x categories count table of per-item rating lists (for :func:`fleiss_kappa`)."""
    index = {c: j for j, c in enumerate(categories)}
    table = np.zeros((len(ratings), len(categories)), dtype=np.int64)
    for i, item in enumerate(ratings):
        for label in item:
            if label not in index:
                raise ValueError(f"item {i}: unknown category {label!r}")
            table[i, index[label]] += 1
    return table


def krippendorff_alpha(data: list[list[Any]]) -> float:
    """Krippendorff's alpha for nominal data: raters x items, ``None`` (or NaN) where a rater gave no rating.

    Items with fewer than two ratings are left out (they hold no pair).  With
    ``o_ck`` the coincidence matrix (each ordered pair of ratings of an item
    with ``m`` ratings counts ``1 / (m - 1)``), ``n_c`` its margins and ``n``
    its total::

        alpha = 1 - (n - 1) * sum_{c != k} o_ck / sum_{c != k} n_c n_k

    Returns ``nan`` when fewer than two values are pairable, and 1 when all
    pairable values are one category.

    Examples
    --------
    >>> round(krippendorff_alpha([["a", "a", "b"], ["a", "b", "b"]]), 4)
    0.4444
    """
    rows = [list(r) for r in data]
    if not rows:
        return float("nan")
    width = len(rows[0])
    if any(len(r) != width for r in rows):
        raise ValueError("every rater needs one entry per item (None where they gave no rating)")

    def present(v: Any) -> bool:
        return v is not None and not (isinstance(v, float) and np.isnan(v))

    values = sorted({v for r in rows for v in r if present(v)}, key=str)
    index = {v: i for i, v in enumerate(values)}
    o = np.zeros((len(values), len(values)), dtype=np.float64)
    for j in range(width):
        item = [index[r[j]] for r in rows if present(r[j])]
        m = len(item)
        if m < 2:
            continue
        counts = np.bincount(item, minlength=len(values)).astype(np.float64)
        o += (np.outer(counts, counts) - np.diag(counts)) / (m - 1)
    n_c = o.sum(axis=1)
    n = n_c.sum()
    if n < 2:
        return float("nan")
    disagree_o = o.sum() - np.trace(o)
    disagree_e = n_c.sum() ** 2 - (n_c**2).sum()
    return 1.0 if disagree_e == 0 else float(1 - (n - 1) * disagree_o / disagree_e)


def au_reliability(coder1: list[set[str]], coder2: list[set[str]]) -> dict[str, Any]:
    """DFME's AU reliability between two coders, ``2 |AUs both chose| / (|AUs of 1| + |AUs of 2|)``.

    Returns ``overall`` (pooled over all items: twice the sum of shared AUs over
    the sum of both coders' AUs, the figure DFME reports as 0.83), ``mean_item``
    (the mean of the per-item values over items where either coder chose an AU),
    ``per_item`` (``nan`` where neither chose any) and ``per_au`` (the same
    formula for each AU over all items: how often both chose it against how
    often each did).
    """
    if len(coder1) != len(coder2):
        raise ValueError(f"AU reliability needs the same items coded twice, got {len(coder1)} and {len(coder2)}")
    per_item = []
    shared = total = 0
    from mextk.annotate.combine import au_sort_key

    aus = sorted(set().union(*coder1, *coder2), key=au_sort_key) if coder1 else []
    both_au = dict.fromkeys(aus, 0)
    each_au = dict.fromkeys(aus, 0)
    for a, b in zip(coder1, coder2, strict=True):
        a, b = set(a), set(b)
        both = a & b
        shared += len(both)
        total += len(a) + len(b)
        per_item.append(2 * len(both) / (len(a) + len(b)) if a or b else float("nan"))
        for au in both:
            both_au[au] += 1
        for au in a:
            each_au[au] += 1
        for au in b:
            each_au[au] += 1
    defined = [x for x in per_item if x == x]
    return {
        "overall": 2 * shared / total if total else float("nan"),
        "mean_item": float(np.mean(defined)) if defined else float("nan"),
        "per_item": per_item,
        "per_au": {au: 2 * both_au[au] / each_au[au] for au in aus},
    }


def keyframe_agreement(
    marks: list[list[tuple[int, int | None, int]]],
    combined: list[tuple[int, int | None, int]],
    fps: list[float],
    *,
    tolerance_ms: float = 10.0,
) -> dict[str, dict[str, float]]:
    """How closely raters' key frames agree, per key frame (onset, apex, offset).

    ``marks[i]`` holds item ``i``'s raters' ``(onset, apex, offset)``;
    ``combined[i]`` the item's final key frames (DFME: the medians); ``fps[i]``
    its frame rate.  For each key frame: ``mad_frames`` and ``mad_ms`` (the mean
    absolute difference of a rater's frame from the final one), ``pairwise_frames``
    and ``pairwise_ms`` (the mean absolute difference between two raters of the
    same item), and ``within_tolerance`` (the share of raters' frames within
    ``tolerance_ms`` of the final one).  A missing apex (``None``) is left out.
    """
    if not (len(marks) == len(combined) == len(fps)):
        raise ValueError("keyframe agreement needs marks, combined key frames and fps for the same items")
    out: dict[str, dict[str, float]] = {}
    for k, name in enumerate(("onset", "apex", "offset")):
        dev_f, dev_ms, pair_f, pair_ms = [], [], [], []
        for item, final, rate in zip(marks, combined, fps, strict=True):
            frames = [m[k] for m in item if m[k] is not None]
            if final[k] is not None:
                d = [abs(f - final[k]) for f in frames]
                dev_f += d
                dev_ms += [1000.0 * x / rate for x in d]
            for i in range(len(frames)):
                for j in range(i + 1, len(frames)):
                    pair_f.append(abs(frames[i] - frames[j]))
                    pair_ms.append(1000.0 * pair_f[-1] / rate)
        out[name] = {
            "mad_frames": float(np.mean(dev_f)) if dev_f else float("nan"),
            "mad_ms": float(np.mean(dev_ms)) if dev_ms else float("nan"),
            "pairwise_frames": float(np.mean(pair_f)) if pair_f else float("nan"),
            "pairwise_ms": float(np.mean(pair_ms)) if pair_ms else float("nan"),
            "within_tolerance": float(np.mean([x <= tolerance_ms + 1e-9 for x in dev_ms])) if dev_ms else float("nan"),
            "n": len(dev_f),
        }
    return out


def rater_confusion(
    ratings: dict[str, dict[Any, str]], final: dict[Any, str], classes: list[str]
) -> dict[str, dict[str, Any]]:
    """Each rater against the final labels: ``confusion`` (rows final, columns the rater), ``agreement`` and ``n``.

    ``ratings[rater][item]`` is the rater's class; items without a final label are left out.
    """
    out = {}
    for rater, given in sorted(ratings.items()):
        items = [i for i in given if final.get(i) is not None]
        truth = [final[i] for i in items]
        theirs = [given[i] for i in items]
        m = confusion(truth, theirs, classes)
        out[rater] = {
            "confusion": m.tolist(),
            "agreement": float(np.trace(m) / m.sum()) if m.sum() else float("nan"),
            "n": int(m.sum()),
        }
    return out
