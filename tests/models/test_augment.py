"""Flow augmentations on hand-made fields (:mod:`mextk.models.augment`)."""

from __future__ import annotations

import numpy as np
import pytest

from mextk.features.flow import minmax
from mextk.models.augment import flip_flow, rotate_flow, shift_flow, tta_inputs


def field(u: float, v: float, size: int = 9, strain: float = 0.3) -> np.ndarray:
    x = np.zeros((size, size, 3), np.float32)
    x[..., 0], x[..., 1], x[..., 2] = u, v, strain
    return x


def test_a_rightward_flow_becomes_leftward_when_flipped_and_strain_is_unchanged():
    x = field(2.0, 0.5)
    x[1, 0] = (3.0, 1.0, 0.9)  # a marked pixel on the left edge
    y = flip_flow(x, normalised=False)
    assert y[4, 4, 0] == -2.0 and y[4, 4, 1] == 0.5 and y[4, 4, 2] == pytest.approx(0.3)
    assert tuple(y[1, 8]) == (-3.0, 1.0, pytest.approx(0.9))  # moved to the right edge, u negated
    assert np.array_equal(flip_flow(y, normalised=False), x)  # flipping twice is the identity


def test_flipping_a_normalised_input_equals_normalising_the_flipped_raw_flow():
    rng = np.random.default_rng(0)
    raw = rng.normal(size=(6, 7, 2)).astype(np.float32)
    normalised = np.stack([minmax(raw[..., 0]), minmax(raw[..., 1])], axis=-1)
    mirrored = flip_flow(raw, normalised=False)
    want = np.stack([minmax(mirrored[..., 0]), minmax(mirrored[..., 1])], axis=-1)
    assert np.allclose(flip_flow(normalised, normalised=True), want, atol=1e-6)


def test_a_shift_moves_the_pixels_and_keeps_the_vectors():
    x = field(0.0, 0.0)
    x[2, 3] = (1.0, -1.0, 0.5)
    y = shift_flow(x, 2, 1)
    assert tuple(y[3, 5]) == (1.0, -1.0, 0.5) and y[2, 3, 0] == 0.0


def test_a_quarter_turn_turns_a_rightward_flow_upward_on_screen():
    y = rotate_flow(field(1.0, 0.0), 90, normalised=False)  # counter-clockwise as displayed
    assert y[4, 4, 0] == pytest.approx(0.0, abs=1e-6) and y[4, 4, 1] == pytest.approx(-1.0)  # up: v < 0
    z = rotate_flow(field(0.0, 1.0), 90, normalised=False)  # downward turns rightward
    assert z[4, 4, 0] == pytest.approx(1.0) and z[4, 4, 1] == pytest.approx(0.0, abs=1e-6)
    marked = field(0.0, 0.0)
    marked[4, 7, 2] = 1.0  # right of the centre: the pixels turn the way the vectors do, to above it
    assert rotate_flow(marked, 90, normalised=False)[1, 4, 2] == pytest.approx(1.0)
    small = rotate_flow(field(1.0, 0.0), 10, normalised=False)[4, 4]
    assert np.hypot(small[0], small[1]) == pytest.approx(1.0) and small[2] == pytest.approx(0.3)  # length kept


def test_a_normalised_input_is_not_rotated_and_tta_pairs_the_input_with_its_mirror():
    with pytest.raises(ValueError, match="cannot be rotated"):
        rotate_flow(field(0.5, 0.5), 5, normalised=True)
    x = field(0.8, 0.2)
    pair = tta_inputs(x, normalised=True)
    assert pair[0] is x and pair[1][0, 0, 0] == pytest.approx(0.2)
