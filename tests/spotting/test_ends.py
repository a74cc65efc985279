"""Onsets and offsets measured on a region quarter's positions (trajectories built by hand)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from mextk.spotting.baseline import SpotterSettings, measured_ends
from mextk.spotting.motion import REGIONS, MotionSignals

T = 60


def _signals(track: np.ndarray, segments: np.ndarray | None = None, quarter: int = 9) -> MotionSignals:
    """Positions where one quarter (default: the glabella's second) follows ``track`` (x, px) and every other
    quarter jitters by 0.05 px; one stretch of faces unless ``segments`` says otherwise."""
    rng = np.random.default_rng(0)
    pos = rng.normal(0, 0.05, (T, 4 * len(REGIONS), 2)).astype(np.float32)
    pos[:, quarter, 0] += track
    seg = np.zeros(T, np.int64) if segments is None else segments
    return MotionSignals([6, 12], np.zeros((T, 2, len(REGIONS)), np.float32), seg >= 0, 30.0, pos, seg)


def test_a_rise_and_return_is_measured_from_the_last_still_frame_to_the_first_still_one():
    track = np.zeros(T)
    track[21:24] = [1.0, 2.0, 3.0]  # still until frame 20, at the apex from 23, back by frame 29
    track[24:29] = [3.0, 2.5, 1.5, 0.5, 0.2]
    assert measured_ends(_signals(track), 23, 6) == (20, 29)


def test_a_held_expression_keeps_the_windows_offset():
    track = np.zeros(T)
    track[25:] = 2.0  # a step at frame 25 that is held: no return within the search, so the window's offset
    assert measured_ends(_signals(track), 26, 6) == (24, 32)


def test_frames_of_another_stretch_of_faces_are_not_compared():
    track = np.zeros(T)
    track[:15] = 50.0  # a former stretch, within the search (apex - 2k = 9), far away: it must not count
    track[19:22] = [1.0, 2.0, 3.0]
    track[22:27] = [3.0, 2.0, 1.0, 0.5, 0.0]
    segments = np.where(np.arange(T) < 15, 0, 1)
    assert measured_ends(_signals(track, segments), 21, 6) == (18, 26)
    assert measured_ends(_signals(track), 21, 6)[0] == 14  # as one stretch, the old frames would set the onset


def test_without_positions_the_scales_window_is_kept():
    sig = MotionSignals([6, 12], np.zeros((T, 2, len(REGIONS))), np.ones(T, bool), 30.0)
    assert measured_ends(sig, 3, 6) == (0, 9) and measured_ends(sig, 30, 6) == (24, 36)


@pytest.mark.parametrize("change", [{"ends": "fitted"}, {"ends_fraction": 0.0}, {"ends_fraction": 1.5}])
def test_unknown_ends_settings_are_refused(change):
    with pytest.raises(ValueError, match="ends"):
        replace(SpotterSettings(), **change)
