"""Decoding with PyAV: opening a video, decoder threads, YUV planes without a copy, and decoding ahead.

The pieces every reader of mextk shares (:mod:`mextk.io.video`, :mod:`mextk.io.cfr`,
:mod:`mextk.io.clipref`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from mextk.io.errors import VideoError


def open_video(path: Path) -> Any:
    """A PyAV container of ``path`` with at least one video stream; :class:`VideoError` naming the file if not."""
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


def use_frame_threads(stream: Any) -> None:
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
