"""Event frames cut in one pass per clip (:mod:`mextk.analyze.events`)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from mextk.analyze.events import cut_all, cut_events, event_name
from mextk.io.clipref import write_clip_ref
from mextk.io.frame_folder import list_frame_files
from mextk.io.video import read_frames
from mextk.io.writer import write_video


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    folder = tmp_path_factory.mktemp("events")
    rng = np.random.default_rng(1)
    frames = [cv2.GaussianBlur(rng.integers(0, 255, (120, 160, 3), dtype=np.uint8), (7, 7), 2) for _ in range(120)]
    return write_video(folder / "rec.mp4", frames, fps=25)


def test_each_event_folder_holds_exactly_the_clips_frames_from_onset_to_offset(recording, tmp_path):
    clip = write_clip_ref(tmp_path / "c.clip.json", recording, fps=25, start_frame=20, n_frames=80, size=64,
                          boxes=[(20, (10, 10, 100, 100))])  # fmt: skip
    out = cut_events(clip, [(5, 14), (12, 30), (70, 79)], tmp_path / "ev")
    frames = read_frames(clip)
    for a, b in [(5, 14), (12, 30), (70, 79)]:
        files = list_frame_files(out / event_name(a, b))
        assert len(files) == b - a + 1  # overlapping events each get their own frames
        got = np.stack([cv2.cvtColor(cv2.imread(str(f)), cv2.COLOR_BGR2RGB) for f in files])
        assert np.array_equal(got, frames[a : b + 1])  # lossless PNG
    assert not list(out.glob(".*partial"))


def test_an_event_past_the_clips_end_fails_without_leaving_a_partial_folder(recording, tmp_path):
    clip = write_clip_ref(tmp_path / "c.clip.json", recording, fps=25, start_frame=0, n_frames=40, size=64,
                          boxes=[(0, (0, 0, 100, 100))])  # fmt: skip
    with pytest.raises(ValueError, match=r"bad event \[9, 3\]"):
        cut_events(clip, [(9, 3)], tmp_path / "ev")
    failed = cut_all([(str(clip), [(30, 45)], str(tmp_path / "ev2"))])
    assert list(failed) == [str(clip)] and "45" in failed[str(clip)]
    assert not (tmp_path / "ev2" / event_name(30, 45)).exists() and not list((tmp_path / "ev2").glob(".*"))


def test_cut_all_reads_the_clips_of_one_recording_together_and_reports_a_missing_one(recording, tmp_path):
    a = write_clip_ref(tmp_path / "a.clip.json", recording, fps=25, start_frame=0, n_frames=60, size=48,
                       boxes=[(0, (0, 0, 80, 80))])  # fmt: skip
    b = write_clip_ref(tmp_path / "b.clip.json", recording, fps=25, start_frame=50, n_frames=60, size=48,
                       boxes=[(50, (60, 20, 90, 90))])  # fmt: skip
    items = [(str(a), [(3, 8)], str(tmp_path / "a")), (str(b), [(0, 4), (40, 59)], str(tmp_path / "b")),
             (str(tmp_path / "gone.mp4"), [(0, 2)], str(tmp_path / "gone"))]  # fmt: skip
    failed = cut_all(items, jobs=1)
    assert list(failed) == [str(tmp_path / "gone.mp4")]
    assert np.array_equal(
        np.stack([cv2.imread(str(f))[..., ::-1] for f in list_frame_files(tmp_path / "b" / event_name(40, 59))]),
        read_frames(b)[40:60],
    )
    assert len(list_frame_files(tmp_path / "a" / event_name(3, 8))) == 6


def test_the_recording_is_split_where_decoding_costs_balance_not_event_frames():
    from mextk.analyze.events import _chunk_cost, _split_balanced

    # key frames every 250 frames; four events early on, one late: half the event frames lie in the first
    # three, but the last event's pass starts only at the key frame 500, so the late one goes alone
    keys, margin = [0, 250, 500, 750], 25
    events = [(10, 20), (30, 40), (50, 60), (70, 80), (600, 610)]
    # by hand (GAP_COST 0.5): the first four decode frames 0-80, 44 in events: 44 + 0.5 * 37 = 62.5;
    # the last decodes 500-610 (key frame 500 <= 600 - 25), 11 in its event: 11 + 0.5 * 100 = 61
    assert _chunk_cost(events[:4], keys, margin) == 62.5
    assert _chunk_cost(events[4:], keys, margin) == 61.0
    # splitting after the third event would leave a pass from frame 0 to 610: 22 + 0.5 * 589 = 316.5
    assert _chunk_cost(events[3:], keys, margin) == 316.5
    assert _split_balanced(events, keys, margin, 2) == [4]
    assert _split_balanced(events, keys, margin, 1) == []
    # key frames unknown: a pass is planned from its margin's start, 575-610: 11 + 0.5 * 25 = 23.5
    assert _chunk_cost(events[4:], [], margin) == 23.5
