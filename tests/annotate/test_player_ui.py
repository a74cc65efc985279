"""The labeller's screen in Chromium: buttons for every action, a key legend, no one-key submissions, a timeline
that shows what was marked, state that is never stale, frames that can be enlarged without losing a pixel."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("sqlalchemy")
pytest.importorskip("playwright.sync_api")
#: a browser test that hangs (a renderer that stopped answering) fails after 5 minutes, not the run's 20
pytestmark = pytest.mark.timeout(300)
if shutil.which("chromium") is None:
    pytest.skip("Debian's chromium is not installed (apt-get install chromium)", allow_module_level=True)

from mextk.annotate.engine import AnnotationProject  # noqa: E402
from tests.annotate.helpers import BAR_ROWS, BAR_STEP, bar_row, clips_manifest, numbered_clip  # noqa: E402
from tests.annotate.test_browser import _at_frame, _segments, _serving, _shown, _sign_in, _until  # noqa: E402


@pytest.fixture
def server(synth_dataset, tmp_path):
    clips_manifest(synth_dataset, tmp_path, 2)
    project = AnnotationProject.create(tmp_path / "proj", tmp_path / "clips.csv")
    project.add_user("anna", "labeller", "password-anna")
    project.add_user("ben", "labeller", "password-ben")
    with _serving(tmp_path / "proj") as base:
        yield base, project


def _open_next(page, base):
    page.click("#next")  # the queue page's button
    page.wait_for_url(base + "/task/*")
    page.wait_for_function("() => document.getElementById('frame-info').textContent.length > 0")


def test_a_labeller_finishes_stage_1_and_stage_2_with_buttons_only(server, browser):
    base, project = server
    page = browser.new_page()
    page.on("dialog", lambda d: d.accept())
    _sign_in(page, base, "anna")
    _open_next(page, base)
    _at_frame(page, 0)
    for button, times in (("#btn-forward", 2), ("#btn-onset", 1), ("#btn-forward", 3), ("#btn-apex", 1),
                          ("#btn-forward10", 1), ("#btn-back", 6), ("#btn-offset", 1)):  # fmt: skip
        for _ in range(times):
            page.click(button)
    _at_frame(page, 9)
    page.click("#classes li:nth-child(4) button")  # fear, by its chip
    assert page.inner_text("#classes button[aria-pressed=true]") == "4 fear"
    page.click("#btn-add")
    page.wait_for_selector("#segments li")
    assert _segments(page).startswith("fear: 2-9 (apex 5)")
    page.click("#btn-submit")
    page.wait_for_selector("#confirm:not([hidden])")
    assert project.progress()["steps"]["mark"] == {"open": 2}
    url = page.url
    page.click("#confirm-yes")
    page.wait_for_function("(u) => location.href !== u", arg=url)  # submitted; the next clip opens
    _at_frame(page, 0)
    page.click("#btn-submit")  # no segment in the second clip: said in words before it is sent
    assert "NO micro-expression" in page.inner_text("#confirm")
    page.click("#confirm-yes")
    _until(page, lambda: project.progress()["steps"]["mark"] == {"done": 2})
    ben = browser.new_page()
    ben.on("dialog", lambda d: d.accept())
    _sign_in(ben, base, "ben")
    _open_next(ben, base)
    ben.click("#classes li:nth-child(4) button")
    ben.click("#btn-submit")
    ben.click("#confirm-yes")
    _until(ben, lambda: project.progress()["segments"] == {"accepted": 1})
    assert project.progress()["segments"] == {"accepted": 1}


def _first_task(browser, base):
    """Anna's page on her first stage-1 task, at frame 0 (opened with N)."""
    page = browser.new_page()
    _sign_in(page, base, "anna")
    page.keyboard.press("n")
    page.wait_for_url(base + "/task/*")
    _at_frame(page, 0)
    return page


def test_enter_on_a_fresh_stage_1_page_only_asks_and_escape_sends_nothing(server, browser):
    base, project = server
    page = _first_task(browser, base)
    for _ in range(2):  # even twice: Enter never confirms
        page.keyboard.press("Enter")
    page.wait_for_selector("#confirm:not([hidden])")
    page.keyboard.press("Escape")
    page.wait_for_selector("#confirm", state="hidden")
    page.wait_for_timeout(300)
    assert project.progress()["steps"]["mark"] == {"open": 2} and project.segments() == []
    assert page.inner_text("#status") == "not submitted"


def test_the_screen_says_its_keys_and_its_state_is_never_stale(server, browser):
    base, project = server
    page = _first_task(browser, base)
    legend = page.inner_text("#keys")
    for key, what in (("I", "onset"), ("A", "apex"), ("O", "offset"), ("Enter", "add the marked segment"),
                      ("M", "magnified"), ("D", "difference"), ("Y", "confirm")):  # fmt: skip
        assert key in legend and what in legend, (key, what)
    for button in ("#btn-onset", "#btn-apex", "#btn-offset", "#btn-add", "#btn-submit", "#btn-diff", "#btn-magnify",
                   "#btn-undo", "#btn-play", "#btn-next-task", "#btn-size", "#btn-zoom"):  # fmt: skip
        assert page.is_visible(button), button
    for key in ["ArrowRight", "i", "ArrowRight", "ArrowRight", "a", "ArrowRight", "o", "2", "Enter"]:
        page.keyboard.press(key)
    page.wait_for_selector("#segments li")
    assert "segment 1 added" in page.inner_text("#status")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("i")  # a second segment begins: the status says so, not "Enter submits"
    page.wait_for_function("() => document.getElementById('status').textContent.includes('marking segment 2')")
    assert "submit" not in page.inner_text("#status")
    page.keyboard.press("3")
    assert page.inner_text("#classes button[aria-pressed=true]") == "3 anger"
    page.keyboard.press("d")
    page.wait_for_function("() => document.getElementById('current-caption').textContent.startsWith('difference')")
    page.keyboard.press("m")
    page.wait_for_function("() => document.getElementById('current-caption').textContent.includes('magnified 4x')")
    # the timeline shows the segment added (green, its apex darker) at its frames
    n = page.evaluate("() => { const c = document.getElementById('timeline'); return [c.width, c.height]; }")
    view = project.task_view(int(page.url.rsplit("/", 1)[1]), 1)
    frames = view["last"] - view["first"] + 1

    def pixel(k, y):
        x = int((k + 0.5) / frames * n[0])
        read = (
            "([x, y]) => Array.from(document.getElementById('timeline').getContext('2d').getImageData(x, y, 1, 1).data)"
        )
        return page.evaluate(read, [x, y])

    inside, apex, outside = pixel(2, 12), pixel(3, 12), pixel(frames - 2, 12)
    assert inside[1] > inside[0] + 20 and inside[1] > inside[2] + 20  # green
    assert apex[1] < inside[1] - 40  # the apex's darker mark
    assert abs(outside[0] - outside[1]) < 10  # grey: no segment there


def test_an_au_task_keeps_the_arrow_keys_and_empty_action_units_need_confirming(synth_dataset, browser, tmp_path):
    clips_manifest(synth_dataset, tmp_path, 1)
    project = AnnotationProject.create(tmp_path / "proj", tmp_path / "clips.csv", protocol="dfme")
    for k in range(1, 8):
        project.add_user(f"r{k}", "labeller", f"password-r{k}")
    raters = [project.authenticate(f"r{k}", f"password-r{k}").id for k in range(1, 8)]
    for r in raters[:5]:
        project.submit_keyframes(project.next_task(r), r, 2, 5, 8)
    with _serving(tmp_path / "proj") as base:
        page = browser.new_page()
        _sign_in(page, base, "r6")
        page.keyboard.press("n")
        page.wait_for_url(base + "/task/*")
        page.wait_for_function("() => document.getElementById('current-view').dataset.frame !== undefined")
        assert page.evaluate("() => document.activeElement.id") != "aus"
        start = int(page.evaluate("() => document.getElementById('current-view').dataset.frame"))
        page.keyboard.press("ArrowRight")
        _at_frame(page, start + 1)  # the arrow moved the frame, not a caret
        page.keyboard.press("Enter")
        page.wait_for_selector("#confirm:not([hidden])")
        assert "NO action units" in page.inner_text("#confirm")
        page.keyboard.press("Escape")
        page.wait_for_timeout(200)
        assert int(page.url.rsplit("/", 1)[1]) in [t["task"] for t in project.open_tasks()]  # nothing was sent
        page.keyboard.press("u")
        page.keyboard.type("4+7")
        page.keyboard.press("Escape")  # out of the box: the keys are the player's again
        page.keyboard.press("ArrowRight")
        _at_frame(page, start + 2)


def test_the_canvas_shows_frame_k_by_its_own_bar_at_every_size_and_zoom(tmp_path, browser):
    import pandas as pd

    clip = numbered_clip(tmp_path / "numbered.mp4", 60, 25)
    pd.DataFrame(
        [{"dataset": "t", "subject": "s1", "sample_id": "c1", "path": str(clip), "fps": 25, "n_frames": 60,
          "onset": "", "apex": "", "offset": "", "emotion": ""}]
    ).to_csv(tmp_path / "clips.csv", index=False)  # fmt: skip
    project = AnnotationProject.create(tmp_path / "proj", tmp_path / "clips.csv")
    project.add_user("anna", "labeller", "password-anna")
    with _serving(tmp_path / "proj") as base:
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        _sign_in(page, base, "anna")
        page.keyboard.press("n")
        page.wait_for_url(base + "/task/*")
        _at_frame(page, 0)
        widths = set()
        for k, keys in (
            (1, ["ArrowRight"]),
            (11, ["Shift+ArrowRight"]),
            (10, ["ArrowLeft"]),
            (33, ["f"] + ["Shift+ArrowRight"] * 2 + ["ArrowRight"] * 3),
        ):
            for key in keys:
                page.keyboard.press(key)
            _at_frame(page, k)
            shown = _shown(page, (96, 96))
            assert bar_row(shown) == (k * BAR_STEP) % BAR_ROWS, k  # the frame's own content says it is frame k
            widths.add(page.evaluate("() => document.getElementById('current-view').getBoundingClientRect().width"))
        page.keyboard.press("f")  # fit the window: larger on screen, the same pixels
        page.keyboard.press("z")  # zoom 2x into the frame
        page.wait_for_function("() => document.getElementById('frame-info').textContent.includes('zoom 2x')")
        assert bar_row(_shown(page, (96, 96))) == (33 * BAR_STEP) % BAR_ROWS
        assert page.evaluate("() => getComputedStyle(document.getElementById('current-view')).imageRendering") == (
            "pixelated"
        )
        fitted = page.evaluate("() => document.getElementById('current-view').getBoundingClientRect().width")
        assert fitted > max(widths) >= 320  # enlarged to the window (zoom included), nearest-neighbour
        assert np.array(_shown(page, (96, 96))).shape == (96, 96, 3)
