from __future__ import annotations

import math

import numpy as np
import pytest

from mextk.synth.footage import light_change, light_gain, sway, sway_matrix


def test_sway_starts_as_the_identity():
    assert np.allclose(sway_matrix(0.0, (90, 120)), [[1, 0, 0], [0, 1, 0]])


def test_sway_moves_the_image_centre_by_the_stated_shift():
    # rotation and zoom are about the centre, so the centre moves by the shift alone:
    # a quarter period in, x by 0.04 of the width and y by 0.04 of the height x sin(0.7 pi / 2)
    frames = np.zeros((2, 101, 101), np.uint8)
    frames[:, 49:52, 49:52] = 255
    fps = 4 / 3.0  # frame 1 is a quarter of the 3 s period
    moved = sway(frames, fps).astype(float)
    assert np.array_equal(moved[0], frames[0])
    ys, xs = np.mgrid[:101, :101]
    cx, cy = (moved[1] * xs).sum() / moved[1].sum(), (moved[1] * ys).sum() / moved[1].sum()
    assert cx - 50 == pytest.approx(0.04 * 101, abs=0.3)
    assert cy - 50 == pytest.approx(0.04 * 101 * math.sin(0.7 * math.pi / 2), abs=0.3)


def test_light_change_scales_linear_light_after_the_ramp_and_leaves_earlier_frames_alone():
    frames = np.full((50, 4, 4, 3), 200, np.uint8)
    out = light_change(frames, fps=10.0, start_s=1.0, ramp_s=1.0, gain=0.5)
    assert np.array_equal(out[:11], frames[:11])  # up to 1.0 s
    # 200 in gamma 2.2 is (200/255)^2.2 in linear light; half of it, back through the gamma: 200 x 0.5^(1/2.2)
    assert int(out[-1, 0, 0, 0]) == round(200 * 0.5 ** (1 / 2.2))
    assert light_gain(1.5) == pytest.approx(0.75)  # half way up the smoothstep
    assert np.all(np.diff(out[:, 0, 0, 0].astype(int)) <= 0)  # it only darkens
