"""The training-free spotter's opt-in speech discount and face-relative floor, on hand-made region motion."""

from __future__ import annotations

import numpy as np
import pytest

from mextk.spotting.baseline import SpotterSettings, speech_level, spot_intervals
from mextk.spotting.motion import REGIONS, MotionSignals

FPS, K = 25.0, 5
SCALES = [K, 2 * K]


def _signals(positions: dict[str, np.ndarray]) -> MotionSignals:
    """Region motion from each region's 1-D position per frame: ``M_k(t) = |p(t) - p(t - k)|``."""
    t_len = len(next(iter(positions.values())))
    motion = np.full((t_len, len(SCALES), len(REGIONS)), np.nan, np.float32)
    for j, name in enumerate(REGIONS):
        p = positions.get(name, np.zeros(t_len))
        for i, k in enumerate(SCALES):
            motion[k:, i, j] = np.abs(p[k:] - p[:-k])
    return MotionSignals(SCALES, motion, np.ones(t_len, bool), FPS)


def _bump(t_len: int, at: int, height: float, length: int = 10) -> np.ndarray:
    """A raised-cosine excursion and return of ``length`` frames peaking at ``at``: an expression's profile."""
    out = np.zeros(t_len)
    x = np.arange(length + 1)
    out[at - length // 2 : at - length // 2 + length + 1] = height * 0.5 * (1 - np.cos(2 * np.pi * x / length))
    return out


def _noise(t_len: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, 0.05, t_len).cumsum() * 0.2


def test_the_speech_level_is_the_lower_faces_sustained_excess_over_the_upper_face():
    t = np.arange(250)
    talking = 1.5 * np.sin(2 * np.pi * 4.0 * t / FPS)  # lips at 4 Hz: syllable rate
    quiet = _signals({"mouth_left": _noise(250, 0), "brow_left": _noise(250, 1)})
    speaking = _signals({"mouth_left": talking, "brow_left": _noise(250, 1)})
    assert np.median(speech_level(quiet, K, 1.0)) < 0.1
    level = speech_level(speaking, K, 1.0)
    # |sin(a) - sin(a - 5 steps of 4 Hz at 25 fps)| has median about 1.5 x 2 sin(0.8 pi / 2) x 0.7 ~ 1.9 px
    assert np.median(level[25:-25]) > 1.0


def test_the_discount_silences_a_mouth_transient_in_speech_but_not_a_brow_one():
    t = np.arange(250)
    mouth = 1.5 * np.sin(2 * np.pi * 4.0 * t / FPS) + _bump(250, 60, 3.0)
    brow = _noise(250, 2) + _bump(250, 160, 3.0)
    sig = _signals({"mouth_left": mouth, "mouth_right": mouth * 0.9, "brow_left": brow, "brow_right": brow * 0.9})
    plain = SpotterSettings(macro_k_s=(), speech_discount=0.0)
    discounted = SpotterSettings(macro_k_s=(), speech_discount=1.5)
    found = [e["apex"] for e in spot_intervals(sig, plain)]
    kept = [e["apex"] for e in spot_intervals(sig, discounted)]
    assert any(abs(a - 160) <= 2 for a in kept)  # the brows: speech leaves them alone
    assert not any(abs(a - 60) <= 3 for a in kept)  # the mouth's transient in speech no longer counts
    assert len(kept) < len(found)


def test_the_face_relative_floor_is_thousandths_of_the_eye_distance_in_crop_pixels():
    # the aligned crop puts the eye centres 0.4 crop apart: 96 px -> 38.4 px; 52/1000 of it is 1.997 px
    assert SpotterSettings(min_motion_iod=52).motion_floor() == pytest.approx(1.9968)
    assert SpotterSettings().motion_floor() == SpotterSettings().min_motion_px
    t_len = 200
    small = _signals({"brow_left": _noise(t_len, 3) + _bump(t_len, 100, 1.0),
                      "brow_right": _noise(t_len, 4) + _bump(t_len, 100, 1.0)})  # fmt: skip
    assert [e["apex"] for e in spot_intervals(small, SpotterSettings(macro_k_s=()))]  # found without the floor
    assert spot_intervals(small, SpotterSettings(macro_k_s=(), min_motion_iod=52)) == []  # under 2 px: not an event


@pytest.mark.shared_data
def test_speech_silenced_at_the_micro_scale_does_not_come_back_as_macro_expressions_on_a_real_calm_face():
    from dataclasses import replace

    from tests.conftest import SHARED_DATA, need_shared

    video = need_shared(SHARED_DATA / "videos" / "webcam_calm_d13.mp4")  # a real person, calm, 11.7 s at 30 fps
    settings = SpotterSettings(calibration="")
    sig = settings.signals(settings.compute_video(video, 30.0))

    def macro(explains: bool) -> int:
        return sum(e["type"] == "macro" for e in spot_intervals(sig, replace(settings, speech_explains=explains)))

    # measured: 1 against 2 (every event on this calm face is a false alarm)
    assert macro(True) < macro(False)
