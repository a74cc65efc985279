"""Crop boxes: where a clip's square crop goes, and whether a face still fits it."""

from __future__ import annotations

from typing import Any

import numpy as np

Box = tuple[int, int, int, int]


def even(v: float) -> int:
    """``v`` rounded down to an even integer (YUV 4:2:0 chroma needs even offsets)."""
    return int(v) // 2 * 2


def contains(outer: Box, px: float, py: float) -> bool:
    """Whether the point ``(px, py)`` lies inside ``outer``."""
    x, y, w, h = outer
    return x <= px < x + w and y <= py < y + h


def crop_box(face: Any, bounds: Box, *, mode: str, size: int, scale: float) -> Box:
    """The square crop box of a clip: centred on ``face``, inside ``bounds`` (a tile or the frame).

    ``mode="fixed"``: ``size`` source pixels (Algorithm 1's 300x300); ``mode="face"``: ``scale`` times the
    face's larger side.  The side is a multiple of 4 and the corner even, so the chroma planes cut cleanly.

    Examples
    --------
    >>> crop_box((100, 100, 50, 50), (0, 0, 640, 360), mode="face", size=300, scale=2.2)
    (70, 70, 108, 108)
    """
    fx, fy, fw, fh = (float(v) for v in face)
    bx, by, bw, bh = bounds
    side = min(size, bw, bh) if mode == "fixed" else min(scale * max(fw, fh), bw, bh)
    side = max(4, int(side) // 4 * 4)
    cx, cy = fx + fw / 2, fy + fh / 2
    x = int(np.clip(cx - side / 2, bx, bx + bw - side))
    y = int(np.clip(cy - side / 2, by, by + bh - side))
    x, y = even(x), even(y)
    x = max(even(bx + 1) if bx % 2 else bx, x)
    y = max(even(by + 1) if by % 2 else by, y)
    return (x, y, side, side)


def face_fits(box: Box, face: Any, face_h0: float, *, min_inside: float = 0.0) -> bool:
    """Whether ``face`` still fits the crop ``box``: centre in its inner 70%, at 0.6-1.6 times the face's
    first height, and at least ``min_inside`` of the face box inside the crop.

    A gallery feed's clip uses the centre rule only (a laughing, leaning participant stays in one clip; the
    sidecar records the frames); a face walking through a room (no gallery) must also stay in its crop
    (``min_inside=0.9``): one that outgrows it or walks out of it ends the clip, and a new one starts.

    Examples
    --------
    >>> face_fits((0, 0, 200, 200), (60, 60, 90, 90), 90.0, min_inside=0.9)
    True
    >>> face_fits((0, 0, 200, 200), (100, 60, 120, 100), 90.0, min_inside=0.9)  # a sixth of it outside
    False
    >>> face_fits((0, 0, 200, 200), (100, 60, 120, 100), 90.0)
    True
    """
    x, y, w, h = box
    fx, fy, fw, fh = (float(v) for v in face[:4])
    cx, cy = fx + fw / 2, fy + fh / 2
    inner = (x + 0.15 * w, y + 0.15 * h, 0.7 * w, 0.7 * h)
    iw = max(0.0, min(fx + fw, x + w) - max(fx, x))
    ih = max(0.0, min(fy + fh, y + h) - max(fy, y))
    inside = iw * ih / max(fw * fh, 1.0)
    return contains(inner, cx, cy) and inside >= min_inside and 0.6 < fh / face_h0 < 1.6
