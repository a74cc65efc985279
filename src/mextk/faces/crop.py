"""Face cropping from the onset frame (DFME section 4.2.2): one crop box for the whole clip."""

from __future__ import annotations

from typing import Literal

import numpy as np


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


def aligned_crop_matrix(
    onset_landmarks: np.ndarray,
    *,
    size: int,
    margin: float = 0.2,
    kind: Literal["affine", "similarity", "none"] = "affine",
) -> np.ndarray:
    """One transform that aligns a clip (DFME 4.2.1) and crops it (DFME 4.2.2) to ``size x size``.

    1. Procrustes fit of the onset frame's stable landmarks onto the frontal
       reference shape (:func:`mextk.faces.align.alignment_matrix`); ``kind="none"``
       skips alignment.
    2. The crop box of the *aligned* onset landmarks plus ``margin``
       (:func:`onset_crop_box`), scaled to ``size``.

    The two steps are composed into one ``(2, 3)`` matrix so that every frame
    is resampled once, not twice.  The reference shape is scaled to the
    onset face's own width, so alignment neither enlarges nor shrinks the
    face before the crop.

    Parameters
    ----------
    onset_landmarks : numpy.ndarray
        ``(68, 2)`` landmarks of the onset frame (pixels).
    size : int
        Output side.
    margin : float
        Extra border on each side, as a fraction of the landmarks' box.
    kind : {"affine", "similarity", "none"}
        Alignment transform.

    Returns
    -------
    numpy.ndarray
        ``(2, 3)`` matrix for :func:`mextk.faces.align.align_clip`.
    """
    from mextk.faces.align import alignment_matrix, reference_shape, transform_points

    lm = np.asarray(onset_landmarks, dtype=np.float64)
    if lm.shape != (68, 2) or not np.isfinite(lm).all():
        raise ValueError(f"onset_landmarks must be a finite (68, 2) array, got {lm.shape}")
    if kind == "none":
        align = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    else:
        face_width = float(np.ptp(lm[:, 0]))
        ref = reference_shape(1000)
        ref = ref * (face_width / float(np.ptp(ref[:, 0])))
        align = alignment_matrix(lm, ref, kind=kind)
    # the box of onset_crop_box, kept in floating point (no pixel rounding: the crop is a warp)
    aligned = transform_points(lm, align)
    lo, hi = aligned.min(axis=0), aligned.max(axis=0)
    side = float(max(hi - lo)) * (1 + 2 * margin)
    x, y = (lo + hi) / 2 - side / 2
    s = size / side
    crop = np.array([[s, 0.0, -s * x], [0.0, s, -s * y], [0.0, 0.0, 1.0]])
    return (crop @ np.vstack([align, [0.0, 0.0, 1.0]]))[:2]


def align_crop_clip(frames: np.ndarray, matrix: np.ndarray, *, size: int) -> np.ndarray:
    """Warp every frame with one aligned-crop matrix (:func:`aligned_crop_matrix`).

    Strong reductions (a 300-pixel face to 28 pixels) are warped at the
    face's own scale first and then area-averaged down, so small crops are
    not aliased.

    Parameters
    ----------
    frames : numpy.ndarray
        ``(T, H, W)`` or ``(T, H, W, C)`` ``uint8`` clip.
    matrix : numpy.ndarray
        ``(2, 3)`` transform.
    size : int
        Output side.

    Returns
    -------
    numpy.ndarray
        ``(T, size, size[, C])`` of the input dtype.
    """
    import cv2

    from mextk.faces.align import align_clip

    scale = float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))
    if scale >= 0.5:
        return align_clip(frames, matrix, size=size)
    big = int(np.ceil(size / scale))
    warped = align_clip(frames, matrix / scale, size=big)  # the same map at the face's own scale
    return np.stack([cv2.resize(f, (size, size), interpolation=cv2.INTER_AREA) for f in warped])
