"""Pools of worker processes that share the machine's cores instead of fighting over them.

A video decoder (FFmpeg) and OpenCV each start a thread per core.  In a pool of
``jobs`` processes that gives ``jobs`` times as many busy threads as cores;
each worker of :func:`worker_pool` therefore decodes and runs OpenCV on one
thread, and the pool spreads the work.

OpenCV's setting is made in the parent while the pool lives (forked workers
inherit it) and restored afterwards: a forked child that resizes the thread
pool it inherited can deadlock, which was seen here.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager


def _single_threaded() -> None:
    """The initializer of each worker: decode on one thread (and OpenCV too, where not forked)."""
    from mextk.io import video

    video.set_decode_threads(1)
    if multiprocessing.get_start_method() != "fork":  # a fresh interpreter: nothing inherited
        import cv2

        cv2.setNumThreads(1)


@contextmanager
def worker_pool(jobs: int) -> Iterator[ProcessPoolExecutor]:
    """A pool of ``jobs`` single-threaded worker processes (a context manager, like the executor)."""
    import cv2

    before = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        with ProcessPoolExecutor(max_workers=jobs, initializer=_single_threaded) as pool:
            yield pool
    finally:
        cv2.setNumThreads(before)
