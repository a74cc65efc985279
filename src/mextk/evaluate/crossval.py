"""Subject-wise cross-validation of scikit-learn estimators, with pooled predictions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from mextk.evaluate.splits import LeaveOneSubjectOut, SubjectStratifiedKFold, check_subject_independence


def cross_val_predictions(
    estimator: Any,
    X: np.ndarray,
    y: np.ndarray,
    *,
    subjects: Sequence[Any],
    splitter: LeaveOneSubjectOut | SubjectStratifiedKFold,
    sample_ids: Sequence[Any] | None = None,
    datasets: Sequence[Any] | None = None,
    progress: bool = False,
) -> pd.DataFrame:
    """Fit a fresh clone of ``estimator`` per fold and predict that fold's test subjects.

    Every fold is checked for subject leakage before fitting.  A fold whose
    training part holds a single class predicts that class (a classifier
    cannot be fitted on one class).

    Parameters
    ----------
    estimator : sklearn estimator
        Unfitted classifier.
    X : numpy.ndarray
        ``(n_samples, n_features)``.
    y : numpy.ndarray
        ``(n_samples,)`` integer labels.
    subjects : sequence
        Subject of each sample.
    splitter : LeaveOneSubjectOut or SubjectStratifiedKFold
        Protocol.
    sample_ids, datasets : sequence, optional
        Carried into the output.
    progress : bool
        Show a progress bar over folds.

    Returns
    -------
    pandas.DataFrame
        One row per sample: ``sample_id, subject, dataset, fold, y_true, y_pred``.
    """
    from sklearn.base import clone

    X = np.asarray(X)
    y = np.asarray(y)
    subjects = np.asarray(subjects).astype(str)
    folds = list(splitter.split(X, y, subjects))
    check_subject_independence(folds, subjects)
    pred = np.full(len(y), -1, dtype=np.int64)
    fold_of = np.full(len(y), -1, dtype=np.int64)
    from rich.progress import track

    iterator = track(list(enumerate(folds)), description="folds", disable=not progress)
    for k, (train, test) in iterator:
        classes = np.unique(y[train])
        if len(classes) == 1:
            pred[test] = classes[0]
        else:
            model = clone(estimator).fit(X[train], y[train])
            pred[test] = model.predict(X[test])
        fold_of[test] = k
    if np.any(fold_of < 0):
        raise RuntimeError("some samples were never tested; the splitter does not cover the data")
    return pd.DataFrame(
        {
            "sample_id": list(sample_ids) if sample_ids is not None else np.arange(len(y)),
            "subject": subjects,
            "dataset": list(datasets) if datasets is not None else "",
            "fold": fold_of,
            "y_true": y,
            "y_pred": pred,
        }
    )
