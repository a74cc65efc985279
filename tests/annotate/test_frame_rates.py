"""Frame k is the decoded frame k at 25, 200 and 500 fps, and a server killed mid-submission loses nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import cv2
import numpy as np
import pandas as pd
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("sqlalchemy")

from fastapi.testclient import TestClient  # noqa: E402

from mextk.annotate.engine import AnnotationProject
from mextk.annotate.server import create_app  # noqa: E402
from mextk.io.video import read_frames
from tests.annotate.helpers import BAR_ROWS, BAR_STEP, bar_row, free_port, numbered_clip  # noqa: E402


def _numbered_clip(path, n, fps):
    return numbered_clip(path, n, fps)


def _manifest(tmp_path, clips):
    rows = [
        {"dataset": "t", "subject": f"s{i}", "sample_id": f"c{i}", "path": str(p), "fps": fps, "n_frames": n,
         "onset": "", "apex": "", "offset": "", "emotion": ""}
        for i, (p, n, fps) in enumerate(clips)
    ]  # fmt: skip
    pd.DataFrame(rows).to_csv(tmp_path / "clips.csv", index=False)
    return tmp_path / "clips.csv"


def test_frame_k_is_exact_at_25_200_and_500_fps(tmp_path):
    clips = [(_numbered_clip(tmp_path / f"c{fps}.mp4", 120, fps), 120, fps) for fps in (25, 200, 500)]
    p = AnnotationProject.create(tmp_path / "proj", _manifest(tmp_path, clips))
    p.add_user("anna", "labeller", "password-anna")
    c = TestClient(create_app(tmp_path / "proj"))
    c.post("/login", data={"name": "anna", "password": "password-anna"})
    c.headers["X-CSRF-Token"] = c.get("/api/me").json()["csrf"]
    for path, n, fps in clips:
        t = c.post("/api/next").json()["task"]
        view = c.get(f"/api/tasks/{t}").json()
        assert view["fps"] == fps
        decoded = read_frames(path)
        for k in (0, 1, 31, 32, 33, 77, n - 1):  # strip edges included
            png = c.get(f"/api/tasks/{t}/frame/{k}").content
            shown = cv2.cvtColor(cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
            # the frame's own content says which frame it is: the bar drawn for frame k, read from the PNG
            assert bar_row(shown) == (k * BAR_STEP) % BAR_ROWS, f"{fps} fps, frame {k}"
            np.testing.assert_array_equal(shown, decoded[k], err_msg=f"{fps} fps, frame {k}")
        assert c.post(f"/api/tasks/{t}/segments", json={"segments": []}).status_code == 200


def test_killing_the_server_mid_submission_leaves_answers_and_audit_in_step(tmp_path):
    import httpx

    from mextk.annotate.store import Answer, Audit, Task

    clip = _numbered_clip(tmp_path / "c.mp4", 40, 25)
    manifest = _manifest(tmp_path, [(clip, 40, 25)] * 60)  # one file under 60 sample ids: 60 stage-1 tasks
    df = pd.read_csv(manifest, dtype=str)
    df["sample_id"] = [f"c{i}" for i in range(len(df))]
    df.to_csv(manifest, index=False)
    AnnotationProject.create(tmp_path / "proj", manifest).add_user("anna", "labeller", "password-anna")
    port = free_port()
    cmd = [sys.executable, "-m", "mextk", "annotate", "serve", str(tmp_path / "proj"), "--port", str(port)]
    server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(150):
            try:
                httpx.get(base + "/login", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        with httpx.Client(base_url=base, timeout=5) as c:
            c.post("/login", data={"name": "anna", "password": "password-anna"})
            c.headers["X-CSRF-Token"] = c.get("/api/me").json()["csrf"]
            sent = 0
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                t = c.post("/api/next").json()["task"]
                segs = [
                    {"onset": 1, "apex": 3, "offset": 6, "label": "anger"},
                    {"onset": 8, "offset": 9, "label": "no_me"},
                ]
                if sent == 25:  # send a submission and kill the server (SIGKILL) without waiting for it
                    try:
                        c.post(f"/api/tasks/{t}/segments", json={"segments": segs}, timeout=0.005)
                    except httpx.HTTPError:
                        pass
                    os.kill(server.pid, signal.SIGKILL)
                    break
                assert c.post(f"/api/tasks/{t}/segments", json={"segments": segs}).status_code == 200
                sent += 1
    finally:
        server.kill()
        server.wait(timeout=10)
    p = AnnotationProject(tmp_path / "proj")  # after the restart
    with p.Session() as s:
        done = s.query(Task).filter(Task.step == "mark", Task.status == "done").count()
        answers = s.query(Answer).count()
        audited = s.query(Audit).filter(Audit.action == "answer").count()
        closed = s.query(Audit).filter(Audit.action == "close").count()
        follow_ups = s.query(Task).filter(Task.step == "verify").count()
    assert done in (25, 26)  # the killed submission is either all there or not at all
    assert answers == audited == 2 * done and closed == done and follow_ups == 2 * done
