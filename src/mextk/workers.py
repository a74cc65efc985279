"""Pools of worker processes that start clean and share the machine's cores instead of fighting over them.

Every process pool in mextk comes from :func:`worker_pool`.

**Clean start.**  Workers are forked by a fork server (multiprocessing's
``forkserver`` method): a fresh Python process, started once per parent
process, that imports NumPy, OpenCV and PyAV and loads dlib's face models
(:mod:`mextk._preload`), then forks each worker.  Workers therefore share
those models without loading their own, as forking the parent would give,
but without forking the parent: a parent's other threads (a progress bar's
refresh thread, a test runner's I/O thread, the thread pools of PyTorch and
OpenCV) may hold locks at the moment of a fork, and the child then waits on
them forever.  (This project's CI once stalled near the end of the test run
until its time ran out; such a fork is the likely cause, though the stall
was not reproduced.)  CPython 3.12 warns about forking a threaded process,
and 3.14 no longer forks by default.  Workers receive the parent's environment variables as they are
when the pool starts; what the parent changed in memory (a monkeypatch, a
module setting) they do not see, so everything a worker needs goes in its
arguments.

**No main-module guard needed.**  A fork server or ``spawn`` normally runs the
parent's main script again in every worker (so that functions defined there
can be unpickled), which is why such scripts need ``if __name__ == "__main__":``
around their top level, or each worker starts pools of its own and fails.
mextk's workers run only mextk's functions, so its pools tell their workers
not to run the main script: a plain script that calls mextk with ``jobs=2``
works as it did when workers were forked.

**Shared cores.**  A video decoder (FFmpeg) and OpenCV each start a thread
per core.  In a pool of ``jobs`` processes that gives ``jobs`` times as many
busy threads as cores, so each worker decodes and runs OpenCV on one thread
(``single_threaded``, the default), and the pool spreads the work.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.spawn
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")

START_METHOD = "forkserver"
PRELOAD = ["mextk._preload"]


_local = threading.local()
_patch_lock = threading.Lock()
_patch_users = 0
_original_preparation_data = multiprocessing.spawn.get_preparation_data


def _preparation_data(name: str) -> dict:
    """multiprocessing's start-up data for a new process, without the main script while one of
    :func:`worker_pool`'s workers starts (see the module docstring)."""
    data = _original_preparation_data(name)
    if getattr(_local, "skip_main", False):
        data.pop("init_main_from_path", None)
        data.pop("init_main_from_name", None)
    return data


@contextmanager
def _workers_without_main_script() -> Iterator[None]:
    """While this thread starts a pool's workers, multiprocessing's start-up data leaves out the main script.

    multiprocessing's ``get_preparation_data`` is replaced only while some thread starts workers, and
    put back after: importing mextk changes nothing in the standard library of the host application,
    and processes that other threads start meanwhile get the unchanged data (the flag is per thread).
    """
    global _patch_users
    with _patch_lock:
        if _patch_users == 0:
            multiprocessing.spawn.get_preparation_data = _preparation_data
        _patch_users += 1
    _local.skip_main = True
    try:
        yield
    finally:
        _local.skip_main = False
        with _patch_lock:
            _patch_users -= 1
            if _patch_users == 0:
                multiprocessing.spawn.get_preparation_data = _original_preparation_data


class _Pool(ProcessPoolExecutor):
    """A process pool whose workers (started as tasks are submitted, by the submitting thread)
    do not run the parent's main script."""

    def submit(self, fn: Callable, /, *args, **kwargs):  # type: ignore[no-untyped-def, override]
        with _workers_without_main_script():
            return super().submit(fn, *args, **kwargs)


def _watch_parent(parent: int, every_s: float = 0.5) -> None:
    """End this worker when the process that made the pool is gone (even after a SIGKILL, which no handler sees).

    A daemon thread polls the parent's process id; the worker's real parent is the fork server, which
    outlives a killed parent, so neither the parent process id nor Linux's parent-death signal would tell.
    """

    def watch() -> None:
        while True:
            time.sleep(every_s)
            try:
                os.kill(parent, 0)
            except ProcessLookupError:
                os._exit(1)
            except PermissionError:  # the id was reused by another user's process: ours is gone
                os._exit(1)

    threading.Thread(target=watch, name="mextk-parent-watch", daemon=True).start()


def _start_worker(environ: dict[str, str], single_threaded: bool, parent: int) -> None:
    """The initializer of each worker: the parent's environment, one thread for decoding and OpenCV,
    Ctrl-C left to the parent, and an end when the parent is gone."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _watch_parent(parent)
    os.environ.clear()
    os.environ.update(environ)
    if single_threaded:
        import cv2

        from mextk.io import decode

        decode.set_decode_threads(1)
        cv2.setNumThreads(1)


def context() -> multiprocessing.context.BaseContext:
    """The multiprocessing context of mextk's pools: the fork server, preloading :data:`PRELOAD`
    (``spawn`` where the platform has no fork server, as on Windows: each worker then imports on its own)."""
    if START_METHOD not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    ctx = multiprocessing.get_context(START_METHOD)
    ctx.set_forkserver_preload(PRELOAD)
    return ctx


def start_server() -> None:
    """Start the fork server now, without waiting for it.

    Its imports and dlib's models (about 2 s) then load on an idle core while this process does
    other work, e.g. while ``mextk analyze`` prepares a recording on one core before its workers start.
    """
    if context().get_start_method() != "forkserver":
        return
    from multiprocessing import forkserver

    forkserver.ensure_running()


class Terminated(KeyboardInterrupt):
    """SIGTERM (a cluster scheduler's time limit, ``kill``) received while a worker pool ran.

    A :class:`KeyboardInterrupt`, so that everything that cleans up after Ctrl-C (the pool's workers,
    half-written outputs, the exit status of an interrupted command) does so after a SIGTERM too.
    """


def _raise_terminated(signum: int, frame: object) -> None:
    raise Terminated(f"signal {signum}")


@contextmanager
def _sigterm_raises() -> Iterator[None]:
    """While the block runs, SIGTERM raises :class:`Terminated` in the main thread instead of ending the
    process at once (which would leave the pool's workers running, reparented to init)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def stop_workers(pool: ProcessPoolExecutor, *, grace_s: float = 1.0) -> None:
    """Cancel a pool's queued work and end its workers now: SIGTERM, then SIGKILL after ``grace_s``.

    What a worker was writing is lost, which is safe: every output is written atomically, so the
    rerun redoes that item.
    """
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for proc in processes:
        if proc.is_alive():
            proc.terminate()
    deadline = time.monotonic() + grace_s
    for proc in processes:
        proc.join(max(0.0, deadline - time.monotonic()))
        if proc.is_alive():
            proc.kill()
            proc.join(1.0)


@contextmanager
def worker_pool(jobs: int, *, single_threaded: bool = True) -> Iterator[ProcessPoolExecutor]:
    """A pool of ``jobs`` worker processes (a context manager, like the executor it yields).

    ``single_threaded`` workers decode video and run OpenCV on one thread each; workers that set their
    own threads (PyTorch's, per fold) pass ``False``.

    **Stopping.**  When the block ends by an exception (Ctrl-C, SIGTERM, an error), the queued work is
    cancelled and the workers are ended at once (:func:`stop_workers`): the command stops within about
    a second instead of finishing the queue first.  While the block runs, SIGTERM raises
    :class:`Terminated` (a ``KeyboardInterrupt``), so a scheduler's time limit takes the workers with
    it.  Workers ignore SIGINT (Ctrl-C reaches the whole process group; the parent decides), and each
    ends itself within half a second of the parent being gone, even after a SIGKILL.
    """
    pool = _Pool(
        max_workers=jobs,
        mp_context=context(),
        initializer=_start_worker,
        initargs=(dict(os.environ), single_threaded, os.getpid()),
    )
    try:
        with _sigterm_raises():
            yield pool
    except BaseException:
        stop_workers(pool)
        raise
    pool.shutdown(wait=True)


def balanced_plan(plan: Callable[[float], T | None], high: float, *, steps: int) -> T | None:
    """The plan that keeps its largest piece of work smallest: ``plan(limit)`` splits the work into pieces of at
    most ``limit`` each (``None`` when that takes more pieces than there are workers), and the smallest limit that
    works is found by bisection between 0 and ``high`` (the cost of all the work) in ``steps`` halvings."""
    best, low = plan(high), 0.0
    for _ in range(steps):
        mid = 0.5 * (low + high)
        found = plan(mid)
        if found is None:
            low = mid
        else:
            best, high = found, mid
    return best
