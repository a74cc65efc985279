"""Faults under concurrency: the server killed (SIGKILL) while eight labellers submit DFME answers at once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest

pytest.importorskip("httpx")
pytest.importorskip("sqlalchemy")

from mextk.annotate.engine import AnnotationProject
from tests.annotate.helpers import clips_manifest  # noqa: E402
from tests.annotate.scaffolding import check_project, free_port, simulate_labellers  # noqa: E402


def _serve(folder, db):
    import httpx

    port = free_port()
    cmd = [sys.executable, "-m", "mextk", "annotate", "serve", str(folder), "--port", str(port)]
    proc = subprocess.Popen([*cmd, *(["--db", db] if db else [])], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(base + "/login", timeout=1).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("the server did not start")


@pytest.mark.slow
def test_a_kill_during_concurrent_submissions_loses_no_acknowledged_answer(synth_dataset, tmp_path, db_url):
    rows = clips_manifest(synth_dataset, tmp_path, 3)
    items = pd.concat([rows] * 10, ignore_index=True)
    items["sample_id"] = [f"item{k:03d}" for k in range(len(items))]
    items.to_csv(tmp_path / "items.csv", index=False)
    p = AnnotationProject.create(tmp_path / "proj", tmp_path / "items.csv", protocol="dfme", db=db_url)
    users = {f"l{k}": f"password-{k}" for k in range(8)}
    for name, password in users.items():
        p.add_user(name, "labeller", password)
    proc, base = _serve(tmp_path / "proj", db_url)
    try:
        result = simulate_labellers(base, users, seconds=120, seed=3, halfway_answers=24,
                                    on_halfway=lambda: os.kill(proc.pid, signal.SIGKILL))  # fmt: skip
    finally:
        proc.kill()
        proc.wait(timeout=10)
    assert len(result["acknowledged"]) > 20  # answers were going in when the server died ...
    assert result["errors"]  # ... and the labellers saw it die
    after = AnnotationProject(tmp_path / "proj", db=db_url)  # the restart
    assert check_project(after, result["acknowledged"]) == []  # every acknowledged answer, no half answer
    proc, base = _serve(tmp_path / "proj", db_url)  # and the work goes on
    try:
        again = simulate_labellers(base, dict(list(users.items())[:3]), seconds=2, seed=4)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert again["errors"] == [] and again["acknowledged"]
    assert (
        check_project(
            AnnotationProject(tmp_path / "proj", db=db_url), {**result["acknowledged"], **again["acknowledged"]}
        )
        == []
    )
