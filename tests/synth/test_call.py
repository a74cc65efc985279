from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from mextk.io.video import probe_video, read_frames
from mextk.synth.call import CallConfig, make_call_recording
from mextk.synth.screen import gallery_layout


def _overlap(a, b):
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    return ax < bx + bw and bx < ax + aw and ay < by + bh and by < ay + ah


@pytest.mark.parametrize("n", range(1, 13))
def test_gallery_layout_tiles_fit_and_do_not_overlap(n):
    boxes = gallery_layout(n, 960, 540)
    assert len(boxes) == n
    for x, y, w, h in boxes:
        assert x >= 0 and y >= 0 and x + w <= 960 and y + h <= 540
        assert w % 2 == 0 and h % 2 == 0 and abs(w / h - 16 / 9) < 0.05
    for i in range(n):
        for j in range(i + 1, n):
            assert not _overlap(boxes[i], boxes[j])


@pytest.fixture(scope="module")
def call(synth_call):
    return synth_call


def test_recording_and_ground_truth_files(call):
    path, cfg, truth = call
    info = probe_video(path)
    assert (info.n_frames, info.width, info.height, info.fps) == (600, 640, 360, 25.0)
    on_disk = json.loads(path.with_suffix(".json").read_text())
    assert on_disk == json.loads(json.dumps(truth))
    assert len(truth["participants"]) == 4 and len(truth["screen_share"]) == 1


def test_schedule_has_joins_leaves_and_presence_excludes_the_share(call):
    _, cfg, truth = call
    s0, s1 = truth["screen_share"][0]
    joins = [p["join_frame"] for p in truth["participants"]]
    leaves = [p["leave_frame"] for p in truth["participants"]]
    assert sorted(joins)[-1] > 0 and min(leaves) < truth["n_frames"] - 1
    for p in truth["participants"]:
        for a, b in p["presence"]:
            assert p["join_frame"] <= a <= b <= p["leave_frame"]
            assert b < s0 or a > s1
        events = sorted([p["join_frame"], p["leave_frame"] + 1, s0, s1 + 1])
        inner = [e for e in events if 0 < e < truth["n_frames"]]
        assert all(b - a >= cfg.min_event_gap_s * cfg.fps for a, b in zip(inner, inner[1:], strict=False))
        for ev in p["events"]:
            assert ev["onset"] < ev["apex"] < ev["offset"] and ev["emotion"]


def test_layouts_cover_the_recording_and_match_presence(call):
    _, _, truth = call
    layouts = truth["layouts"]
    assert layouts[0]["start_frame"] == 0 and layouts[-1]["end_frame"] == truth["n_frames"] - 1
    for a, b in zip(layouts, layouts[1:], strict=False):
        assert b["start_frame"] == a["end_frame"] + 1
    assert sum(lay["screen_share"] for lay in layouts) == 1
    assert len({tuple(sorted(lay["tiles"])) for lay in layouts if not lay["screen_share"]}) >= 2  # layout changes
    by_person = {p["person"]: p for p in truth["participants"]}
    for lay in layouts:
        for t in (lay["start_frame"], lay["end_frame"]):
            for person, p in by_person.items():
                present = any(a <= t <= b for a, b in p["presence"])
                assert present == (person in lay["tiles"])


def test_every_tile_shows_one_detectable_face(call):
    import cv2

    path, _, truth = call
    casc = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    lay = max((x for x in truth["layouts"] if not x["screen_share"]), key=lambda x: len(x["tiles"]))
    t = (lay["start_frame"] + lay["end_frame"]) // 2
    frame = read_frames(path, start=t, stop=t + 1)[0]
    faces = casc.detectMultiScale(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY), 1.1, 5, minSize=(40, 40))
    assert len(faces) == len(lay["tiles"])
    for x, y, w, h in lay["tiles"].values():
        inside = [f for f in faces if x <= f[0] + f[2] / 2 <= x + w and y <= f[1] + f[3] / 2 <= y + h]
        assert len(inside) == 1


def test_screen_share_frames_show_no_gallery(call):
    path, _, truth = call
    s0, s1 = truth["screen_share"][0]
    frame = read_frames(path, start=(s0 + s1) // 2, stop=(s0 + s1) // 2 + 1)[0]
    main = frame[:, : frame.shape[1] * 5 // 6]
    assert np.mean(main > 200) > 0.5  # mostly a bright slide


def test_bad_configs_are_refused(tmp_path):
    with pytest.raises(ValueError, match="n_participants"):
        make_call_recording(tmp_path / "x.mp4", CallConfig(n_participants=1), progress=False)
    with pytest.raises(ValueError, match="whole call"):
        make_call_recording(tmp_path / "x.mp4", CallConfig(n_participants=2, n_late=1, n_early_leave=1), progress=False)
    with pytest.raises(ValueError, match="make the call longer"):
        make_call_recording(tmp_path / "x.mp4", CallConfig(duration_s=10), progress=False)
    assert not (tmp_path / "x.mp4").exists()


def test_an_expression_effect_moves_a_real_faces_brows_up_at_its_apex_and_not_outside_it():
    from mextk.faces.landmarks import image_landmarks
    from mextk.io.video import read_frames_at
    from mextk.synth.effects import Effect, apply_effects, find_face_place
    from tests.conftest import SHARED_DATA, need_shared

    video = need_shared(SHARED_DATA / "videos" / "talking_head_d3.mp4")
    frame = read_frames_at(video, [30])[30]
    effect = Effect("expression", 10, 21, amount=0.08, emotion="surprise")
    assert [round(effect.strength(t), 2) for t in (9, 10, 15, 20, 21)] == [0.0, 0.0, 1.0, 0.0, 0.0]
    rng = np.random.default_rng(0)
    place = find_face_place(frame)
    apex = np.clip(apply_effects(frame.astype(np.float32), 15, [effect], place, rng), 0, 255).astype(np.uint8)
    outside = apply_effects(frame.astype(np.float32), 25, [effect], place, rng)
    assert np.array_equal(outside, frame.astype(np.float32))
    before, after = (image_landmarks(cv2.cvtColor(f, cv2.COLOR_RGB2GRAY)) for f in (frame, apex))
    iod = np.hypot(*(before[45] - before[36]))
    rise = (before[17:27, 1] - after[17:27, 1]) / iod  # image y grows downwards: a raised brow has a smaller y
    assert rise.mean() > 0.02 and (rise > 0).all()  # surprise: AU1 + AU2 raise every brow point
    assert np.abs(after[48:68] - before[48:68]).max() / iod < 0.02  # its action units leave the mouth alone
    with pytest.raises(ValueError, match="unknown emotion 'joy'"):
        Effect("expression", 0, 10, emotion="joy")
