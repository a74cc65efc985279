from __future__ import annotations

import numpy as np
import pytest
import torch

from mextk.models.imbalance import (
    ClassBalancedLoss,
    class_balanced_weights,
    class_counts,
    make_loss,
    uniform_class_indices,
)


def test_class_balanced_weights_by_hand():
    # beta 0.9, counts 1 and 2: effective numbers 1 and 1.9 -> raw weights 0.1/0.1=1, 0.1/0.19; sum scaled to 2
    w = class_balanced_weights(np.array([1, 2]), 0.9)
    raw = np.array([1.0, 1 / 1.9])
    assert np.allclose(w, raw * 2 / raw.sum())
    assert np.allclose(class_balanced_weights(np.array([5, 50]), 0.0), [1, 1])
    near_inverse = class_balanced_weights(np.array([10, 100]), 0.999999)
    assert near_inverse[0] / near_inverse[1] == pytest.approx(10, rel=1e-3)
    with pytest.raises(ValueError):
        class_balanced_weights(np.array([1]), 1.0)
    with pytest.raises(ValueError):
        class_counts(np.array([0, 3]), 3)


def test_uniform_resampling_balances_classes_and_is_seeded():
    y = np.array([0] * 95 + [1] * 4 + [2] * 1)
    idx = uniform_class_indices(y, 30000, np.random.default_rng(0))
    shares = np.bincount(y[idx], minlength=3) / len(idx)
    assert np.allclose(shares, 1 / 3, atol=0.02)
    again = uniform_class_indices(y, 30000, np.random.default_rng(0))
    assert np.array_equal(idx, again)


def test_losses_by_hand():
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0]])
    target = torch.tensor([0, 1])
    ce = torch.nn.functional.cross_entropy(logits, target)
    assert make_loss("cb", np.array([7, 7]))(logits, target) == pytest.approx(float(ce))
    p = torch.softmax(logits, 1)[[0, 1], target]
    focal = ClassBalancedLoss([1.0, 3.0], gamma=2.0)(logits, target)
    expected = (torch.tensor([1.0, 3.0]) * (1 - p) ** 2 * -torch.log(p)).mean()
    assert float(focal) == pytest.approx(float(expected))
    with pytest.raises(ValueError):
        make_loss("hinge", np.array([1, 1]))
