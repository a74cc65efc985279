"""Classical baselines as scikit-learn pipelines."""

from __future__ import annotations

from typing import Any


def motion_svm(*, C: float = 1.0, class_weight: str | None = "balanced") -> Any:
    """Standardised block-flow features into a linear SVM.

    The classifier of ``mextk demo`` over
    :func:`mextk.features.motion.block_flow_features`.  ``class_weight``
    ``"balanced"`` reweights classes inversely to their frequency, which
    keeps minority emotions from being ignored.

    Returns
    -------
    sklearn.pipeline.Pipeline
    """
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    return make_pipeline(StandardScaler(), SVC(kernel="linear", C=C, class_weight=class_weight))
