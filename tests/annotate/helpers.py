"""Helpers shared by the annotation tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tests.annotate.scaffolding import free_port

__all__ = ["bar_row", "clips_manifest", "free_port", "numbered_clip", "signed_in"]

#: Frame k of :func:`numbered_clip` has its red bar on row ``(k * BAR_STEP) % BAR_ROWS``.
BAR_STEP, BAR_ROWS = 7, 96


def numbered_clip(path: Path, n: int, fps: float) -> Path:
    """A clip whose frame k shows the number k and a red bar on row ``(7 k) % 96`` (no two neighbours alike)."""
    import cv2

    from mextk.io.writer import write_video

    frames = []
    for k in range(n):
        f = np.full((BAR_ROWS, 96, 3), 40, np.uint8)
        cv2.putText(f, str(k), (8, 60), cv2.FONT_HERSHEY_SIMPLEX, 1.2, (255, 255, 255), 2)
        f[(k * BAR_STEP) % BAR_ROWS, :] = (255, 0, 0)
        frames.append(f)
    return write_video(path, frames, fps=fps)


def bar_row(rgb: np.ndarray) -> int:
    """The row of the red bar in an RGB image of a :func:`numbered_clip` frame, read from its pixels.

    Read from brightness, which H.264 keeps per pixel (its 4:2:0 colour is shared by two rows): the bar
    (luma 76) is the brightest row over the columns right of the digits (x >= 84), which the number
    never reaches, against a background of 40.
    """
    x = rgb[:, 84:].astype(np.float64)
    luma = (0.299 * x[..., 0] + 0.587 * x[..., 1] + 0.114 * x[..., 2]).mean(axis=1)
    return int(np.argmax(luma))


def clips_manifest(synth_dataset, tmp_path: Path, n: int):  # type: ignore[no-untyped-def]
    """The first ``n`` clips of the session's synthetic dataset as ``tmp_path/clips.csv`` (absolute paths)."""
    out, _, df = synth_dataset
    rows = df.head(n).copy()
    rows["path"] = [str(out / p) for p in rows["path"]]
    rows.to_csv(tmp_path / "clips.csv", index=False)
    return rows


def signed_in(app, name: str | None = None):  # type: ignore[no-untyped-def]
    """A test client of ``app``, signed in as ``name`` (password ``password-NAME``) with its CSRF header set."""
    from fastapi.testclient import TestClient

    c = TestClient(app)
    if name:
        r = c.post("/login", data={"name": name, "password": f"password-{name}"}, follow_redirects=False)
        assert r.status_code == 303, r.text
        c.headers["X-CSRF-Token"] = c.get("/api/me").json()["csrf"]
    return c
