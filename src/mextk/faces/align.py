"""Face alignment by Procrustes analysis on stable landmarks (DFME section 4.2.1).

The transform is fitted once, from the *onset* frame's landmarks to a frontal
reference shape, and the same transform is applied to every frame of the clip:
per-frame fits would add landmark jitter to the very movements a
micro-expression consists of.  Only landmarks that micro-expressions do not
move take part in the fit (:data:`STABLE_LANDMARKS`).
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from mextk.faces.reference import ASTRONAUT_LANDMARKS, MIRROR

#: iBUG-68 landmarks used for alignment: the upper jaw line by the ears (0-2, 14-16), the nose
#: bridge and nostrils (27-35) and the four eye corners (36, 39, 42, 45).  Left out: the brows
#: (AU1/AU2/AU4), the eyelids (AU5/AU7, blinks), the mouth (AU10-AU26) and the lower jaw (AU26).
STABLE_LANDMARKS: tuple[int, ...] = (0, 1, 2, 14, 15, 16, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 39, 42, 45)


def procrustes(
    source: np.ndarray, target: np.ndarray, *, kind: Literal["similarity", "affine"] = "similarity"
) -> np.ndarray:
    """Least-squares transform mapping ``source`` points onto ``target`` points.

    ``similarity``: rotation, uniform scale and translation (Umeyama, "Least-
    squares estimation of transformation parameters between two point
    patterns", IEEE TPAMI 1991, doi:10.1109/34.88573), no reflection.
    ``affine``: the general linear map plus translation (DFME's choice).

    Parameters
    ----------
    source, target : numpy.ndarray
        ``(N, 2)`` corresponding points (x, y); ``N >= 2`` (similarity) or ``>= 3`` (affine).
    kind : {"similarity", "affine"}
        Transform family.

    Returns
    -------
    numpy.ndarray
        ``(2, 3)`` matrix ``M`` with ``target ~ source @ M[:, :2].T + M[:, 2]``
        (the form ``cv2.warpAffine`` takes).

    Examples
    --------
    >>> src = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    >>> procrustes(src, 2 * src + [3, 4]).round(6).tolist()
    [[2.0, 0.0, 3.0], [0.0, 2.0, 4.0]]
    """
    src = np.asarray(source, dtype=np.float64)
    dst = np.asarray(target, dtype=np.float64)
    if src.shape != dst.shape or src.ndim != 2 or src.shape[1] != 2:
        raise ValueError(f"need two (N, 2) point sets of one shape, got {src.shape} and {dst.shape}")
    if kind == "affine":
        if len(src) < 3:
            raise ValueError("an affine fit needs at least 3 points")
        a = np.hstack([src, np.ones((len(src), 1))])
        sol, *_ = np.linalg.lstsq(a, dst, rcond=None)
        return sol.T
    if kind != "similarity":
        raise ValueError(f"kind must be 'similarity' or 'affine', got {kind!r}")
    if len(src) < 2:
        raise ValueError("a similarity fit needs at least 2 points")
    mu_s, mu_d = src.mean(axis=0), dst.mean(axis=0)
    s0, d0 = src - mu_s, dst - mu_d
    cov = d0.T @ s0 / len(src)
    u, sig, vt = np.linalg.svd(cov)
    d = np.sign(np.linalg.det(u @ vt)) or 1.0
    fix = np.diag([1.0, d])
    rot = u @ fix @ vt
    var = (s0**2).sum() / len(src)
    scale = (sig * np.diag(fix)).sum() / var if var > 0 else 1.0
    m = np.zeros((2, 3))
    m[:, :2] = scale * rot
    m[:, 2] = mu_d - scale * rot @ mu_s
    return m


def transform_points(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Apply a ``(2, 3)`` affine matrix to ``(N, 2)`` points."""
    return np.asarray(points, dtype=np.float64) @ matrix[:, :2].T + matrix[:, 2]


def reference_shape(size: int = 224, *, face_fraction: float = 0.6) -> np.ndarray:
    """A frontal, left-right symmetric 68-point reference shape centred in a ``size x size`` image.

    The shape is dlib's landmarks of a frontal face (skimage's astronaut)
    averaged with their mirror image (left and right landmarks swapped), which
    levels the eyes and removes the person's own small head roll and
    asymmetry.  It is scaled so that the face (landmarks 0-16 across) spans
    ``face_fraction`` of the image width, its landmark box centred.

    Examples
    --------
    >>> ref = reference_shape(100)
    >>> bool(abs(ref[36, 1] - ref[45, 1]) < 1e-9)  # outer eye corners level
    True
    """
    lm = ASTRONAUT_LANDMARKS.astype(np.float64)
    mirrored = lm[MIRROR].copy()
    mirrored[:, 0] = -mirrored[:, 0]
    mirrored[:, 0] += lm[:, 0].mean() - mirrored[:, 0].mean()
    lm = (lm + mirrored) / 2
    width = lm[16, 0] - lm[0, 0]
    scale = face_fraction * size / width
    centre = (lm.min(axis=0) + lm.max(axis=0)) / 2
    return (lm - centre) * scale + size / 2


def alignment_matrix(
    onset_landmarks: np.ndarray,
    reference: np.ndarray,
    *,
    kind: Literal["similarity", "affine"] = "affine",
    landmarks: tuple[int, ...] = STABLE_LANDMARKS,
) -> np.ndarray:
    """The transform taking the onset frame's stable landmarks onto the reference (see :func:`procrustes`)."""
    idx = list(landmarks)
    return procrustes(np.asarray(onset_landmarks)[idx], np.asarray(reference)[idx], kind=kind)


def align_clip(frames: np.ndarray, matrix: np.ndarray, *, size: int) -> np.ndarray:
    """Warp every frame of a clip with one transform into a ``size x size`` image.

    Parameters
    ----------
    frames : numpy.ndarray
        ``(T, H, W)`` or ``(T, H, W, C)`` clip.
    matrix : numpy.ndarray
        ``(2, 3)`` transform from :func:`alignment_matrix`.
    size : int
        Output side.

    Returns
    -------
    numpy.ndarray
        ``(T, size, size[, C])`` of the input dtype; outside pixels replicate the border.
    """
    import cv2

    return np.stack(
        [
            cv2.warpAffine(
                f, matrix.astype(np.float64), (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
            )
            for f in frames
        ]
    )
