"""Classical baselines as scikit-learn pipelines."""

from __future__ import annotations

from typing import Any


def motion_svm(*, num_classes: int | None = None, C: float = 1.0, class_weight: str | None = "balanced") -> Any:
    """Standardised block-flow features into a linear SVM (``--model motion_svm``).

    A cheap baseline over :func:`mextk.features.motion.block_flow_features`
    (the ``motion`` feature kind, 72 numbers a sample at the default 6x6
    grid), for checking a pipeline end to end before the expensive models.  ``class_weight``
    ``"balanced"`` reweights classes inversely to their frequency, which
    keeps minority emotions from being ignored.

    Parameters
    ----------
    num_classes : int, optional
        Accepted for the registry's uniform signature; the SVM learns the classes from ``y``.
    C : float
        Inverse regularisation strength.
    class_weight : "balanced" or None
        Class weights.

    Returns
    -------
    sklearn.pipeline.Pipeline
    """
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    return make_pipeline(StandardScaler(), SVC(kernel="linear", C=C, class_weight=class_weight))


def lbptop_svm(
    *,
    num_classes: int | None = None,
    C: float = 0.01,
    class_weight: Any = "balanced",
    solver: str = "primal",
    tol: float | None = None,
    max_iter: int = 1000,
) -> Any:
    """LBP-TOP histograms into a linear SVM (CMED's hand-crafted baseline).

    The histograms (:func:`mextk.features.lbp_top.lbp_top`, each plane's
    block histograms summing to one) are square-rooted (the Hellinger map:
    a linear kernel on square roots is the Bhattacharyya kernel on
    histograms, the usual choice for LBP), standardised, and classified by a
    one-vs-rest linear SVM with the squared hinge loss (LIBLINEAR's problem, as
    in scikit-learn's ``LinearSVC``).  CMED does not name the kernel or C;
    these are mextk's choices.

    Two solvers of that one problem:

    * ``"primal"`` (default): :class:`mextk.models.linear_svm.PrimalLinearSVC`,
      Newton's method with dense matrix products over all classes at once
      (bfloat16 Hessian products where the CPU has AMX or AVX-512 BF16), stopped at a gradient
      norm of ``tol`` (default 0.001) times the starting one.  On CMED-scale LOSO
      folds (9,532 training histograms of 4,425 bins, 7 classes; ``benchmarks/models.py``
      part 3) it took 13.0 s per fold against 117.9 s with LIBLINEAR, with the same
      predicted class for all 1,459 test samples of the three folds timed.
    * ``"liblinear"``: ``LinearSVC`` solved in the dual (coordinate descent,
      ``tol`` default 0.001, ``max_iter`` iterations), mextk's solver before.

    Parameters
    ----------
    num_classes : int, optional
        Accepted for the registry's uniform signature; the SVM learns the classes from ``y``.
    C : float
        Inverse regularisation strength.
    class_weight : "balanced", dict or None
        Class weights (``"balanced"``: inversely proportional to class frequency).
    solver : {"primal", "liblinear"}
        Which solver (above).
    tol : float, optional
        Its stopping tolerance (default 0.001 for both: relative gradient norm for the primal solver,
        projected-gradient gap for LIBLINEAR's).
    max_iter : int
        LIBLINEAR's iterations (``"liblinear"`` only).

    Returns
    -------
    sklearn.pipeline.Pipeline
    """
    import numpy as np
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, StandardScaler

    if solver == "primal":
        from mextk.models.linear_svm import PrimalLinearSVC

        svm: Any = PrimalLinearSVC(C=C, class_weight=class_weight, tol=1e-3 if tol is None else tol)
    elif solver == "liblinear":
        from sklearn.svm import LinearSVC

        svm = LinearSVC(
            C=C, class_weight=class_weight, max_iter=max_iter, dual=True, tol=1e-3 if tol is None else tol,
            random_state=0,
        )  # fmt: skip
    else:
        raise ValueError(f"solver must be 'primal' or 'liblinear', got {solver!r}")
    return make_pipeline(FunctionTransformer(np.sqrt, validate=True), StandardScaler(), svm)
