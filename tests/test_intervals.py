"""Frame intervals (:mod:`mextk.intervals`): overlap, matching, suppression, smoothing, peaks, DFME's rule."""

from __future__ import annotations

import numpy as np
import pytest

from mextk.intervals import (
    expression_type,
    interval_iou,
    match_intervals,
    megc_threshold,
    moving_average,
    peak_frames,
    separate,
    shared_of_shorter,
    suppress,
)


def test_iou_counts_frames_with_both_ends_inside():
    assert interval_iou((10, 19), (10, 19)) == 1.0
    assert interval_iou((0, 9), (10, 19)) == 0.0  # touching, no shared frame
    assert interval_iou((0, 9), (9, 18)) == pytest.approx(1 / 19)  # one shared frame of 19


def test_shared_of_shorter_is_one_for_an_interval_inside_another_and_zero_apart():
    assert shared_of_shorter((5, 9), (0, 30)) == 1.0
    assert shared_of_shorter((0, 9), (9, 30)) == pytest.approx(1 / 10)  # frame 9 of the shorter's 10
    assert shared_of_shorter((0, 9), (10, 19)) == 0.0


def test_among_equal_matchings_the_higher_scored_proposal_is_the_true_positive():
    assert match_intervals([(0, 9), (0, 9)], [(0, 9)], scores=[0.1, 0.9]) == [(1, 0, 1.0)]
    assert match_intervals([(0, 9), (0, 9)], [(0, 9)], scores=[0.9, 0.1]) == [(0, 0, 1.0)]


def test_suppress_keeps_the_best_of_overlapping_candidates_and_returns_them_by_onset():
    c = [
        {"onset": 0, "offset": 9, "score": 1.0},
        {"onset": 4, "offset": 13, "score": 3.0},  # shares 6 of 10 frames with the first
        {"onset": 30, "offset": 39, "score": 2.0},
    ]
    assert [k["onset"] for k in suppress(c, 0.5)] == [4, 30]
    assert [k["onset"] for k in suppress(c, 0.7)] == [0, 4, 30]  # 0.6 shared is under 0.7: both kept


def test_suppress_at_overlap_zero_drops_only_candidates_that_share_a_frame():
    c = [{"onset": 0, "offset": 9, "score": 1.0}, {"onset": 10, "offset": 19, "score": 2.0}]
    assert len(suppress(c, 0.0)) == 2  # touching, no shared frame
    assert len(suppress([*c, {"onset": 9, "offset": 12, "score": 0.5}], 0.0)) == 2


def test_separate_cuts_weaker_intervals_back_to_frames_no_stronger_one_holds():
    c = [
        {"onset": 10, "apex": 15, "offset": 20, "score": 3.0},
        {"onset": 2, "apex": 6, "offset": 13, "score": 2.0},  # cut to 2-11: 12-13 are the strongest one's
        {"onset": 18, "apex": 24, "offset": 30, "score": 1.0},  # cut to 21-30
        {"onset": 12, "apex": 13, "offset": 14, "score": 5.0},  # strongest: the first keeps 15-20
    ]
    kept = separate(c)
    assert [(k["onset"], k["offset"]) for k in kept] == [(2, 11), (12, 14), (15, 20), (21, 30)]
    spans = [range(k["onset"], k["offset"] + 1) for k in kept]
    assert sum(len(s) for s in spans) == len(set().union(*spans))  # no frame in two intervals


def test_separate_drops_an_interval_whose_apex_a_stronger_one_holds_or_that_keeps_too_few_frames():
    strong = {"onset": 10, "apex": 15, "offset": 20, "score": 3.0}
    inside = {"onset": 5, "apex": 12, "offset": 14, "score": 1.0}  # its apex is in the stronger interval
    sliver = {"onset": 19, "apex": 22, "offset": 22, "score": 1.0}  # keeps 21-22: two frames
    assert separate([strong, inside, sliver]) == [strong]
    assert len(separate([strong, sliver], min_frames=2)) == 2


def test_moving_average_leaves_missing_values_out_and_fills_them_only_when_asked():
    x = np.array([1.0, 2.0, 3.0, np.nan, np.nan, np.nan, 7.0])
    # by hand, width 3: (1+2)/2, (1+2+3)/3, (2+3)/2, nan, nan, nan, 7
    assert np.allclose(moving_average(x, 3), [1.5, 2.0, 2.5, np.nan, np.nan, np.nan, 7.0], equal_nan=True)
    # filled: frame 3 has 3 beside it, frame 4 nothing, frame 5 has 7
    assert np.allclose(moving_average(x, 3, fill=True), [1.5, 2.0, 2.5, 3.0, np.nan, 7.0, 7.0], equal_nan=True)
    assert moving_average(x, 4.4).shape == x.shape  # 4.4 rounds to 4, then to the odd 5
    assert moving_average(x, 1) is not None and np.array_equal(moving_average(x, 1), x, equal_nan=True)


def test_megc_threshold_is_mean_plus_p_of_the_way_to_the_top_and_at_least_the_floor():
    x = np.array([0.0, 0.0, 0.0, 4.0])  # mean 1, max 4
    assert megc_threshold(x, 0.5) == pytest.approx(2.5)
    assert megc_threshold(x, 0.5, floor=3.0) == 3.0
    assert megc_threshold(np.array([np.nan]), 0.5) is None


def test_peak_frames_are_local_maxima_above_the_height_a_distance_apart_and_never_missing_values():
    x = np.array([0.0, 5.0, 0.0, 4.0, 0.0, np.nan, 6.0, 0.0])
    assert peak_frames(x, height=3.0).tolist() == [1, 3, 6]
    assert peak_frames(x, height=3.0, distance=3).tolist() == [1, 6]  # 3 is within 3 frames of the higher 1
    assert peak_frames(np.full(5, np.nan), height=0.0).tolist() == []


@pytest.mark.parametrize(
    ("onset", "apex", "offset", "fps", "kind"),
    [
        (0, 10, 14, 30, "micro"),  # 467 ms long
        (0, 10, 15, 30, "macro"),  # exactly 500 ms, apex at 333 ms
        (0, 7, 30, 30, "micro"),  # 1 s long, but the apex at 233 ms
        (0, None, 30, 30, "macro"),  # no apex: by length only
    ],
)
def test_expression_type_follows_dfmes_500_and_250_ms_rule(onset, apex, offset, fps, kind):
    assert expression_type(onset, apex, offset, fps) == kind
