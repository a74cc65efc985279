"""A linear SVM (squared hinge, one-vs-rest) solved in the primal with dense matrix products.

LIBLINEAR (scikit-learn's ``LinearSVC``) stores a dense feature matrix as one
``{index, value}`` record per entry and solves the one-vs-rest problems one
after another: on CMED's scale (10,924 LBP-TOP histograms of 4,425 bins, 7
classes) a LOSO fold took 118 s on one core, 73 minutes for the run on two.  The problem
itself is small for dense linear algebra: :class:`PrimalLinearSVC` solves
exactly LIBLINEAR's problem (``LinearSVC``'s default ``loss="squared_hinge"``,
``penalty="l2"``),

.. math::

    \\min_w \\tfrac12 \\lVert w \\rVert^2 + \\sum_i C_i \\max(0, 1 - y_i w^\\top x_i)^2

per class (``y_i = +1`` for the class, ``-1`` for the rest), with LIBLINEAR's
conventions:

* **the intercept** is one more weight on a constant feature
  ``intercept_scaling`` (1), regularised like the others;
* **class weights** (``"balanced"``: ``n / (k n_c)``) scale ``C`` for the
  class's own samples only: in LIBLINEAR's one-vs-rest loop the positive side
  gets ``C w_c`` and the rest plain ``C``.

The objective is strictly convex, so its minimiser is unique: any solver that
converges finds the same weights.  This one is Newton's method with the
generalised Hessian ``I + 2 X_A^T diag(C_A) X_A`` (``A``: the samples inside
the margin), conjugate gradients preconditioned by that Hessian's diagonal for
the Newton step, and a backtracking line search, with all classes at once, so
each step is a few ``(n, d) x (d, k)`` products.  Inside conjugate gradients
the Hessian-vector products may run in bfloat16 (``hessian="bf16"``, the default
where the CPU has Intel AMX or AVX-512 BF16, :func:`bf16_matmul_available`): that changes the
Newton direction only, while the objective, the gradient and so the stopping
test stay in the samples' precision (float32 for mextk's features).  It stops
when each class's gradient norm is below ``tol`` times its norm at ``w = 0``.

Checked (``tests/models/test_linear_svm.py``): the weights equal ``LinearSVC``'s
run to ``tol=1e-10`` (to 1e-6 of their size; 1e-5 with bfloat16 products), with and
without class weights, for several classes and for two.

Measured (2026-12-08, one core per fold, CMED-scale LOSO folds of 9,532 LBP-TOP
histograms of 4,425 bins and 7 classes; ``benchmarks/models.py`` part 3):

* ``tol`` 1e-3 (the default), bfloat16 products: 13.0 s per fold in all (features
  read, scaled, fitted, predicted) against 117.9 s with ``LinearSVC``'s dual
  solver at ``tol=1e-3``, and the same predicted class for all 1,459 test
  samples of the three folds timed;
* ``tol`` 1e-2 is about three times faster, but not converged enough to be
  trusted: started elsewhere, the solver then stops at predictions that differ
  for 1-3 of 1,392 test samples, and on the demo's small LOSO (72 samples) its
  UF1 was 0.733 where the optimum (reached at 1e-3, 1e-4, 1e-6, and by LIBLINEAR
  at 1e-8) gives 0.748;
* float32 products instead of bfloat16: 2.7 times slower at 1e-2 (17.9 against
  6.7 s for the solver alone);
* a low-rank preconditioner (the top 64 or 256 directions of ``X'X``) took 3-4
  times as many gradient steps, and was dropped;
* on an AMD EPYC with AVX-512 BF16 (no AMX): 19.9 s per fold on one core, 16.7 s
  of it in 887 conjugate-gradient steps at 19 ms, each two passes over the
  bfloat16 samples (memory-bound: 15 ms whether the products have 1 or 7
  columns); a block-diagonal preconditioner over each 59-bin LBP histogram gave
  no fewer steps, and looser inner tolerances (forcing 0.3 to 0.9 instead of 0.1)
  more.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.validation import check_is_fitted


def _xv(x: np.ndarray, v: np.ndarray) -> np.ndarray:
    """``x @ v`` in ``x``'s precision (a float64 ``v`` would make numpy copy ``x`` to float64 first)."""
    return x @ np.ascontiguousarray(v, dtype=x.dtype)


def _xtv(x: np.ndarray, v: np.ndarray) -> np.ndarray:
    """``x.T @ v`` in ``x``'s precision, as ``(v.T @ x).T`` (the faster order for few columns)."""
    return (np.ascontiguousarray(v.T, dtype=x.dtype) @ x).T


def _hessian_product(x: np.ndarray, precision: str) -> Any:
    """``(dc, p) -> x.T @ (dc * (x @ p))`` in float32/64 (``x``'s type) or bfloat16 products (torch: AMX or
    AVX-512 BF16)."""
    if precision == "fp32":
        return lambda dc, p: _xtv(x, dc * _xv(x, p))
    if precision != "bf16":
        raise ValueError(f"hessian must be 'fp32' or 'bf16', got {precision!r}")
    import torch

    xb = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).to(torch.bfloat16)
    xtb = xb.T.contiguous()  # both orders row-major: each product is then the fast (n, d) x (d, k) shape

    def product(dc: np.ndarray, p: np.ndarray) -> np.ndarray:
        z = (xb @ torch.from_numpy(np.ascontiguousarray(p, dtype=np.float32)).to(torch.bfloat16)).float().numpy()
        u = torch.from_numpy(np.ascontiguousarray(dc * z, dtype=np.float32)).to(torch.bfloat16)
        return (xtb @ u).float().numpy().astype(np.float64)

    return product


def bf16_matmul_available() -> bool:
    """Whether this CPU multiplies bfloat16 matrices in hardware, per torch: Intel AMX tiles, or the AVX-512
    BF16 dot products of Intel Cooper Lake and later and AMD Zen 4 and later (oneDNN uses either)."""
    try:
        import torch

        return bool(torch.cpu._is_amx_tile_supported() or torch.cpu._is_avx512_bf16_supported())
    except (ImportError, AttributeError, RuntimeError):
        return False


def _objective(w: np.ndarray, x: np.ndarray, sy: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per class: the objective and the margins' slack ``1 - y (x w)`` (``w``: ``(d, k)``)."""
    slack = 1.0 - sy * _xv(x, w)
    hinge = np.maximum(slack, 0.0)
    return 0.5 * (w * w).sum(axis=0) + (c * hinge * hinge).sum(axis=0), slack


def fit_squared_hinge_ovr(
    x: np.ndarray,
    sy: np.ndarray,
    c: np.ndarray,
    *,
    tol: float = 1e-2,
    max_newton: int = 100,
    max_cg: int = 500,
    hessian: str = "fp32",
    cg_forcing: float = 0.1,
) -> tuple[np.ndarray, int, bool, int]:
    """Minimise ``0.5 |w_k|^2 + sum_i c_ik max(0, 1 - sy_ik x_i w_k)^2`` for every column ``k``.

    Parameters
    ----------
    x : numpy.ndarray
        ``(n, d)`` samples (the intercept's constant column included), float32 or float64: the products
        with ``x`` run in its type, everything else in float64.
    sy : numpy.ndarray
        ``(n, k)`` +1 / -1: sample ``i`` is (not) of class ``k``.
    c : numpy.ndarray
        ``(n, k)`` per-sample penalties.
    tol : float
        Stop a class when its gradient norm is at most ``tol`` times its norm at ``w = 0``.
    hessian : {"fp32", "bf16"}
        Arithmetic of the Hessian-vector products inside conjugate gradients: ``"bf16"`` rounds ``x`` and the
        vectors to bfloat16 and sums in float32 (AMX or AVX-512 BF16), which only changes the Newton *direction*; the
        objective, the gradient and so the stopping test stay in ``x``'s precision.
    cg_forcing : float
        Conjugate gradients stop at a residual of ``min(cg_forcing, sqrt(|g| / |g0|)) |g|`` (a truncated Newton
        method's forcing term): larger values mean cheaper but rougher Newton steps.

    Returns
    -------
    (numpy.ndarray, int, bool, int)
        ``(d, k)`` weights, the Newton iterations taken, whether every class converged, and the
        conjugate-gradient steps taken (each two passes over ``x``).
    """
    n, d = x.shape
    k = sy.shape[1]
    sq = x * x  # for the diagonal preconditioner
    hv = _hessian_product(x, hessian)
    w = np.zeros((d, k))
    f, slack = _objective(w, x, sy, c)
    active = slack > 0

    def gradient(w: np.ndarray, active: np.ndarray, slack: np.ndarray) -> np.ndarray:
        return w - 2.0 * _xtv(x, c * sy * np.where(active, slack, 0.0))

    grad = gradient(w, active, slack)
    g0 = np.linalg.norm(grad, axis=0)  # the scale of "solved"
    todo = np.linalg.norm(grad, axis=0) > tol * g0
    it = cg_steps = 0
    while todo.any() and it < max_newton:
        it += 1
        dc = np.where(active, c, 0.0)
        diag = 1.0 + 2.0 * _xtv(sq, dc)  # the Hessian's diagonal, per class: the preconditioner
        # preconditioned conjugate gradients for H s = -g, every unfinished class at once (H = I + 2 X_A' C_A X_A)
        s = np.zeros((d, k))
        r = -grad * todo
        z = r / diag
        p = z.copy()
        rz = (r * z).sum(axis=0)
        gnorm = np.linalg.norm(grad, axis=0)
        cg_tol = np.minimum(cg_forcing, np.sqrt(gnorm / np.maximum(g0, 1e-300))) * gnorm
        running = todo & (gnorm > 0)
        for _ in range(max_cg):
            if not running.any():
                break
            cg_steps += 1
            hp = p + 2.0 * hv(dc, p)
            php = (p * hp).sum(axis=0)
            step = np.where(running & (php > 0), rz / np.where(php > 0, php, 1.0), 0.0)
            s += step * p
            r -= step * hp
            running &= np.linalg.norm(r, axis=0) > cg_tol
            z = r / diag
            rz_new = (r * z).sum(axis=0)
            p = z + (rz_new / np.where(rz > 0, rz, 1.0)) * p
            rz = rz_new
        # backtracking line search per class (Armijo, halving)
        slope = (grad * s).sum(axis=0)
        alpha = np.where(todo, 1.0, 0.0)
        for _ in range(30):
            f_new, slack_new = _objective(w + alpha * s, x, sy, c)
            bad = todo & (f_new > f + 0.01 * alpha * slope)
            if not bad.any():
                break
            alpha = np.where(bad, alpha / 2, alpha)
        w = w + alpha * s
        f, slack = f_new, slack_new
        active = slack > 0
        grad = gradient(w, active, slack)
        todo = np.linalg.norm(grad, axis=0) > tol * g0
    return w, it, not todo.any(), cg_steps


class PrimalLinearSVC(ClassifierMixin, BaseEstimator):
    """One-vs-rest linear SVM with LIBLINEAR's squared-hinge problem, solved in the primal (module docstring).

    A drop-in for ``sklearn.svm.LinearSVC(loss="squared_hinge", dual=True)`` with the same ``C``,
    ``class_weight``, ``fit_intercept`` and ``intercept_scaling``: the same minimiser, reached with dense
    matrix products.

    Parameters
    ----------
    C : float
        Penalty of the squared hinge loss.
    class_weight : "balanced", dict or None
        Per-class factors of ``C`` for each class's own samples in its one-vs-rest problem.
    fit_intercept : bool
        Learn an intercept (a regularised weight on a constant feature ``intercept_scaling``).
    intercept_scaling : float
        That constant.
    tol : float
        Relative gradient norm at which a class's problem counts as solved (see the module docstring).
    max_iter : int
        Newton iterations at most.
    hessian : {"auto", "fp32", "bf16"}
        Arithmetic of the Hessian-vector products (:func:`fit_squared_hinge_ovr`); ``"auto"``: bfloat16
        where the CPU multiplies it in hardware (:func:`bf16_matmul_available`), else the samples' own.

    Attributes
    ----------
    classes_, coef_, intercept_, n_iter_
        As ``LinearSVC``'s (``coef_``: ``(k, d)``; for two classes one row, class 1 against class 0).
    converged_ : bool
    """

    def __init__(
        self,
        C: float = 1.0,
        *,
        class_weight: Any = None,
        fit_intercept: bool = True,
        intercept_scaling: float = 1.0,
        tol: float = 1e-3,
        max_iter: int = 100,
        hessian: str = "auto",
    ) -> None:
        self.C = C
        self.class_weight = class_weight
        self.fit_intercept = fit_intercept
        self.intercept_scaling = intercept_scaling
        self.tol = tol
        self.max_iter = max_iter
        self.hessian = hessian

    def fit(self, X: Any, y: Any) -> PrimalLinearSVC:
        """Fit one problem per class (one in all for two classes, as LIBLINEAR does)."""
        import warnings

        from sklearn.exceptions import ConvergenceWarning

        X = np.asarray(X)
        X = np.ascontiguousarray(X, dtype=X.dtype if X.dtype in (np.float32, np.float64) else np.float64)
        y = np.asarray(y)
        self.classes_, yi = np.unique(y, return_inverse=True)
        k = len(self.classes_)
        if k < 2:
            raise ValueError(f"PrimalLinearSVC needs at least two classes, got {k}")
        weights = compute_class_weight(self.class_weight, classes=self.classes_, y=y)
        if self.fit_intercept:
            X = np.hstack([X, np.full((len(X), 1), self.intercept_scaling, dtype=X.dtype)])
        if k == 2:  # LIBLINEAR: class 1 is positive; each side's C is scaled by its own class weight
            sy = np.where(yi == 1, 1.0, -1.0)[:, None]
            c = (self.C * weights[yi])[:, None]
        else:
            own = yi[:, None] == np.arange(k)[None, :]
            sy = np.where(own, 1.0, -1.0)
            c = np.where(own, self.C * weights[None, :], self.C)
        if self.hessian not in ("auto", "fp32", "bf16"):
            raise ValueError(f"hessian must be 'auto', 'fp32' or 'bf16', got {self.hessian!r}")
        hessian = self.hessian
        if hessian == "auto":
            hessian = "bf16" if bf16_matmul_available() else "fp32"
        self.hessian_ = hessian
        w, self.n_iter_, self.converged_, self.n_cg_ = fit_squared_hinge_ovr(
            X, sy, c, tol=self.tol, max_newton=self.max_iter, hessian=hessian
        )
        if not self.converged_:
            warnings.warn(
                f"PrimalLinearSVC did not reach tol={self.tol} in {self.max_iter} Newton iterations",
                ConvergenceWarning,
                stacklevel=2,
            )
        w = w.T
        if self.fit_intercept:
            self.coef_, self.intercept_ = w[:, :-1].copy(), w[:, -1] * self.intercept_scaling
        else:
            self.coef_, self.intercept_ = w.copy(), np.zeros(len(w))
        self.n_features_in_ = self.coef_.shape[1]
        return self

    def decision_function(self, X: Any) -> np.ndarray:
        """Signed distances: ``(n, k)``, or ``(n,)`` for two classes."""
        check_is_fitted(self, "coef_")
        scores = np.asarray(X, dtype=np.float64) @ self.coef_.T + self.intercept_
        return scores[:, 0] if scores.shape[1] == 1 else scores

    def predict(self, X: Any) -> np.ndarray:
        """The class with the largest decision value."""
        scores = self.decision_function(X)
        if scores.ndim == 1:
            return self.classes_[(scores > 0).astype(int)]
        return self.classes_[scores.argmax(axis=1)]
