"""What a synthetic call's screen shows besides faces: the gallery's tile layout, and a slide to share."""

from __future__ import annotations

import numpy as np


def gallery_layout(
    n: int, width: int, height: int, *, gap: int = 8, margin: int = 12
) -> list[tuple[int, int, int, int]]:
    """Tile boxes ``(x, y, w, h)`` of a Zoom-like gallery of ``n`` participants.

    Tiles are 16:9, as large as fits; a ``cols = ceil(sqrt(n))`` grid; the
    last, incomplete row is centred; the whole grid is centred.  Sizes are even.

    Examples
    --------
    >>> gallery_layout(1, 960, 540)
    [(22, 12, 916, 516)]
    >>> len(gallery_layout(5, 960, 540))
    5
    """
    if n < 1:
        return []
    cols = int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / cols))
    avail_w = width - 2 * margin - (cols - 1) * gap
    avail_h = height - 2 * margin - (rows - 1) * gap
    tw = min(avail_w / cols, avail_h / rows * 16 / 9)
    th = tw * 9 / 16
    tw, th = int(tw) // 2 * 2, int(th) // 2 * 2
    grid_h = rows * th + (rows - 1) * gap
    y0 = (height - grid_h) // 2
    boxes = []
    for r in range(rows):
        in_row = min(cols, n - r * cols)
        row_w = in_row * tw + (in_row - 1) * gap
        x0 = (width - row_w) // 2
        for c in range(in_row):
            boxes.append((x0 + c * (tw + gap), y0 + r * (th + gap), tw, th))
    return boxes


def shared_slide(width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """A presentation slide (a title bar, bullet lines, a bar chart) that a participant shares."""
    import cv2

    img = np.full((height, width, 3), 250, np.uint8)
    cv2.rectangle(img, (0, 0), (width, int(0.14 * height)), (40, 70, 140), -1)
    font = cv2.FONT_HERSHEY_SIMPLEX
    cv2.putText(
        img,
        "Today's activity: feelings",
        (int(0.04 * width), int(0.1 * height)),
        font,
        height / 500,
        (255, 255, 255),
        2,
        cv2.LINE_AA,
    )
    for k in range(5):
        y = int((0.25 + 0.1 * k) * height)
        cv2.circle(img, (int(0.06 * width), y - 6), 5, (40, 70, 140), -1)
        words = int(rng.integers(3, 7))
        text = " ".join(["lorem", "ipsum", "dolor", "sit", "amet", "consectetur", "elit"][:words])
        cv2.putText(img, text, (int(0.09 * width), y), font, height / 700, (30, 30, 30), 1, cv2.LINE_AA)
    base = int(0.85 * height)
    for k in range(5):
        h = int(rng.uniform(0.1, 0.3) * height)
        x = int((0.55 + 0.07 * k) * width)
        cv2.rectangle(img, (x, base - h), (x + int(0.05 * width), base), (60 + 30 * k, 140, 200 - 25 * k), -1)
    return img
