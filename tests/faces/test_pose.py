"""Head yaw from 2D landmarks, checked against projections of a 3D face."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mextk.faces.pose import head_yaw

# OpenFace's mean 3D face (x right, y down, z towards the camera; mm): the nose base and the four eye corners
MEAN_FACE_3D = {
    33: (0.55592, 6.5629, 25.944448),
    36: (-46.04729, -37.471411, -7.037989),
    39: (-19.648268, -36.754742, 0.111088),
    42: (19.265868, -37.032306, 0.665746),
    45: (45.170805, -38.086515, -4.894163),
}


def _projected(yaw_deg: float, roll_deg: float = 0.0, scale: float = 1.0, points: int = 5) -> np.ndarray:
    """The mean face turned by ``yaw_deg`` about the vertical, seen by an orthographic camera, tilted in the
    image by ``roll_deg``, scaled and moved: dlib's 5 points (order 45, 42, 36, 39, 33) or 68 (others 0)."""
    y, r = math.radians(yaw_deg), math.radians(roll_deg)
    turn = np.array([[math.cos(y), 0, math.sin(y)], [0, 1, 0], [-math.sin(y), 0, math.cos(y)]])
    tilt = np.array([[math.cos(r), -math.sin(r)], [math.sin(r), math.cos(r)]])
    xy = {i: scale * tilt @ (turn @ np.array(p))[:2] + [320, 240] for i, p in MEAN_FACE_3D.items()}
    if points == 5:
        return np.array([xy[i] for i in (45, 42, 36, 39, 33)])
    out = np.zeros((68, 2))
    for i, p in xy.items():
        out[i] = p
    return out


@pytest.mark.parametrize("points", [5, 68])
@pytest.mark.parametrize("yaw", [0.0, 15.0, 30.0, -30.0, 45.0])
def test_yaw_of_a_turned_projected_face_is_read_back_within_two_degrees_whatever_its_roll_and_size(yaw, points):
    for roll, scale in ((0.0, 1.0), (20.0, 2.5), (-35.0, 0.6)):
        assert head_yaw(_projected(yaw, roll, scale, points)) == pytest.approx(yaw, abs=2.0)


def test_a_face_turned_more_reads_more_and_the_sign_follows_the_turn():
    readings = [head_yaw(_projected(a)) for a in (-40, -20, 0, 20, 40)]
    assert readings == sorted(readings) and readings[0] < -30 < 30 < readings[-1]


def test_other_point_counts_are_refused_and_coincident_eyes_give_nan():
    with pytest.raises(ValueError, match="68 or 5"):
        head_yaw(np.zeros((49, 2)))
    assert math.isnan(head_yaw(np.zeros((5, 2))))
