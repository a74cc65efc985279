"""The labelling app in a real browser: a CMED round by keyboard, exact frames."""

from __future__ import annotations

import contextlib
import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("sqlalchemy")
playwright_api = pytest.importorskip("playwright.sync_api")
#: a browser test that hangs (a renderer that stopped answering) fails after 5 minutes, not the run's 20
pytestmark = pytest.mark.timeout(300)
if shutil.which("chromium") is None:
    pytest.skip("Debian's chromium is not installed (apt-get install chromium)", allow_module_level=True)

from mextk.annotate.engine import AnnotationProject  # noqa: E402
from mextk.annotate.server import create_app  # noqa: E402
from mextk.io.video import read_frames  # noqa: E402
from tests.annotate.helpers import clips_manifest, free_port  # noqa: E402


@contextlib.contextmanager
def _serving(folder_or_app, *, proxy=None):
    """A project folder's app (or an app) served by uvicorn on a free port of 127.0.0.1, in a thread, with the
    configuration ``mextk annotate serve`` uses (``proxy``: its ``--proxy``)."""
    import uvicorn

    from mextk.annotate.server import server_config

    app = create_app(folder_or_app) if isinstance(folder_or_app, (str, Path)) else folder_or_app
    port = free_port()
    srv = uvicorn.Server(server_config(app, port=port, proxy=proxy))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    for _ in range(200):
        if srv.started:
            break
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def server(synth_dataset, tmp_path):
    rows = clips_manifest(synth_dataset, tmp_path, 2)
    project = AnnotationProject.create(tmp_path / "proj", tmp_path / "clips.csv")
    project.add_user("anna", "labeller", "password-anna")
    project.add_user("ben", "labeller", "password-ben")
    with _serving(tmp_path / "proj") as base:
        yield base, project, rows


def _sign_in(page, base, name):
    page.goto(base + "/login")
    page.focus("input[name=name]")  # autofocus, but not before the page has loaded
    page.keyboard.type(name)
    page.keyboard.press("Tab")
    page.keyboard.type(f"password-{name}")
    page.keyboard.press("Enter")
    page.wait_for_url(base + "/")


def _until(page, done, tries: int = 300) -> None:
    """Wait (up to 30 s) until ``done()``: a submission reaches the server after the key press returns, and a fixed
    500 ms wait once failed on a loaded machine."""
    for _ in range(tries):
        if done():
            return
        page.wait_for_timeout(100)


def _segments(page) -> str:
    """The segments listed on the page, one per line (without their remove buttons)."""
    return "\n".join(page.locator("#segments .segment-text").all_inner_texts())


def _at_frame(page, k):
    page.wait_for_function("(k) => document.getElementById('current-view').dataset.frame === k", arg=str(k))


def test_a_cmed_round_by_keyboard_only(server, browser):
    base, project, _ = server
    page = browser.new_page()
    page.on("dialog", lambda d: d.accept())
    _sign_in(page, base, "anna")
    page.keyboard.press("n")
    page.wait_for_url(base + "/task/*")
    _at_frame(page, 0)
    for key, times in (("ArrowRight", 2), ("i", 1), ("ArrowRight", 3), ("a", 1), ("ArrowRight", 4), ("o", 1)):
        for _ in range(times):
            page.keyboard.press(key)
    _at_frame(page, 9)
    page.keyboard.press("1")  # happiness, the first class
    page.keyboard.press("Enter")  # adds the segment
    page.wait_for_selector("#segments li")
    assert _segments(page) == "happiness: 2-9 (apex 5)"
    page.keyboard.press("Enter")  # asks to submit the clip ...
    page.wait_for_selector("#confirm:not([hidden])")
    assert project.progress()["steps"]["mark"] == {"open": 2}  # ... nothing is sent by Enter alone
    page.keyboard.press("y")  # confirmed: submitted, then the next task opens
    page.wait_for_function("() => location.pathname !== '/task/1'")
    _at_frame(page, 0)
    page.keyboard.press("Enter")  # the second clip: no segment, which must be confirmed
    page.wait_for_selector("#confirm:not([hidden])")
    assert "NO micro-expression" in page.inner_text("#confirm")
    page.keyboard.press("y")
    _until(page, lambda: project.progress()["steps"]["mark"] == {"done": 2})
    assert project.progress()["steps"]["mark"] == {"done": 2}
    ben = browser.new_page()
    ben.on("dialog", lambda d: d.accept())
    _sign_in(ben, base, "ben")
    ben.keyboard.press("n")
    ben.wait_for_url(base + "/task/*")
    _at_frame(ben, 2)  # a stage-2 task starts at the segment's onset
    assert "happiness" not in ben.inner_text("#frame-info")
    ben.keyboard.press("1")
    ben.keyboard.press("Enter")
    ben.keyboard.press("y")
    _until(ben, lambda: project.progress()["segments"] == {"accepted": 1})
    assert project.progress()["segments"] == {"accepted": 1}


def test_the_frame_shown_is_the_decoded_frame(server, browser):
    base, project, rows = server
    page = browser.new_page()
    _sign_in(page, base, "anna")
    page.keyboard.press("n")
    page.wait_for_url(base + "/task/*")
    task = int(page.url.rsplit("/", 1)[1])
    clip_path = rows.iloc[project.task_view(task, 1)["clip"] - 1]["path"]
    decoded = read_frames(clip_path)
    _at_frame(page, 0)
    for k, keys in ((1, ["ArrowRight"]), (11, ["Shift+ArrowRight"]), (10, ["ArrowLeft"])):
        for key in keys:
            page.keyboard.press(key)
        _at_frame(page, k)
        pixels = page.evaluate(
            "() => { const c = document.getElementById('current-view');"
            " return Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data); }"
        )
        shown = np.array(pixels, dtype=np.uint8).reshape(decoded.shape[1], decoded.shape[2], 4)[..., :3]
        np.testing.assert_array_equal(shown, decoded[k])


def _shown(page, shape):
    pixels = page.evaluate(
        "() => { const c = document.getElementById('current-view');"
        " return Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data); }"
    )
    return np.array(pixels, dtype=np.uint8).reshape(shape[0], shape[1], 4)[..., :3]


def _binomial_blur(x):
    """[1 4 6 4 1]/16 along rows then columns, edges repeated (written from the definition, with numpy)."""
    taps = np.array([1, 4, 6, 4, 1], dtype=np.float64) / 16
    padded = np.pad(x, ((0, 0), (2, 2), (0, 0)), mode="edge")
    rows = sum(taps[j] * padded[:, j : j + x.shape[1]] for j in range(5))
    padded = np.pad(rows, ((2, 2), (0, 0), (0, 0)), mode="edge")
    return sum(taps[j] * padded[j : j + x.shape[0]] for j in range(5))


def test_the_difference_and_magnified_views_follow_their_formulas(server, browser):
    base, project, rows = server
    page = browser.new_page()
    _sign_in(page, base, "anna")
    page.keyboard.press("n")
    page.wait_for_url(base + "/task/*")
    task = int(page.url.rsplit("/", 1)[1])
    view = project.task_view(task, 1)
    decoded = read_frames(rows.iloc[view["clip"] - 1]["path"]).astype(np.int64)
    k = int(np.abs(decoded - decoded[0]).reshape(len(decoded), -1).sum(1).argmax())  # the most change from frame 0
    onset, cur = decoded[0], decoded[k]
    for _ in range(k):
        page.keyboard.press("ArrowRight")
    _at_frame(page, k)
    page.keyboard.press("d")
    page.wait_for_function("() => document.getElementById('frame-info').textContent.includes('difference')")
    np.testing.assert_array_equal(_shown(page, cur.shape), np.minimum(255, 4 * np.abs(cur - onset)))
    for alpha in (4, 8, 16):  # M cycles the magnification
        page.keyboard.press("m")
        page.wait_for_function(
            f"() => document.getElementById('frame-info').textContent.includes('magnified {alpha}x')"
        )
        expected = np.clip(np.floor(cur + alpha * _binomial_blur((cur - onset).astype(np.float64)) + 0.5), 0, 255)
        shown = _shown(page, cur.shape).astype(np.int64)
        assert np.abs(shown - expected).max() <= 1  # float32 in the browser, float64 here
        assert np.abs(shown - cur).max() > 20  # and the change is visibly amplified
    page.keyboard.press("m")
    page.wait_for_function("() => !document.getElementById('frame-info').textContent.includes('magnified')")
    np.testing.assert_array_equal(_shown(page, cur.shape), cur)


def test_a_full_round_with_stage_3_then_export_and_stats(server, browser, tmp_path):
    from typer.testing import CliRunner

    from mextk.cli import app

    base, project, _ = server
    anna = browser.new_page()
    anna.on("dialog", lambda d: d.accept())
    _sign_in(anna, base, "anna")
    anna.keyboard.press("n")
    anna.wait_for_url(base + "/task/*")
    _at_frame(anna, 0)
    # two segments: happiness 1-4 (apex 2) and disgust 6-9 (apex 8), then submit; the second clip has none
    for key in [
        "ArrowRight",
        "i",
        "ArrowRight",
        "a",
        "ArrowRight",
        "ArrowRight",
        "o",
        "1",
        "Enter",
        "ArrowRight",
        "ArrowRight",
        "i",
        "ArrowRight",
        "ArrowRight",
        "a",
        "ArrowRight",
        "o",
        "5",
        "Enter",
    ]:
        anna.keyboard.press(key)
    anna.wait_for_function("() => document.querySelectorAll('#segments li').length === 2")
    assert _segments(anna) == "happiness: 1-4 (apex 2)\ndisgust: 6-9 (apex 8)"
    anna.keyboard.press("Enter")
    anna.keyboard.press("y")
    anna.wait_for_function("() => location.pathname !== '/task/1'")
    _at_frame(anna, 0)
    anna.keyboard.press("Enter")
    anna.keyboard.press("y")
    _until(anna, lambda: project.progress()["steps"]["mark"] == {"done": 2})
    ben = browser.new_page()
    ben.on("dialog", lambda d: d.accept())
    _sign_in(ben, base, "ben")
    ben.keyboard.press("n")
    for answer in ("1", "3"):  # agrees on the first segment (happiness); says anger for the disgust one
        ben.wait_for_url(base + "/task/*")
        ben.wait_for_selector("#classes li")
        url = ben.url
        ben.keyboard.press(answer)
        ben.keyboard.press("Enter")
        ben.keyboard.press("y")
        ben.wait_for_function("(u) => location.href !== u", arg=url)
    # stage 3 comes back to ben: the two labels in some order, then every other class (CMED: the original
    # label, the verification label, or a different one); he picks disgust
    ben.wait_for_selector("#classes li")
    options = [o for o in ben.inner_text("#classes").split("\n") if o.strip()]
    assert sorted(o.split(" ", 1)[1] for o in options[:2]) == ["anger", "disgust"]
    assert sorted(o.split(" ", 1)[1] for o in options[2:]) == ["fear", "happiness", "no_me", "sadness", "surprise"]
    ben.keyboard.press(next(o.split(" ")[0] for o in options if o.endswith("disgust")))
    ben.keyboard.press("Enter")
    ben.keyboard.press("y")
    _until(ben, lambda: project.progress()["segments"] == {"accepted": 2})
    assert project.progress()["segments"] == {"accepted": 2}
    runner = CliRunner()
    res = runner.invoke(app, ["annotate", "export", str(project.folder), "--out", str(tmp_path / "ds")])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["stats", str(tmp_path / "ds" / "manifest.csv")])
    assert res.exit_code == 0 and "Happiness" in res.output and "Disgust" in res.output


def test_an_admin_corrects_a_segment_from_the_segments_page(server, browser):
    base, project, _ = server
    project.add_user("root", "admin", "password-root")
    anna, ben = (project.authenticate(n, f"password-{n}").id for n in ("anna", "ben"))
    from mextk.annotate.rules import SegmentInput

    project.submit_segments(project.next_task(anna), anna, [SegmentInput(3, 9, "fear", apex=6)])
    project.submit_label(project.next_task(ben), ben, "fear")
    page = browser.new_page()
    page.goto(base + "/login")
    page.fill("input[name=name]", "root")
    page.fill("input[name=password]", "password-root")
    page.press("input[name=password]", "Enter")
    page.wait_for_url(base + "/admin")
    assert page.locator("#progress").inner_text().count("done") >= 3
    page.click("text=segments")
    page.wait_for_url(base + "/admin/segments")
    form = page.locator("#segments form.api").first
    form.locator("select[name=label]").select_option("anger")
    form.locator("button").click()  # no reason yet: the browser asks for one, nothing is sent
    assert project.segments()[0]["label"] == "fear"
    form.locator("input[name=reason]").fill("the lips press, not fear")
    with page.expect_navigation():
        form.locator("button").click()
    seg = project.segments()[0]
    assert (seg["label"], seg["decided_at"]) == ("anger", "correction")
    assert "anger" in page.locator("#segments").inner_text()
    page.click("text=audit log")
    assert "the lips press, not fear" in page.locator("#audit").inner_text()
    assert [(x["user"], x["entity_id"]) for x in project.audit_log() if x["action"] == "correct"] == [
        ("root", seg["segment"])
    ]
    page.close()


@pytest.fixture
def dfme_server(synth_dataset, tmp_path):
    clips_manifest(synth_dataset, tmp_path, 1)
    project = AnnotationProject.create(tmp_path / "proj", tmp_path / "clips.csv", protocol="dfme")
    for k in range(1, 8):
        project.add_user(f"r{k}", "labeller", f"password-r{k}")
    with _serving(tmp_path / "proj") as base:
        yield base, project


def _submit(page):
    """Press Enter and wait until the answer is in: the status says so, or the player moved on to the next task."""
    url = page.url
    page.keyboard.press("Enter")
    page.wait_for_selector("#confirm:not([hidden])")
    page.keyboard.press("y")
    page.wait_for_function(
        "(u) => location.href !== u || document.getElementById('status').textContent === 'submitted'", arg=url
    )


def _open(page, kind):
    """Be on an unanswered task of ``kind``: the player goes to the next task by itself after a submission
    when one is waiting; otherwise press N."""
    state = "() => { const v = document.getElementById('frame-info'); return v && v.textContent ? location.href : ''; }"
    kind_of = "(id) => fetch('/api/tasks/' + id).then((r) => r.json()).then((v) => v.kind + ':' + v.status)"

    def current():
        if "/task/" not in page.url or page.inner_text("#status") == "submitted":
            return None
        return page.evaluate(kind_of, page.url.rsplit("/", 1)[1])

    if current() != f"{kind}:open":
        url = page.url
        page.keyboard.press("n")
        page.wait_for_function("(u) => location.href !== u && location.pathname.startsWith('/task/')", arg=url)
    page.wait_for_function(state)
    assert current() == f"{kind}:open"


def test_a_dfme_round_with_5_and_7_raters_by_keyboard_then_export_and_stats(dfme_server, browser, tmp_path):
    from typer.testing import CliRunner

    from mextk.cli import app

    base, project = dfme_server

    def signed_in(name):
        page = browser.new_page()
        page.on("dialog", lambda d: d.accept())  # "no task left for you" after the last one
        _sign_in(page, base, name)
        return page

    # at most two pages are open at a time: seven renderers at once crashed a loaded CI machine
    # round 1: five raters mark onset, apex, offset; medians (2, 5, 8)
    marks = [(2, 5, 8), (3, 5, 9), (2, 6, 8), (1, 5, 8), (2, 5, 10)]
    for name, (onset, apex, offset) in zip(["r1", "r2", "r3", "r4", "r5"], marks, strict=True):
        page = signed_in(name)
        _open(page, "keyframes")
        assert page.is_hidden("#classes") and page.is_hidden("#au-form")
        keys = ["ArrowRight"] * onset + ["i"] + ["ArrowRight"] * (apex - onset) + ["a"]
        keys += ["ArrowRight"] * (offset - apex) + ["o"]
        for key in keys:
            page.keyboard.press(key)
        _submit(page)
        if name != "r5":
            page.close()
    # round 2: two AU coders, blind (r5 was taken straight to one after its key frames), then the first
    # settles the final set seeing both
    r5 = page
    for page, codes in ((r5, "4+7"), (signed_in("r6"), "4")):
        _open(page, "aus")
        assert page.inner_text("#shown") == ""  # nothing of the other coder
        assert page.evaluate("() => document.activeElement.id") != "aus"  # the box does not take the keys
        page.keyboard.press("u")  # U puts the typing into the box
        page.keyboard.type(codes)
        _submit(page)
    page.close()
    page = r5
    _open(page, "reconcile")
    assert [x for x in page.inner_text("#shown").split("\n") if x] == ["coder 1 (you): AU4+AU7", "coder 2: AU4"]
    assert page.input_value("#aus") == "AU4+AU7"
    _submit(page)  # keeps AU4+AU7
    page.close()
    # round 3: seven raters choose the emotion; four say anger (1), three disgust (3)
    for k in range(1, 8):
        page = signed_in(f"r{k}")
        _open(page, "classify")
        page.wait_for_selector("#classes li")
        assert "AU4+AU7" in page.inner_text("#shown")  # the final AUs, shown to the emotion raters
        page.keyboard.press("1" if k <= 4 else "3")
        _submit(page)
        page.close()
    (seg,) = project.segments()
    assert (seg["onset"], seg["apex"], seg["offset"], seg["status"], seg["label"]) == (2, 5, 8, "accepted", "anger")
    runner = CliRunner()
    res = runner.invoke(app, ["annotate", "export", str(project.folder), "--out", str(tmp_path / "ds")])
    assert res.exit_code == 0, res.output
    import pandas as pd

    m = pd.read_csv(tmp_path / "ds" / "manifest.csv")
    assert m[["emotion", "aus", "n_frames", "apex"]].values.tolist() == [["anger", "AU4+AU7", 7, 3]]
    res = runner.invoke(app, ["stats", str(tmp_path / "ds" / "manifest.csv")])
    assert res.exit_code == 0 and "Anger" in res.output, res.output
    res = runner.invoke(app, ["annotate", "agreement", str(project.folder)])
    assert "emotion: Fleiss' kappa" in res.output and "aus: AU reliability 0.6667" in res.output


def test_stage_1_takes_a_proposal_with_p_and_keeps_it_with_enter(synth_dataset, browser, tmp_path):
    rows = clips_manifest(synth_dataset, tmp_path, 1)
    (tmp_path / "proposals.csv").write_text(
        f"sample_id,onset,apex,offset,label\n{rows.iloc[0]['sample_id']},3,6,9,fear\n"
    )
    project = AnnotationProject.create(tmp_path / "proj", tmp_path / "clips.csv", proposals=tmp_path / "proposals.csv")
    project.add_user("anna", "labeller", "password-anna")
    with _serving(tmp_path / "proj") as base:
        page = browser.new_page()
        page.on("dialog", lambda d: d.accept())
        _sign_in(page, base, "anna")
        page.keyboard.press("n")
        page.wait_for_url(base + "/task/*")
        _at_frame(page, 0)
        assert "proposed: 3-9 (apex 6) fear" in page.inner_text("#shown")
        page.keyboard.press("p")
        _at_frame(page, 6)  # the player goes to the proposal's apex
        page.keyboard.press("Enter")  # adds the segment as proposed
        page.wait_for_function("() => document.querySelectorAll('#segments li').length === 1")
        page.keyboard.press("Enter")  # asks to submit the clip
        page.keyboard.press("y")
        page.wait_for_function("() => document.getElementById('status').textContent === 'submitted'")
    (seg,) = project.segments()
    assert (seg["onset"], seg["apex"], seg["offset"], seg["answers"]) == (3, 6, 9, {"mark": ["fear"]})
