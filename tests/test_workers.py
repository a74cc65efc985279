"""Worker pools (:mod:`mextk.workers`): clean workers from a fork server, one thread each, the parent's environment."""

from __future__ import annotations

import os
import threading

import pytest

from mextk.workers import context, worker_pool

HELD = threading.Lock()  # held by a thread of the parent in the test below
CHANGED_AT_RUN_TIME = "as imported"


def _use_the_lock() -> str:
    with HELD:
        return "free"


def _state() -> tuple[int, str | None, str, int]:
    import cv2

    return cv2.getNumThreads(), os.environ.get("MEXTK_WORKER_TEST"), CHANGED_AT_RUN_TIME, os.getpid()


def test_a_lock_held_by_another_thread_of_the_parent_does_not_hang_a_worker():
    # a forked child would inherit HELD locked, with no thread left to release it, and wait forever
    release = threading.Event()
    holder = threading.Thread(target=lambda: (HELD.acquire(), release.wait(), HELD.release()))
    holder.start()
    try:
        with worker_pool(1) as pool:
            assert pool.submit(_use_the_lock).result(timeout=120) == "free"
    finally:
        release.set()
        holder.join()


def test_workers_run_one_thread_see_the_parents_environment_and_not_its_memory(monkeypatch):
    monkeypatch.setenv("MEXTK_WORKER_TEST", "set after the fork server started")
    monkeypatch.setattr(__import__(__name__, fromlist=["x"]), "CHANGED_AT_RUN_TIME", "changed in the parent")
    with worker_pool(2) as pool:
        results = [pool.submit(_state).result(timeout=120) for _ in range(4)]
    assert {r[0] for r in results} == {1}  # OpenCV on one thread per worker
    assert {r[1] for r in results} == {"set after the fork server started"}
    assert {r[2] for r in results} == {"as imported"}  # a clean process, not a copy of this one
    assert os.getpid() not in {r[3] for r in results}
    with worker_pool(1, single_threaded=False) as pool:
        assert pool.submit(_state).result(timeout=120)[0] != 1 or (os.cpu_count() or 1) == 1


def test_the_pools_use_the_fork_server_where_the_platform_has_one():
    import multiprocessing

    if "forkserver" not in multiprocessing.get_all_start_methods():
        pytest.skip("no fork server on this platform: pools spawn")
    assert context().get_start_method() == "forkserver"


def test_a_script_without_a_main_guard_runs_a_pool_and_its_top_level_runs_once(tmp_path):
    # a fork server runs the main script again in each worker unless told not to: without mextk's
    # fix this script's workers would start pools of their own and fail ("bootstrapping phase")
    import subprocess
    import sys

    script = tmp_path / "plain_script.py"
    script.write_text(
        "from mextk.workers import worker_pool\n"
        "print('top level ran', flush=True)\n"
        "with worker_pool(2) as pool:\n"
        "    values = sorted(pool.map(abs, [-1, -2, -3]))\n"
        "    print('results', values, flush=True)\n"
    )
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("top level ran") == 1
    assert "results [1, 2, 3]" in done.stdout
