from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from mextk.spotting.false_alarms import (
    calibrate_threshold,
    false_alarm_rates,
    leave_one_clip_out,
    leave_one_group_out,
    poisson_rate,
    video_minutes,
)


def test_poisson_rate_matches_garwoods_published_intervals():
    # 0 events: the upper 97.5% bound of a Poisson mean is -ln(0.025) = 3.6889
    rate, lo, hi = poisson_rate(0, 1.0)
    assert (rate, lo) == (0.0, 0.0) and hi == pytest.approx(-math.log(0.025), abs=1e-4)
    # 5 events: Garwood's table gives 1.6235 to 11.6683 for the mean; over 2 minutes, half of each
    rate, lo, hi = poisson_rate(5, 2.0)
    assert rate == 2.5 and lo == pytest.approx(1.6235 / 2, abs=1e-4) and hi == pytest.approx(11.6683 / 2, abs=1e-4)


def test_poisson_rate_refuses_what_has_no_rate():
    with pytest.raises(ValueError, match="minutes must be positive"):
        poisson_rate(1, 0.0)
    with pytest.raises(ValueError, match="count must be at least 0"):
        poisson_rate(-1, 1.0)


def _videos():
    return pd.DataFrame(
        {"dataset": "real", "video_id": ["calm_a", "calm_b", "moving"], "fps": [25.0, 30.0, 25.0],
         "n_frames": [1500, 900, 750]}  # 1 minute, 0.5 minute, 0.5 minute
    )  # fmt: skip


def test_false_alarm_rates_count_every_video_and_pool_per_condition():
    spotted = pd.DataFrame(
        {"dataset": "real", "video_id": ["calm_a", "calm_a", "calm_a", "moving", "calm_b"],
         "onset": [10, 100, 300, 5, np.nan], "type": ["micro", "micro", "macro", "micro", None]}
    )  # fmt: skip
    table = false_alarm_rates(spotted, _videos(), conditions={"calm_a": "speaking", "calm_b": "speaking",
                                                              "moving": "head moving"})  # fmt: skip
    by = table.set_index("name")
    assert by.loc["real/calm_a", ["micro", "macro"]].tolist() == [2, 1]
    assert by.loc["real/calm_b", ["micro", "macro", "minutes"]].tolist() == [0, 0, 0.5]  # counted though silent
    speaking = by.loc["speaking"]
    assert (speaking["minutes"], speaking["micro"], speaking["micro_per_min"]) == (1.5, 2, pytest.approx(2 / 1.5))
    assert by.loc["head moving", "micro_per_min"] == 2.0
    everything = by.loc["all"]
    assert (everything["micro"], everything["minutes"]) == (3, 2.0)
    assert everything["micro_lo"] == pytest.approx(poisson_rate(3, 2.0)[1])


def test_a_video_without_a_length_is_named():
    videos = _videos()
    videos.loc[1, "fps"] = np.nan
    with pytest.raises(ValueError, match="real/calm_b"):
        video_minutes(videos)


def test_the_calibrated_threshold_lets_through_exactly_the_allowed_count():
    scores = [5.0, 4.0, 3.0, 2.0, 1.0]
    t = calibrate_threshold(scores, minutes=2.0, per_minute=1.0)  # 2 allowed: 5 and 4
    assert sum(s >= t for s in scores) == 2 and 3.0 < t < 4.0
    assert calibrate_threshold(scores, minutes=10.0, per_minute=1.0) == -math.inf  # 10 allowed, 5 candidates
    assert sum(s >= calibrate_threshold(scores, 1.0, 0.0) for s in scores) == 0


def test_leave_one_clip_out_judges_each_clip_by_the_others_threshold():
    candidates = pd.DataFrame(
        {"video_id": ["a", "a", "b"], "type": ["micro", "micro", "micro"], "score": [5.0, 1.0, 3.0]}
    )
    minutes = {"a": 1.0, "b": 1.0, "c": 1.0}
    # no event allowed: a is judged by b's and c's highest score (3), b and c by a's (5)
    table = leave_one_clip_out(candidates, minutes, per_minute=0.0).set_index("video_id")
    assert table["events"].to_dict() == {"a": 1, "b": 0, "c": 0}
    assert table.loc["a", "threshold"] > 3.0 and table.loc["b", "threshold"] > 5.0
    assert table.attrs["rate"] == poisson_rate(1, 3.0)
    with pytest.raises(ValueError, match="at least two"):
        leave_one_clip_out(candidates, {"a": 1.0}, per_minute=1.0)


def test_leave_one_group_out_leaves_a_clip_and_its_derived_versions_out_together():
    videos = pd.DataFrame({"dataset": "d", "video_id": ["a", "a__head", "b"], "fps": 25.0, "n_frames": 1500})
    cands = pd.DataFrame({"video_id": ["a", "a__head", "b"], "type": "micro", "score": [5.0, 5.0, 3.0]})
    groups = {"a": "a", "a__head": "a", "b": "b"}
    table = leave_one_group_out(cands, videos, groups, per_minute=0.5)
    # group a (2 minutes) judged by b's threshold (1 minute at 0.5: none allowed, so just above 3.0): both pass;
    # b (1 minute) judged by a's (2 minutes: one allowed, the next 5.0 sets it just above 5.0): 3.0 does not
    assert dict(zip(table["video_id"], table["events"], strict=True)) == {"a": 2, "b": 0}
    assert dict(zip(table["video_id"], table["minutes"], strict=True)) == {"a": 2.0, "b": 1.0}
    empty = leave_one_group_out(cands.iloc[:0], videos, groups, per_minute=0.5)
    assert empty["events"].sum() == 0 and empty.attrs["rate"][0] == 0.0
