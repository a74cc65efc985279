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


def test_importing_mextk_changes_nothing_in_multiprocessing_and_a_pool_puts_it_back():
    import subprocess
    import sys

    code = (
        "import multiprocessing.spawn as s; before = s.get_preparation_data\n"
        "import mextk.workers, mextk.features.batch, mextk.prepare.batch, mextk.analyze.chain\n"
        "assert s.get_preparation_data is before, 'patched at import'\n"
        "from mextk.workers import worker_pool\n"
        "if __name__ == '__main__':\n"
        "    with worker_pool(1) as pool:\n"
        "        assert pool.submit(abs, -3).result(timeout=120) == 3\n"
        "    assert s.get_preparation_data is before, 'left patched'\n"
        "    print('unchanged')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and out.stdout.strip() == "unchanged", out.stderr[-2000:]


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


STOPPING_TASKS = """
import time
from pathlib import Path

def task(k, folder):
    time.sleep(0.5)
    Path(folder, f"done_{k}").write_text("")
    return k
"""

STOPPING_SCRIPT = """
import sys
from pathlib import Path
from mextk.workers import worker_pool
from stopping_tasks import task  # a module, not __main__: the workers import it

folder = sys.argv[1]
with worker_pool(2) as pool:
    futures = [pool.submit(task, k, folder) for k in range(60)]
    futures[0].result()
    Path(folder, "pids").write_text(" ".join(str(p) for p in pool._processes))
    for f in futures:
        f.result()
"""


def _ctrl_c_as_a_terminal_gives_it() -> None:
    """In the child: SIGINT at its default, as a terminal's command gets it (a test run started in the background
    by a non-interactive shell ignores SIGINT, and children inherit that; these tests are about Ctrl-C)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:  # a zombie has exited; only its parent has not collected it
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads worker processes from /proc (Linux)")
@pytest.mark.parametrize("how", ["SIGINT", "SIGTERM", "SIGKILL"])
def test_an_interrupted_or_killed_run_cancels_its_queue_and_takes_its_workers_with_it(tmp_path, how):
    import signal
    import subprocess
    import sys
    import time

    script = tmp_path / "run.py"
    script.write_text(STOPPING_SCRIPT)
    (tmp_path / "stopping_tasks.py").write_text(STOPPING_TASKS)
    proc = subprocess.Popen(
        [sys.executable, str(script), str(tmp_path)], stderr=subprocess.PIPE, preexec_fn=_ctrl_c_as_a_terminal_gives_it
    )
    try:
        for _ in range(1200):
            if (tmp_path / "pids").exists() or proc.poll() is not None:
                break
            time.sleep(0.05)
        pids = [int(p) for p in (tmp_path / "pids").read_text().split()]
        assert len(pids) == 2 and all(_alive(p) for p in pids)
        proc.send_signal(getattr(signal, how))
        proc.wait(timeout=60)
    finally:
        proc.kill()
        proc.wait()
    for _ in range(200):  # after a SIGKILL the fork server sees its parent gone, then the kernel ends the workers
        if not any(_alive(p) for p in pids):
            break
        time.sleep(0.05)
    assert not any(_alive(p) for p in pids), f"workers still running after {how}"
    done = len(list(tmp_path.glob("done_*")))
    assert done < 20, f"{done} of 60 queued tasks ran after {how}: the queue was not cancelled"
    if how != "SIGKILL":
        assert proc.returncode != 0


def _descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (from /proc: children, their children, ...)."""
    import glob

    parents = {}
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            with open(stat) as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(stat.split("/")[2])] = int(fields[1])
    found, frontier = [], [pid]
    while frontier:
        p = frontier.pop()
        kids = [c for c, pp in parents.items() if pp == p]
        found += kids
        frontier += kids
    return found


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads worker processes from /proc (Linux)")
@pytest.mark.parametrize("how, code", [("SIGINT", 130), ("SIGTERM", 143)])
def test_mextk_features_with_jobs_stops_with_its_workers_and_says_how(synth_dataset, tmp_path, how, code):
    import signal
    import subprocess
    import sys
    import time

    data, _, df = synth_dataset
    out = tmp_path / "features"
    cmd = [sys.executable, "-m", "mextk", "features", "graphs", str(data / "manifest.csv"), "--out", str(out)]
    proc = subprocess.Popen(
        [*cmd, "--jobs", "2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=_ctrl_c_as_a_terminal_gives_it,
    )  # fmt: skip
    try:
        workers: list[int] = []
        for _ in range(1200):  # until the pool runs and a first sample is written
            if proc.poll() is not None:
                break
            workers = _descendants(proc.pid)
            if len(workers) >= 3 and any(out.rglob("*.npz")):
                break
            time.sleep(0.05)
        assert proc.poll() is None, "finished before it could be interrupted"
        proc.send_signal(getattr(signal, how))
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == code, err[-500:]
    assert ("terminated" if how == "SIGTERM" else "interrupted") in err
    for _ in range(100):
        if not any(_alive(p) for p in workers):
            break
        time.sleep(0.05)
    assert not any(_alive(p) for p in workers)
    assert len(list(out.rglob("*.npz"))) < len(df)  # the queue was cancelled, not finished
