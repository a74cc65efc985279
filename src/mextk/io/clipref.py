"""Virtual clips: a clip described as recording + crop boxes + frame range, decoded on demand.

``mextk prepare`` does not have to re-encode every participant's face: by
default it writes, per clip, a small JSON file ``CLIP.clip.json`` that names
the recording (relative to the clip file, so the folder can move as a whole),
the constant frame rate the recording was read at, the first frame and the
number of frames, the output side, and the crop box in force from each frame
on (a box changes when the gallery is laid out again).  The manifest's
``path`` points at that file, and :func:`mextk.io.video.iter_frames`,
:func:`~mextk.io.video.read_frames`, :func:`~mextk.io.video.read_frames_at`
and :func:`~mextk.io.video.probe_video` read it like any clip, so every later
stage keeps to the manifest contract.

Frames are cut from the decoded YUV 4:2:0 planes and resized to the output
side exactly as an encoded clip's frames are (:func:`cut_yuv420`), so a
virtual clip and its encoded twin differ only by the encoder's loss.  Reading
seeks to the key frame before the clip, so a clip late in a long recording
costs about its own length to decode.

Example of a reference::

    {"format": "mextk-clip/1", "recording": "../../calls/session1.mp4",
     "recording_bytes": 81234567, "fps": 25.0, "start_frame": 250,
     "n_frames": 500, "size": 300, "boxes": [[250, 118, 60, 240, 240]]}
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mextk.io.atomic import write_json_atomic

#: File-name ending of a virtual clip.
CLIP_SUFFIX = ".clip.json"
#: The ``format`` field this version writes and reads.
FORMAT = "mextk-clip/1"

Box = tuple[int, int, int, int]
#: Video-range luma (16-235) to full-range gray (0-255), as FFmpeg converts ``yuv420p`` to ``gray``.


def is_clip_ref(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` names a virtual clip (ends with ``.clip.json``)."""
    return str(path).lower().endswith(CLIP_SUFFIX)


@dataclass(frozen=True)
class ClipRef:
    """A virtual clip, read from its ``.clip.json``.

    Attributes
    ----------
    path : Path
        The reference file.
    recording : Path
        The recording, resolved against the reference file's folder.
    recording_bytes : int
        The recording's size when the clip was made (0: unknown); a different size
        means the recording was replaced, and reading refuses it.
    fps : float
        Constant frame rate the recording is read at (frame ``n`` shows time ``n / fps``).
    start_frame, n_frames : int
        The clip is frames ``[start_frame, start_frame + n_frames)`` of the recording.
    size : int
        Side of the square output frames.
    boxes : tuple
        ``(first_frame, (x, y, w, h))`` pairs in recording frames and source pixels: the box in
        force from that frame on.
    """

    path: Path
    recording: Path
    recording_bytes: int
    fps: float
    start_frame: int
    n_frames: int
    size: int
    boxes: tuple[tuple[int, Box], ...]

    def box_at(self, t: int) -> Box:
        """The crop box in force at recording frame ``t``."""
        box = self.boxes[0][1]
        for t0, b in self.boxes:
            if t0 <= t:
                box = b
        return box


def write_clip_ref(
    path: str | os.PathLike[str],
    recording: str | os.PathLike[str],
    *,
    fps: float,
    start_frame: int,
    n_frames: int,
    size: int,
    boxes: list[tuple[int, Box]],
) -> Path:
    """Write a virtual clip's reference atomically; return its path.

    The recording is stored relative to the reference's folder when it can be
    (an absolute path otherwise, e.g. on another drive).
    """
    path = Path(path)
    recording = Path(recording).resolve()
    try:
        rel = os.path.relpath(recording, path.parent.resolve())
    except ValueError:  # another drive (Windows)
        rel = str(recording)
    if n_frames < 1 or not boxes:
        raise ValueError(f"{path}: a clip needs at least one frame and one box")
    write_json_atomic(
        path,
        {
            "format": FORMAT,
            "recording": Path(rel).as_posix(),
            "recording_bytes": recording.stat().st_size,
            "fps": float(fps),
            "start_frame": int(start_frame),
            "n_frames": int(n_frames),
            "size": int(size),
            "boxes": [[int(t0), *(int(v) for v in b)] for t0, b in boxes],
        },
    )
    return path


def read_clip_ref(path: str | os.PathLike[str]) -> ClipRef:
    """Read and check a ``.clip.json``.

    Raises
    ------
    VideoError
        One line naming the file: missing, not JSON, an unknown format, a missing field, or a
        recording that is missing or was replaced since the clip was made.
    """
    from mextk.io.errors import VideoError

    path = Path(path)
    if not path.is_file():
        raise VideoError(f"{path}: file not found")
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise VideoError(f"{path}: not a readable clip reference ({exc.__class__.__name__}: {exc})") from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise VideoError(f"{path}: not a clip reference of format {FORMAT!r}")
    try:
        recording = Path(data["recording"])
        if not recording.is_absolute():
            recording = path.parent / recording
        ref = ClipRef(
            path=path,
            recording=recording,
            recording_bytes=int(data.get("recording_bytes") or 0),
            fps=float(data["fps"]),
            start_frame=int(data["start_frame"]),
            n_frames=int(data["n_frames"]),
            size=int(data["size"]),
            boxes=tuple((int(b[0]), (int(b[1]), int(b[2]), int(b[3]), int(b[4]))) for b in data["boxes"]),
        )
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise VideoError(f"{path}: clip reference lacks or garbles a field ({exc.__class__.__name__}: {exc})") from exc
    if ref.n_frames < 1 or not ref.boxes or ref.fps <= 0 or ref.start_frame < 0:
        raise VideoError(f"{path}: clip reference has no frames, no box or a bad frame rate")
    if not ref.recording.is_file():
        raise VideoError(f"{path}: its recording {ref.recording} is missing (moved without its clips?)")
    if ref.recording_bytes and ref.recording.stat().st_size != ref.recording_bytes:
        raise VideoError(
            f"{path}: its recording {ref.recording} changed since the clip was made "
            f"({ref.recording.stat().st_size} bytes, was {ref.recording_bytes}); run mextk prepare again"
        )
    return ref


def cut_yuv420(planes: tuple[np.ndarray, np.ndarray, np.ndarray], box: Box, size: int) -> np.ndarray:
    """Cut ``box`` out of a frame's Y, U, V planes and resize it to ``size``: an I420 buffer ``(1.5 size, size)``.

    ``box`` has even ``x, y`` and a side divisible by 4, so the chroma planes cut cleanly.  Downscaling
    uses area averaging, upscaling bilinear interpolation.
    """
    import cv2

    y, u, v = planes
    x0, y0, s, _ = box
    yc = y[y0 : y0 + s, x0 : x0 + s]
    uc = u[y0 // 2 : (y0 + s) // 2, x0 // 2 : (x0 + s) // 2]
    vc = v[y0 // 2 : (y0 + s) // 2, x0 // 2 : (x0 + s) // 2]
    out = np.empty((size * 3 // 2, size), np.uint8)
    q = size // 4
    if s == size:
        out[:size] = yc
        out[size : size + q] = uc.reshape(q, size)
        out[size + q :] = vc.reshape(q, size)
        return out
    interp = cv2.INTER_AREA if s > size else cv2.INTER_LINEAR
    half = size // 2
    out[:size] = cv2.resize(yc, (size, size), interpolation=interp)
    out[size : size + q] = cv2.resize(uc, (half, half), interpolation=interp).reshape(q, size)
    out[size + q :] = cv2.resize(vc, (half, half), interpolation=interp).reshape(q, size)
    return out


def iter_clip_frames(
    path: str | os.PathLike[str], *, start: int = 0, stop: int | None = None, gray: bool = False
) -> Iterator[np.ndarray]:
    """Decode frames ``[start, stop)`` of a virtual clip (0-based within the clip), one at a time.

    Yields ``(size, size, 3)`` RGB or ``(size, size)`` gray ``uint8`` frames; gray is the luma of
    the RGB frame, as for every other source (:mod:`mextk.io.video`).

    Raises
    ------
    VideoError
        A bad reference, or a recording that ends before the clip does.
    """
    import cv2

    from mextk.io.cfr import read_windows
    from mextk.io.decode import yuv_planes
    from mextk.io.errors import VideoError

    ref = read_clip_ref(path)
    stop = ref.n_frames if stop is None else min(stop, ref.n_frames)
    if start < 0 or stop < start:
        raise ValueError(f"{path}: bad frame range [{start}, {stop})")
    if stop == start:
        return
    first, last = ref.start_frame + start, ref.start_frame + stop - 1
    frames = read_windows(ref.recording, [(first, last + 1)], fps=ref.fps)
    t = first - 1
    try:
        for t, frame in frames:
            i420 = cut_yuv420(yuv_planes(frame), ref.box_at(t), ref.size)
            rgb = cv2.cvtColor(i420, cv2.COLOR_YUV2RGB_I420)
            yield cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY) if gray else rgb
    finally:
        frames.close()  # type: ignore[attr-defined]  # closes the container now, not at garbage collection
    t = min(t, last)
    if t < last:
        raise VideoError(f"{path}: its recording {ref.recording} ends at frame {t}, before the clip's frame {last}")


def iter_shared_clip_frames(
    windows: Sequence[tuple[str | os.PathLike[str], int, int]], *, gray: bool = False
) -> Iterator[tuple[int, int, np.ndarray]]:
    """Frames of several virtual clips of one recording, decoded in one pass over it.

    Reading each clip on its own decodes the recording once per clip; a 720p
    gallery of four people would be decoded four times.  Here each recording
    frame is decoded once and every clip that shows it gets its crop, cut as
    :func:`iter_clip_frames` cuts it (the same pixels).  Between the windows the
    decoder skips the frames that no other frame refers to
    (:func:`mextk.io.cfr.read_windows`).

    Parameters
    ----------
    windows : sequence of (path, start, stop)
        Each clip's reference and the half-open range of its own frame indices to read.
        All must name the same recording at the same frame rate.
    gray : bool
        Yield gray instead of RGB frames.

    Yields
    ------
    (i, k, frame)
        Frame ``k`` of ``windows[i]``'s clip, in recording order (clips interleave).  A clip
        whose recording ends early yields fewer frames than asked: the caller counts.
    """
    import cv2

    from mextk.io.cfr import read_windows
    from mextk.io.decode import yuv_planes

    refs = [read_clip_ref(p) for p, _, _ in windows]
    spans = []
    for ref, (p, a, b) in zip(refs, windows, strict=True):
        if ref.recording.resolve() != refs[0].recording.resolve() or ref.fps != refs[0].fps:
            raise ValueError(f"{p}: not a clip of {refs[0].recording} at {refs[0].fps} fps (one pass reads one)")
        b = min(int(b), ref.n_frames)
        if a < 0 or b < a:
            raise ValueError(f"{p}: bad frame range [{a}, {b})")
        spans.append((ref.start_frame + int(a), ref.start_frame + b - 1))
    live = [i for i, (a, b) in enumerate(spans) if b >= a]
    if not live:
        return
    # frames between the windows are decoded only as far as the codec needs them (read_windows)
    frames = read_windows(refs[0].recording, [(spans[i][0], spans[i][1] + 1) for i in live], fps=refs[0].fps)
    try:
        for t, frame in frames:
            planes = None
            for i in live:
                a, b = spans[i]
                if a <= t <= b:
                    planes = planes if planes is not None else yuv_planes(frame)
                    rgb = cv2.cvtColor(cut_yuv420(planes, refs[i].box_at(t), refs[i].size), cv2.COLOR_YUV2RGB_I420)
                    yield i, t - refs[i].start_frame, cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY) if gray else rgb
    finally:
        frames.close()  # type: ignore[attr-defined]
