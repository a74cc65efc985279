"""Flow augmentations on hand-made fields (:mod:`mextk.models.augment`)."""

from __future__ import annotations

import numpy as np
import pytest

from mextk.features.flow import minmax
from mextk.models.augment import (
    FlowAugment,
    flip_flow,
    on_tensor,
    rotate_flow,
    rotate_minmax_flow,
    shift_flow,
    tta_inputs,
    uv_ratio,
)


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


def test_rotating_a_normalised_input_with_its_range_ratio_equals_normalising_the_rotated_raw_flow():
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[0:15, 0:15].astype(np.float32)
    raw = np.zeros((15, 15, 3), np.float32)
    raw[..., 0] = 0.7 + 0.2 * xx + 0.05 * rng.normal(size=(15, 15))  # u spans about 3 px
    raw[..., 1] = -2.0 + 0.6 * yy  # v spans 8.4 px: the channels' scales differ
    raw[..., 2] = rng.random((15, 15))
    normalised = np.stack([minmax(raw[..., c]) for c in range(3)], axis=-1)
    ratio = uv_ratio(np.array([raw[..., 0].min(), raw[..., 0].max(), raw[..., 1].min(), raw[..., 1].max()]))
    assert ratio == pytest.approx(8.4 / float(np.ptp(raw[..., 0])), rel=1e-5)
    turned = rotate_flow(raw, 20, normalised=False)
    want = np.stack([minmax(turned[..., 0]), minmax(turned[..., 1])], axis=-1)
    got = rotate_minmax_flow(normalised, 20, ratio=ratio)
    assert np.allclose(got[..., :2], want, atol=1e-5)
    assert np.allclose(got[..., 2], rotate_flow(normalised, 20, normalised=False)[..., 2])  # strain only moved
    wrong = rotate_minmax_flow(normalised, 20, ratio=1.0)  # ignoring the scales gives another field
    assert np.abs(wrong[..., :2] - want).max() > 0.05


def test_flow_augment_always_flips_at_probability_one_and_never_at_zero():
    x = field(0.9, 0.4)  # normalised: u above its mid-range, a rightward flow
    rng = np.random.default_rng(0)
    flipped = FlowAugment(flip=1.0)(x, 0, rng)
    assert flipped[4, 4, 0] == pytest.approx(0.1) and flipped[4, 4, 1] == pytest.approx(0.4)
    assert np.array_equal(FlowAugment(flip=0.0, shift=0)(x, 0, rng), x)
    draws = [FlowAugment(flip=0.5)(x, 0, rng)[4, 4, 0] for _ in range(400)]
    assert 0.4 < np.mean(np.isclose(draws, 0.1)) < 0.6  # about half are mirrored


def test_flow_augment_refuses_rotating_normalised_inputs_without_a_range_and_names_the_file():
    with pytest.raises(ValueError, match=r"clip7\.npy: augment_rotate needs the raw flow"):
        FlowAugment(rotate=5, ratios=[2.0, None], names=["clip3.npy", "clip7.npy"])
    FlowAugment(rotate=5, normalised=False)  # raw flow rotates without ranges
    rotated = FlowAugment(rotate=10, ratios=[1.0])(field(0.5, 0.5) + np.eye(9, dtype=np.float32)[..., None], 0,
                                                   np.random.default_rng(1))  # fmt: skip
    assert rotated.shape == (9, 9, 3)


def test_on_tensor_applies_a_channels_last_augmentation_to_a_channels_first_tensor():
    torch = pytest.importorskip("torch")
    x = field(2.0, 0.5)
    t = torch.from_numpy(x.transpose(2, 0, 1).copy())
    out = on_tensor(flip_flow, t, normalised=False)
    assert tuple(out.shape) == (3, 9, 9) and float(out[0, 4, 4]) == -2.0 and float(out[1, 4, 4]) == 0.5
