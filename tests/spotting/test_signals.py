"""Planning and joining region motion computed in stretches of a recording (:mod:`mextk.spotting.signals`)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mextk.io.clipref import write_clip_ref
from mextk.io.writer import write_video
from mextk.spotting.baseline import SpotterSettings
from mextk.spotting.signals import Piece, plan_tasks


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    folder = tmp_path_factory.mktemp("rec")
    frames = [np.full((64, 96, 3), 100, np.uint8)] * 10
    return folder, write_video(folder / "rec.mp4", frames, fps=25)


def _clip(folder, rec, name, start, n):
    return str(write_clip_ref(folder / f"{name}.clip.json", rec, fps=25, start_frame=start, n_frames=n, size=32,
                              boxes=[(start, (0, 0, 32, 32))]))  # fmt: skip


def test_each_clip_frame_is_kept_by_exactly_one_stretch_with_enough_frames_before_it(recording):
    folder, rec = recording  # the plan reads only the references (frame ranges), not the pixels
    settings = SpotterSettings()
    warm = max(settings.frame_scales(25.0)) + 25
    clips = {"a": (0, 1500), "b": (0, 761), "c": (925, 575), "d": (460, 300)}
    todo = [(name, _clip(folder, rec, name, s, n), 25.0) for name, (s, n) in clips.items()]
    todo.append(("plain", str(rec), 25.0))  # not a virtual clip: a task of its own
    tasks = plan_tasks(todo, settings, jobs=2)
    assert [Piece("plain", str(rec), 25.0)] in tasks
    stretches = [t for t in tasks if t[0].stop >= 0]
    assert len(stretches) == 2  # one per worker, each decoding its stretch once for every clip in it
    for name, (_, n) in clips.items():
        pieces = sorted((p for t in stretches for p in t if p.key == name), key=lambda p: p.keep)
        kept = np.concatenate([np.arange(p.keep, p.stop) for p in pieces])
        assert np.array_equal(kept, np.arange(n))  # every frame once, in order
        for p in pieces:
            assert p.start == max(0, p.keep - warm)  # max(k) + 1 s of warm-up where the clip has it
    # the stretches share the work about equally, warm-up included: every clip frame aligned (kept or
    # warming up) plus 0.75 of one per recording frame decoded (from the earliest warm-up frame on)
    load = []
    for t in stretches:
        aligned = sum(p.stop - p.start for p in t)
        decoded = max(clips[p.key][0] + p.stop for p in t) - min(clips[p.key][0] + p.start for p in t)
        load.append(aligned + 0.75 * decoded)
    assert abs(load[0] - load[1]) <= 0.02 * sum(load), load


def test_a_single_worker_plans_one_pass_per_recording(recording):
    folder, rec = recording
    todo = [(n, _clip(folder, rec, n, s, 100), 25.0) for n, s in (("a", 0), ("b", 50))]
    tasks = plan_tasks(todo, SpotterSettings(), jobs=1)
    assert len(tasks) == 1 and {(p.key, p.start, p.keep, p.stop) for p in tasks[0]} == {
        ("a", 0, 0, 100),
        ("b", 0, 0, 100),
    }


def test_a_clip_whose_recording_ends_early_fails_alone_and_is_named(recording, tmp_path):
    from mextk.spotting.signals import compute_features

    folder, rec = recording  # 10 frames of a blank wall
    videos = pd.DataFrame(
        {"dataset": "d", "video_id": ["long", "short"], "fps": 25.0,
         "path": [_clip(folder, rec, "long", 0, 40), _clip(folder, rec, "short", 2, 5)]}
    )  # fmt: skip
    failed = compute_features(videos, tmp_path / "cache", SpotterSettings(), jobs=1, progress=False)
    assert "ends at clip frame 10 of 40" in failed["d/long"]  # its recording has 10 frames
    assert "no face found in any of its 5 frames" in failed["d/short"]  # read whole, but faceless
