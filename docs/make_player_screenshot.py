"""Make docs/player.png: the labelling player on the annotate demo, mid-way through a stage-1 mark, magnified 8x.

python docs/make_player_screenshot.py        # needs the annotate extra, playwright and Debian's chromium
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


def main() -> None:
    out = Path(tempfile.mkdtemp()) / "demo"
    made = make_demo_project(out, clips=2, progress=False)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(made["project"]), host="127.0.0.1", port=port, log_level="error"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    base = f"http://127.0.0.1:{port}"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 900, "height": 620})
        page.goto(base + "/login")
        page.fill("input[name=name]", "anna")
        page.fill("input[name=password]", made["users"]["anna"])
        page.keyboard.press("Enter")
        page.wait_for_url(base + "/")
        page.keyboard.press("n")
        page.wait_for_url(base + "/task/*")
        page.wait_for_function("() => document.getElementById('current-view').dataset.frame === '0'")
        for key in ["ArrowRight"] * 4 + ["i"] + ["ArrowRight"] * 5 + ["a", "1", "m", "m"]:
            page.keyboard.press(key)
        page.wait_for_function("() => document.getElementById('current-view').dataset.frame === '9'")
        page.wait_for_timeout(300)
        page.screenshot(path=str(Path(__file__).with_name("player.png")))
        browser.close()
    server.should_exit = True


if __name__ == "__main__":
    main()
