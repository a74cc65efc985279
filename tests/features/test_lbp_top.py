from __future__ import annotations

import numpy as np
import pytest

from mextk.features.lbp_top import key_frame_volume, lbp_top, lbp_top_reference, uniform_mapping


def test_uniform_mapping():
    table, bins = uniform_mapping(8)
    assert bins == 59 and len(np.unique(table)) == 59
    assert (table < 58).sum() == 58  # 58 uniform 8-bit patterns
    assert table[0] == 0 and table[255] == 57 and table[0b00001111] < 58 and table[0b01010101] == 58
    table4, bins4 = uniform_mapping(4)
    assert bins4 == 15 and table4[0b0101] == 14


def test_codes_on_a_tiny_volume_by_hand():
    v = np.zeros((3, 3, 3), np.uint8)
    v[1, 1, 1] = 5  # the only centre pixel
    v[1, 1, 2] = 9  # its right-hand neighbour (p = 0 on the XY and XT planes)
    h = lbp_top(v, rows=1, cols=1)
    assert h.shape == (177,)
    table, _ = uniform_mapping(8)
    expected = np.zeros(177)
    expected[table[1]] += 1  # XY: code 0b00000001
    expected[59 + table[1]] += 1  # XT: code 0b00000001
    expected[118 + table[0]] += 1  # YT: nothing >= 5 -> code 0
    np.testing.assert_array_equal(h, expected / 3)
    raw = lbp_top(v, rows=1, cols=1, mapping="none")
    assert raw.shape == (768,) and raw[1] == raw[256 + 1] == raw[512] == pytest.approx(1 / 3)


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"radius": (3, 3, 3), "rows": 4, "cols": 4},
        {"radius": (2, 1, 1), "n_points": (8, 4, 8), "rows": 3, "cols": 2, "time_parts": 2, "overlap": 0.3},
        {"mapping": "none", "rows": 2, "cols": 2},
        {"radius": (1.5, 2.5, 1), "overlap": 0.5},
        {"radius": (1, 1, 2), "n_points": (8, 8, 16), "time_parts": 3, "rows": 2, "cols": 3},
    ],
)
def test_fast_equals_reference_bit_for_bit(params):
    v = np.random.default_rng(len(str(params))).integers(0, 256, (11, 30, 34)).astype(np.uint8)
    np.testing.assert_array_equal(lbp_top(v, **params), lbp_top_reference(v, **params))


def test_monotonic_gray_changes_do_not_change_the_histogram():
    v = np.random.default_rng(1).integers(0, 120, (5, 24, 24)).astype(np.uint8)
    a = lbp_top(v, rows=2, cols=2)
    b = lbp_top((v.astype(np.float32) * 2 + 10), rows=2, cols=2)
    np.testing.assert_array_equal(a, b)
    assert a.sum() == pytest.approx(1.0)


def test_key_frames_and_errors():
    frames = np.random.default_rng(2).integers(0, 255, (20, 16, 16)).astype(np.uint8)
    kf = key_frame_volume(frames, 2, 9, 15)
    np.testing.assert_array_equal(kf, frames[[2, 9, 15]])
    assert lbp_top(kf, rows=1, cols=1).shape == (177,)
    with pytest.raises(ValueError):
        key_frame_volume(frames, 9, 2, 15)
    with pytest.raises(ValueError, match="border_length"):
        lbp_top(frames, radius=(2, 2, 1), border_length=1)
    with pytest.raises(ValueError, match="no centre frame"):
        lbp_top(frames[:2])
    with pytest.raises(ValueError, match="overlap"):
        lbp_top(frames, overlap=1.0)
    with pytest.raises(ValueError, match="mapping"):
        lbp_top(frames, mapping="ri")
    with pytest.raises(ValueError, match="too small"):
        lbp_top(frames[:, :6, :6], rows=5, cols=5)
