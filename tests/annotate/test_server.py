"""The server at the HTTP level: sign-in, sessions, CSRF, roles, other labellers' ids, blindness, paths, frames."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")
pytest.importorskip("sqlalchemy")

import cv2  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

from mextk.annotate.engine import AnnotationProject
from mextk.annotate.server import create_app  # noqa: E402
from mextk.io.video import read_frames
from tests.annotate.helpers import signed_in as _client  # noqa: E402


def test_everything_needs_a_session(served):
    app, *_ = served
    c = _client(app)
    for path in ("/api/me", "/api/tasks", "/api/tasks/1", "/api/tasks/1/frame/0", "/api/admin/progress"):
        assert c.get(path).status_code == 401, path
    assert c.post("/api/next").status_code == 401
    r = c.get("/", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login"


def test_sign_in_sets_a_strict_httponly_cookie_and_bad_or_empty_passwords_fail(served):
    app, *_ = served
    c = TestClient(app)
    r = c.post("/login", data={"name": "anna", "password": "password-anna"}, follow_redirects=False)
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    assert c.post("/login", data={"name": "anna", "password": ""}).status_code == 401
    assert c.post("/login", data={"name": "anna"}).status_code == 401
    assert c.post("/login", data={"name": "anna", "password": "wrong"}).status_code == 401


def test_repeated_failed_sign_ins_are_rate_limited(served):
    app, *_ = served
    c = TestClient(app)
    codes = [c.post("/login", data={"name": "ben", "password": "nope"}).status_code for _ in range(4)]
    assert codes == [401, 401, 401, 429]
    # even the right password waits for the window to pass
    assert c.post("/login", data={"name": "ben", "password": "password-ben"}).status_code == 429


def test_state_changes_need_the_csrf_token_and_a_session_dies_at_logout(served):
    app, *_ = served
    c = _client(app, "anna")
    token = c.headers.pop("X-CSRF-Token")
    assert c.post("/api/next").status_code == 403
    assert c.post("/api/next", headers={"X-CSRF-Token": "forged"}).status_code == 403
    assert c.post("/api/next", headers={"X-CSRF-Token": token}).status_code == 200
    cookie = c.cookies.get("mextk_session")
    assert c.post("/logout", headers={"X-CSRF-Token": token}).status_code == 200
    replay = TestClient(app)
    replay.cookies.set("mextk_session", cookie)
    assert replay.get("/api/me").status_code == 401  # the old cookie is revoked on the server


def test_another_labellers_task_and_frames_are_not_found(served):
    app, p, ids, _ = served
    anna, ben = _client(app, "anna"), _client(app, "ben")
    t = anna.post("/api/next").json()["task"]
    assert anna.get(f"/api/tasks/{t}").status_code == 200
    for path in (f"/api/tasks/{t}", f"/api/tasks/{t}/frame/0", f"/task/{t}"):
        assert ben.get(path).status_code == 404, path
    assert ben.post(f"/api/tasks/{t}/segments", json={"segments": []}).status_code == 404
    assert ben.get("/api/tasks/99999").status_code == 404
    assert anna.get("/api/admin/progress").status_code == 404  # not an admin
    assert _client(app, "root").get("/api/admin/progress").status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "/api/tasks/1/frame/..%2F..%2Fproject.json",
        "/api/tasks/1/frame/../../project.json",
        "/api/tasks/1/frame/%2Fetc%2Fpasswd",
        "/api/tasks/1/frame/-1",
        "/api/tasks/1/frame/1e3",
        "/api/tasks/..%2F1/frame/0",
        "/static/..%2Fserver.py",
        "/static/../server.py",
        "/static/%2Fetc%2Fpasswd",
        "/static/player.js%00.png",
    ],
)
def test_paths_outside_the_served_media_are_not_found(served, path):
    app, *_ = served
    c = _client(app, "anna")
    c.post("/api/next")
    assert c.get(path).status_code == 404, path


def test_only_the_listed_static_files_are_served(served):
    app, *_ = served
    c = _client(app, "anna")
    assert c.get("/static/player.js").status_code == 200
    assert c.get("/static/__init__.py").status_code == 404  # only the listed files (symlinks: test_hostile_input)


def test_frame_k_is_exactly_the_decoded_frame_k(served):
    app, p, ids, rows = served
    c = _client(app, "anna")
    t = c.post("/api/next").json()["task"]
    view = c.get(f"/api/tasks/{t}").json()
    clip_path = rows.iloc[view["clip"] - 1]["path"]
    decoded = read_frames(clip_path)
    for k in (0, 7, view["last"]):
        png = c.get(f"/api/tasks/{t}/frame/{k}").content
        shown = cv2.cvtColor(cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        np.testing.assert_array_equal(shown, decoded[k])
    assert c.get(f"/api/tasks/{t}/frame/{view['last'] + 1}").status_code == 404


def test_no_stage_2_response_says_the_stage_1_label(served):
    app, p, ids, _ = served
    anna, ben = _client(app, "anna"), _client(app, "ben")
    for segments in ([{"onset": 2, "apex": 5, "offset": 9, "label": "sadness"}], [], []):
        t = anna.post("/api/next").json()["task"]
        assert anna.post(f"/api/tasks/{t}/segments", json={"segments": segments}).status_code == 200
    t = ben.post("/api/next").json()["task"]
    responses = [ben.get(f"/api/tasks/{t}"), ben.get(f"/task/{t}"), ben.get("/api/tasks"), ben.get("/"),
                 ben.get("/api/me")]  # fmt: skip
    view = responses[0].json()
    assert view["kind"] == "classify" and (view["first"], view["last"]) == (2, 9)
    for r in responses:
        text = r.text
        assert not re.search(r'"apex"\s*:', text)  # the stage-1 apex is not sent either
        # the class names appear only in the view's list of classes to choose from, never as an answer
        body = json.loads(text) if r.headers["content-type"].startswith("application/json") else None
        if isinstance(body, dict):
            rest = {k: v for k, v in body.items() if k not in ("classes", "no_apex_classes")}
            assert "sadness" not in json.dumps(rest)
        elif isinstance(body, list):  # /api/tasks: the labeller's queue
            assert body and "sadness" not in json.dumps(body)
        else:
            assert body is None and "sadness" not in text
    checked = {r.url.path for r in responses}
    assert checked == {f"/api/tasks/{t}", f"/task/{t}", "/api/tasks", "/", "/api/me"}
    assert ben.get(f"/api/tasks/{t}/frame/10").status_code == 404  # outside the segment: not shown at stage 2
    assert ben.get(f"/api/tasks/{t}/frame/2").status_code == 200
    assert ben.post(f"/api/tasks/{t}/label", json={"label": "sadness"}).json() == {"status": "accepted"}


def test_the_quality_timeline_comes_from_prepares_sidecar_within_the_tasks_frames(synth_dataset, tmp_path):
    import pandas as pd

    out, _, df = synth_dataset
    row = df.head(1).copy()
    row["path"] = [str(out / p) for p in row["path"]]
    n = int(row["n_frames"].iloc[0])
    sidecar = pd.DataFrame(
        {
            "frame": range(n),
            "source_frame": range(100, 100 + n),
            "checked": [True] * n,
            "face_visible": [k not in (3, 4) for k in range(n)],  # the face is lost at frames 3 and 4
            "faces": [1] * n,
            "face_height": [80.0] * n,
            "found_by": ["detector"] * n,
            "score": [1.0] * n,
            "yaw": [45.0 if k == 6 else 5.0 for k in range(n)],  # turned at frame 6
            "pitch": [0.0] * n,
            "occluded": [k in (3, 4) for k in range(n)],
        }
    )
    sidecar.to_csv(tmp_path / "c.quality.csv", index=False)
    row["quality"] = str(tmp_path / "c.quality.csv")
    row.to_csv(tmp_path / "clips.csv", index=False)
    p = AnnotationProject.create(tmp_path / "proj", tmp_path / "clips.csv")
    p.add_user("anna", "labeller", "password-anna")
    c = _client(create_app(tmp_path / "proj"), "anna")
    t = c.post("/api/next").json()["task"]
    q = c.get(f"/api/tasks/{t}/quality").json()
    assert len(q) == n
    assert [x["frame"] for x in q if not x["face_visible"]] == [3, 4]
    assert [x["frame"] for x in q if x["turned"]] == [6]


def test_the_admin_page_shows_progress_per_step_and_labeller_and_the_agreement(served):
    app, p, ids, _ = served
    anna, ben = _client(app, "anna"), _client(app, "ben")
    t = anna.post("/api/next").json()["task"]
    anna.post(f"/api/tasks/{t}/segments", json={"segments": [{"onset": 2, "apex": 5, "offset": 9, "label": "fear"}]})
    t = ben.post("/api/next").json()["task"]
    ben.post(f"/api/tasks/{t}/label", json={"label": "fear"})
    page = _client(app, "root").get("/admin").text
    assert "<td>anna</td><td>1 done, 0 open</td>" in page and "<td>ben</td><td>0 done, 0 open</td><td>1 done" in page
    report = _client(app, "root").get("/report").text
    assert "Cohen's kappa, mark vs verify: <b>1.000</b> over 1 segments" in report
    assert "<tr><td>verify</td><td>1</td><td>1</td></tr><tr><td>reverify</td><td>0</td><td>0</td></tr>" in report
    for path in ("/admin", "/report", "/admin/segments", "/admin/audit", "/api/admin/segments", "/api/admin/audit"):
        assert anna.get(path).status_code == 404, path


def test_a_labellers_page_shows_their_progress_and_what_waits_for_them(served):
    app, p, ids, _ = served
    anna, ben = _client(app, "anna"), _client(app, "ben")
    t = anna.post("/api/next").json()["task"]
    anna.post(f"/api/tasks/{t}/segments", json={"segments": [{"onset": 0, "offset": 4, "label": "no_me"}]})
    mark, verify = (st.title for st in p.protocol.steps[:2])
    # anna: 1 clip marked, 2 clips waiting; her own segment never waits for her at stage 2
    assert (
        f"<tr><td>{mark}</td><td>1</td><td>0</td><td>2</td></tr><tr><td>{verify}</td><td>0</td><td>0</td><td>0</td>"
        in (anna.get("/").text)
    )
    assert f"<tr><td>{verify}</td><td>0</td><td>0</td><td>1</td></tr>" in ben.get("/").text


def test_an_admin_corrects_an_outcome_with_a_reason_and_the_audit_log_keeps_the_old_one(served):
    app, p, ids, _ = served
    anna, ben, root = _client(app, "anna"), _client(app, "ben"), _client(app, "root")
    t = anna.post("/api/next").json()["task"]
    (seg,) = anna.post(
        f"/api/tasks/{t}/segments", json={"segments": [{"onset": 2, "apex": 5, "offset": 9, "label": "fear"}]}
    ).json()["segments"]
    url = f"/api/admin/segments/{seg}/correct"
    assert root.post(url, json={"status": "accepted", "label": "anger", "reason": "x"}).status_code == 400  # open
    ben.post(f"/api/tasks/{ben.post('/api/next').json()['task']}/label", json={"label": "fear"})
    fix = {"status": "accepted", "label": "anger", "reason": "the brow lowers; fear was a slip"}
    assert anna.post(url, json=fix).status_code == 404  # a labeller cannot, and is not told the endpoint exists
    assert root.post(url, json=fix, headers={"X-CSRF-Token": ""}).status_code == 403
    assert root.post(url, json={**fix, "reason": " "}).status_code == 400
    assert root.post(url, json={**fix, "label": "joy"}).status_code == 400
    assert root.post("/api/admin/segments/999/correct", json=fix).status_code == 404
    assert root.post(url, json=fix).json()["label"] == "anger"
    (row,) = [x for x in root.get("/api/admin/segments").json() if x["segment"] == seg]
    assert (row["status"], row["label"], row["decided_at"]) == ("accepted", "anger", "correction")
    assert row["answers"] == {"mark": ["fear"], "verify": ["fear"]}  # the labellers' answers are untouched
    (audit,) = [a for a in root.get("/api/admin/audit").json() if a["action"] == "correct"]
    assert audit["user"] == "root" and audit["entity_id"] == seg
    assert audit["old"] == {"status": "accepted", "label": "fear", "step": "verify"}
    assert audit["new"]["label"] == "anger" and audit["new"]["reason"] == fix["reason"]
    assert "the brow lowers" in root.get("/admin/audit").text


def test_an_admin_moves_an_open_task_but_never_to_the_segments_author(served):
    app, p, ids, _ = served
    anna, ben, root = _client(app, "anna"), _client(app, "ben"), _client(app, "root")
    t = anna.post("/api/next").json()["task"]
    anna.post(f"/api/tasks/{t}/segments", json={"segments": [{"onset": 0, "offset": 4, "label": "no_me"}]})
    held = anna.post("/api/next").json()["task"]  # anna's second clip, open
    assert root.post(f"/api/admin/tasks/{held}/assign", json={"to": "ben"}).json() == {"assignee": ids["ben"]}
    assert anna.get(f"/api/tasks/{held}").status_code == 404 and ben.get(f"/api/tasks/{held}").status_code == 200
    stage2 = ben.post("/api/next").json()["task"]
    assert stage2 == held  # ben's oldest open task first
    (verify,) = [t["task"] for t in p.open_tasks() if t["step"] == "verify"]  # in the pool
    r = root.post(f"/api/admin/tasks/{verify}/assign", json={"to": "anna"})
    assert r.status_code == 400 and "may not take" in r.json()["error"]
    assert root.post(f"/api/admin/tasks/{verify}/assign", json={"to": "nobody"}).status_code == 404
    assert root.post(f"/api/admin/tasks/{held}/assign", json={"to": ""}).json() == {"assignee": None}  # to the pool
    assert ben.post(f"/api/admin/tasks/{held}/assign", json={"to": "ben"}).status_code == 404
    moves = [a for a in p.audit_log(entity="task", entity_id=held) if a["action"] == "reassign"]
    assert [(m["old"]["to"], m["new"]["to"]) for m in moves] == [(ids["anna"], ids["ben"]), (ids["ben"], None)]


def test_a_disabled_account_loses_its_session_and_cannot_sign_in(served):
    app, p, ids, _ = served
    anna = _client(app, "anna")
    assert anna.get("/api/me").status_code == 200
    p.set_active("anna", False)
    assert anna.get("/api/me").status_code == 401
    r = TestClient(app).post("/login", data={"name": "anna", "password": "password-anna"}, follow_redirects=False)
    assert r.status_code == 401
