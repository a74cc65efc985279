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


def face_fits(box: Box, face: Any, face_h0: float) -> bool:
    """Whether ``face`` still sits in the inner 70% of the crop ``box`` at 0.6-1.6 times its first height."""
    x, y, w, h = box
    cx, cy = face[0] + face[2] / 2, face[1] + face[3] / 2
    inner = (x + 0.15 * w, y + 0.15 * h, 0.7 * w, 0.7 * h)
    return contains(inner, cx, cy) and 0.6 < face[3] / face_h0 < 1.6
