"""Class-imbalance handling (DFME section 4.7): uniform class resampling and class-balanced loss.

* :func:`uniform_class_indices`: each training draw first picks a class
  uniformly, then a sample of that class uniformly (DFME's "uniform
  resampling").  An epoch draws as many samples as the training set holds.
* :func:`class_balanced_weights` and :class:`ClassBalancedLoss`: Cui et al.'s
  reweighting by the *effective number* of samples ``(1 - beta^n) / (1 - beta)``,
  optionally combined with the focal loss of Lin et al.

References
----------
Y. Cui, M. Jia, T.-Y. Lin, Y. Song and S. Belongie, "Class-balanced loss based on effective number of
samples", CVPR 2019, doi:10.1109/CVPR.2019.00949.
T.-Y. Lin, P. Goyal, R. Girshick, K. He and P. Dollar, "Focal loss for dense object detection",
ICCV 2017, doi:10.1109/ICCV.2017.324.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn


def class_counts(y: np.ndarray, n_classes: int) -> np.ndarray:
    """Samples per class, ``(n_classes,)``; classes absent from ``y`` count 0."""
    y = np.asarray(y, dtype=np.int64)
    if y.size and (y.min() < 0 or y.max() >= n_classes):
        raise ValueError(f"labels must lie in [0, {n_classes - 1}]")
    return np.bincount(y, minlength=n_classes)


def class_balanced_weights(counts: np.ndarray, beta: float = 0.9999) -> np.ndarray:
    """Per-class weights ``(1 - beta) / (1 - beta^n_c)``, scaled to sum to the number of present classes.

    ``beta = 0`` gives equal weights; ``beta -> 1`` approaches inverse class
    frequency.  Absent classes get weight 0.

    Examples
    --------
    >>> class_balanced_weights(np.array([10, 10]), 0.9).tolist()
    [1.0, 1.0]
    >>> w = class_balanced_weights(np.array([100, 10, 0]), 0.999)
    >>> bool(w[1] > w[0]), float(w[2])
    (True, 0.0)
    """
    counts = np.asarray(counts, dtype=np.float64)
    if not 0 <= beta < 1:
        raise ValueError(f"beta must lie in [0, 1), got {beta}")
    present = counts > 0
    weights = np.zeros_like(counts)
    effective = 1.0 - np.power(beta, counts[present])
    weights[present] = (1.0 - beta) / effective if beta > 0 else 1.0
    weights[present] *= present.sum() / weights[present].sum()
    return weights


def uniform_class_indices(y: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` training indices drawn class-uniformly (with replacement within each class).

    Examples
    --------
    >>> y = np.array([0] * 90 + [1] * 10)
    >>> idx = uniform_class_indices(y, 10000, np.random.default_rng(0))
    >>> 0.45 < float((y[idx] == 1).mean()) < 0.55
    True
    """
    y = np.asarray(y)
    classes = np.unique(y)
    if classes.size == 0:
        raise ValueError("no training samples to resample")
    members = [np.flatnonzero(y == c) for c in classes]
    picks = rng.integers(0, len(classes), n)
    out = np.empty(n, dtype=np.int64)
    for k, idx in enumerate(members):
        m = picks == k
        out[m] = idx[rng.integers(0, len(idx), int(m.sum()))]
    return out


def make_loss(kind: str, counts: np.ndarray, *, beta: float = 0.9999, gamma: float = 2.0) -> Any:
    """The training loss: ``"ce"`` (cross-entropy), ``"cb"`` (class-balanced), ``"focal"`` or ``"cb_focal"``."""
    if kind == "ce":
        return torch.nn.CrossEntropyLoss()
    if kind not in ("cb", "focal", "cb_focal"):
        raise ValueError(f"loss must be 'ce', 'cb', 'focal' or 'cb_focal', got {kind!r}")
    return ClassBalancedLoss(loss_class_weights(kind, counts, beta), gamma=gamma if kind.endswith("focal") else 0.0)


def loss_class_weights(kind: str, counts: np.ndarray, beta: float = 0.9999) -> np.ndarray:
    """Per-class weights of loss ``kind``: class-balanced for ``"cb"``/``"cb_focal"``, ones otherwise."""
    return class_balanced_weights(counts, beta) if kind.startswith("cb") else np.ones(len(counts))


class ClassBalancedLoss(nn.Module):
    """Weighted (focal) cross-entropy: ``mean_i w[y_i] (1 - p_i)^gamma (-log p_i)``.

    Parameters
    ----------
    weights : array-like
        Per-class weights (:func:`class_balanced_weights`).
    gamma : float
        Focal exponent; 0 gives weighted cross-entropy.
    """

    def __init__(self, weights: Any, *, gamma: float = 0.0) -> None:
        super().__init__()
        self.register_buffer("weights", torch.as_tensor(np.asarray(weights), dtype=torch.float32))
        self.gamma = float(gamma)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Mean weighted loss of a batch."""
        logp = torch.log_softmax(logits, dim=1).gather(1, target[:, None]).squeeze(1)
        loss = -logp
        if self.gamma:
            loss = loss * (1 - logp.exp()).pow(self.gamma)
        return (self.weights[target] * loss).mean()
