"""Label-preserving augmentations of optical-flow inputs (pure functions on one sample).

A flow input holds, channels last, the horizontal flow ``u`` (positive to the
right), the vertical flow ``v`` (positive downwards) and optionally the
optical strain (:func:`mextk.features.flow.flow_input`).  Moving the image
alone would leave the vectors pointing the old way, so each augmentation
transforms the vectors with the pixels:

* :func:`flip_flow`, a horizontal flip: the columns reversed and ``u``
  negated (a rightward movement becomes a leftward one); ``v`` and the strain,
  a magnitude, are only moved;
* :func:`shift_flow`, a small translation: the vectors are unchanged;
* :func:`rotate_flow`, a small rotation about the centre: the vectors are
  rotated by the same angle.

mextk's STSTNet and OFF-ApexNet inputs are min-max normalised per sample and
channel to [0, 1] (``normalised=True``).  There ``-u`` normalises to
``1 - minmax(u)``, so a flip stays exact; a rotation mixes ``u`` and ``v``,
whose offsets and scales the normalisation dropped, so it is refused on
normalised inputs (apply it to the raw flow, before normalising).  Revealed
borders are filled by replicating the edge.
"""

from __future__ import annotations

import math

import numpy as np


def _check(x: np.ndarray) -> None:
    if x.ndim != 3 or x.shape[2] < 2:
        raise ValueError(f"expected a (H, W, C) flow input with u and v first, got shape {x.shape}")


def flip_flow(x: np.ndarray, *, normalised: bool) -> np.ndarray:
    """The horizontal mirror of a flow input: columns reversed, ``u`` negated (``1 - u`` when normalised)."""
    _check(x)
    out = x[:, ::-1].copy()
    out[..., 0] = (1.0 - out[..., 0]) if normalised else -out[..., 0]
    return out


def shift_flow(x: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """The input moved ``dx`` pixels right and ``dy`` down (edges replicated); the vectors are unchanged."""
    _check(x)
    h, w = x.shape[:2]
    ys = np.clip(np.arange(h) - dy, 0, h - 1)
    xs = np.clip(np.arange(w) - dx, 0, w - 1)
    return x[ys][:, xs].copy()


def rotate_flow(x: np.ndarray, degrees: float, *, normalised: bool) -> np.ndarray:
    """The input rotated by ``degrees`` about its centre (counter-clockwise as displayed), vectors included.

    Raises
    ------
    ValueError
        On a normalised input, whose vectors cannot be rotated (see the module docstring).
    """
    import cv2

    _check(x)
    if normalised:
        raise ValueError("a min-max normalised flow input cannot be rotated exactly: rotate the raw flow first")
    h, w = x.shape[:2]
    m = cv2.getRotationMatrix2D(((w - 1) / 2.0, (h - 1) / 2.0), degrees, 1.0)
    planes = [
        cv2.warpAffine(np.ascontiguousarray(x[..., c], dtype=np.float32), m, (w, h), flags=cv2.INTER_LINEAR,
                       borderMode=cv2.BORDER_REPLICATE)
        for c in range(x.shape[2])
    ]  # fmt: skip
    out = np.stack(planes, axis=-1).astype(x.dtype, copy=False)
    # image y points down: a counter-clockwise turn on screen takes (1, 0) to (cos, -sin)
    t = math.radians(degrees)
    u, v = out[..., 0].copy(), out[..., 1].copy()
    out[..., 0] = math.cos(t) * u + math.sin(t) * v
    out[..., 1] = -math.sin(t) * u + math.cos(t) * v
    return out


def tta_inputs(x: np.ndarray, *, normalised: bool) -> list[np.ndarray]:
    """The inputs whose predicted probabilities test-time augmentation averages: the input and its mirror."""
    return [x, flip_flow(x, normalised=normalised)]
