"""Expressions rendered into real faces: placement, and what landmarks measured on the result say."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mextk.synth.render_into import AU_SETS, IOD_128, RenderSettings, plan_expressions, render_into_videos, strength
from tests.conftest import SHARED_DATA, need_shared


@pytest.mark.parametrize("seed", range(5))
def test_planned_expressions_keep_their_lengths_sizes_and_distance(seed):
    settings = RenderSettings(micro_per_video=3, macro_per_video=2)
    fps, n = 25.0, 750
    plan = plan_expressions(n, fps, settings, np.random.default_rng(seed))
    assert sum(e["type"] == "micro" for e in plan) == 3 and sum(e["type"] == "macro" for e in plan) == 2
    gap = round(settings.min_gap_s * fps)
    for e in plan:
        seconds = (e["offset"] - e["onset"] + 1) / fps
        lo, hi = settings.micro_s if e["type"] == "micro" else settings.macro_s
        assert lo - 1 / fps <= seconds <= hi + 1 / fps
        assert e["onset"] < e["apex"] < e["offset"] and gap <= e["onset"] and e["offset"] < n - gap
        sizes = settings.micro_px128 if e["type"] == "micro" else settings.macro_px128
        assert sizes[0] <= e["amount_px128"] <= sizes[1] and e["aus"] in AU_SETS
    for a, b in zip(plan, plan[1:], strict=False):
        assert b["onset"] - a["offset"] > gap  # apart, so no interval overlaps another


def test_the_strength_profile_rises_to_one_at_the_apex_and_falls_to_zero_outside():
    assert strength(9, 10, 14, 20) == 0.0 and strength(21, 10, 14, 20) == 0.0
    assert strength(14, 10, 14, 20) == 1.0 and strength(12, 10, 14, 20) == pytest.approx(0.5)
    assert strength(17, 10, 14, 20) == pytest.approx(0.5)


@pytest.mark.shared_data
def test_landmarks_on_the_rendered_frames_move_by_the_amount_for_the_time_and_only_in_the_region(tmp_path, monkeypatch):
    """A 4 px (on 128) AU4 brow lowerer rendered into a real speaker: dlib on the result finds it."""
    from mextk.faces.landmarks import image_landmarks
    from mextk.io.video import read_frames
    from mextk.synth import render_into as module
    from mextk.synth.face import au_field, face_frame

    video = need_shared(SHARED_DATA / "videos" / "speech_calm_2.mp4")

    def fixed(n_frames, fps, settings, rng):  # the boundary: a known expression instead of a random one
        return [{"onset": 40, "apex": 47, "offset": 54, "type": "micro", "aus": "AU4", "amount_px128": 4.0}]

    monkeypatch.setattr(module, "plan_expressions", fixed)
    manifest = render_into_videos([video], tmp_path, RenderSettings(), progress=False)
    row = manifest.iloc[0]
    assert (row["onset"], row["offset"], row["type"], row["frames_without_face"]) == (40, 54, "micro", 0)
    assert pd.read_csv(tmp_path / "long.csv")["aus"].tolist() == ["AU4"]
    before = read_frames(video, gray=True)
    after = read_frames(tmp_path / "speech_calm_2.mp4", gray=True)
    assert len(after) == len(before)
    lm_before, lm_after = image_landmarks(before[47]), image_landmarks(after[47])
    iod = face_frame(lm_before)[3]
    moving = np.hypot(*au_field(lm_before, {"AU4": 1.0}).T) > 1e-6
    shift = np.hypot(*(lm_after - lm_before).T)
    want = 4.0 / IOD_128 * iod  # the most moving landmark, in this face's pixels
    assert shift[moving].max() == pytest.approx(want, rel=0.5)  # dlib's own jitter is a fraction of a pixel
    assert np.median(shift[~moving]) < 0.25 * want  # outside the action unit, the face stays
    # outside the interval the frames are the video's own: re-encoding moves dlib's integer points by a pixel or
    # so, far less than the expression moves its action unit at the apex
    quiet = np.hypot(*(image_landmarks(after[20]) - image_landmarks(before[20])).T)
    assert np.median(quiet[moving]) < 0.3 * shift[moving].max()


@pytest.mark.shared_data
def test_synth_render_into_writes_the_videos_and_a_manifest_that_spot_eval_reads(tmp_path):
    from typer.testing import CliRunner

    from mextk.cli import app
    from mextk.spotting.long_manifest import load_long_manifest

    video = need_shared(SHARED_DATA / "videos" / "speech_calm_3.mp4")
    res = CliRunner().invoke(app, ["synth", "--render-into", str(video), "--out", str(tmp_path / "r"), "--seed", "3"])
    assert res.exit_code == 0, res.output
    truth = load_long_manifest(tmp_path / "r" / "long.csv")
    assert (tmp_path / "r" / "speech_calm_3.mp4").exists() and set(truth["video_id"]) == {"speech_calm_3"}
    assert sorted(truth["type"]) == ["macro", "micro", "micro"]
    res = CliRunner().invoke(app, ["spot-eval", str(tmp_path / "r" / "long.csv"), str(tmp_path / "r" / "long.csv")])
    assert res.exit_code == 0 and "1.0000" in res.output  # the truth scored against itself
    again = CliRunner().invoke(
        app, ["synth", "--render-into", str(tmp_path / "none.mp4"), "--out", str(tmp_path / "x")]
    )
    assert again.exit_code == 2 and "none.mp4: video not found" in again.output
