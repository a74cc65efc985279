"""Video input and output: H.264 mp4 through PyAV, a folder of frame images, or a virtual clip.

A virtual clip (``*.clip.json``, :mod:`mextk.io.clipref`) is a crop of a recording decoded on
demand; every reader here accepts one where it accepts a video.

One function per job: :func:`probe_video` (metadata), :func:`iter_frames`
(streaming decode), :func:`read_frames` (a clip into one array) and :func:`read_frames_at`.
Writing is :mod:`mextk.io.writer`; constant-frame-rate reading of long recordings
:mod:`mextk.io.cfr`; decoding's shared pieces :mod:`mextk.io.decode`; frame folders
:mod:`mextk.io.frame_folder`.  Frames are
``(H, W, 3)`` ``uint8`` RGB arrays, or ``(H, W)`` ``uint8`` when ``gray=True``.  Gray is
always the luma of the RGB frame (OpenCV's ``RGB2GRAY``, BT.601 weights), whatever the source,
so a clip and the same frames saved as a lossless frame folder give identical features.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mextk.io.clipref import is_clip_ref, iter_clip_frames, read_clip_ref
from mextk.io.decode import decode_threads, open_video
from mextk.io.errors import VideoError
from mextk.io.frame_folder import list_frame_files, read_image, to_gray


@dataclass(frozen=True)
class VideoInfo:
    """Metadata of a clip.

    Attributes
    ----------
    path : str
        The file or frame folder.
    n_frames : int
        Number of frames.
    fps : float
        Frame rate (frames per second).  For a frame folder this is ``nan``
        unless the caller knows it.
    width, height : int
        Frame size in pixels.
    """

    path: str
    n_frames: int
    fps: float
    width: int
    height: int

    @property
    def duration(self) -> float:
        """Length in seconds (``n_frames / fps``)."""
        return self.n_frames / self.fps if self.fps and self.fps > 0 else float("nan")


def probe_video(path: str | os.PathLike[str]) -> VideoInfo:
    """Read a clip's metadata without decoding its frames.

    Parameters
    ----------
    path : path-like
        A video file or a folder of frame images.

    Returns
    -------
    VideoInfo

    Raises
    ------
    VideoError
        Missing, unreadable or empty input.
    """
    path = Path(path)
    if is_clip_ref(path):
        ref = read_clip_ref(path)
        return VideoInfo(str(path), ref.n_frames, ref.fps, ref.size, ref.size)
    if path.is_dir():
        files = list_frame_files(path)
        if not files:
            raise VideoError(f"{path}: frame folder holds no images")
        first = read_image(files[0])
        return VideoInfo(str(path), len(files), float("nan"), first.shape[1], first.shape[0])
    container = open_video(path)
    try:
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        fps = float(rate) if rate else float("nan")
        n = int(stream.frames or 0)
        if n <= 0:  # some containers do not store a count: count packets (no decoding)
            n = sum(1 for pkt in container.demux(stream) if pkt.size)
        width, height = stream.codec_context.width, stream.codec_context.height
    except VideoError:
        raise
    except Exception as exc:
        raise VideoError(f"{path}: cannot read stream metadata ({exc})") from exc
    finally:
        container.close()
    if n <= 0:
        raise VideoError(f"{path}: video has no frames")
    return VideoInfo(str(path), n, fps, width, height)


def iter_frames(
    path: str | os.PathLike[str],
    *,
    start: int = 0,
    stop: int | None = None,
    gray: bool = False,
) -> Iterator[np.ndarray]:
    """Decode frames one at a time (memory stays bounded whatever the length).

    Parameters
    ----------
    path : path-like
        A video file or a folder of frame images.
    start, stop : int
        Half-open range ``[start, stop)`` of 0-based frame indices to yield.
    gray : bool
        Yield ``(H, W)`` grayscale instead of ``(H, W, 3)`` RGB.

    Yields
    ------
    numpy.ndarray
        ``uint8`` frames.

    Raises
    ------
    VideoError
        Naming the file and the frame where decoding failed.
    """
    path = Path(path)
    if start < 0 or (stop is not None and stop < start):
        raise ValueError(f"{path}: bad frame range [{start}, {stop})")
    if is_clip_ref(path):
        yield from iter_clip_frames(path, start=start, stop=stop, gray=gray)
        return
    if path.is_dir():
        for file in list_frame_files(path)[start:stop]:
            img = read_image(file)
            yield to_gray(img) if gray else img
        return
    container = open_video(path)
    index = -1
    try:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        stream.codec_context.thread_count = decode_threads()
        try:
            for frame in container.decode(stream):
                index += 1
                if index < start:
                    continue
                if stop is not None and index >= stop:
                    break
                rgb = frame.to_ndarray(format="rgb24")
                # gray from the RGB frame, as for a frame folder, so both give the same features
                yield to_gray(rgb) if gray else rgb
        except VideoError:
            raise
        except Exception as exc:
            raise VideoError(f"{path}: decoding failed after frame {index} ({exc.__class__.__name__}: {exc})") from exc
    finally:
        container.close()


def read_frames(
    path: str | os.PathLike[str],
    *,
    start: int = 0,
    stop: int | None = None,
    gray: bool = False,
) -> np.ndarray:
    """Read a clip (or the range ``[start, stop)``) into one array.

    Returns
    -------
    numpy.ndarray
        ``(T, H, W, 3)`` (or ``(T, H, W)`` when ``gray``) ``uint8``.

    Raises
    ------
    VideoError
        When the clip cannot be read or has fewer frames than asked for.
    """
    frames = list(iter_frames(path, start=start, stop=stop, gray=gray))
    if not frames:
        raise VideoError(f"{path}: no frames in range [{start}, {stop})")
    if stop is not None and len(frames) < stop - start:
        raise VideoError(f"{path}: truncated: asked for frames [{start}, {stop}), got {len(frames)}")
    return np.stack(frames)


def read_frames_at(
    path: str | os.PathLike[str],
    indices: Iterable[int],
    *,
    gray: bool = False,
) -> dict[int, np.ndarray]:
    """Read only the frames at ``indices``, streaming (memory holds just those frames).

    Decoding stops after the largest index, so key frames near the start of a
    long clip are cheap, and a virtual clip (:mod:`mextk.io.clipref`) starts
    at the key frame before the smallest; from a folder of frames only the requested images are
    read (CAS(ME)^3's raw folders hold a whole video).

    Returns
    -------
    dict
        ``{index: frame}`` for every requested index.

    Raises
    ------
    VideoError
        When the clip ends before the largest index.
    """
    wanted = sorted({int(i) for i in indices})
    if not wanted:
        return {}
    if wanted[0] < 0:
        raise ValueError(f"{path}: negative frame index {wanted[0]}")
    if Path(path).is_dir() and not is_clip_ref(Path(path)):
        files = list_frame_files(path)
        if wanted[-1] >= len(files):
            raise VideoError(f"{path}: clip ends before frame {wanted[-1]} (it has {len(files)} frames)")
        images = {i: read_image(files[i]) for i in wanted}
        return {i: to_gray(img) if gray else img for i, img in images.items()}
    keep = set(wanted)
    out: dict[int, np.ndarray] = {}
    n_read = 0
    # from the first wanted frame: a virtual clip then seeks to the key frame before it
    for i, frame in enumerate(iter_frames(path, start=wanted[0], stop=wanted[-1] + 1, gray=gray), start=wanted[0]):
        n_read = i + 1
        if i in keep:
            out[i] = frame
    if len(out) < len(wanted):
        missing = [i for i in wanted if i not in out]
        raise VideoError(f"{path}: clip ends before frame {missing[0]} (it has {n_read} frames)")
    return out
