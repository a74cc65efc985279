"""ACC, UF1 and UAR with the MEGC conventions, and confusion matrices.

* **ACC**: fraction of correct predictions.
* **UF1** (unweighted F1, macro F1): mean over classes of
  ``F1_c = 2 TP_c / (2 TP_c + FP_c + FN_c)``.
* **UAR** (unweighted average recall): mean over classes of ``TP_c / N_c``.

Following MEGC-2019 (See et al., "MEGC 2019 - the second facial
micro-expressions grand challenge", FG 2019, doi:10.1109/FG.2019.8756611),
the metrics are computed once over the predictions of *all* folds pooled, not
averaged over folds, and also per source dataset.  A class with no
ground-truth sample in the scored set is left out of the UF1 and UAR averages
(it would otherwise contribute an F1 or recall of 0 or an undefined value).
Predictions *of* such a class still count: they are misses (FN) of the true
classes and so lower those classes' recall and F1.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd


def _arrays(y_true: Sequence[Any], y_pred: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
    yt, yp = np.asarray(y_true), np.asarray(y_pred)
    if yt.shape != yp.shape or yt.ndim != 1:
        raise ValueError(f"y_true and y_pred must be 1-D and equally long, got {yt.shape} and {yp.shape}")
    if yt.size == 0:
        raise ValueError("cannot score an empty set of predictions")
    return yt, yp


def accuracy(y_true: Sequence[Any], y_pred: Sequence[Any]) -> float:
    """Fraction of samples predicted correctly.

    Examples
    --------
    >>> accuracy([0, 1, 1, 2], [0, 1, 2, 2])
    0.75
    """
    yt, yp = _arrays(y_true, y_pred)
    return float(np.mean(yt == yp))


def per_class_scores(y_true: Sequence[Any], y_pred: Sequence[Any]) -> pd.DataFrame:
    """Support, TP, FP, FN, precision, recall and F1 of every class present in ``y_true``.

    Returns
    -------
    pandas.DataFrame
        Indexed by class (sorted), columns ``support, tp, fp, fn, precision, recall, f1``.
    """
    yt, yp = _arrays(y_true, y_pred)
    rows = []
    for c in np.unique(yt):
        tp = int(np.sum((yt == c) & (yp == c)))
        fp = int(np.sum((yt != c) & (yp == c)))
        fn = int(np.sum((yt == c) & (yp != c)))
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn)
        f1 = 2 * tp / (2 * tp + fp + fn)
        rows.append((c, tp + fn, tp, fp, fn, precision, recall, f1))
    df = pd.DataFrame(rows, columns=["class", "support", "tp", "fp", "fn", "precision", "recall", "f1"])
    return df.set_index("class")


def uf1(y_true: Sequence[Any], y_pred: Sequence[Any]) -> float:
    """Unweighted (macro) F1 over the classes present in ``y_true``.

    Examples
    --------
    >>> round(uf1([0, 0, 1, 1], [0, 1, 1, 1]), 4)
    0.7333
    """
    return float(per_class_scores(y_true, y_pred)["f1"].mean())


def uar(y_true: Sequence[Any], y_pred: Sequence[Any]) -> float:
    """Unweighted average recall over the classes present in ``y_true``.

    Examples
    --------
    >>> uar([0, 0, 1, 1], [0, 1, 1, 1])
    0.75
    """
    return float(per_class_scores(y_true, y_pred)["recall"].mean())


def score_predictions(
    y_true: Sequence[Any],
    y_pred: Sequence[Any],
    *,
    datasets: Sequence[Any] | None = None,
) -> dict[str, Any]:
    """ACC, UF1 and UAR over all predictions pooled, per class, and per source dataset.

    Parameters
    ----------
    y_true, y_pred : sequence
        Labels (any hashable type), one per sample, all folds pooled.
    datasets : sequence, optional
        Source dataset of each sample; adds ``per_dataset``.

    Returns
    -------
    dict
        ``{"acc", "uf1", "uar", "n", "per_class": {cls: {...}}, "per_dataset": {name: {...}}}``.
    """
    yt, yp = _arrays(y_true, y_pred)
    pcs = per_class_scores(yt, yp)
    result: dict[str, Any] = {
        "acc": accuracy(yt, yp),
        "uf1": float(pcs["f1"].mean()),
        "uar": float(pcs["recall"].mean()),
        "n": int(yt.size),
        "per_class": {
            str(c): {k: (int(v) if k in ("support", "tp", "fp", "fn") else float(v)) for k, v in row.items()}
            for c, row in pcs.iterrows()
        },
    }
    if datasets is not None:
        ds = np.asarray(datasets).astype(str)
        if ds.shape != yt.shape:
            raise ValueError("datasets must have one entry per prediction")
        result["per_dataset"] = {}
        for name in sorted(np.unique(ds)):
            m = ds == name
            p = per_class_scores(yt[m], yp[m])
            result["per_dataset"][name] = {
                "acc": accuracy(yt[m], yp[m]),
                "uf1": float(p["f1"].mean()),
                "uar": float(p["recall"].mean()),
                "n": int(m.sum()),
            }
    return result


def confusion_matrix(
    y_true: Sequence[Any],
    y_pred: Sequence[Any],
    *,
    labels: Sequence[Any] | None = None,
    normalize: bool = False,
) -> tuple[np.ndarray, list[Any]]:
    """Confusion matrix with true classes as rows and predictions as columns.

    Parameters
    ----------
    labels : sequence, optional
        Class order; defaults to the sorted union of ``y_true`` and ``y_pred``.
    normalize : bool
        Divide each row by its total (rows without samples stay 0).

    Returns
    -------
    (numpy.ndarray, list)
        The ``(K, K)`` matrix (``int64`` counts, or ``float64`` when
        normalised) and the class order.
    """
    yt, yp = _arrays(y_true, y_pred)
    order = list(labels) if labels is not None else sorted(set(yt.tolist()) | set(yp.tolist()))
    pos = {c: i for i, c in enumerate(order)}
    unknown = sorted({str(c) for c in np.concatenate([yt, yp]).tolist() if c not in pos})
    if unknown:
        raise ValueError(f"labels not in the class list: {', '.join(unknown)}")
    cm = np.zeros((len(order), len(order)), dtype=np.int64)
    for t, p in zip(yt.tolist(), yp.tolist(), strict=True):
        cm[pos[t], pos[p]] += 1
    if normalize:
        totals = cm.sum(axis=1, keepdims=True)
        return np.divide(cm, totals, out=np.zeros(cm.shape, dtype=float), where=totals > 0), order
    return cm, order
