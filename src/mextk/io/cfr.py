"""Constant-frame-rate reading: :class:`CfrReader` (variable rates made constant, seeking, skipping) and
:func:`read_windows`."""

from __future__ import annotations

import bisect
import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mextk.io.decode import open_video, use_frame_threads
from mextk.io.errors import VideoError

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
        self._container = open_video(self.path)
        stream = self._container.streams.video[0]
        use_frame_threads(stream)
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
                        self._container = open_video(self.path)
                        stream = self._stream = self._container.streams.video[0]
                        use_frame_threads(stream)
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
