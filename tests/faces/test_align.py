from __future__ import annotations

import numpy as np
import pytest

from mextk.faces.align import (
    STABLE_LANDMARKS,
    align_clip,
    alignment_matrix,
    procrustes,
    reference_shape,
    transform_points,
)
from mextk.faces.reference import ASTRONAUT_LANDMARKS


def _similarity(angle_deg, scale, tx, ty):
    a = np.radians(angle_deg)
    return np.array([[scale * np.cos(a), -scale * np.sin(a), tx], [scale * np.sin(a), scale * np.cos(a), ty]])


def test_procrustes_recovers_a_known_similarity():
    m = _similarity(12, 1.3, 5, -7)
    src = ASTRONAUT_LANDMARKS
    dst = transform_points(src, m)
    np.testing.assert_allclose(procrustes(src, dst), m, atol=1e-9)


def test_procrustes_recovers_a_known_affine_and_never_reflects():
    m = np.array([[1.1, 0.2, 3.0], [-0.1, 0.9, 4.0]])
    src = ASTRONAUT_LANDMARKS
    np.testing.assert_allclose(procrustes(src, transform_points(src, m), kind="affine"), m, atol=1e-9)
    mirrored = src * [-1, 1]
    sim = procrustes(src, mirrored)
    assert np.linalg.det(sim[:, :2]) > 0  # a similarity fit stays a rotation
    with pytest.raises(ValueError):
        procrustes(src[:2], src[:2], kind="affine")
    with pytest.raises(ValueError):
        procrustes(src, src, kind="projective")


def test_stable_landmarks_leave_out_brows_eyelids_and_mouth():
    s = set(STABLE_LANDMARKS)
    assert not s & set(range(17, 27)) and not s & set(range(48, 68)) and not s & {37, 38, 40, 41, 43, 44, 46, 47}


def test_alignment_ignores_an_expression_and_uses_one_transform_for_the_clip():
    import cv2

    ref = reference_shape(112)
    m_true = _similarity(-8, 0.5, 10, 3)
    onset = transform_points(ref, np.linalg.inv(np.vstack([m_true, [0, 0, 1]]))[:2])  # a face seen tilted and scaled
    smiling = onset.copy()
    smiling[48:68] += [0, -3]  # the mouth moves: must not change the fit
    m = alignment_matrix(smiling, ref, kind="similarity")
    np.testing.assert_allclose(transform_points(onset, m), ref, atol=1e-6)
    frames = np.stack([np.full((200, 240), k * 20, np.uint8) for k in range(3)])
    out = align_clip(frames, m, size=112)
    assert out.shape == (3, 112, 112) and out.dtype == np.uint8
    assert [int(f.mean()) for f in out] == [0, 20, 40]
    img = np.zeros((200, 240), np.uint8)
    x, y = onset[30].round().astype(int)
    cv2.circle(img, (int(x), int(y)), 2, 255, -1)  # a dot on the nose tip lands on the reference nose tip
    warped = align_clip(img[None], m, size=112)[0]
    yy, xx = np.unravel_index(np.argmax(warped), warped.shape)
    assert abs(xx - ref[30, 0]) <= 1.5 and abs(yy - ref[30, 1]) <= 1.5
