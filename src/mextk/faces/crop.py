"""Face cropping from the onset frame (DFME section 4.2.2): one crop box for the whole clip."""

from __future__ import annotations

import numpy as np

#: Crop sizes the models use (DFME's 3D CNNs 224/160, 112, and 28 for the MEGC flow networks).
CROP_SIZES = (224, 160, 112, 28)


def onset_crop_box(
    onset_landmarks: np.ndarray, *, margin: float = 0.2, shape: tuple[int, int] | None = None
) -> tuple[int, int, int, int]:
    """Square crop box around the onset frame's landmarks, widened by ``margin`` on each side.

    The box side is the larger side of the landmarks' bounding box times
    ``1 + 2 * margin``; it is centred on that box, and shifted (not shrunk)
    to lie inside an image of ``shape`` ``(H, W)`` when given.

    Returns
    -------
    tuple of int
        ``(x, y, side, side)``.

    Examples
    --------
    >>> onset_crop_box(np.array([[10.0, 20.0], [30.0, 60.0]]), margin=0.25)
    (-10, 10, 60, 60)
    >>> onset_crop_box(np.array([[10.0, 20.0], [30.0, 60.0]]), margin=0.25, shape=(100, 100))
    (0, 10, 60, 60)
    """
    lm = np.asarray(onset_landmarks, dtype=np.float64)
    lo, hi = lm.min(axis=0), lm.max(axis=0)
    side = int(round(max(hi - lo) * (1 + 2 * margin)))
    cx, cy = (lo + hi) / 2
    x, y = int(round(cx - side / 2)), int(round(cy - side / 2))
    if shape is not None:
        h, w = shape
        side = min(side, h, w)
        x = int(np.clip(x, 0, w - side))
        y = int(np.clip(y, 0, h - side))
    return (x, y, side, side)


def crop_clip(frames: np.ndarray, box: tuple[int, int, int, int], *, size: int) -> np.ndarray:
    """Cut the same box out of every frame and resize it to ``size x size``.

    Parameters
    ----------
    frames : numpy.ndarray
        ``(T, H, W)`` or ``(T, H, W, C)`` clip.
    box : tuple of int
        ``(x, y, w, h)`` inside the frames.
    size : int
        Output side (one of :data:`CROP_SIZES` usually).

    Returns
    -------
    numpy.ndarray
        ``(T, size, size[, C])`` of the input dtype.
    """
    import cv2

    x, y, w, h = box
    t, fh, fw = frames.shape[:3]
    if x < 0 or y < 0 or x + w > fw or y + h > fh or w <= 0 or h <= 0:
        raise ValueError(f"crop box {box} is not inside frames of {fw}x{fh}")
    interp = cv2.INTER_AREA if w > size else cv2.INTER_LINEAR
    return np.stack([cv2.resize(f[y : y + h, x : x + w], (size, size), interpolation=interp) for f in frames])
