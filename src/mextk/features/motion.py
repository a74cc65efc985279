"""Block-averaged dense motion between two frames: a simple, fast micro-expression descriptor.

The descriptor is Farneback optical flow (Farneback, "Two-frame motion
estimation based on polynomial expansion", SCIA 2003,
doi:10.1007/3-540-45103-X_50) from the onset to the apex frame, with the
global head translation removed (the median flow is subtracted: a
micro-expression moves a small part of the face, the head moves all of it),
averaged over a ``grid x grid`` block grid.  It is the input of the
``motion_svm`` baseline (:func:`mextk.models.baselines.motion_svm`); the
STSTNet-style networks use TV-L1 flow and optical strain instead
(:mod:`mextk.features.flow`).
"""

from __future__ import annotations

import numpy as np


def block_flow_features(
    onset: np.ndarray,
    apex: np.ndarray,
    *,
    grid: int = 8,
    size: int = 96,
) -> np.ndarray:
    """Motion descriptor from the onset frame to the apex frame.

    Parameters
    ----------
    onset, apex : numpy.ndarray
        ``(H, W)`` ``uint8`` grayscale frames of one face crop (same shape).
    grid : int
        Blocks per side.
    size : int
        Frames are resized to ``size x size`` first (a multiple of ``grid``).

    Returns
    -------
    numpy.ndarray
        ``(2 * grid * grid,)`` ``float32``: mean horizontal flow of each block
        (row-major), then mean vertical flow, in pixels at ``size`` resolution.

    Raises
    ------
    ValueError
        On frames of other dtypes, shapes or sizes.

    Examples
    --------
    >>> import numpy as np
    >>> f = (np.random.default_rng(0).random((64, 64)) * 255).astype(np.uint8)
    >>> block_flow_features(f, f, grid=4, size=64).shape
    (32,)
    """
    import cv2

    for name, frame in (("onset", onset), ("apex", apex)):
        if frame.dtype != np.uint8 or frame.ndim != 2:
            raise ValueError(f"{name} frame must be a (H, W) uint8 array, got {frame.dtype} {frame.shape}")
    if onset.shape != apex.shape:
        raise ValueError(f"onset {onset.shape} and apex {apex.shape} frames differ in shape")
    if size % grid:
        raise ValueError(f"size {size} must be a multiple of grid {grid}")
    a = cv2.resize(onset, (size, size), interpolation=cv2.INTER_AREA)
    b = cv2.resize(apex, (size, size), interpolation=cv2.INTER_AREA)
    flow = cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 3, 9, 5, 5, 1.1, 0)
    flow -= np.median(flow.reshape(-1, 2), axis=0)
    cell = size // grid
    blocks = flow.reshape(grid, cell, grid, cell, 2).mean(axis=(1, 3))
    return np.concatenate([blocks[..., 0].ravel(), blocks[..., 1].ravel()]).astype(np.float32)
