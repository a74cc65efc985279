"""HTNet's facial regions (:mod:`mextk.models.regions`) and the ``flow_regions`` input type."""

from __future__ import annotations

import numpy as np
import pytest

from mextk.models.inputs import to_model_input
from mextk.models.regions import REGION_CENTRES, centres_from_landmarks, region_centres, region_layout


def _ibug(eyes=((8.0, 10.0), (20.0, 12.0)), mouth=((10.0, 21.0), (18.0, 22.0))):
    """68 points at 99 except the eyes (six points around each centre) and the mouth corners."""
    lm = np.full((68, 2), 99.0)
    ring = np.array([[-2, 0], [-1, -1], [1, -1], [2, 0], [1, 1], [-1, 1]], dtype=float)  # sums to zero
    lm[36:42] = np.array(eyes[0]) + ring
    lm[42:48] = np.array(eyes[1]) + ring
    lm[48], lm[54] = mouth
    return lm


def test_centres_of_68_points_are_the_eye_means_and_the_mouth_corners():
    c = centres_from_landmarks(_ibug())
    assert np.allclose(c, [[8, 10], [20, 12], [10, 21], [18, 22]])


def test_centres_of_5_mtcnn_points_skip_the_nose():
    five = np.array([[9.5, 11.1], [21.4, 10.9], [15.4, 17.4], [10.3, 22.1], [20.6, 22.3]])
    assert np.allclose(centres_from_landmarks(five), five[[0, 1, 3, 4]])


def test_a_samples_regions_come_from_its_regions_then_its_landmarks_then_the_template():
    given = np.array([[7, 7], [21, 7], [7, 21], [21, 21]], dtype=float)
    assert np.allclose(region_centres({"regions": given, "landmarks": _ibug()}), given)
    assert np.allclose(region_centres({"landmarks": _ibug()}), [[8, 10], [20, 12], [10, 21], [18, 22]])
    assert np.allclose(region_centres({"x": np.zeros(3)}), REGION_CENTRES)


def test_bad_landmarks_and_regions_are_refused_with_their_shape():
    with pytest.raises(ValueError, match=r"68 \(iBUG\) or 5"):
        centres_from_landmarks(np.zeros((10, 2)))
    with pytest.raises(ValueError, match="not finite"):
        centres_from_landmarks(np.full((5, 2), np.nan))
    with pytest.raises(ValueError, match="4 finite centres"):
        region_centres({"regions": np.zeros((3, 2))})


def test_the_flow_regions_input_is_cut_at_the_samples_own_landmarks():
    x = np.arange(28 * 28, dtype=np.float32).reshape(28, 28) / 1000  # pixel (r, c) holds (28 r + c) / 1000
    flow = np.stack([x, x + 1, x + 2], axis=-1)
    lm = _ibug(eyes=((12.0, 9.0), (16.0, 9.0)), mouth=((11.0, 19.0), (19.0, 20.0)))
    t = to_model_input({"x": flow, "landmarks": lm}, "flow_regions").numpy()
    assert t.shape == (3, 28, 28)
    # first eye at (12, 9): rows 2-15, columns 5-18 in the top left tile; channel 1 is channel 0 plus one
    assert t[0, 0, 0] == pytest.approx((28 * 2 + 5) / 1000) and t[0, 13, 13] == pytest.approx((28 * 15 + 18) / 1000)
    assert t[1, 0, 0] == pytest.approx(1 + (28 * 2 + 5) / 1000)
    # second mouth corner (19, 20): rows 13-26, columns 12-25, bottom right
    assert t[0, 14, 14] == pytest.approx((28 * 13 + 12) / 1000)
    # without landmarks: the template's cut, which is not the landmarks' one here
    plain = to_model_input({"x": flow}, "flow_regions").numpy()
    assert np.array_equal(plain, region_layout(flow.transpose(2, 0, 1), REGION_CENTRES))
    assert not np.array_equal(plain, t)


def test_the_template_centres_beyond_21_px_are_clamped_to_21():
    x = np.arange(28 * 28, dtype=np.float32).reshape(1, 28, 28)
    cut = region_layout(x, REGION_CENTRES)
    # the third centre (10.26, 22.12) rounds to (10, 22) and is clamped to (10, 21): rows 14-27, columns 3-16
    assert cut[0, 14, 0] == 28 * 14 + 3 and cut[0, 27, 13] == 28 * 27 + 16
