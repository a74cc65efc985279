"""Encode finished clips to their own H.264 files (``clip_format="mp4"``): one more pass over the recording.

The first pass decides every clip (frame range and crop boxes) without
touching a pixel; this pass decodes the recording once more, from the first
clip's start (seeking), cuts each open clip's box from the YUV planes
(:func:`mextk.io.clipref.cut_yuv420`, the same cut a virtual clip makes when
it is read) and encodes it on a worker thread per clip.  Memory is bounded by
the clips open at one time, and each file appears atomically.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mextk.io.cfr import CfrReader
from mextk.io.clipref import cut_yuv420
from mextk.io.decode import yuv_planes
from mextk.io.writer import VideoWriter
from mextk.prepare.clips import Finished

Box = tuple[int, int, int, int]


class _Encoder:
    """Cuts and encodes one clip's frames on a worker thread, in order.

    FFmpeg and OpenCV release the GIL, so the decoder and the other clips'
    encoders go on meanwhile.  Frames are passed as references to the decoded
    frame's planes, and at most ``MAX_QUEUED`` batches wait, so the queue holds
    few frames.
    """

    MAX_QUEUED = 4

    def __init__(self, writer: VideoWriter, size: int) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self.writer = writer
        self.size = size
        self._pool = ThreadPoolExecutor(max_workers=1)
        self._pending: list[Any] = []
        self._batch: list[tuple[Any, Box]] = []

    def add(self, planes: Any, box: Box) -> None:
        self._batch.append((planes, box))
        if len(self._batch) >= 8:
            self.submit()

    def submit(self) -> None:
        if self._batch:
            batch, self._batch = self._batch, []
            self._pending.append(self._pool.submit(self._run, batch))
        while len(self._pending) > self.MAX_QUEUED:
            self._pending.pop(0).result()

    def _run(self, batch: list[tuple[Any, Box]]) -> None:
        for planes, box in batch:
            self.writer.write_yuv420(cut_yuv420(planes, box, self.size))

    def finish(self, keep: bool = True) -> None:
        """Wait for the queue; then move the file into place (``keep``) or discard it."""
        self.submit()
        self._pool.shutdown(wait=True)
        try:
            for fut in self._pending:
                fut.result()  # re-raise an encoding error here
        except BaseException:
            self.writer.abort()
            raise
        if keep and self.writer.n_written > 0:
            self.writer.close()
        else:
            self.writer.abort()


def render_clips(
    recording: str | Path,
    clips: Sequence[Finished],
    *,
    fps: float,
    size: int,
    crf: int,
    preset: str,
) -> None:
    """Encode every clip of ``clips`` to its ``path`` in one decoding pass over ``recording``.

    Raises
    ------
    VideoError
        When the recording ends or breaks before a clip's last frame (the clips not finished are discarded).
    """
    from mextk.io.errors import VideoError

    todo = sorted(clips, key=lambda c: c.start)
    if not todo:
        return
    last = max(c.end for c in todo)
    open_: dict[int, tuple[Finished, _Encoder]] = {}
    k = 0
    t = todo[0].start - 1
    frames = iter(CfrReader(recording, fps=fps, start=todo[0].start))
    try:
        for t, frame in frames:
            while k < len(todo) and todo[k].start <= t:
                clip = todo[k]
                writer = VideoWriter(clip.path, fps=fps, crf=crf, preset=preset, threads=1)
                open_[k] = (clip, _Encoder(writer, size))
                k += 1
            planes = yuv_planes(frame)
            for i, (clip, enc) in list(open_.items()):
                box = [b for t0, b in clip.boxes if t0 <= t][-1]
                enc.add(planes, box)
                if t >= clip.end:
                    enc.finish(keep=True)
                    del open_[i]
            if t >= last:
                break
        if t < last:
            raise VideoError(f"{recording}: ends at frame {t}, before the clips' last frame {last}")
    finally:
        frames.close()  # type: ignore[attr-defined]
        for _, enc in open_.values():
            enc.finish(keep=False)
