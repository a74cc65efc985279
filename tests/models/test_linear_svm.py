"""The primal linear SVM (:mod:`mextk.models.linear_svm`) against scikit-learn's LIBLINEAR ``LinearSVC``."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.svm import LinearSVC

from mextk.models.baselines import lbptop_svm
from mextk.models.linear_svm import PrimalLinearSVC, bf16_matmul_available


def _data(n: int = 500, d: int = 60, k: int = 5, seed: int = 0):
    g = np.random.default_rng(seed)
    y = g.choice(k, n, p=np.linspace(2, 1, k) / np.linspace(2, 1, k).sum())
    x = g.normal(size=(n, d))
    x[np.arange(n), y] += 1.2
    return x, y


@pytest.mark.parametrize("class_weight", [None, "balanced"])
@pytest.mark.parametrize("C", [0.01, 1.0])
@pytest.mark.parametrize("k", [2, 5])
def test_the_weights_are_liblinears_optimum_with_its_intercept_and_class_weight_conventions(class_weight, C, k):
    """LIBLINEAR run to tol 1e-10 is the reference: the problem has one minimiser, so both must reach it.

    With class weights, LIBLINEAR scales C of a class's own samples only in its one-vs-rest problem (the rest keep
    plain C), and of both sides in a two-class problem; its intercept is a regularised weight on a constant 1."""
    x, y = _data(k=k)
    ref = LinearSVC(C=C, class_weight=class_weight, tol=1e-10, max_iter=1_000_000).fit(x, y)
    ours = PrimalLinearSVC(C=C, class_weight=class_weight, tol=1e-8, hessian="fp32").fit(x, y)
    scale = np.abs(ref.coef_).max()
    assert ours.converged_
    assert np.abs(ours.coef_ - ref.coef_).max() < 1e-6 * scale
    assert np.abs(ours.intercept_ - ref.intercept_).max() < 1e-6 * scale
    assert (ours.predict(x) == ref.predict(x)).all()
    assert ours.decision_function(x).shape == ((len(x),) if k == 2 else (len(x), k))


def test_float32_samples_give_the_float64_solution_to_float32_precision():
    x, y = _data(k=4)
    a = PrimalLinearSVC(C=0.1, class_weight="balanced", tol=1e-6, hessian="fp32").fit(x, y)
    b = PrimalLinearSVC(C=0.1, class_weight="balanced", tol=1e-6, hessian="fp32").fit(x.astype(np.float32), y)
    assert np.abs(a.coef_ - b.coef_).max() < 1e-4 * np.abs(a.coef_).max()


@pytest.mark.skipif(not bf16_matmul_available(), reason="this CPU has no bfloat16 matrix products (AMX, AVX-512 BF16)")
def test_bfloat16_hessian_products_change_the_path_not_the_optimum():
    """Only the Newton directions are rounded; the gradient that decides convergence is exact, so the solver still
    reaches LIBLINEAR's optimum (run to tol 1e-10), in a few more steps at most."""
    x, y = _data(k=5)
    ref = LinearSVC(C=0.1, class_weight="balanced", tol=1e-10, max_iter=1_000_000).fit(x, y)
    ours = PrimalLinearSVC(C=0.1, class_weight="balanced", tol=1e-8, hessian="bf16").fit(x, y)
    assert ours.hessian_ == "bf16" and ours.converged_
    assert np.abs(ours.coef_ - ref.coef_).max() < 1e-5 * np.abs(ref.coef_).max()
    assert PrimalLinearSVC().fit(x, y).hessian_ == "bf16"  # what "auto" picks on such a CPU
    with pytest.raises(ValueError, match="hessian must be"):
        PrimalLinearSVC(hessian="fp8").fit(x, y)


def test_a_run_out_of_newton_steps_warns_as_liblinear_does():
    x, y = _data(k=3)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = PrimalLinearSVC(C=10.0, tol=1e-12, max_iter=1).fit(x, y)
    assert not model.converged_
    assert any(issubclass(w.category, ConvergenceWarning) for w in caught)
    with pytest.raises(ValueError, match="two classes"):
        PrimalLinearSVC().fit(x, np.zeros(len(x)))


def test_lbptop_svm_solvers_predict_alike_and_a_bad_solver_is_named():
    g = np.random.default_rng(3)
    y = g.integers(0, 4, 400)
    hist = g.random((400, 120)) + 0.4 * np.eye(4)[y].repeat(30, axis=1)  # histogram-like, class-shifted
    primal = lbptop_svm(num_classes=4).fit(hist, y)
    dual = lbptop_svm(num_classes=4, solver="liblinear").fit(hist, y)
    assert (primal.predict(hist) == dual.predict(hist)).mean() >= 0.99
    with pytest.raises(ValueError, match="solver must be"):
        lbptop_svm(solver="sag")
