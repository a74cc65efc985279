"""Clips stored as folders of frame images (the CASME / SAMM layout): listing and reading them."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from mextk.io.errors import VideoError
from mextk.naming import natural_key

#: Image suffixes accepted for a clip stored as a folder of frames (CASME/SAMM layout).
FRAME_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")


def list_frame_files(folder: str | os.PathLike[str]) -> list[Path]:
    """Return the image files of a frame folder in natural order (``img2`` before ``img10``)."""
    folder = Path(folder)
    files = [p for p in folder.iterdir() if p.suffix.lower() in FRAME_SUFFIXES]
    return sorted(files, key=lambda p: natural_key(p.name))


def read_image(file: Path) -> np.ndarray:
    """An image file as an ``(H, W, 3)`` ``uint8`` RGB array."""
    import cv2

    img = cv2.imread(str(file), cv2.IMREAD_COLOR)
    if img is None:
        raise VideoError(f"{file}: cannot read image")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def to_gray(rgb: np.ndarray) -> np.ndarray:
    """The luma of an RGB frame (OpenCV's ``RGB2GRAY``, BT.601 weights): gray the same way for every source."""
    import cv2

    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
