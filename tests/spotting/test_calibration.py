"""The spotter calibrated to a false-alarm rate on calm footage (:mod:`mextk.spotting.calibration`)."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from mextk.cli import app
from mextk.spotting.baseline import SpotterSettings
from mextk.spotting.calibration import Calibration, calibrate, calibrated_settings, load_calibration, packaged, resolve
from mextk.spotting.long_manifest import load_long_manifest
from mextk.synth.long import synthesize_long_videos

runner = CliRunner()


def _cal(settings: SpotterSettings | None = None, **scores: list[float]) -> Calibration:
    return Calibration(
        scores={k: tuple(v) for k, v in scores.items()},
        minutes=2.0,
        floor=1.0,
        settings=calibrated_settings(settings or SpotterSettings()),
    )


def test_threshold_keeps_at_most_the_stated_rate_on_the_calm_footage():
    cal = _cal(micro=[9.0, 7.0, 5.0, 3.0], macro=[])
    # 2 minutes at 1 a minute: 2 candidates may pass, so the threshold lies just above the third (5.0)
    t = cal.threshold(1.0, "micro")
    assert 5.0 < t <= 5.0 + 1e-9
    assert cal.threshold(0.5, "micro") > 7.0  # one may pass
    assert cal.threshold(10.0, "micro") == 1.0  # all 4 may pass: no threshold above the listing floor
    assert cal.threshold(1.0, "macro") == 1.0  # no macro candidate at all


def test_rate_and_interval_of_an_event_count_calm_candidates_at_least_as_strong():
    cal = _cal(micro=[9.0, 7.0, 5.0, 3.0])
    assert cal.per_minute(7.0, "micro") == pytest.approx(1.0)  # 9 and 7 in 2 minutes
    assert cal.once_every(9.0, "micro") == pytest.approx(2.0)
    assert cal.once_every(9.5, "micro") == float("inf")  # stronger than anything on the calm footage
    with pytest.raises(ValueError, match="unknown interval type"):
        cal.per_minute(1.0, "mega")


def test_a_calibration_made_with_other_settings_is_refused_naming_the_setting():
    cal = _cal(micro=[2.0])
    other = replace(SpotterSettings(), speech_discount=0.5)
    with pytest.raises(ValueError, match="speech_discount"):
        cal.check(other)
    cal.check(replace(SpotterSettings(), threshold=9.0, false_alarms_per_minute=3.0))  # free settings: accepted


def test_the_packaged_calibration_fits_the_default_spotter_and_names_no_path():
    cal = packaged()
    assert resolve(SpotterSettings()) is not None  # a change of a default that moves scores needs a new calibration
    assert cal.minutes > 1.0 and cal.footage
    assert not any("/" in f or "\\" in f for f in cal.footage)
    assert resolve(replace(SpotterSettings(), calibration="")) is None


def test_calibrate_counts_every_calm_video_minutes_even_without_candidates(tmp_path):
    videos = pd.DataFrame({"dataset": ["d", "d"], "video_id": ["a", "b"], "fps": [25.0, 25.0], "n_frames": [1500, 750]})
    cands = pd.DataFrame({"dataset": ["d", "d", "d"], "video_id": ["a", "a", "b"], "onset": [1, 50, np.nan],
                          "type": ["micro", "macro", ""], "score": [4.0, 6.0, np.nan]})  # fmt: skip
    cal = calibrate(cands, videos, SpotterSettings(), floor=1.0)
    assert cal.minutes == pytest.approx(1.5)  # 60 s + 30 s
    assert cal.scores == {"micro": (4.0,), "macro": (6.0,)}
    back = load_calibration(cal.save(tmp_path / "c.json"))
    assert back == cal
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(ValueError, match="bad.json: not a spotter calibration"):
        load_calibration(tmp_path / "bad.json")


def test_the_held_out_rate_judges_each_person_by_the_threshold_the_others_set():
    videos = pd.DataFrame({"dataset": "d", "subject": ["A", "B"], "video_id": ["a", "b"], "fps": 25.0,
                           "n_frames": 1500})  # fmt: skip
    cands = pd.DataFrame({"dataset": "d", "video_id": ["a", "b"], "onset": [1, 1], "type": "micro",
                          "score": [5.0, 3.0]})  # fmt: skip
    cal = calibrate(cands, videos, SpotterSettings(), floor=1.0)
    # 1 a minute: each person's one minute allows the other's one candidate, so both count: 2 in 2 minutes
    assert cal.held_out["1"][0] == pytest.approx(1.0)
    # 0.5 a minute: one minute allows none; A (5.0) passes B's threshold (just above 3), B (3.0) not A's (above 5)
    assert cal.held_out["0.5"][0] == pytest.approx(0.5)
    lo, hi = cal.held_out["0.5"][1:]
    assert lo < 0.5 < hi


@pytest.fixture(scope="module")
def calm_and_cal(tmp_path_factory):
    """Synthetic long videos taken as calm footage, calibrated with mextk spot-calibrate (seed 12)."""
    out = tmp_path_factory.mktemp("cal")
    synthesize_long_videos(out / "set", n_subjects=3, seconds=16, fps=25, size=128, seed=12, progress=False)
    result = runner.invoke(app, ["spot-calibrate", str(out / "set" / "long.csv"), "--out", str(out / "cal.json"),
                                 "--features", str(out / "features")])  # fmt: skip
    assert result.exit_code == 0, result.output
    return out


def test_spot_calibrate_then_spot_keeps_the_stated_rate_and_fewer_events_at_a_lower_rate(calm_and_cal):
    out = calm_and_cal
    cal = load_calibration(out / "cal.json")
    manifest = out / "set" / "long.csv"
    counts = {}
    for rate in (0.5, 2.0, 8.0):
        run = out / f"spot{rate}"
        args = ["spot", str(manifest), "--out", str(run), "--features", str(out / "features"),
                "--calibration", str(out / "cal.json"), "--false-alarms-per-minute", str(rate)]  # fmt: skip
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        spotted = load_long_manifest(run / "intervals.csv")
        micro = spotted[spotted["type"] == "micro"]
        counts[rate] = len(micro)
        # judged on the footage that set it, the rate is kept exactly
        assert len(micro) <= np.floor(rate * cal.minutes)
        assert (pd.to_numeric(micro["calm_per_min"]) <= rate + 1e-9).all()
    assert counts[0.5] <= counts[2.0] <= counts[8.0]
    assert counts[8.0] > counts[0.5]
    record = json.loads((out / "spot0.5" / "spotter.json").read_text())
    assert record["settings"]["false_alarms_per_minute"] == 0.5


def test_spot_with_settings_the_calibration_was_not_made_for_fails_in_one_line(calm_and_cal, tmp_path):
    out = calm_and_cal
    args = ["spot", str(out / "set" / "long.csv"), "--out", str(tmp_path / "run"), "--set", "motion.crop=112",
            "--calibration", str(out / "cal.json")]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert "motion" in result.output and "spot-calibrate" in result.output
    assert not (tmp_path / "run" / "intervals.csv").exists()


def test_calibrating_again_with_other_settings_replaces_the_old_candidates(calm_and_cal, tmp_path):
    out = calm_and_cal
    args = ["spot-calibrate", str(out / "set" / "long.csv"), "--out", str(tmp_path / "cal.json"),
            "--features", str(out / "features")]  # fmt: skip
    assert runner.invoke(app, args).exit_code == 0
    result = runner.invoke(app, [*args, "--set", "speech_discount=0.5"])
    assert result.exit_code == 0, result.output
    assert load_calibration(tmp_path / "cal.json").settings["speech_discount"] == 0.5
