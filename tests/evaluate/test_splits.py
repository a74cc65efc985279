from __future__ import annotations

import numpy as np
import pytest

from mextk.evaluate.splits import (
    LeakageError,
    LeaveOneSubjectOut,
    SubjectStratifiedKFold,
    check_subject_independence,
    make_splitter,
)


def _data(n_subjects=12, per=10, k=3, seed=0):
    g = np.random.default_rng(seed)
    subjects = np.repeat([f"sub_{i}" for i in range(1, n_subjects + 1)], per)
    y = g.integers(0, k, len(subjects))
    return np.zeros((len(y), 2)), y, subjects


def test_loso_refuses_without_subjects():
    X, y, _ = _data()
    with pytest.raises(ValueError, match="needs groups"):
        list(LeaveOneSubjectOut().split(X, y))
    with pytest.raises(ValueError, match="empty"):
        list(LeaveOneSubjectOut().split(X[:3], y[:3], ["a", "", "b"]))
    with pytest.raises(ValueError, match="at least 2 subjects"):
        list(LeaveOneSubjectOut().split(X[:3], y[:3], ["a", "a", "a"]))


def test_loso_one_fold_per_subject_in_natural_order():
    X, y, s = _data()
    splitter = LeaveOneSubjectOut()
    folds = list(splitter.split(X, y, s))
    assert len(folds) == splitter.get_n_splits(groups=s) == 12
    assert [s[test][0] for _, test in folds] == [f"sub_{i}" for i in range(1, 13)]
    assert check_subject_independence(folds, s) == 12
    tested = np.concatenate([t for _, t in folds])
    assert sorted(tested.tolist()) == list(range(len(y)))


def test_kfold_is_leak_free_and_deterministic():
    X, y, s = _data(n_subjects=30, per=8, seed=2)
    a = [t.tolist() for _, t in SubjectStratifiedKFold(10, random_state=5).split(X, y, s)]
    b = [t.tolist() for _, t in SubjectStratifiedKFold(10, random_state=5).split(X, y, s)]
    c = [t.tolist() for _, t in SubjectStratifiedKFold(10, random_state=6).split(X, y, s)]
    assert a == b and a != c
    folds = list(SubjectStratifiedKFold(10, random_state=5).split(X, y, s))
    assert len(folds) == 10
    check_subject_independence(folds, s)
    assert sorted(np.concatenate([t for _, t in folds]).tolist()) == list(range(len(y)))


def test_kfold_keeps_the_class_proportions_in_every_fold():
    # 30 subjects who each show one class only (10 per class, 8 samples each): a fold of 3 subjects has the
    # dataset's proportions (1/3 each) only when it takes one subject of each class
    subjects = np.repeat([f"sub_{i}" for i in range(30)], 8)
    y = np.repeat(np.arange(30) % 3, 8)
    X = np.zeros((len(y), 1))
    for seed in (0, 1, 2):
        for _, test in SubjectStratifiedKFold(10, random_state=seed).split(X, y, subjects):
            assert np.bincount(y[test], minlength=3).tolist() == [8, 8, 8]
    # the check can fail: subjects dealt to folds at random, ignoring the classes, leave folds without a class
    order = np.random.default_rng(0).permutation(30)
    unstratified = [np.bincount(order[k : k + 3] % 3, minlength=3) for k in range(0, 30, 3)]
    assert any((counts == 0).any() for counts in unstratified)


def test_kfold_needs_enough_subjects_and_groups():
    X, y, s = _data(n_subjects=5)
    with pytest.raises(ValueError, match="at least 10 subjects"):
        list(SubjectStratifiedKFold(10).split(X, y, s))
    with pytest.raises(ValueError, match="needs groups"):
        list(SubjectStratifiedKFold(2).split(X, y))
    with pytest.raises(ValueError, match="n_splits"):
        SubjectStratifiedKFold(1)


def test_leak_check_catches_a_shared_subject():
    s = np.array(["a", "a", "b", "b"])
    with pytest.raises(LeakageError, match="fold 1: subject\\(s\\) b"):
        check_subject_independence([(np.array([0, 1]), np.array([2, 3])), (np.array([0, 2]), np.array([3]))], s)


def test_sample_level_kfold_would_leak():
    """The reason for subject-wise folds: plain StratifiedKFold mixes subjects."""
    from sklearn.model_selection import StratifiedKFold

    X, y, s = _data(n_subjects=12, per=10)
    with pytest.raises(LeakageError):
        check_subject_independence(StratifiedKFold(10, shuffle=True, random_state=0).split(X, y), s)


def test_make_splitter():
    assert isinstance(make_splitter("loso"), LeaveOneSubjectOut)
    assert make_splitter("kfold", n_splits=4, seed=1).n_splits == 4
    with pytest.raises(ValueError, match="unknown protocol"):
        make_splitter("holdout")


def test_folds_that_test_or_train_on_nothing_are_refused_with_their_numbers():
    from mextk.evaluate.splits import check_folds_not_empty

    check_folds_not_empty([([0, 1], [2, 3]), ([2, 3], [0, 1])])  # fine: no error
    with pytest.raises(ValueError, match=r"^fold\(s\) 1, 2 test no sample"):
        check_folds_not_empty([([0], [1]), ([0, 1], []), ([0, 1], [])])
    with pytest.raises(ValueError, match=r"^fold\(s\) 0 train on no sample"):
        check_folds_not_empty([([], [0, 1])])
