from __future__ import annotations

import numpy as np
import pytest

from mextk.features.sampling import adaptive_positions, sample_frames, uniform_positions


def test_uniform_positions_by_hand_and_extremes():
    assert uniform_positions(16, 16).tolist() == list(range(16))
    assert uniform_positions(7680, 16)[[0, -1]].tolist() == [0, 7679]
    assert np.allclose(np.diff(uniform_positions(7680, 16)), 7679 / 15)
    p = uniform_positions(4, 16)  # CMED's shortest clip: 4 frames
    assert p[0] == 0 and p[-1] == 3 and len(p) == 16
    assert uniform_positions(100, 3, start=10, stop=20).tolist() == [10, 15, 20]
    with pytest.raises(ValueError):
        uniform_positions(10, 4, start=5, stop=12)


def test_adaptive_positions_keep_key_frames_and_crowd_the_apex():
    p = adaptive_positions(0, 30, 90, n=16)
    assert len(p) == 16 and p[0] == 0 and p[-1] == 90 and 30 in p
    assert np.all(np.diff(p) >= 0)
    i = int(np.flatnonzero(p == 30)[0])
    assert i == 1 + round(13 * 30 / 90)  # rising phase gets a third of the 13 free frames
    rising = np.diff(p[: i + 1])
    assert rising[-1] < rising[0]  # denser towards the apex
    falling = np.diff(p[i:])
    assert falling[0] < falling[-1]
    short = adaptive_positions(0, 1, 3, n=16)  # a 4-frame clip: fractional positions
    assert short.min() == 0 and short.max() == 3 and len(short) == 16
    assert adaptive_positions(5, 5, 5, n=4).tolist() == [5, 5, 5, 5]
    with pytest.raises(ValueError):
        adaptive_positions(10, 5, 20)


def test_sample_frames_interpolates_in_time():
    v = np.stack([np.full((2, 2), k * 10, np.uint8) for k in range(4)])
    out = sample_frames(v, np.array([0, 0.5, 1.25, 3]))
    assert out.dtype == np.uint8 and out[:, 0, 0].tolist() == [0, 5, 12, 30]
    rgb = np.zeros((3, 2, 2, 3), np.float32)
    rgb[2] = 1
    assert sample_frames(rgb, np.array([1.5])).mean() == pytest.approx(0.5)
    with pytest.raises(ValueError):
        sample_frames(v, np.array([3.5]))
