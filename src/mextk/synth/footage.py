"""Real footage under other conditions: the same frames with the head swaying or the light changing.

Calm real footage is scarce, and most of it is people talking to a steady camera.  A spotter must also stay
silent when the head moves or the room's light changes, so ``benchmarks/spotting.py`` derives those
conditions from the calm clips themselves: every frame stays a real face, and nothing in it expresses
anything, so every event spotted in the result is a false alarm.

* :func:`sway` turns and shifts the whole frame smoothly about its centre (a similarity transform whose
  angle, shift and scale follow slow sinusoids): the face moves rigidly, as a head nodding and turning a
  little in the image plane does, and as a hand-held camera does.
* :func:`light_change` scales the frame's brightness from 1 to ``gain`` over ``ramp_s`` seconds from
  ``start_s`` (a lamp dimmed, a cloud, a screen's glow), with the gamma of a camera's response.
"""

from __future__ import annotations

import math

import numpy as np


def sway_matrix(
    t_s: float, size: tuple[int, int], *, degrees: float = 6.0, shift: float = 0.04, zoom: float = 0.03,
    period_s: float = 3.0,
) -> np.ndarray:  # fmt: skip
    """The 2x3 similarity of :func:`sway` at ``t_s`` seconds, for frames of ``size`` ``(height, width)``.

    Angle ``degrees * sin(2 pi t / period_s)``; shift ``shift`` of the width (x) and of the height (y), at the
    angle's rate and at 0.7 of it, out of phase; scale ``1 + zoom * sin(2 pi t / (1.6 period_s))``.  Identity
    at ``t = 0``.
    """
    import cv2

    h, w = size
    phase = 2 * math.pi * t_s / period_s
    angle = degrees * math.sin(phase)
    scale = 1.0 + zoom * math.sin(phase / 1.6)
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, scale)
    m[0, 2] += shift * w * math.sin(phase)
    m[1, 2] += shift * h * math.sin(0.7 * phase)
    return m


def sway(frames: np.ndarray, fps: float, **settings: float) -> np.ndarray:
    """``frames`` ``(T, H, W[, C])`` ``uint8`` with the whole image swaying (:func:`sway_matrix`'s ``settings``).

    The borders are replicated, so no black wedge enters the frame.
    """
    import cv2

    h, w = frames.shape[1:3]
    out = np.empty_like(frames)
    for i, frame in enumerate(frames):
        m = sway_matrix(i / fps, (h, w), **settings)
        out[i] = cv2.warpAffine(frame, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return out


def light_gain(t_s: float, *, start_s: float = 1.0, ramp_s: float = 1.0, gain: float = 0.5) -> float:
    """The brightness factor at ``t_s``: 1 before ``start_s``, ``gain`` after ``start_s + ramp_s``, smooth between."""
    if t_s <= start_s:
        return 1.0
    if t_s >= start_s + ramp_s:
        return gain
    u = (t_s - start_s) / ramp_s
    return 1.0 + (gain - 1.0) * (3 * u * u - 2 * u * u * u)  # smoothstep: no kink a spotter could take for motion


def light_change(
    frames: np.ndarray, fps: float, *, start_s: float = 1.0, ramp_s: float = 1.0, gain: float = 0.5,
    gamma: float = 2.2,
) -> np.ndarray:  # fmt: skip
    """``frames`` with their light scaled by :func:`light_gain` in linear light (through a camera's ``gamma``)."""
    lut_in = (np.arange(256) / 255.0) ** gamma
    out = np.empty_like(frames)
    for i, frame in enumerate(frames):
        g = light_gain(i / fps, start_s=start_s, ramp_s=ramp_s, gain=gain)
        linear = lut_in[frame] * g
        out[i] = np.clip(np.round(255.0 * linear ** (1.0 / gamma)), 0, 255).astype(np.uint8)
    return out
