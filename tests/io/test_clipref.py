"""Virtual clips (recording + boxes + frame range) read like encoded clips."""

from __future__ import annotations

import json
import shutil

import cv2
import numpy as np
import pytest

from mextk.io.clipref import write_clip_ref
from mextk.io.errors import VideoError
from mextk.io.video import probe_video, read_frames, read_frames_at
from mextk.io.writer import write_video


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    """600 frames of smooth random texture with the frame number written in: a long GOP-spanning recording."""
    folder = tmp_path_factory.mktemp("rec")
    rng = np.random.default_rng(0)
    frames = []
    for i in range(600):
        f = cv2.GaussianBlur(rng.integers(0, 255, (240, 320, 3), dtype=np.uint8), (9, 9), 3)
        cv2.putText(f, str(i), (10, 60), cv2.FONT_HERSHEY_SIMPLEX, 2, (255, 255, 255), 4)
        frames.append(f)
    path = write_video(folder / "rec.mp4", frames, fps=25)
    return path, read_frames(path), read_frames(path, gray=True)


def _ref(folder, rec, **kw):
    (folder / "clips").mkdir(exist_ok=True)
    args = {"fps": 25, "start_frame": 70, "n_frames": 30, "size": 100, "boxes": [(70, (20, 40, 100, 100))]}
    return write_clip_ref(folder / "clips" / "a.clip.json", rec, **{**args, **kw})


def test_virtual_clip_frames_are_the_crop_of_the_recording(recording, tmp_path):
    rec, full, gray = recording
    ref = _ref(tmp_path, rec, boxes=[(70, (20, 40, 100, 100)), (85, (100, 30, 200, 200))])
    rgb, g = read_frames(ref), read_frames(ref, gray=True)
    assert rgb.shape == (30, 100, 100, 3) and g.shape == (30, 100, 100)
    # same-size crop: the pixels of the decoded recording (colour conversion rounding only)
    assert np.abs(rgb[:15].astype(int) - full[70:85, 40:140, 20:120]).mean() < 2.0
    assert np.abs(g[:15].astype(int) - gray[70:85, 40:140, 20:120]).mean() < 1.5  # gray: the luma of that RGB
    # the box in force from frame 85: a 200 px crop downscaled by area averaging
    want = np.stack([cv2.resize(f[30:230, 100:300], (100, 100), interpolation=cv2.INTER_AREA) for f in gray[85:100]])
    assert np.abs(g[15:].astype(int) - want).mean() < 1.5


def test_a_clip_late_in_the_recording_reads_its_own_frames_after_seeking(recording, tmp_path):
    rec, _, gray = recording
    ref = _ref(tmp_path, rec, start_frame=520, n_frames=40, boxes=[(520, (0, 0, 160, 160))])
    got = read_frames_at(ref, [0, 39], gray=True)
    for i, t in ((0, 520), (39, 559)):
        # compared with each candidate frame: the nearest must be the right one (the number is drawn in)
        errs = [
            np.abs(
                got[i].astype(int) - cv2.resize(gray[k, :160, :160], (100, 100), interpolation=cv2.INTER_AREA)
            ).mean()
            for k in range(t - 3, t + 4)
        ]
        assert int(np.argmin(errs)) == 3 and errs[3] < 1.5


def test_probe_gives_the_clip_size_and_length(recording, tmp_path):
    info = probe_video(_ref(tmp_path, recording[0], n_frames=30, size=100))
    assert (info.n_frames, info.width, info.height, info.fps) == (30, 100, 100, 25.0)


def test_a_moved_folder_still_reads(recording, tmp_path):
    rec, full, _ = recording
    shutil.copy(rec, tmp_path / "rec.mp4")
    _ref(tmp_path, tmp_path / "rec.mp4")
    moved = tmp_path.parent / (tmp_path.name + "_moved")
    shutil.copytree(tmp_path, moved)
    (tmp_path / "rec.mp4").unlink()
    got = read_frames(moved / "clips" / "a.clip.json", start=0, stop=1)
    assert np.abs(got[0].astype(int) - full[70, 40:140, 20:120]).mean() < 2.0


def test_missing_replaced_or_garbled_references_are_named(recording, tmp_path):
    rec, _, _ = recording
    copy = tmp_path / "rec.mp4"
    shutil.copy(rec, copy)
    ref = _ref(tmp_path, copy)
    with copy.open("ab") as f:
        f.write(b"\0" * 10)
    with pytest.raises(VideoError, match=r"a\.clip\.json: its recording .* changed"):
        read_frames(ref)
    copy.unlink()
    with pytest.raises(VideoError, match=r"a\.clip\.json: its recording .* is missing"):
        probe_video(ref)
    ref.write_text("{not json")
    with pytest.raises(VideoError, match=r"a\.clip\.json: not a readable clip reference"):
        read_frames(ref)
    ref.write_text(json.dumps({"format": "mextk-clip/1", "recording": "x.mp4"}))
    with pytest.raises(VideoError, match=r"a\.clip\.json: clip reference lacks"):
        read_frames(ref)


def test_a_recording_shorter_than_the_clip_is_an_error(recording, tmp_path):
    rec, _, _ = recording
    ref = _ref(tmp_path, rec, start_frame=590, n_frames=30, boxes=[(590, (0, 0, 100, 100))])
    with pytest.raises(VideoError, match="ends at frame 599, before the clip's frame 619"):
        read_frames(ref)


def test_prefetch_yields_in_order_and_raises_the_producers_error_after_its_items():
    from mextk.io.decode import prefetch

    def items():
        yield from range(5)
        raise VideoError("x.mp4: decoding failed after frame 4")

    got = []
    with pytest.raises(VideoError, match="after frame 4"):
        for i in prefetch(items(), size=2):
            got.append(i)
    assert got == [0, 1, 2, 3, 4]


def test_prefetch_stops_its_thread_when_the_consumer_stops_early():
    import threading

    from mextk.io.decode import prefetch

    closed = []

    def items():
        try:
            yield from range(10**6)
        finally:
            closed.append(True)

    gen = prefetch(items(), size=4)
    assert [next(gen) for _ in range(3)] == [0, 1, 2]
    gen.close()
    assert not any(t.name == "mextk-decode" and t.is_alive() for t in threading.enumerate())
    assert closed == [True]


def test_one_shared_pass_gives_each_clip_the_frames_it_gives_when_read_alone(recording, tmp_path):
    from mextk.io.clipref import iter_shared_clip_frames

    rec, _, _ = recording
    a = write_clip_ref(tmp_path / "a.clip.json", rec, fps=25, start_frame=300, n_frames=60, size=64,
                       boxes=[(300, (0, 0, 120, 120))])  # fmt: skip
    b = write_clip_ref(tmp_path / "b.clip.json", rec, fps=25, start_frame=330, n_frames=100, size=80,
                       boxes=[(330, (150, 50, 100, 100)), (400, (160, 60, 90, 90))])  # fmt: skip
    windows = [(a, 10, 40), (b, 0, 100)]
    got: dict[tuple[int, int], np.ndarray] = {}
    order = []
    for i, k, frame in iter_shared_clip_frames(windows, gray=True):
        got[(i, k)] = frame
        order.append(int(read_clip_ref_start(i, windows)) + k)
    assert order == sorted(order)  # recording order: one pass
    for i, (path, start, stop) in enumerate(windows):
        alone = read_frames(path, gray=True)[start:stop]
        assert [k for j, k in got if j == i] == list(range(start, stop))
        assert all(np.array_equal(got[(i, k)], alone[k - start]) for k in range(start, stop))


def read_clip_ref_start(i, windows):
    from mextk.io.clipref import read_clip_ref

    return read_clip_ref(windows[i][0]).start_frame


def test_a_shared_pass_refuses_clips_of_different_recordings(recording, tmp_path):
    from mextk.io.clipref import iter_shared_clip_frames

    rec, full, _ = recording
    other = write_video(tmp_path / "other.mp4", list(full[:40]), fps=25)
    a = write_clip_ref(tmp_path / "a.clip.json", rec, fps=25, start_frame=0, n_frames=20, size=64,
                       boxes=[(0, (0, 0, 100, 100))])  # fmt: skip
    b = write_clip_ref(tmp_path / "b.clip.json", other, fps=25, start_frame=0, n_frames=20, size=64,
                       boxes=[(0, (0, 0, 100, 100))])  # fmt: skip
    with pytest.raises(ValueError, match="b.clip.json: not a clip of"):
        list(iter_shared_clip_frames([(a, 0, 20), (b, 0, 20)]))
