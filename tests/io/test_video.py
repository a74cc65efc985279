from __future__ import annotations

import os

import numpy as np
import pytest

from mextk.io.errors import VideoError
from mextk.io.frame_folder import list_frame_files
from mextk.io.video import iter_frames, probe_video, read_frames
from mextk.io.writer import VideoWriter, write_video
from tests.conftest import SHARED_DATA, need_shared


def test_h264_roundtrip_keeps_count_rate_size_and_content(tmp_path, textured_frames):
    path = write_video(tmp_path / "clip.mp4", textured_frames, fps=25, crf=0)
    info = probe_video(path)
    assert (info.n_frames, info.fps, info.width, info.height) == (12, 25.0, 80, 64)
    assert info.duration == pytest.approx(12 / 25)
    back = read_frames(path)
    assert back.shape == textured_frames.shape and back.dtype == np.uint8
    # crf 0 is lossless in YUV: luma survives almost exactly, chroma loses 4:2:0 resolution only
    import cv2

    luma = lambda f: cv2.cvtColor(f, cv2.COLOR_RGB2GRAY).astype(int)  # noqa: E731
    assert np.mean([np.abs(luma(a) - luma(b)).mean() for a, b in zip(back, textured_frames, strict=True)]) < 1.5
    assert np.abs(back.astype(int) - textured_frames.astype(int)).mean() < 10


def test_stream_is_h264(tmp_path, textured_frames):
    import av

    path = write_video(tmp_path / "clip.mp4", textured_frames, fps=25)
    with av.open(str(path)) as c:
        assert c.streams.video[0].codec_context.name == "h264"
        assert c.streams.video[0].average_rate == 25


def test_ranges_and_gray(tmp_path, textured_frames):
    path = write_video(tmp_path / "clip.mp4", textured_frames, fps=25, crf=0)
    part = read_frames(path, start=3, stop=7, gray=True)
    assert part.shape == (4, 64, 80)
    full = read_frames(path, gray=True)
    np.testing.assert_array_equal(part, full[3:7])
    assert len(list(iter_frames(path, start=10))) == 2
    with pytest.raises(VideoError, match="truncated"):
        read_frames(path, start=8, stop=20)


def test_frame_folder_natural_order(tmp_path, textured_frames):
    import cv2

    folder = tmp_path / "frames"
    folder.mkdir()
    for t, f in enumerate(textured_frames):
        cv2.imwrite(str(folder / f"img{t + 1}.png"), cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    (folder / "notes.txt").write_text("not a frame")
    assert [p.name for p in list_frame_files(folder)][:3] == ["img1.png", "img2.png", "img3.png"]
    assert list_frame_files(folder)[-1].name == "img12.png"
    info = probe_video(folder)
    assert info.n_frames == 12 and (info.width, info.height) == (80, 64)
    np.testing.assert_array_equal(read_frames(folder), textured_frames)


def test_missing_and_corrupt_files_name_the_file(tmp_path):
    with pytest.raises(VideoError, match="missing.mp4: file not found"):
        probe_video(tmp_path / "missing.mp4")
    bad = tmp_path / "corrupt.mp4"
    bad.write_bytes(b"\x00\x01garbage" * 100)
    with pytest.raises(VideoError) as err:
        read_frames(bad)
    assert "corrupt.mp4" in str(err.value) and "\n" not in str(err.value)
    empty = tmp_path / "frames"
    empty.mkdir()
    with pytest.raises(VideoError, match="no images"):
        probe_video(empty)


def test_truncated_file_keeps_frames_before_the_damage(tmp_path, rng):
    frames = rng.integers(0, 255, (40, 64, 64, 3), dtype=np.uint8)
    path = write_video(tmp_path / "full.mp4", frames, fps=25, crf=30)
    data = path.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    got = []
    with pytest.raises(VideoError) as err:
        for f in iter_frames(cut):
            got.append(f)
        # a cut mp4 may also decode cleanly but short; then reading the full range must fail
        read_frames(cut, start=0, stop=40)
    assert "cut.mp4" in str(err.value)


def test_writer_is_atomic_and_checks_frames(tmp_path):
    target = tmp_path / "out.mp4"
    with pytest.raises(RuntimeError):
        with VideoWriter(target, fps=25) as w:
            w.write(np.zeros((32, 32, 3), np.uint8))
            raise RuntimeError("interrupted")
    assert not target.exists()
    assert not any(p.name.endswith(".part.mp4") for p in tmp_path.iterdir())
    with pytest.raises(ValueError, match="even"):
        with VideoWriter(target, fps=25) as w:
            w.write(np.zeros((31, 32, 3), np.uint8))
    with pytest.raises(TypeError, match="uint8"):
        with VideoWriter(target, fps=25) as w:
            w.write(np.zeros((32, 32, 3), np.float32))
    with pytest.raises(ValueError, match="expected 32x32"):
        with VideoWriter(target, fps=25) as w:
            w.write(np.zeros((32, 32, 3), np.uint8))
            w.write(np.zeros((64, 32, 3), np.uint8))
    assert not target.exists()
    with pytest.raises(ValueError, match="fps"):
        VideoWriter(target, fps=0)


def test_gray_frames_are_written_as_rgb(tmp_path):
    frames = np.full((3, 32, 32), 128, np.uint8)
    path = write_video(tmp_path / "g.mp4", frames, fps=30, crf=0)
    back = read_frames(path)
    assert back.shape == (3, 32, 32, 3)
    assert abs(int(back.mean()) - 128) <= 2
    assert probe_video(path).fps == 30


@pytest.mark.shared_data
@pytest.mark.parametrize("name", ["talking_head_d3.mp4", "speech_frontal_1.mp4"])
def test_reads_real_recordings(name):
    path = need_shared(SHARED_DATA / "videos" / name)
    info = probe_video(path)
    assert info.n_frames > 50 and info.fps in (25.0, 30.0) and info.width >= 480
    frames = read_frames(path, start=10, stop=14)
    assert frames.shape == (4, info.height, info.width, 3)
    assert frames.std() > 10  # real content, not a blank decode
    assert os.path.getsize(path) > 0


def test_encoding_is_bit_identical_run_to_run(tmp_path, rng):
    import hashlib

    import cv2

    frames = [cv2.GaussianBlur(rng.integers(0, 255, (96, 96, 3), dtype=np.uint8), (0, 0), 2) for _ in range(20)]
    hashes = set()
    for k in range(5):
        path = write_video(tmp_path / f"{k}.mp4", frames, fps=25, crf=23, preset="veryfast")
        hashes.add(hashlib.md5(np.ascontiguousarray(read_frames(path)).tobytes()).hexdigest())
    assert len(hashes) == 1


def _write_h264(path, times_ms, *, bframes: int = 3, keyint: int = 250) -> None:
    """An H.264 file with B-frames: frame ``k`` shows a texture shifted by ``k`` px, at ``times_ms[k]``."""
    from fractions import Fraction

    import av
    import cv2

    g = np.random.default_rng(3)
    base = cv2.GaussianBlur(g.uniform(0, 255, (96, 96 + len(times_ms))).astype(np.float32), (0, 0), 2.0)
    base = ((base - base.min()) / (base.max() - base.min()) * 255).astype(np.uint8)
    with av.open(str(path), "w") as c:
        params = f"bframes={bframes}:keyint={keyint}"  # x264's own settings (FFmpeg's option names differ)
        s = c.add_stream("libx264", rate=25, options={"x264-params": params, "crf": "20"})
        s.width, s.height, s.pix_fmt = 96, 96, "yuv420p"
        s.codec_context.time_base = Fraction(1, 1000)
        for k, t in enumerate(times_ms):
            img = np.ascontiguousarray(np.repeat(base[:, k : k + 96, None], 3, axis=2))
            f = av.VideoFrame.from_ndarray(img, format="rgb24")
            f.pts, f.time_base = int(t), Fraction(1, 1000)
            for p in s.encode(f):
                c.mux(p)
        for p in s.encode():
            c.mux(p)


def _luma(frame) -> np.ndarray:
    return frame.to_ndarray(format="gray")


def test_read_windows_gives_a_full_decodes_frames_and_skips_unreferenced_frames_between(tmp_path):
    from mextk.io.cfr import CfrReader, read_windows

    path = tmp_path / "b.mp4"
    _write_h264(path, [40 * k for k in range(300)])  # 12 s at 25 fps, B-frames, key frames every 10 s
    windows = [(120, 131), (200, 205), (280, 300)]
    full = {t: _luma(f) for t, f in CfrReader(path) if any(a <= t < b for a, b in windows)}
    got = {t: _luma(f) for t, f in read_windows(path, windows)}
    assert sorted(got) == [t for a, b in windows for t in range(a, b)]
    assert all(np.array_equal(got[t], full[t]) for t in full)
    reader = CfrReader(path, start=120, windows=windows)
    assert [t for t, _ in reader] == sorted(got)
    # from the key frame at 0 to frame 299, x264's 3 B-frames leave about two frames in four unreferenced:
    # outside the windows and their 1 s margins (about 200 frames) about 100 are not decoded
    assert reader.stats.decoded < 240, reader.stats.decoded
    # and it stops after the last window: frames 0-29 and the few the decoder holds back for reordering
    early = CfrReader(path, windows=[(20, 30)])
    assert [t for t, _ in early] == list(range(20, 30)) and early.stats.decoded < 36, early.stats.decoded


def test_sparse_reading_yields_every_needed_frame_as_decoded_in_full_and_leaves_unreferenced_ones_out(tmp_path):
    from mextk.io.cfr import CfrReader

    path = tmp_path / "b.mp4"
    _write_h264(path, [40 * k for k in range(300)])  # 3 B-frames: half the frames are not referenced
    full = {t: _luma(f) for t, f in CfrReader(path)}
    reader = CfrReader(path, sparse=(5, 1))
    got = {t: _luma(f) for t, f in reader}
    assert set(range(0, 300, 5)) <= set(got)  # every needed frame, with its own number
    assert all(np.array_equal(got[t], full[t]) for t in got)  # and nothing decoded differently
    st = reader.stats
    # of the ~150 unreferenced frames, the 4 in 5 that are not needed are left out (about 120)
    assert st.skipped >= 90 and st.decoded == len(got) and st.decoded + st.skipped == 300, st
    assert st.emitted == 300 and st.duplicated == 0 and not reader.truncated


def test_sparse_reading_of_a_video_without_b_frames_decodes_every_frame(tmp_path):
    from mextk.io.cfr import CfrReader

    path = tmp_path / "p.mp4"
    _write_h264(path, [40 * k for k in range(100)], bframes=0)  # every frame is referenced by the next
    reader = CfrReader(path, sparse=(5, 1))
    assert [t for t, _ in reader] == list(range(100)) and reader.stats.skipped == 0


def test_sparse_reading_repeats_the_last_frame_across_a_gap_of_a_variable_rate_video(tmp_path):
    from mextk.io.cfr import CfrReader

    times = [40 * k for k in range(101)] + [7000 + 40 * k for k in range(60)]  # nothing between 4.0 and 7.0 s
    path = tmp_path / "gap.mp4"
    _write_h264(path, times)
    full = {t: _luma(f) for t, f in CfrReader(path, fps=25)}
    reader = CfrReader(path, fps=25, sparse=(5, 1))
    got = {t: _luma(f) for t, f in reader}
    assert set(range(0, 235, 5)) <= set(got) and reader.stats.emitted == len(full) == 235
    assert np.array_equal(got[150], full[100])  # inside the gap: frame 100 (needed, so decoded) repeated
    assert all(np.array_equal(got[t], full[t]) for t in got)


@pytest.mark.parametrize("kwargs", [{"sparse": (5, 0)}, {"sparse": (5, 6)}, {"sparse": (5, 1), "windows": [(0, 5)]}])
def test_sparse_reading_refuses_a_look_outside_the_period_or_windows_beside_it(tmp_path, kwargs):
    from mextk.io.cfr import CfrReader

    path = tmp_path / "b.mp4"
    _write_h264(path, [40 * k for k in range(10)])
    with pytest.raises(ValueError, match="sparse"):
        CfrReader(path, **kwargs)


def test_read_windows_reads_on_without_skipping_where_a_window_repeats_a_frame_from_before_a_gap(tmp_path):
    from mextk.io.cfr import CfrReader, SkippedTooFar, read_windows

    # 25 fps with no frame between 4.0 and 7.0 s: output frames 101-174 repeat frame 100
    times = [40 * k for k in range(101)] + [7000 + 40 * k for k in range(60)]
    path = tmp_path / "gap.mp4"
    _write_h264(path, times)
    windows = [(20, 30), (150, 160), (180, 190)]
    full = {t: _luma(f) for t, f in CfrReader(path, fps=25) if any(a <= t < b for a, b in windows)}
    with pytest.raises(SkippedTooFar):  # frame 150 repeats frame 100, more than the margin before it
        list(CfrReader(path, fps=25, windows=windows))
    got = {t: _luma(f) for t, f in read_windows(path, windows, fps=25)}
    assert sorted(got) == sorted(full) == [t for a, b in windows for t in range(a, b)]
    assert all(np.array_equal(got[t], full[t]) for t in full)
    assert np.array_equal(got[150], got[159])  # both repeat frame 100
