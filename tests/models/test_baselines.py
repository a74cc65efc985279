from __future__ import annotations

import numpy as np
from sklearn.base import clone

from mextk.models.baselines import motion_svm


def test_motion_svm_is_a_cloneable_pipeline_that_learns():
    g = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], 20)
    X = g.normal(0, 1, (60, 8)) + np.eye(3)[y] @ g.normal(0, 3, (3, 8))
    model = clone(motion_svm(C=0.5)).fit(X, y)
    assert (model.predict(X) == y).mean() > 0.9
    assert model.get_params()["svc__C"] == 0.5 and model.get_params()["svc__class_weight"] == "balanced"


def test_balanced_weights_raise_the_recall_of_a_minority_class():
    g = np.random.default_rng(1)
    y = np.array([0] * 95 + [1] * 5)
    X = g.normal(0, 1, (100, 2)) + y[:, None] * 1.5
    recall = lambda m: (m.fit(X, y).predict(X)[y == 1] == 1).mean()  # noqa: E731
    # unweighted, the SVM gives up most of the 5 minority samples to fit the 95 others
    assert recall(motion_svm()) > recall(motion_svm(class_weight=None))
    assert recall(motion_svm()) >= 0.8


def test_motion_svm_is_registered_on_the_motion_feature():
    from mextk.models.registry import get_model

    spec = get_model("motion_svm")
    assert (spec.family, spec.feature, spec.input_type) == ("sklearn", "motion", "vector")
    assert spec.training_settings() == {"C": 1.0, "class_weight": "balanced"}
