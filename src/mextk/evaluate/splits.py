"""Subject-independent cross-validation splitters.

Subjects are the unit of independence: a subject's samples are never in both
the training and the test part of a fold.  Both splitters are scikit-learn
splitters (``split(X, y, groups)``, ``get_n_splits``) and so drop into
``cross_val_predict`` and friends; both *refuse* to run without ``groups``.

* :class:`LeaveOneSubjectOut`: one fold per subject (CMED's protocol).
* :class:`SubjectStratifiedKFold`: ``n_splits`` folds of whole subjects with
  class proportions kept as well as subjects allow.  DFME used 10-fold
  cross-validation over samples; drawn over samples, the same person lands in
  train and test and the scores are inflated, so here the folds are drawn over
  subjects (scikit-learn's ``StratifiedGroupKFold``) — DFME's protocol made
  leak-free.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np

from mextk.naming import natural_key


class LeakageError(RuntimeError):
    """A subject appears in both the training and the test part of a fold."""


def _groups(groups: Sequence[Any] | None, n: int | None = None) -> np.ndarray:
    if groups is None:
        raise ValueError("subject-wise splitting needs groups (one subject id per sample); got None")
    g = np.asarray(groups).astype(str)
    if n is not None and g.shape[0] != n:
        raise ValueError(f"groups has {g.shape[0]} entries for {n} samples")
    if np.any(g == "") or np.any(g == "nan"):
        raise ValueError("every sample needs a subject id; some are empty")
    return g


class LeaveOneSubjectOut:
    """Leave-one-subject-out: each fold tests all samples of one subject.

    Folds come in natural subject order (``sub_2`` before ``sub_10``), so fold
    numbers are stable across runs and machines.

    Examples
    --------
    >>> splitter = LeaveOneSubjectOut()
    >>> [test.tolist() for _, test in splitter.split([0] * 4, groups=["s1", "s2", "s1", "s10"])]
    [[0, 2], [1], [3]]
    """

    def get_n_splits(self, X: Any = None, y: Any = None, groups: Sequence[Any] | None = None) -> int:
        """Number of subjects."""
        return len(np.unique(_groups(groups)))

    def subjects(self, groups: Sequence[Any]) -> list[str]:
        """The subject tested in each fold, in fold order."""
        return sorted(np.unique(_groups(groups)).tolist(), key=natural_key)

    def split(
        self, X: Any, y: Any = None, groups: Sequence[Any] | None = None
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield ``(train_index, test_index)`` for each subject."""
        g = _groups(groups, len(X))
        subjects = self.subjects(g)
        if len(subjects) < 2:
            raise ValueError(f"leave-one-subject-out needs at least 2 subjects, got {len(subjects)}")
        for s in subjects:
            test = np.flatnonzero(g == s)
            train = np.flatnonzero(g != s)
            yield train, test


class SubjectStratifiedKFold:
    """Subject-independent stratified k-fold (default 10 folds, deterministic by seed).

    Parameters
    ----------
    n_splits : int
        Number of folds; at most the number of subjects.
    shuffle : bool
        Shuffle subjects before assigning folds.
    random_state : int
        Seed used when ``shuffle`` is true.
    """

    def __init__(self, n_splits: int = 10, *, shuffle: bool = True, random_state: int = 0) -> None:
        if n_splits < 2:
            raise ValueError(f"n_splits must be >= 2, got {n_splits}")
        self.n_splits = n_splits
        self.shuffle = shuffle
        self.random_state = random_state

    def get_n_splits(self, X: Any = None, y: Any = None, groups: Any = None) -> int:
        """Number of folds."""
        return self.n_splits

    def split(
        self, X: Any, y: Sequence[Any] | None = None, groups: Sequence[Any] | None = None
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield ``(train_index, test_index)`` for each fold."""
        from sklearn.model_selection import StratifiedGroupKFold

        g = _groups(groups, len(X))
        n_subjects = len(np.unique(g))
        if n_subjects < self.n_splits:
            raise ValueError(
                f"{self.n_splits}-fold subject-independent CV needs at least {self.n_splits} subjects, "
                f"got {n_subjects}; use fewer folds or leave-one-subject-out"
            )
        if y is None:
            raise ValueError("stratified k-fold needs class labels y")
        inner = StratifiedGroupKFold(
            n_splits=self.n_splits,
            shuffle=self.shuffle,
            random_state=self.random_state if self.shuffle else None,
        )
        yield from inner.split(np.zeros(len(g)), np.asarray(y), g)


def check_folds_not_empty(splits: Sequence[tuple[Sequence[int], Sequence[int]]]) -> None:
    """Refuse folds that test nothing or train on nothing (a fold with no score would vanish from the means).

    Raises
    ------
    ValueError
        One line naming the empty folds.

    Examples
    --------
    >>> check_folds_not_empty([([0, 1], [2]), ([2], [0, 1])])
    >>> check_folds_not_empty([([0, 1, 2], [])])
    Traceback (most recent call last):
    ...
    ValueError: fold(s) 0 test no sample; use fewer folds (or leave-one-subject-out)
    """
    no_test = [k for k, (_, test) in enumerate(splits) if len(test) == 0]
    no_train = [k for k, (train, _) in enumerate(splits) if len(train) == 0]
    if no_test:
        raise ValueError(
            f"fold(s) {', '.join(map(str, no_test))} test no sample; use fewer folds (or leave-one-subject-out)"
        )
    if no_train:
        raise ValueError(f"fold(s) {', '.join(map(str, no_train))} train on no sample; the data has one subject")


def check_subject_independence(splits: Iterable[tuple[Sequence[int], Sequence[int]]], groups: Sequence[Any]) -> int:
    """Raise :class:`LeakageError` if any subject is in both train and test of a fold.

    Parameters
    ----------
    splits : iterable of (train_index, test_index)
        The folds.
    groups : sequence
        Subject id of each sample.

    Returns
    -------
    int
        The number of folds checked.
    """
    g = _groups(groups)
    n = 0
    for fold, (train, test) in enumerate(splits):
        both = sorted(set(g[np.asarray(train, dtype=int)]) & set(g[np.asarray(test, dtype=int)]), key=natural_key)
        if both:
            raise LeakageError(f"fold {fold}: subject(s) {', '.join(both)} in both train and test")
        n += 1
    return n


PROTOCOLS = ("loso", "kfold")


def make_splitter(protocol: str, *, n_splits: int = 10, seed: int = 0) -> LeaveOneSubjectOut | SubjectStratifiedKFold:
    """Build the splitter for a protocol name (``loso`` or ``kfold``)."""
    if protocol == "loso":
        return LeaveOneSubjectOut()
    if protocol == "kfold":
        return SubjectStratifiedKFold(n_splits, shuffle=True, random_state=seed)
    raise ValueError(f"unknown protocol {protocol!r}; choose one of {', '.join(PROTOCOLS)}")
