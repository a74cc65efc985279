from __future__ import annotations

import numpy as np
import pytest

from mextk.faces.align import reference_shape, transform_points
from mextk.faces.crop import align_crop_clip, aligned_crop_matrix
from mextk.faces.reference import ASTRONAUT_LANDMARKS


def _compose(m, t):
    """``m`` after ``t`` (both 2x3)."""
    return (np.vstack([m, [0, 0, 1]]) @ np.vstack([t, [0, 0, 1]]))[:2]


@pytest.mark.parametrize("kind", ["similarity", "affine"])
def test_aligned_crop_undoes_a_known_head_transform(kind):
    lm = ASTRONAUT_LANDMARKS.astype(np.float64)
    a = np.radians(17.0)
    if kind == "similarity":
        t = np.array([[1.3 * np.cos(a), -1.3 * np.sin(a), 40.0], [1.3 * np.sin(a), 1.3 * np.cos(a), -25.0]])
    else:
        t = np.array([[1.2, 0.25, 10.0], [-0.1, 0.9, 30.0]])
    moved = transform_points(lm, t)
    m0 = aligned_crop_matrix(lm, size=112, kind=kind)
    m1 = aligned_crop_matrix(moved, size=112, kind=kind)
    # the moved face lands exactly where the original does: m1 o t == m0
    np.testing.assert_allclose(_compose(m1, t), m0, atol=1e-8)
    out = transform_points(moved, m1)
    assert out.min() >= 0 and out.max() <= 112
    # the crop box has the margin: landmarks span 1 / 1.4 of the side along the wider axis
    span = np.ptp(out, axis=0).max()
    assert span == pytest.approx(112 / 1.4, rel=0.02)


def test_aligned_crop_levels_the_eyes_and_none_keeps_the_roll():
    lm = ASTRONAUT_LANDMARKS.astype(np.float64)
    a = np.radians(-12.0)
    rot = np.array([[np.cos(a), -np.sin(a), 50.0], [np.sin(a), np.cos(a), 80.0]])
    moved = transform_points(lm, rot)
    ref = reference_shape(112)
    assert ref[36, 1] == pytest.approx(ref[45, 1]) and ref[39, 1] == pytest.approx(ref[42, 1])
    for kind, level in (("similarity", True), ("none", False)):
        out = transform_points(moved, aligned_crop_matrix(moved, size=112, kind=kind))
        eye = out[45] - out[36]
        angle = np.degrees(np.arctan2(eye[1], eye[0]))
        ref_angle = np.degrees(np.arctan2(*(lm[45] - lm[36])[::-1]))
        assert (abs(angle) < abs(ref_angle) + 1.0) if level else angle == pytest.approx(ref_angle - 12.0, abs=0.5)
    with pytest.raises(ValueError, match="68, 2"):
        aligned_crop_matrix(lm[:20], size=28)


def test_align_crop_clip_area_averages_strong_reductions():
    rng = np.random.default_rng(0)
    # a fine checkerboard of 1-pixel squares: sampled, it aliases; averaged, it is mid-grey
    board = (np.indices((400, 400)).sum(axis=0) % 2 * 255).astype(np.uint8)
    frames = np.stack([board, board])
    lm = ASTRONAUT_LANDMARKS.astype(np.float64) * 0.8 + 30
    m = aligned_crop_matrix(lm, size=28, kind="similarity")
    out = align_crop_clip(frames, m, size=28)
    assert out.shape == (2, 28, 28) and out.dtype == np.uint8
    assert abs(float(out.mean()) - 127.5) < 6 and float(out.std()) < 12
    big = align_crop_clip(rng.integers(0, 255, (1, 300, 300, 3), dtype=np.uint8), m, size=112)
    assert big.shape == (1, 112, 112, 3)
