"""The face cues: the second detector finds real faces that the frontal cascade misses."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from mextk.prepare.config import PrepareConfig
from mextk.prepare.faces import FaceFinder
from mextk.synth.effects import Effect, apply_effects, find_face_place
from tests.conftest import SHARED_DATA, need_shared

pytestmark = [pytest.mark.shared_data]


@pytest.fixture(scope="module")
def bowed():
    """A real face (talking_head_d3, frame 0) and the same camera with the head bowed 35 and 50 degrees."""
    from mextk.io.video import read_frames

    img = read_frames(need_shared(SHARED_DATA / "videos" / "talking_head_d3.mp4"), start=0, stop=1)[0]
    place = find_face_place(img)
    rng = np.random.default_rng(0)
    out = {}
    for deg in (35, 50):
        moved = apply_effects(img.astype(np.float32), 50, [Effect("down", 0, 100, amount=deg)], place, rng)
        out[deg] = cv2.cvtColor(np.clip(moved, 0, 255).astype(np.uint8), cv2.COLOR_RGB2GRAY)
    return cv2.cvtColor(img, cv2.COLOR_RGB2GRAY), out


def test_the_cascade_misses_a_bowed_head_that_the_recheck_finds_near_its_last_place(bowed):
    frontal, down = bowed
    finder = FaceFinder(PrepareConfig(), frontal.shape[1], frontal.shape[0])
    tile = (0, 0, frontal.shape[1], frontal.shape[0])
    (last,) = finder.detect(frontal, tile, min_face=60, max_face=None)
    assert len(finder.detect(down[35], tile, min_face=60, max_face=None)) == 0
    hit = finder.recheck(down[35], tuple(last), tile, detector="dlib-hog", threshold=-0.5)
    assert hit is not None
    box, _ = hit
    # near the last place (the head moved down, as the effect moves it) and of a similar size
    assert abs(box[0] + box[2] / 2 - (last[0] + last[2] / 2)) < 0.3 * last[2]
    assert 0.6 < box[2] / last[2] < 1.6


def test_the_cnn_confirms_a_face_bowed_beyond_what_hog_finds(bowed):
    frontal, down = bowed
    finder = FaceFinder(PrepareConfig(), frontal.shape[1], frontal.shape[0])
    tile = (0, 0, frontal.shape[1], frontal.shape[0])
    (last,) = finder.detect(frontal, tile, min_face=60, max_face=None)
    assert finder.recheck(down[50], tuple(last), tile, detector="dlib-hog", threshold=-0.5) is None
    assert finder.recheck(down[50], tuple(last), tile, detector="dlib-cnn", threshold=0.0) is not None


def test_no_face_is_rechecked_into_an_empty_room(bowed):
    frontal, _ = bowed
    finder = FaceFinder(PrepareConfig(), frontal.shape[1], frontal.shape[0])
    tile = (0, 0, frontal.shape[1], frontal.shape[0])
    (last,) = finder.detect(frontal, tile, min_face=60, max_face=None)
    wall = np.full_like(frontal, int(np.median(frontal[:40, :40])))  # the person got up: the wall behind
    for name, threshold in (("dlib-hog", -0.5), ("dlib-cnn", 0.0)):
        assert finder.recheck(wall, tuple(last), tile, detector=name, threshold=threshold) is None
