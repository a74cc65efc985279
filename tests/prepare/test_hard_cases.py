"""Prepare on a hard gallery composed from real faces: every participant kept, one track per feed.

The gallery (40 s, 960x540, 25 fps, five real cameras from ``../shared/data/videos``):

* Alex wears glasses all along, laughs (mouth wide open, head shaking) in 4-7 s and turns
  the head 45 degrees in 12-15 s;
* Sam looks down at a desk (35 degrees) in 2-6 s, holds a hand over the mouth for 1 s at
  16-17 s and turns 40 degrees the other way in 22-24 s;
* Robin sits in a dim room (30% of the light) and someone walks past behind in 8-12 s;
* Kim's camera is off in 7-12 s (a card with the name), and Kim leaves at 18 s and joins
  again at 22 s (added last to the gallery);
* a fifth participant joins late; a screen share replaces the gallery near the end.

The acceptance criteria of the issue are asserted on it; the measured figures are in the
comments (and the README).
"""

from __future__ import annotations

import pandas as pd
import pytest

from mextk.prepare.batch import prepare_recordings
from mextk.prepare.config import preset
from mextk.synth.call import CallConfig, compose_gallery
from mextk.synth.effects import Effect
from tests.conftest import SHARED_DATA, need_shared
from tests.prepare.helpers import evaluate_against_truth

pytestmark = [pytest.mark.shared_data, pytest.mark.slow]

FPS = 25
CAMERAS = [
    "talking_head_d3.mp4",
    "talking_head_d6.mp4",
    "talking_head_d9.mp4",
    "speech_frontal_1.mp4",
    "talking_head_d0.mp4",
]


def hard_effects(videos):
    walker = str(videos[1])
    return {
        0: [
            Effect("glasses", 0, 10**6),
            Effect("laugh", 100, 175, amount=15),
            Effect("turn", 300, 375, amount=45, ramp=12),
        ],
        1: [
            Effect("down", 50, 150, amount=35, ramp=10),
            Effect("hand", 400, 425, ramp=1),
            Effect("turn", 550, 600, amount=-40, ramp=12),
        ],
        2: [Effect("dim", 0, 10**6, amount=0.3, ramp=1), Effect("walker", 200, 300, video=walker)],
    }


@pytest.fixture(scope="module")
def hard(tmp_path_factory):
    videos = [need_shared(SHARED_DATA / "videos" / name) for name in CAMERAS]
    folder = tmp_path_factory.mktemp("hard")
    # seed 18 puts the screen share at 30.7-35.3 s and the late join at 25 s, clear of the hard moments
    cfg = CallConfig(duration_s=40, width=960, height=540, n_late=1, n_early_leave=0, seed=18, min_event_gap_s=4)
    truth = compose_gallery(
        videos,
        folder / "hard.mp4",
        cfg,
        effects=hard_effects(videos),
        camera_off={3: [(175, 300)]},
        rejoins={3: (450, 550)},
        progress=False,
    )
    results = {
        name: prepare_recordings([folder / "hard.mp4"], folder / name, preset(name), progress=False)
        for name in ("default", "cmed")
    }
    return truth, results, folder


def test_the_ground_truth_has_the_hard_moments(hard):
    truth, _, _ = hard
    kim = truth["participants"][3]
    assert kim["camera_off"] == [[175, 299]] and kim["sessions"] == [[0, 449], [550, 999]]
    assert [e["kind"] for e in truth["participants"][0]["effects"]] == ["glasses", "laugh", "turn"]
    assert truth["screen_share"] == [[768, 883]]


def test_every_participant_is_covered_without_mixing_or_share_frames(hard):
    truth, results, _ = hard
    ev = evaluate_against_truth(results["default"].manifest, truth)
    assert ev["mixed"] == []  # no clip shows two people or a camera-off card
    assert ev["in_share"] == 0
    for person, share in ev["recovered"].items():
        assert share >= 0.97, (person, share)  # measured: 97.7-99.7%


def test_clip_boundaries_are_within_half_a_second(hard):
    truth, results, _ = hard
    ev = evaluate_against_truth(results["default"].manifest, truth)
    assert max(ev["start_err"]) <= 0.5 and max(ev["end_err"]) <= 0.5  # measured: 0.12 s and 0.16 s


def test_one_track_per_participant_plus_at_most_one_per_rejoin(hard):
    truth, results, _ = hard
    m = results["default"].manifest
    ev = evaluate_against_truth(m, truth)
    for p in truth["participants"]:
        rejoins = len(p["sessions"]) - 1
        assert 1 <= len(ev["tracks"][p["person"]]) <= 1 + rejoins, (p["person"], ev["tracks"])
    owners = [t for ids in ev["tracks"].values() for t in ids]
    assert len(owners) == len(set(owners))  # no track id is shared by two people


def test_a_camera_off_card_ends_the_clip_and_the_feed_keeps_its_id(hard):
    _, results, _ = hard
    m = results["default"].manifest
    rows = m.to_dict("records")
    # Kim's clips: none runs into the card (frames 175-299)
    kim = [r for r in rows if r["x"] > 480 and r["y"] > 270 and r["start_frame"] < 450]
    assert kim and all(r["end_frame"] < 175 + 5 or r["start_frame"] >= 300 for r in kim)
    assert len({r["track_id"] for r in kim}) == 1  # before and after the camera-off: one id


def test_hard_frames_stay_in_the_clip_and_the_sidecar_says_how_they_were_found(hard):
    _, results, folder = hard
    m = results["default"].manifest
    # Alex's first clip runs through the laugh (100-175) and the 45-degree turn (300-375)
    alex = m[(m["start_frame"] == 0) & (m["x"] < 480) & (m["y"] < 270)].iloc[0]
    assert alex["end_frame"] >= 700
    q = pd.read_csv(folder / "default" / alex["quality"])
    assert len(q) == alex["n_frames"] and q["source_frame"].iloc[0] == alex["start_frame"]
    checked = q[q["checked"]]
    assert set(checked["found_by"]) <= {"detector", "template", "dlib-hog", "dlib-cnn", ""}
    turn = checked[(checked["source_frame"] >= 312) & (checked["source_frame"] < 363)]
    assert turn["yaw"].abs().max() > 30  # the turn is measured, and the frames are kept
    assert alex["turned"] > 0  # the clip-level share of turned-head measurements


def test_the_default_beats_algorithm_1_on_every_measure(hard):
    truth, results, _ = hard
    ours = evaluate_against_truth(results["default"].manifest, truth)
    paper = evaluate_against_truth(results["cmed"].manifest, truth)
    assert min(ours["recovered"].values()) > min(paper["recovered"].values())
    assert len(ours["mixed"]) <= len(paper["mixed"]) and ours["in_share"] <= paper["in_share"]
    assert max(ours["start_err"] + ours["end_err"]) <= max(paper["start_err"] + paper["end_err"])
