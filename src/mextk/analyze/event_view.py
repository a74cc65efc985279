"""A short looping view of one spotted event, with its movement magnified and the regions that moved outlined.

A micro-expression moves a few pixels for a fraction of a second: two still thumbnails do not show it.  The view
is an animation that plays inline in the report (animated WebP, GIF where Pillow has no WebP), two faces side by
side, each ``size`` pixels:

* left, the face as recorded; right, the same frames with the movement since the event's first frame multiplied
  by ``amplify`` (Lagrangian magnification: the dense optical flow from the first frame to each frame, OpenCV's
  DIS, scaled, and the first frame warped by it, so that only what moved is exaggerated and noise in still areas
  is not amplified as an intensity difference would be);
* the face is aligned once, by its eye corners on the first frame (:class:`mextk.spotting.motion.FaceAligner`),
  and then held, so the view shows the head's own motion too;
* the spotter's regions (:data:`mextk.spotting.motion.REGIONS`) whose mean movement at the apex is at least half
  the largest region's are outlined in red on both faces, the rest not at all;
* it plays at half speed (a 0.3 s event lasts 0.6 s), with the first frame held for a moment before it loops;
  an event longer than ``max_frames`` frames is shown on every n-th frame.

Returns the image as a ``data:`` URI, or an empty string when no face is found on the first frame or the frames
cannot be read (the report is written without the view).
"""

from __future__ import annotations

import base64
import io
import os
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ViewSettings:
    """How an event's view is drawn (see the module docstring)."""

    size: int = 128
    amplify: float = 4.0
    max_frames: int = 24
    slow: float = 2.0
    outline_share: float = 0.5


def moved_regions(flow: np.ndarray, share: float) -> list[str]:
    """The regions whose mean movement under ``flow`` (``(size, size, 2)`` on the aligned face) is at least
    ``share`` of the most moving region's (none when nothing moved)."""
    from mextk.spotting.motion import REGIONS

    size = flow.shape[0]
    mag = np.hypot(flow[..., 0], flow[..., 1])
    means = {}
    for name, (x0, y0, x1, y1) in REGIONS.items():
        box = mag[int(y0 * size) : int(y1 * size), int(x0 * size) : int(x1 * size)]
        means[name] = float(box.mean()) if box.size else 0.0
    top = max(means.values(), default=0.0)
    return [n for n, m in means.items() if top > 0 and m >= share * top]


def magnified(first: np.ndarray, flow: np.ndarray, amplify: float) -> np.ndarray:
    """``first`` warped by ``amplify`` times ``flow`` (its content moved ``amplify`` times as far)."""
    import cv2

    h, w = first.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    return cv2.remap(first, xs - amplify * flow[..., 0], ys - amplify * flow[..., 1], cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REPLICATE)  # fmt: skip


def event_view(
    frames_dir: str | os.PathLike[str], apex: int, fps: float, settings: ViewSettings = ViewSettings()
) -> str:
    """The looping view of the event whose frames are in ``frames_dir`` (a frame folder, its first frame the
    onset), as a ``data:`` URI (see the module docstring)."""
    import cv2

    from mextk.io.video import read_frames
    from mextk.spotting.motion import REGIONS, FaceAligner, MotionSettings

    try:
        frames = read_frames(frames_dir, gray=True)
    except Exception:  # noqa: BLE001  (the view is an aid: the report is written without it)
        return ""
    if len(frames) < 2:
        return ""
    step = max(1, int(np.ceil(len(frames) / settings.max_frames)))
    picked = list(range(0, len(frames), step))
    apex = int(min(max(apex, 0), len(frames) - 1))
    if apex not in picked:
        picked = sorted({*picked, apex})
    # one landmark fit on the first frame, held for the whole event
    hold = len(frames) / fps + 1.0
    aligner = FaceAligner(fps, MotionSettings(crop=settings.size, landmark_every_s=hold, hold_lost_s=hold))
    faces = [aligner.push(frames[i]) for i in picked]
    if faces[0] is None or any(f is None for f in faces):
        return ""
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    flows = [np.zeros((settings.size, settings.size, 2), np.float32)]
    flows += [dis.calc(faces[0], f, None) for f in faces[1:]]
    outlined = moved_regions(flows[picked.index(apex)], settings.outline_share) if apex > 0 else []
    tiles = []
    for face, flow in zip(faces, flows, strict=True):
        pair = np.hstack([face, magnified(faces[0], flow, settings.amplify)])
        rgb = cv2.cvtColor(pair, cv2.COLOR_GRAY2RGB)
        for name in outlined:
            x0, y0, x1, y1 = REGIONS[name]
            for off in (0, settings.size):
                p0 = (off + int(x0 * settings.size), int(y0 * settings.size))
                p1 = (off + int(x1 * settings.size) - 1, int(y1 * settings.size) - 1)
                cv2.rectangle(rgb, p0, p1, (220, 30, 30), 1)
        tiles.append(rgb)
    ms = int(round(1000.0 * step * settings.slow / fps))
    durations = [max(ms, 20)] * len(tiles)
    durations[0] = max(durations[0], 400)  # a moment on the first frame before it (re)starts
    return _animation(tiles, durations)


def _animation(tiles: list[np.ndarray], durations: list[int]) -> str:
    """Frames as an animated WebP (GIF where Pillow cannot write WebP), looping, as a ``data:`` URI."""
    from PIL import Image

    images = [Image.fromarray(t) for t in tiles]
    # WebP at quality 50, fastest method: 58 kB and 27 ms for 13 frames of 256x128, against 108 kB at quality
    # 80 and 427 kB as a GIF (87 ms); a report holds one per event
    formats = (("WEBP", "image/webp", {"quality": 50, "method": 0}), ("GIF", "image/gif", {"disposal": 1}))
    for fmt, mime, extra in formats:
        buf = io.BytesIO()
        try:
            images[0].save(buf, format=fmt, save_all=True, append_images=images[1:], duration=durations, loop=0,
                           **extra)  # fmt: skip
        except (OSError, KeyError, ValueError):
            continue
        return f"data:{mime};base64," + base64.b64encode(buf.getvalue()).decode()
    return ""
