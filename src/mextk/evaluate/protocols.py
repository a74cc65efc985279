"""Evaluation protocols: which samples each fold trains and tests on.

=========  =============================================================================
protocol   folds
=========  =============================================================================
loso       one per subject, which is the pair (dataset, subject) (CMED's protocol)
kfold      ``n_splits`` folds of whole subjects, classes stratified (DFME's, made leak-free)
lodo       leave one dataset out: one fold per dataset, trained on all the others
holdout    MEGC's holdout-database evaluation: one fold, trained on the ``train`` datasets
           and tested on the ``test`` datasets; samples of other datasets are not used
split      a fixed split in a manifest column (DFME's train / test A / test B): one fold,
           tested on the rows whose ``split_column`` holds a ``test`` value and trained on
           the rows holding a ``train`` value (default: every other value)
=========  =============================================================================

Every protocol is subject-independent: a fold whose training part holds a
person of its test part is refused (:class:`~mextk.evaluate.splits.LeakageError`),
so a split column that puts one subject on both sides is an error, not a leak.
A fold is described by its test subjects (``folds.json``); the samples a
protocol leaves out entirely (``keep`` false) are listed in ``skipped.csv``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from mextk.evaluate.splits import make_splitter
from mextk.naming import natural_key

PROTOCOLS = ("loso", "kfold", "lodo", "holdout", "split")


@dataclass(frozen=True)
class FoldPlan:
    """The folds of a protocol over a sample table.

    Attributes
    ----------
    keep : numpy.ndarray
        Boolean mask of the samples any fold uses.
    splits : list of (train_index, test_index)
        Indices into the *kept* samples.
    names : list of str
        A name for each fold (the test subject, dataset or split).
    """

    keep: np.ndarray
    splits: list[tuple[np.ndarray, np.ndarray]]
    names: list[str]


def _known(values: Sequence[str], present: Sequence[str], what: str) -> list[str]:
    wanted = [v.strip() for v in values if v.strip()]
    unknown = [v for v in wanted if v not in set(present)]
    if unknown:
        raise ValueError(f"{what} {', '.join(unknown)} not in the manifest (it has {', '.join(present)})")
    return wanted


def plan_folds(
    samples: pd.DataFrame,
    protocol: str,
    *,
    n_splits: int = 10,
    seed: int = 0,
    train: Sequence[str] = (),
    test: Sequence[str] = (),
    split_column: str = "",
) -> FoldPlan:
    """The folds of ``protocol`` over ``samples``.

    Parameters
    ----------
    samples : pandas.DataFrame
        One row per sample with ``subject`` (the person: ``DATASET/SUBJECT``),
        ``dataset``, ``y`` and, for ``split``, the split column.
    protocol : {"loso", "kfold", "lodo", "holdout", "split"}
    n_splits, seed : int
        Folds and seed of ``kfold``.
    train, test : sequence of str
        Datasets (``holdout``) or values of the split column (``split``).
    split_column : str
        The manifest column of ``split``.

    Returns
    -------
    FoldPlan

    Raises
    ------
    ValueError
        Unknown protocol, datasets or values; a protocol that cannot make a fold here.

    Examples
    --------
    >>> df = pd.DataFrame({"subject": ["a/1", "a/2", "b/1"], "dataset": ["a", "a", "b"], "y": [0, 1, 0]})
    >>> plan = plan_folds(df, "lodo")
    >>> plan.names, [t.tolist() for _, t in plan.splits]
    (['a', 'b'], [[0, 1], [2]])
    """
    subjects = samples["subject"].astype(str).to_numpy()
    datasets = samples["dataset"].astype(str).to_numpy()
    if protocol in ("loso", "kfold"):
        splitter = make_splitter(protocol, n_splits=n_splits, seed=seed)
        pairs = splitter.split(subjects, samples["y"].to_numpy(), subjects)
        splits = [(np.asarray(a), np.asarray(b)) for a, b in pairs]
        names = [", ".join(sorted(set(subjects[t]), key=natural_key)) for _, t in splits]
        return FoldPlan(np.ones(len(samples), dtype=bool), splits, names)
    if protocol == "lodo":
        names = sorted(set(datasets), key=natural_key)
        if len(names) < 2:
            raise ValueError(f"lodo (leave one dataset out) needs two or more datasets; the samples are all {names[0]}")
        idx = np.arange(len(samples))
        splits = [(idx[datasets != d], idx[datasets == d]) for d in names]
        return FoldPlan(np.ones(len(samples), dtype=bool), splits, names)
    if protocol == "holdout":
        present = sorted(set(datasets), key=natural_key)
        if not train or not test:
            raise ValueError("holdout needs --train-datasets DATASETS and --test DATASETS")
        tr, te = _known(train, present, "dataset(s)"), _known(test, present, "dataset(s)")
        both = sorted(set(tr) & set(te))
        if both:
            raise ValueError(f"dataset(s) {', '.join(both)} both in --train-datasets and --test")
        return _one_fold(np.isin(datasets, tr), np.isin(datasets, te), f"{'+'.join(tr)} -> {'+'.join(te)}")
    if protocol == "split":
        if not split_column:
            raise ValueError("split needs --split-column COLUMN and --test VALUE")
        if split_column not in samples.columns:
            raise ValueError(f"the manifest has no column {split_column!r} (--split-column)")
        values = samples[split_column].fillna("").astype(str).str.strip().to_numpy()
        present = sorted(set(values) - {""}, key=natural_key)
        if not test:
            raise ValueError(f"split needs --test VALUE (values of {split_column}: {', '.join(present)})")
        te = _known(test, present, f"value(s) of {split_column}:")
        tr = _known(train, present, f"value(s) of {split_column}:") if train else [v for v in present if v not in te]
        both = sorted(set(tr) & set(te))
        if both:
            raise ValueError(f"value(s) {', '.join(both)} both in --train-datasets and --test")
        return _one_fold(np.isin(values, tr), np.isin(values, te), f"{'+'.join(tr)} -> {'+'.join(te)}")
    raise ValueError(f"unknown protocol {protocol!r}; choose one of {', '.join(PROTOCOLS)}")


def _one_fold(train_mask: np.ndarray, test_mask: np.ndarray, name: str) -> FoldPlan:
    keep = train_mask | test_mask
    kept_test = test_mask[keep]
    idx = np.arange(int(keep.sum()))
    return FoldPlan(keep, [(idx[~kept_test], idx[kept_test])], [name])
