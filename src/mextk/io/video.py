"""Video input and output: H.264 mp4 through PyAV, a folder of frame images, or a virtual clip.

A virtual clip (``*.clip.json``, :mod:`mextk.io.clipref`) is a crop of a recording decoded on
demand; every reader here accepts one where it accepts a video.

One function per job: :func:`probe_video` (metadata), :func:`iter_frames`
(streaming decode), :func:`read_frames` (a clip into one array) and
:class:`VideoWriter` / :func:`write_video` (atomic H.264 encode).  Frames are
``(H, W, 3)`` ``uint8`` RGB arrays, or ``(H, W)`` ``uint8`` when ``gray=True``.  Gray is
always the luma of the RGB frame (OpenCV's ``RGB2GRAY``, BT.601 weights), whatever the source,
so a clip and the same frames saved as a lossless frame folder give identical features.

OpenCV's ``VideoWriter`` cannot write H.264 with the PyPI wheels, so encoding
goes through PyAV (FFmpeg's ``libx264``).
"""

from __future__ import annotations

import bisect
import math
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from mextk.io.atomic import atomic_path
from mextk.io.clipref import is_clip_ref, iter_clip_frames, read_clip_ref
from mextk.naming import natural_key

#: Image suffixes accepted for a clip stored as a folder of frames (CASME/SAMM layout).
FRAME_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")


class VideoError(RuntimeError):
    """A video (or frame folder) that is missing, unreadable, corrupt or truncated.

    The message is one line and starts with the path.
    """


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


def list_frame_files(folder: str | os.PathLike[str]) -> list[Path]:
    """Return the image files of a frame folder in natural order (``img2`` before ``img10``)."""
    folder = Path(folder)
    files = [p for p in folder.iterdir() if p.suffix.lower() in FRAME_SUFFIXES]
    return sorted(files, key=lambda p: natural_key(p.name))


def _open(path: Path) -> Any:
    import av

    if not path.exists():
        raise VideoError(f"{path}: file not found")
    try:
        container = av.open(str(path))
    except Exception as exc:  # PyAV raises several FFmpeg error types
        raise VideoError(f"{path}: cannot open video ({exc.__class__.__name__}: {exc})") from exc
    if not container.streams.video:
        container.close()
        raise VideoError(f"{path}: no video stream")
    return container


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
        first = _imread(files[0])
        return VideoInfo(str(path), len(files), float("nan"), first.shape[1], first.shape[0])
    container = _open(path)
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


def _imread(file: Path) -> np.ndarray:
    import cv2

    img = cv2.imread(str(file), cv2.IMREAD_COLOR)
    if img is None:
        raise VideoError(f"{file}: cannot read image")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def _to_gray(rgb: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


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
            img = _imread(file)
            yield _to_gray(img) if gray else img
        return
    container = _open(path)
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
                yield _to_gray(rgb) if gray else rgb
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
        images = {i: _imread(files[i]) for i in wanted}
        return {i: _to_gray(img) if gray else img for i, img in images.items()}
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


class VideoWriter:
    """Streaming H.264 writer with a constant frame rate; the file appears atomically.

    Frames go to a temporary ``*.part.mp4`` beside the target, which is renamed
    onto the target only when :meth:`close` succeeds.  Used as a context
    manager, an exception discards the partial file.

    Parameters
    ----------
    path : path-like
        Output ``.mp4`` path.
    fps : float
        Constant frame rate.
    crf : int
        x264 constant rate factor (0 lossless, 18 visually lossless, 23 default).
    preset : str
        x264 speed preset.
    gray_ok : bool
        Accept ``(H, W)`` grayscale frames (stored as RGB).
    threads : int, optional
        Encoder threads (default: x264's choice).
    deterministic : bool
        Make the output bit-identical for identical input (disables x264's mb-tree).

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> d = tempfile.mkdtemp()
    >>> with VideoWriter(os.path.join(d, "a.mp4"), fps=25) as w:
    ...     for _ in range(5):
    ...         w.write(np.zeros((64, 64, 3), np.uint8))
    >>> probe_video(os.path.join(d, "a.mp4")).n_frames
    5
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        fps: float,
        crf: int = 18,
        preset: str = "veryfast",
        gray_ok: bool = True,
        threads: int | None = None,
        deterministic: bool = True,
    ) -> None:
        if not fps or fps <= 0:
            raise ValueError(f"{path}: fps must be positive, got {fps}")
        self.path = Path(path)
        self.fps = fps
        self.crf = int(crf)
        self.preset = preset
        self.gray_ok = gray_ok
        self.threads = threads
        self.deterministic = deterministic
        self.n_written = 0
        self._ctx = atomic_path(self.path)
        self._tmp: Path | None = None
        self._container: Any = None
        self._stream: Any = None

    def _start(self, height: int, width: int) -> None:
        import av

        if height % 2 or width % 2:
            raise ValueError(f"{self.path}: H.264 (yuv420p) needs even frame sizes, got {width}x{height}")
        self._tmp = self._ctx.__enter__()
        self._container = av.open(str(self._tmp), mode="w", format="mp4")
        rate = Fraction(self.fps).limit_denominator(1001)
        stream = self._container.add_stream("libx264", rate=rate)
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuv420p"
        options = {"crf": str(self.crf), "preset": self.preset}
        if self.threads:
            options["threads"] = str(self.threads)
        if self.deterministic:
            # x264's macroblock-tree rate control gives run-to-run differences in the PyAV wheels'
            # build (measured: 3 different outputs in 12 encodes of the same frames); without it
            # encodes are bit-identical, at a few percent larger files
            options["x264-params"] = "mbtree=0"
        stream.options = options
        self._stream = stream

    def write(self, frame: np.ndarray) -> None:
        """Append one ``(H, W, 3)`` RGB (or ``(H, W)`` gray) ``uint8`` frame."""

        frame = np.asarray(frame)
        if frame.dtype != np.uint8:
            raise TypeError(f"{self.path}: frames must be uint8, got {frame.dtype}")
        if frame.ndim == 2 and self.gray_ok:
            frame = np.repeat(frame[:, :, None], 3, axis=2)
        if frame.ndim != 3 or frame.shape[2] != 3:
            raise ValueError(f"{self.path}: frames must be (H, W, 3), got {frame.shape}")
        self._encode(frame, frame.shape[0], frame.shape[1], "rgb24")

    def write_yuv420(self, planes: np.ndarray) -> None:
        """Append one frame given as an I420 array ``(H * 3 // 2, W)`` (Y rows, then U, then V).

        Skips the RGB conversion: the fast path for frames cut from decoded video.
        """

        if planes.dtype != np.uint8 or planes.ndim != 2 or planes.shape[0] % 3:
            raise ValueError(f"{self.path}: expected a (H*3/2, W) uint8 I420 array, got {planes.dtype} {planes.shape}")
        self._encode(planes, planes.shape[0] * 2 // 3, planes.shape[1], "yuv420p")

    def _encode(self, array: np.ndarray, height: int, width: int, fmt: str) -> None:
        """Open the stream on the first frame, check the size of later ones, encode and mux."""
        import av

        if self._stream is None:
            self._start(height, width)
        elif (height, width) != (self._stream.height, self._stream.width):
            raise ValueError(
                f"{self.path}: frame {self.n_written} is {width}x{height}, "
                f"expected {self._stream.width}x{self._stream.height}"
            )
        vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(array), format=fmt)
        for packet in self._stream.encode(vf):
            self._container.mux(packet)
        self.n_written += 1

    def close(self) -> Path:
        """Flush the encoder and move the finished file into place."""
        if self._stream is None:
            raise VideoError(f"{self.path}: no frames were written")
        for packet in self._stream.encode():
            self._container.mux(packet)
        self._container.close()
        self._ctx.__exit__(None, None, None)
        self._stream = None
        return self.path

    def abort(self) -> None:
        """Discard the partial output."""
        if self._container is not None:
            try:
                self._container.close()
            except Exception:  # the partial file is deleted anyway
                pass
        if self._tmp is not None:
            self._tmp.unlink(missing_ok=True)
        self._stream = None
        self._container = None

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def write_video(
    path: str | os.PathLike[str],
    frames: Iterable[np.ndarray],
    *,
    fps: float,
    crf: int = 18,
    preset: str = "veryfast",
) -> Path:
    """Encode ``frames`` to an H.264 mp4 at a constant ``fps``, atomically.

    Parameters
    ----------
    path : path-like
        Output ``.mp4`` path.
    frames : iterable of numpy.ndarray
        ``(H, W, 3)`` RGB or ``(H, W)`` gray ``uint8`` frames of one size.
    fps : float
        Frame rate.
    crf : int
        x264 constant rate factor.
    preset : str
        x264 speed preset.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    with VideoWriter(path, fps=fps, crf=crf, preset=preset) as writer:
        for frame in frames:
            writer.write(frame)
    return Path(path)


def yuv_planes(frame: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Zero-copy views of the Y, U and V planes of a decoded ``yuv420p`` PyAV frame.

    Frames in other pixel formats are converted to ``yuv420p`` first.
    """
    if frame.format.name != "yuv420p":
        frame = frame.reformat(format="yuv420p")
    out = []
    for plane in frame.planes:
        arr = np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)
        out.append(arr[:, : plane.width])
    return out[0], out[1], out[2]


_DECODE_THREADS: int | None = None


def set_decode_threads(n: int | None) -> None:
    """Decode with ``n`` threads in this process from now on (``None``: one per usable CPU)."""
    global _DECODE_THREADS
    _DECODE_THREADS = n


def decode_threads() -> int:
    """Decoder threads: one per CPU this process may use (FFmpeg's own choice can oversubscribe them),
    or what :func:`set_decode_threads` set (a worker of a process pool: :mod:`mextk.workers`)."""
    if _DECODE_THREADS is not None:
        return _DECODE_THREADS
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _threaded(stream: Any) -> None:
    """Decode ``stream`` with frame threads, one per usable CPU."""
    stream.thread_type = "FRAME"
    stream.codec_context.thread_count = decode_threads()


def prefetch(items: Iterable[Any], size: int = 16) -> Iterator[Any]:
    """Iterate ``items`` on a background thread, up to ``size`` items ahead.

    Decoding (FFmpeg, which releases the GIL) then runs while the caller works
    on earlier frames, which uses a second core.  An exception raised by
    ``items`` is raised here, after the items before it; closing this
    generator early stops the thread.
    """
    import queue
    import threading

    q: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=max(1, size))
    stop = threading.Event()

    def work() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        q.put(("item", item), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    break
        except BaseException as exc:  # handed to the consumer
            q.put(("error", exc))
        else:
            q.put(("end", None))
        finally:
            close = getattr(items, "close", None)
            if stop.is_set() and close is not None:
                close()

    thread = threading.Thread(target=work, name="mextk-decode", daemon=True)
    thread.start()
    try:
        while True:
            kind, value = q.get()
            if kind == "item":
                yield value
            elif kind == "error":
                raise value
            else:
                return
    finally:
        stop.set()
        while thread.is_alive():  # unblock a producer waiting on a full queue
            try:
                q.get_nowait()
            except queue.Empty:
                thread.join(timeout=0.05)


#: How far before its first frame :class:`CfrReader` seeks, to the key frame before that (seconds).
SEEK_EARLY_S = 1.0

#: How long before each wanted window :class:`CfrReader` stops skipping frames (seconds).
SKIP_MARGIN_S = 1.0


class SkippedTooFar(VideoError):  # noqa: N818  (not an error the user sees: read_windows recovers)
    """A wanted frame repeats a source frame from before a stretch where frames were skipped (see
    :class:`CfrReader`'s ``windows``): read again without windows."""


def _merge_windows(windows: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted, non-empty, non-overlapping half-open ranges covering the same frames."""
    merged: list[tuple[int, int]] = []
    for a, b in sorted((int(a), int(b)) for a, b in windows if int(b) > int(a)):
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


@dataclass
class CfrStats:
    """What :class:`CfrReader` did to make the frame rate constant."""

    fps: float
    source_fps: float
    declared_frames: int
    decoded: int = 0
    emitted: int = 0
    duplicated: int = 0
    dropped: int = 0
    skipped: int = 0  # left undecoded by a sparse reading (CfrReader's ``sparse``): not yielded

    @property
    def variable(self) -> bool:
        """Whether the input needed frames duplicated or dropped."""
        return self.duplicated > 0 or self.dropped > 0


class CfrReader:
    """Decode a video as a constant-frame-rate stream, converting variable frame rates on the fly.

    Each decoded frame's presentation time ``t`` (seconds from the first
    frame) gives its slot ``round(t * fps)``.  A frame whose slot is taken is
    dropped; slots that nothing fills repeat the previous frame (what
    ``ffmpeg -vsync cfr`` does), so frame ``n`` of the output always shows
    time ``n / fps``.  Memory stays bounded: frames stream one at a time.

    Parameters
    ----------
    path : path-like
        Video file.
    fps : float, optional
        Output rate; defaults to the stream's average rate.
    start : int
        First output frame to yield.  The reader seeks to the key frame
        before it (frames before ``start`` are decoded but not yielded), so
        reading a short range of a long recording costs about the range.
    windows : sequence of (first, stop), optional
        Only the output frames in these half-open ranges are wanted: only they
        are yielded, and between them the decoder skips the frames that no
        other frame refers to (FFmpeg's ``skip_frame = NONREF``: in H.264 with
        B-frames about half the frames, which halves the decoding between
        windows; every frame inside a window is decoded exactly as without
        skipping).  Skipping stops :data:`SKIP_MARGIN_S` before each window,
        because a frame missing from a variable-rate source repeats the frame
        before it; should a window's frame need a repeat from further back, the
        reader raises ``SkippedTooFar`` (:func:`read_windows` then reads on
        without skipping).  Reading stops after the last window; :attr:`stats`
        then count the skipped frames as duplicated.
    sparse : (period, look), optional
        Only the output frames ``t`` with ``t % period < look`` are needed; the
        others may be left undecoded where no other frame refers to them (FFmpeg's
        ``skip_frame = NONREF``, decided per packet from its own time).  Every
        frame that is decoded is yielded, in order, with its true number: the
        needed ones always, the others when they are reference frames (in H.264
        with B-frames about 40% of all frames are left out, and decoding costs
        30% less; without B-frames nothing is skipped).  A frame left out is not
        yielded and its number is skipped (:attr:`stats` count it in
        ``skipped``; ``emitted`` still counts every output frame, those at the
        end of the video included).  In a variable-rate source, a slot that no
        frame fills right after a skipped frame repeats the last decoded frame,
        which may be a few frames older than the true one.  This is how
        ``mextk prepare`` reads: it analyses every ``detect_every``-th frame and
        dates changes by whichever frames there are between.  Not with
        ``windows``.

    Raises
    ------
    VideoError
        When the file cannot be opened, or decoding fails (the message names
        the last good frame; frames before it have been yielded).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        fps: float | None = None,
        start: int = 0,
        windows: Sequence[tuple[int, int]] | None = None,
        sparse: tuple[int, int] | None = None,
    ) -> None:
        self.path = Path(path)
        if start < 0:
            raise ValueError(f"{path}: negative start frame {start}")
        if sparse is not None:
            if windows is not None:
                raise ValueError("CfrReader: give windows or sparse, not both")
            if not (1 <= int(sparse[1]) <= int(sparse[0])):
                raise ValueError(f"CfrReader: sparse needs 1 <= look <= period, got {tuple(sparse)}")
        self.sparse = (int(sparse[0]), int(sparse[1])) if sparse is not None else None
        self._maybe_skipped: set[int] = set()  # slots of packets sent to the decoder while it skipped non-references
        self.start = int(start)
        self.windows = _merge_windows(windows) if windows is not None else None
        self._window_starts = [a for a, _ in self.windows or ()]
        self._t0: float | None = None
        self._container = _open(self.path)
        stream = self._container.streams.video[0]
        _threaded(stream)
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        source_fps = float(rate) if rate else float("nan")
        target = fps or source_fps
        if not target or not np.isfinite(target) or target <= 0:
            self._container.close()
            raise VideoError(f"{self.path}: frame rate unknown; give one explicitly")
        self.stats = CfrStats(float(target), source_fps, int(stream.frames or 0))
        self.width = stream.codec_context.width
        self.height = stream.codec_context.height
        self._stream = stream
        self._format = self._container.format.name.split(",")[0]

    def _seek(self, t0: float, tb: float) -> bool:
        """Jump to the key frame before output frame ``self.start``; ``False`` when the container cannot seek."""
        # early: a container's index can place key frames a little off their presentation times
        target = t0 + self.start / self.stats.fps - SEEK_EARLY_S
        try:
            self._container.seek(max(0, int(target / tb)), stream=self._stream, backward=True, any_frame=False)
        except Exception:  # some containers (raw streams, damaged indices) cannot seek: decode from the start
            return False
        return True

    def __iter__(self) -> Iterator[tuple[int, Any]]:
        stream = self._stream
        stats = self.stats
        tb = float(stream.time_base) if stream.time_base else None
        self._t0 = None
        prev, prev_slot = None, -1
        seeking = self.start > 0 and tb is not None
        try:
            try:
                if seeking:
                    first = next(self._container.decode(stream), None)
                    if first is None or first.pts is None or not self._seek(first.pts * tb, tb):
                        self._container.close()
                        self._container = _open(self.path)
                        stream = self._stream = self._container.streams.video[0]
                        _threaded(stream)
                        seeking = False
                    else:
                        self._t0 = first.pts * tb
                for frame in self._decode(stream, tb):
                    stats.decoded += 1
                    if frame.pts is None or tb is None:
                        slot = stats.emitted
                    else:
                        t = frame.pts * tb
                        if self._t0 is None:
                            self._t0 = t
                        slot = int(round((t - self._t0) * stats.fps))
                    if seeking:
                        # the first frame after the seek: the output count resumes at its slot
                        seeking = False
                        if slot > self.start:
                            raise VideoError(f"{self.path}: cannot seek to frame {self.start} (landed at {slot})")
                        stats.emitted = slot
                    self._maybe_skipped.discard(slot)  # a reference frame, decoded although skipping was on
                    if slot < stats.emitted:
                        stats.dropped += 1
                        prev, prev_slot = frame, slot
                        continue
                    while stats.emitted < slot and prev is not None:
                        if stats.emitted in self._maybe_skipped:  # left undecoded (sparse): its number is skipped
                            self._maybe_skipped.discard(stats.emitted)
                            stats.skipped += 1
                            stats.emitted += 1
                            continue
                        stats.duplicated += 1
                        stats.emitted += 1
                        if stats.emitted - 1 >= self.start and self._wanted(stats.emitted - 1, prev_slot):
                            yield stats.emitted - 1, prev
                    stats.emitted += 1
                    prev, prev_slot = frame, slot
                    if stats.emitted - 1 >= self.start and self._wanted(stats.emitted - 1, slot):
                        yield stats.emitted - 1, frame
                    if self.windows is not None and (not self.windows or stats.emitted >= self.windows[-1][1]):
                        return  # past the last window: nothing more is wanted
                # frames left undecoded after the last decoded one: still frames of the video
                tail = sorted(k for k in self._maybe_skipped if k >= stats.emitted)
                if tail:
                    stats.skipped += len(tail)
                    stats.emitted = tail[-1] + 1
                self._maybe_skipped.clear()
            except VideoError:
                raise
            except Exception as exc:
                raise VideoError(
                    f"{self.path}: decoding failed after frame {stats.emitted - 1} ({exc.__class__.__name__}: {exc})"
                ) from exc
        finally:
            self._container.close()

    @property
    def _margin(self) -> int:
        """:data:`SKIP_MARGIN_S` in output frames."""
        return int(math.ceil(SKIP_MARGIN_S * self.stats.fps))

    def _decode(self, stream: Any, tb: float | None) -> Iterator[Any]:
        """The stream's frames; with :attr:`windows`, non-reference frames between them are skipped (with
        :attr:`sparse`, those not needed)."""
        if self.sparse is not None and tb is not None:
            yield from self._decode_sparse(stream, tb)
            return
        if self.windows is None or tb is None:
            yield from self._container.decode(stream)
            return
        codec = stream.codec_context
        fps, margin = self.stats.fps, self._margin
        starts = self._window_starts
        skipping = False
        for packet in self._container.demux(stream):
            if packet.pts is not None and self._t0 is not None:  # the origin is the first frame's time
                slot = int(round((packet.pts * tb - self._t0) * fps))
                i = bisect.bisect_right(starts, slot + margin) - 1  # the last window starting by slot + margin
                skip = i < 0 or slot >= self.windows[i][1]
                if skip != skipping:
                    codec.skip_frame = "NONREF" if skip else "DEFAULT"
                    skipping = skip
            yield from packet.decode()

    def _decode_sparse(self, stream: Any, tb: float) -> Iterator[Any]:
        """The frames of :attr:`sparse` reading: a packet whose slot is not needed is decoded only if it is a
        reference frame (the decoder decides; until the first frame's time is known, every packet is decoded)."""
        assert self.sparse is not None
        period, look = self.sparse
        codec = stream.codec_context
        fps = self.stats.fps
        skipping = False
        for packet in self._container.demux(stream):
            skip = False  # a packet without a time is always decoded
            if packet.pts is not None and self._t0 is not None:
                slot = int(round((packet.pts * tb - self._t0) * fps))
                skip = slot % period >= look
                if skip:
                    self._maybe_skipped.add(slot)
            if skip != skipping:
                codec.skip_frame = "NONREF" if skip else "DEFAULT"
                skipping = skip
            yield from packet.decode()

    def _wanted(self, t: int, source_slot: int) -> bool:
        """Whether output frame ``t`` is yielded (always, without :attr:`windows`); raises :class:`SkippedTooFar`
        when ``t`` repeats a frame from before the margin, where frames may have been skipped since."""
        if self.windows is None:
            return True
        i = bisect.bisect_right(self._window_starts, t) - 1
        if i < 0 or t >= self.windows[i][1]:
            return False
        if source_slot < self.windows[i][0] - self._margin:
            raise SkippedTooFar(f"{self.path}: frame {t} repeats frame {source_slot}, before a skipped stretch")
        return True

    @property
    def truncated(self) -> bool:
        """After reading to the end: fewer frames decoded than the container declares, or a cut-off MPEG-TS file.

        Not meaningful with ``windows`` (frames between them may go undecoded) or after stopping early.
        """
        d = self.stats.declared_frames
        if d > 0 and self.stats.decoded + self.stats.skipped < d - 1:
            return True
        # MPEG-TS declares no frame count, but its packets are 188 bytes: a partial last packet means a cut file
        return self._format == "mpegts" and self.path.stat().st_size % 188 != 0


def read_windows(
    path: str | os.PathLike[str], windows: Sequence[tuple[int, int]], *, fps: float | None = None
) -> Iterator[tuple[int, Any]]:
    """The output frames ``(t, av.VideoFrame)`` of a video inside ``windows`` (half-open ranges), in order.

    One pass of :class:`CfrReader` from the key frame before the first window, which skips
    the frames that nothing refers to between windows (its ``windows``).  Where it cannot
    skip safely (a variable-rate source with a long gap before a window), it reads on from
    there without skipping.  Frames are those of a plain :class:`CfrReader` at ``fps``.
    """
    merged = _merge_windows(windows)
    if not merged:
        return
    last = merged[-1][1] - 1
    done = merged[0][0] - 1
    frames = iter(CfrReader(path, fps=fps, start=merged[0][0], windows=merged))
    try:
        for t, frame in frames:  # only the windows' frames; it stops after the last
            done = t
            yield t, frame
        return
    except SkippedTooFar:
        pass
    finally:
        frames.close()  # type: ignore[attr-defined]  # closes the container now, not at garbage collection
    starts = [a for a, _ in merged]
    frames = iter(CfrReader(path, fps=fps, start=done + 1))
    try:
        for t, frame in frames:
            if t > last:
                break
            i = bisect.bisect_right(starts, t) - 1
            if i >= 0 and t < merged[i][1]:
                yield t, frame
    finally:
        frames.close()  # type: ignore[attr-defined]
