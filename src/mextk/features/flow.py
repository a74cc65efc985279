"""Optical flow, optical strain, and the MEGC flow-network input.

* :func:`tvl1_flow`: TV-L1 optical flow (Zach, Pock and Bischof, "A duality
  based approach for realtime TV-L1 optical flow", DAGM 2007,
  doi:10.1007/978-3-540-74936-3_22) with OpenCV-contrib's implementation;
  pure Python, no MATLAB.
* :func:`optical_strain`: the magnitude of the infinitesimal strain tensor of a
  flow field (Liong et al., "Spontaneous subtle expression detection and
  recognition based on facial strain", Signal Processing: Image
  Communication 2016, doi:10.1016/j.image.2016.06.004).
* :func:`megc_flow_input`: the 3-channel onset-to-apex input of STSTNet and
  OFF-ApexNet (MEGC-2019 baselines).
"""

from __future__ import annotations

import numpy as np


def tvl1_flow(
    first: np.ndarray,
    second: np.ndarray,
    *,
    tau: float = 0.25,
    lambda_: float = 0.15,
    theta: float = 0.3,
    n_scales: int = 5,
    warps: int = 5,
    epsilon: float = 0.01,
) -> np.ndarray:
    """TV-L1 optical flow from ``first`` to ``second``.

    Parameters
    ----------
    first, second : numpy.ndarray
        ``(H, W)`` ``uint8`` grayscale frames of one size.
    tau, lambda_, theta, n_scales, warps, epsilon : float or int
        OpenCV's ``DualTVL1OpticalFlow`` parameters (its defaults).

    Returns
    -------
    numpy.ndarray
        ``(H, W, 2)`` ``float32``: horizontal (x, to the right) and vertical
        (y, downwards) displacement in pixels, such that ``first[y, x]``
        moves to ``second[y + v, x + u]``.

    Raises
    ------
    ValueError
        On frames that are not ``uint8`` ``(H, W)`` arrays of one shape.
    """
    import cv2

    for name, frame in (("first", first), ("second", second)):
        if frame.dtype != np.uint8 or frame.ndim != 2:
            raise ValueError(f"{name} frame must be a (H, W) uint8 array, got {frame.dtype} {frame.shape}")
    if first.shape != second.shape:
        raise ValueError(f"frames differ in shape: {first.shape} and {second.shape}")
    tv = cv2.optflow.DualTVL1OpticalFlow_create(
        tau=tau, lambda_=lambda_, theta=theta, nscales=n_scales, warps=warps, epsilon=epsilon
    )
    return tv.calc(first, second, None).astype(np.float32)


def optical_strain(flow: np.ndarray) -> np.ndarray:
    """Optical strain magnitude of a flow field.

    With ``u_x = du/dx`` etc. (central differences, one-sided at the border:
    ``numpy.gradient``), the strain tensor is
    ``[[u_x, (u_y + v_x) / 2], [(u_y + v_x) / 2, v_y]]`` and its magnitude
    ``sqrt(u_x^2 + v_y^2 + 2 ((u_y + v_x) / 2)^2)``
    ``= sqrt(u_x^2 + v_y^2 + (u_y + v_x)^2 / 2)``.  A rigid translation has
    zero strain; stretching, compression and shear do not.

    Parameters
    ----------
    flow : numpy.ndarray
        ``(H, W, 2)`` flow (u, v).

    Returns
    -------
    numpy.ndarray
        ``(H, W)`` ``float32`` strain magnitude (per pixel, unitless).

    Examples
    --------
    >>> y, x = np.mgrid[0:5, 0:5].astype(np.float32)
    >>> flow = np.stack([0.1 * x, 0.2 * y], axis=-1)  # stretch: u_x = 0.1, v_y = 0.2
    >>> round(float(optical_strain(flow).mean()), 4)
    0.2236
    """
    if flow.ndim != 3 or flow.shape[2] != 2:
        raise ValueError(f"flow must be (H, W, 2), got {flow.shape}")
    u = flow[..., 0].astype(np.float64)
    v = flow[..., 1].astype(np.float64)
    u_y, u_x = np.gradient(u)
    v_y, v_x = np.gradient(v)
    return np.sqrt(u_x**2 + v_y**2 + 0.5 * (u_y + v_x) ** 2).astype(np.float32)


def minmax(channel: np.ndarray) -> np.ndarray:
    """Scale to [0, 1] by the channel's own minimum and maximum (a constant channel gives zeros)."""
    lo, hi = float(channel.min()), float(channel.max())
    if hi - lo < 1e-12:
        return np.zeros_like(channel, dtype=np.float32)
    return ((channel - lo) / (hi - lo)).astype(np.float32)


def megc_flow_input(
    onset: np.ndarray, apex: np.ndarray, *, size: int = 28, with_range: bool = False
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """The STSTNet / OFF-ApexNet input: TV-L1 flow from onset to apex, plus optical strain.

    Channel order and normalisation (exactly):

    0. horizontal flow ``u`` (positive to the right),
    1. vertical flow ``v`` (positive downwards),
    2. optical strain magnitude (:func:`optical_strain`),

    each computed at the frames' own resolution, then min-max normalised to
    [0, 1] *per channel and per sample* (by that channel's minimum and
    maximum in this sample), then resized to ``size x size`` with area
    averaging.  Normalising before resizing keeps the extremes of small
    motions that averaging would blur away.

    Parameters
    ----------
    onset, apex : numpy.ndarray
        ``(H, W)`` ``uint8`` aligned face crops.
    size : int
        Output side (28 in STSTNet and OFF-ApexNet).
    with_range : bool
        Also return the raw flow's ``[min u, max u, min v, max v]`` (in pixels), which the normalisation
        drops and which rotating the input's vectors needs (:func:`mextk.models.augment.rotate_minmax_flow`).

    Returns
    -------
    numpy.ndarray
        ``(size, size, 3)`` ``float32`` in [0, 1], channels last (``u, v, strain``); with ``with_range``,
        a tuple of it and the ``(4,)`` ``float32`` range.
    """
    import cv2

    flow = tvl1_flow(onset, apex)
    channels = [minmax(flow[..., 0]), minmax(flow[..., 1]), minmax(optical_strain(flow))]
    out = np.stack([cv2.resize(c, (size, size), interpolation=cv2.INTER_AREA) for c in channels], axis=-1)
    out = out.astype(np.float32)
    if not with_range:
        return out
    u, v = flow[..., 0], flow[..., 1]
    return out, np.array([u.min(), u.max(), v.min(), v.max()], dtype=np.float32)
