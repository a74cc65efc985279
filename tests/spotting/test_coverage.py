"""Where the training-free spotter was blind or weak, per video (counted by hand on made-up signals)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from mextk.spotting.baseline import SpotterSettings
from mextk.spotting.coverage import add_coverage, spot_coverage
from mextk.spotting.motion import REGIONS, MotionSignals

FPS = 30.0


def _signals(speaking: bool) -> MotionSignals:
    settings = SpotterSettings()
    scales = settings.frame_scales(FPS)
    motion = np.zeros((60, len(scales), len(REGIONS)), np.float32)
    if speaking:  # the mouth and upper lip move 3 px at every scale, the brows not at all
        for name in ("nose_lip", "mouth_left", "mouth_right"):
            motion[:, :, list(REGIONS).index(name)] = 3.0
    face = np.ones(60, bool)
    face[12:14] = False
    face[45] = False
    return MotionSignals(scales, motion, face, FPS)


def test_turned_and_crowded_frames_with_a_face_are_counted_in_seconds():
    yaw = np.zeros(60, np.float32)
    yaw[10:20] = 35.0  # frames 12 and 13 have no face
    yaw[20:25] = -31.0
    yaw[25:30] = 29.9  # under 30 degrees
    yaw[30] = np.nan
    crowded = np.zeros(60, bool)
    crowded[40:50] = True  # frame 45 has no face
    c = spot_coverage(_signals(False), SpotterSettings(), yaw=yaw, crowded=crowded)
    assert c["seconds"] == pytest.approx(2.0) and c["no_face"] == pytest.approx(3 / 30)
    assert c["head_turned"] == pytest.approx(13 / 30) and c["other_faces"] == pytest.approx(9 / 30)
    assert c["lower_face_weak"] == 0.0


def test_without_pose_arrays_the_turn_and_crowd_are_left_out_and_totals_add_up():
    c = spot_coverage(_signals(False), SpotterSettings())
    assert "head_turned" not in c and "other_faces" not in c
    total = add_coverage(add_coverage({}, c), c)
    assert total["seconds"] == pytest.approx(4.0) and total["no_face"] == pytest.approx(6 / 30)


def test_a_speaking_mouth_makes_the_lower_face_weak_only_while_the_speech_discount_is_on():
    speaking = _signals(True)
    assert spot_coverage(speaking, SpotterSettings())["lower_face_weak"] == pytest.approx(57 / 30)
    assert spot_coverage(speaking, replace(SpotterSettings(), speech_discount=0.0))["lower_face_weak"] == 0.0
