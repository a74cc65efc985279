"""Make the player's screenshots in docs/: a CMED stage-1 task and a DFME key-frame task, mid-way through.

python docs/make_player_screenshot.py        # needs playwright and Debian's chromium

* ``player.png``: stage 1 (CMED), one segment added (green on the timeline, its apex darker), a second one
  being marked (onset and apex in blue and orange), the class chosen, the frames enlarged to the window;
* ``player_keyframes.png``: a DFME round-1 task (onset, apex and offset), its confirmation open.
"""

from __future__ import annotations

import shutil
import socket
import tempfile
import threading
import time
from pathlib import Path

import uvicorn
from playwright.sync_api import sync_playwright

from mextk.annotate.demo import make_demo_project
from mextk.annotate.server import create_app

HERE = Path(__file__).resolve().parent


def _serve(project: Path) -> tuple[uvicorn.Server, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(project), host="127.0.0.1", port=port, log_level="error"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return server, f"http://127.0.0.1:{port}"


def _task_page(browser, base: str, name: str, password: str):  # type: ignore[no-untyped-def]
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    page.goto(base + "/login")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", password)
    page.keyboard.press("Enter")
    page.wait_for_url(base + "/")
    page.click("#next")
    page.wait_for_url(base + "/task/*")
    page.wait_for_function("() => document.getElementById('current-view').dataset.frame === '0'")
    return page


def _at(page, k: int) -> None:  # type: ignore[no-untyped-def]
    page.wait_for_function(f"() => document.getElementById('current-view').dataset.frame === '{k}'")


def main() -> None:
    work = Path(tempfile.mkdtemp())
    cmed = make_demo_project(work / "cmed", clips=2, progress=False)
    dfme = make_demo_project(work / "dfme", clips=1, protocol="dfme", progress=False)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox", "--disable-gpu"])
        server, base = _serve(cmed["project"])
        page = _task_page(browser, base, "anna", cmed["users"]["anna"])
        keys = ["ArrowRight"] * 2 + ["i"] + ["ArrowRight"] * 3 + ["a"] + ["ArrowRight"] * 4 + ["o", "6", "Enter"]
        keys += ["ArrowRight"] * 3 + ["i"] + ["ArrowRight"] * 3 + ["a", "1", "f", "f"]
        for key in keys:
            page.keyboard.press(key)
        _at(page, 15)
        page.wait_for_timeout(400)
        page.screenshot(path=str(HERE / "player.png"), full_page=True)
        server.should_exit = True
        server, base = _serve(dfme["project"])
        page = _task_page(browser, base, "rater1", dfme["users"]["rater1"])
        for key in ["ArrowRight"] * 2 + ["i"] + ["ArrowRight"] * 3 + ["a"] + ["ArrowRight"] * 3 + ["o", "Enter"]:
            page.keyboard.press(key)
        page.wait_for_selector("#confirm:not([hidden])")
        page.wait_for_timeout(400)
        page.screenshot(path=str(HERE / "player_keyframes.png"), full_page=True)
        server.should_exit = True
        browser.close()
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
