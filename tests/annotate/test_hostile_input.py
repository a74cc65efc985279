"""The server against a hostile client: malformed answers, oversized bodies, sign-in probes, proxies, cookies.

Every malformed answer must get a 4xx with one short line, leave the task open and store nothing.
"""

from __future__ import annotations

import json
import shutil

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")
pytest.importorskip("sqlalchemy")

import httpx  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

from mextk.annotate import accounts  # noqa: E402
from mextk.annotate.engine import AnnotationProject
from mextk.annotate.security import LoginLimiter  # noqa: E402
from mextk.annotate.server import STATIC_FILES, create_app  # noqa: E402
from tests.annotate.helpers import clips_manifest  # noqa: E402
from tests.annotate.helpers import signed_in as _client  # noqa: E402
from tests.annotate.test_browser import _serving  # noqa: E402


def _stage1(app, name="anna"):
    c = _client(app, name)
    return c, c.post("/api/next").json()["task"]


def _nothing_stored(p, c, t):
    assert p.segments() == []
    assert [x["status"] for x in c.get("/api/tasks").json() if x["task"] == t] == ["open"]


SEG = {"onset": 2, "apex": 5, "offset": 9, "label": "anger"}

# raw bodies, as a hostile client sends them (not all are valid JSON for Python's encoder)
MALFORMED = {
    "infinity onset": '{"segments": [{"onset": Infinity, "apex": 5, "offset": 9, "label": "anger"}]}',
    "nan offset": '{"segments": [{"onset": 2, "apex": 5, "offset": NaN, "label": "anger"}]}',
    "apex 10**30": json.dumps({"segments": [{**SEG, "apex": 10**30}]}),
    "offset 10**30 on no_me": json.dumps({"segments": [{"onset": 2, "offset": 10**30, "label": "no_me"}]}),
    "deep nesting": "[" * 30_000 + "]" * 30_000,
    "deep nesting in segments": '{"segments": ' + "[" * 20_000 + "]" * 20_000 + "}",
    "no_me with apex -5": json.dumps({"segments": [{"onset": 2, "apex": -5, "offset": 9, "label": "no_me"}]}),
    "no_me with an apex inside": json.dumps({"segments": [{"onset": 2, "apex": 5, "offset": 9, "label": "no_me"}]}),
    "apex before onset": json.dumps({"segments": [{**SEG, "apex": 1}]}),
    "fractional onset 1.9": json.dumps({"segments": [{**SEG, "onset": 1.9}]}),
    "integral float 2.0": json.dumps({"segments": [{**SEG, "onset": 2.0}]}),
    "true as onset": json.dumps({"segments": [{**SEG, "onset": True}]}),
    "text 5 as offset": json.dumps({"segments": [{**SEG, "offset": "5"}]}),
    "label not text": json.dumps({"segments": [{**SEG, "label": 3}]}),
    "unknown segment field": json.dumps({"segments": [{**SEG, "comment": "x"}]}),
    "unknown body field": json.dumps({"segments": [], "extra": 1}),
    "segments not a list": json.dumps({"segments": {"0": SEG}}),
    "segment not an object": json.dumps({"segments": [[2, 5, 9]]}),
    "body a list": json.dumps([SEG]),
    "not json": "onset=2",
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_a_malformed_segment_answer_is_a_4xx_with_one_line_and_stores_nothing(served, case):
    app, p, *_ = served
    c, t = _stage1(app)
    r = c.post(f"/api/tasks/{t}/segments", content=MALFORMED[case], headers={"content-type": "application/json"})
    assert 400 <= r.status_code < 500, (case, r.status_code, r.text[:200])
    message = r.json()["error"]
    assert "\n" not in message and 0 < len(message) <= 300
    _nothing_stored(p, c, t)
    # the task still takes a good answer afterwards
    assert c.post(f"/api/tasks/{t}/segments", json={"segments": [SEG]}).status_code == 200


def test_a_one_megabyte_label_is_refused_before_parsing_and_never_echoed(served):
    app, p, *_ = served
    c, t = _stage1(app)
    huge = "x" * 1_000_000
    r = c.post(f"/api/tasks/{t}/segments", json={"segments": [{**SEG, "label": huge}]})
    assert r.status_code == 413 and len(r.text) < 200
    # under the cap, an unknown label is quoted only in part
    r = c.post(f"/api/tasks/{t}/segments", json={"segments": [{**SEG, "label": "y" * 60_000}]})
    assert r.status_code == 400 and len(r.json()["error"]) <= 300 and "y" * 50 not in r.text
    _nothing_stored(p, c, t)


def test_a_chunked_body_over_the_cap_is_refused_too(served):
    app, p, *_ = served
    c, t = _stage1(app)

    def chunks():
        for _ in range(20):
            yield b" " * 8192  # 160 KB, no Content-Length

    r = c.post(f"/api/tasks/{t}/segments", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413
    _nothing_stored(p, c, t)


def test_a_label_that_differs_only_in_case_or_space_is_the_protocols_class(served):
    app, p, *_ = served
    c, t = _stage1(app)
    r = c.post(f"/api/tasks/{t}/segments", json={"segments": [{**SEG, "label": " Anger "}]})
    assert r.status_code == 200
    (seg,) = p.segments()
    assert seg["answers"] == {"mark": ["anger"]}


@pytest.mark.parametrize(
    "body",
    [
        '{"onset": 1.5, "apex": 2, "offset": 3}',
        '{"onset": "1", "apex": 2, "offset": 3}',
        '{"onset": true, "apex": 2, "offset": 3}',
        '{"onset": 1, "apex": Infinity, "offset": 3}',
        '{"onset": 1, "apex": 2, "offset": 100000000000000000000000000000}',
        '{"onset": 1, "apex": 2}',
    ],
)
def test_malformed_key_frames_are_a_4xx_and_leave_the_dfme_task_open(tmp_path, synth_dataset, body):
    clips_manifest(synth_dataset, tmp_path, 1)
    p = AnnotationProject.create(tmp_path / "proj", tmp_path / "clips.csv", protocol="dfme")
    p.add_user("anna", "labeller", "password-anna")
    c, t = _stage1(create_app(tmp_path / "proj"))
    r = c.post(f"/api/tasks/{t}/keyframes", content=body, headers={"content-type": "application/json"})
    assert 400 <= r.status_code < 500 and "\n" not in r.json()["error"]
    assert [x["status"] for x in c.get("/api/tasks").json() if x["task"] == t] == ["open"]


def test_the_hash_check_runs_for_an_unknown_name_as_for_a_wrong_password(served, monkeypatch):
    app, p, *_ = served
    checked = []
    real = accounts.check_password
    monkeypatch.setattr(accounts, "check_password", lambda stored, pw: checked.append(stored) or real(stored, pw))
    assert p.authenticate("anna", "wrong-password") is None
    assert p.authenticate("nobody-by-this-name", "wrong-password") is None
    assert len(checked) == 2 and all(h.startswith("$argon2") for h in checked)
    assert p.authenticate("anna", "password-anna") is not None


def test_a_sign_in_form_posted_from_another_site_is_refused_and_signs_nobody_in(served):
    app, *_ = served
    c = TestClient(app)
    good = {"name": "anna", "password": "password-anna"}
    for origin in ("http://evil.example", "null", "http://testserver.evil.example"):
        r = c.post("/login", data=good, headers={"Origin": origin}, follow_redirects=False)
        assert r.status_code == 403 and "set-cookie" not in r.headers, origin
    r = c.post("/login", data=good, headers={"Sec-Fetch-Site": "cross-site"}, follow_redirects=False)
    assert r.status_code == 403
    r = c.post("/login", data=good, headers={"Origin": "http://testserver"}, follow_redirects=False)
    assert r.status_code == 303 and "mextk_session" in r.headers["set-cookie"]


def test_the_secure_cookie_flag_is_a_setting_not_the_requests_scheme(served):
    app, p, *_ = served
    good = {"name": "anna", "password": "password-anna"}
    plain = TestClient(app).post("/login", data=good, follow_redirects=False).headers["set-cookie"].lower()
    assert "secure" not in plain  # decided by the scheme: plain HTTP
    behind_tls_proxy = create_app(p.folder, secure_cookies=True)
    cookie = TestClient(behind_tls_proxy).post("/login", data=good, follow_redirects=False).headers["set-cookie"]
    assert "secure" in cookie.lower()


def test_every_signed_in_page_has_a_sign_out_button_that_ends_the_session(served):
    app, *_ = served
    c = _client(app, "anna")
    t = c.post("/api/next").json()["task"]
    for path in ("/", f"/task/{t}"):
        assert 'action="/logout"' in c.get(path).text and 'id="sign-out"' in c.get(path).text
    assert 'action="/logout"' in _client(app, "root").get("/admin").text
    token = c.headers.pop("X-CSRF-Token")
    assert c.post("/logout", data={"csrf": "forged"}).status_code == 403
    r = c.post("/logout", data={"csrf": token}, headers={"Accept": "text/html"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login"
    assert c.get("/api/me").status_code == 401


def test_frames_may_be_cached_privately_and_the_api_is_not_cached(served):
    app, *_ = served
    c, t = _stage1(app)
    assert c.get(f"/api/tasks/{t}/frame/0").headers["cache-control"] == "private, max-age=3600"
    assert c.get(f"/api/tasks/{t}").headers["cache-control"] == "no-store"
    assert c.get("/").headers["cache-control"] == "no-store"


def test_a_browser_gets_failed_sign_ins_and_missing_pages_as_pages_not_json(served):
    app, *_ = served
    html = {"Accept": "text/html,application/xhtml+xml"}
    c = TestClient(app)
    r = c.post("/login", data={"name": "anna", "password": "nope"}, headers=html)
    assert r.status_code == 401 and r.headers["content-type"].startswith("text/html")
    assert "wrong name or password" in r.text and "<form" in r.text
    signed = _client(app, "anna")
    r = signed.get("/task/99999", headers=html)
    assert r.status_code == 404 and r.headers["content-type"].startswith("text/html") and "Back to my tasks" in r.text
    assert signed.get("/api/tasks/99999", headers=html).headers["content-type"].startswith("application/json")


def test_my_tasks_names_steps_as_the_labeller_reads_them_not_by_internal_id(served):
    app, *_ = served
    c, t = _stage1(app)
    c.post(f"/api/tasks/{t}/segments", json={"segments": [SEG]})
    page = c.get("/").text
    table = page.split('id="my-tasks"', 1)[1]
    assert "<td>Stage 1</td>" in table and "<td>mark</td>" not in table


def test_a_symlink_in_the_static_folder_is_never_served(served, tmp_path):
    app, p, *_ = served
    from importlib import resources

    folder = tmp_path / "static"
    shutil.copytree(str(resources.files("mextk.annotate").joinpath("static")), folder)
    secret = tmp_path / "secret.txt"
    secret.write_text("a child's name")
    (folder / "style.css").unlink()
    (folder / "style.css").symlink_to(secret)  # a listed name, but a symlink
    (folder / "secret.js").symlink_to(secret)  # an unlisted name
    c = _client(create_app(p.folder, static_dir=folder), "anna")
    assert c.get("/static/player.js").status_code == 200
    for name in ("style.css", "secret.js"):
        r = c.get(f"/static/{name}")
        assert r.status_code == 404 and "child" not in r.text, name
    assert set(STATIC_FILES) >= {"style.css", "player.js"}


@pytest.mark.parametrize("proxy", [None, "127.0.0.1"])
def test_x_forwarded_for_is_believed_only_from_a_named_proxy(served, proxy):
    app, p, *_ = served
    app = create_app(p.folder, limiter=LoginLimiter(max_failures=3, window_s=60))
    codes = []
    with _serving(app, proxy=proxy) as base:
        for k in range(5):  # a new name and a new claimed address each time: only the real address can block
            r = httpx.post(f"{base}/login", data={"name": f"guess{k}", "password": "x" * 8},
                           headers={"X-Forwarded-For": f"203.0.113.{k}"}, timeout=30)  # fmt: skip
            codes.append(r.status_code)
    if proxy is None:
        assert codes == [401, 401, 401, 429, 429]  # the header is ignored: one client, blocked
    else:
        assert codes == [401] * 5  # the named proxy's header names five clients
