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
``1 - minmax(u)``, so a flip stays exact.  A rotation mixes ``u`` and ``v``;
the normalisation dropped their offsets (harmless: a constant added to every
vector stays constant after rotating, and min-max removes it again) and their
scales, of which only the ratio ``(max v - min v) / (max u - min u)`` matters.
mextk's flow features store the raw ranges (``flow_range``), and
:func:`rotate_minmax_flow` rotates with that ratio; :func:`rotate_flow`
refuses normalised inputs.  Revealed borders are filled by replicating the
edge.

:class:`FlowAugment` draws these per training sample and epoch (the training
settings ``augment_flip``, ``augment_shift`` and ``augment_rotate`` of
:class:`mextk.models.training.TrainConfig`); :func:`tta_inputs` gives the
pair that test-time augmentation averages over.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

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


def uv_ratio(flow_range: np.ndarray | None) -> float | None:
    """``(max v - min v) / (max u - min u)`` from a stored ``[min u, max u, min v, max v]`` (``None`` if unknown)."""
    if flow_range is None:
        return None
    lo_u, hi_u, lo_v, hi_v = (float(a) for a in np.asarray(flow_range, dtype=np.float64).ravel()[:4])
    if hi_u - lo_u < 1e-12:
        return float("inf") if hi_v - lo_v >= 1e-12 else 1.0
    return (hi_v - lo_v) / (hi_u - lo_u)


def rotate_minmax_flow(x: np.ndarray, degrees: float, *, ratio: float) -> np.ndarray:
    """:func:`rotate_flow` for a min-max normalised input whose raw ``v`` range is ``ratio`` times ``u``'s.

    The raw field is ``u = a + s u_n``, ``v = b + s ratio v_n``; rotating and
    min-max normalising removes ``a``, ``b`` and ``s``.  Each rotated
    channel is then mapped back onto the span (min, max) that the unrotated
    channel had, so a resized input that did not reach exactly 0 or 1 keeps
    its span.  The strain channel is only moved: its magnitude does not
    depend on the direction of the axes.
    """
    from mextk.features.flow import minmax

    _check(x)
    raw = x.astype(np.float32).copy()
    if not np.isfinite(ratio):  # u was constant: v alone carries the motion
        raw[..., 0] = 0.0
    else:
        raw[..., 1] *= np.float32(ratio)
    out = rotate_flow(raw, degrees, normalised=False)
    for c in (0, 1):
        lo, hi = float(x[..., c].min()), float(x[..., c].max())
        out[..., c] = lo + (hi - lo) * minmax(out[..., c])
    return out.astype(x.dtype, copy=False)


class FlowAugment:
    """Random label-preserving augmentation of training flow inputs, drawn per sample and per epoch.

    Parameters
    ----------
    flip : float
        Probability of a horizontal flip (:func:`flip_flow`).
    shift : int
        Largest translation in pixels, drawn uniformly in ``[-shift, shift]`` per axis (:func:`shift_flow`).
    rotate : float
        Largest rotation in degrees, drawn uniformly in ``[-rotate, rotate]``.
    normalised : bool
        Whether ``u`` and ``v`` are min-max normalised per sample (mextk's STSTNet and OFF-ApexNet inputs).
    ratios : sequence of float or None, optional
        Per sample, :func:`uv_ratio` of its raw flow; needed to rotate normalised inputs.
    names : sequence of str, optional
        Per sample, its file, for error messages.

    Raises
    ------
    ValueError
        When rotation is asked for on normalised inputs and a sample's ratio is unknown (named).
    """

    def __init__(
        self,
        *,
        flip: float = 0.0,
        shift: int = 0,
        rotate: float = 0.0,
        normalised: bool = True,
        ratios: Sequence[float | None] | None = None,
        names: Sequence[str] | None = None,
    ) -> None:
        self.flip, self.shift, self.rotate, self.normalised = float(flip), int(shift), float(rotate), normalised
        self.ratios = list(ratios) if ratios is not None else None
        if self.rotate and normalised:
            missing = [0] if self.ratios is None else [k for k, r in enumerate(self.ratios) if r is None]
            if missing:
                k = missing[0]
                where = names[k] if names is not None and k < len(names) else f"training sample {k}"
                raise ValueError(
                    f"{where}: augment_rotate needs the raw flow's u and v ranges (flow_range), which this input "
                    "lacks (precomputed inputs, or features computed before mextk stored them: delete that "
                    "features folder to recompute); use augment_rotate=0, or flow_values='raw' for raw flow"
                )

    def draw(self, k: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """The random choices for ``k`` samples, in one call per kind (what one training batch needs).

        Returns ``angle`` (degrees), ``dx``, ``dy`` (pixels) and ``flip`` (bool), each of length ``k``; a kind
        that is off draws nothing from ``rng``.  The PyTorch loop and the fused STSTNet kernel
        (:mod:`mextk.models.fused`) both draw a batch this way, so the same seed augments alike in both.
        """
        angle = rng.uniform(-self.rotate, self.rotate, k) if self.rotate else np.zeros(k)
        dxy = rng.integers(-self.shift, self.shift + 1, size=(k, 2)) if self.shift else np.zeros((k, 2), int)
        flip = rng.random(k) < self.flip if self.flip else np.zeros(k, bool)
        return {"angle": angle, "dx": dxy[:, 0], "dy": dxy[:, 1], "flip": flip}

    def apply(self, x: np.ndarray, index: int, angle: float, dx: int, dy: int, flip: bool) -> np.ndarray:
        """Sample ``index``'s input ``x`` (``(H, W, C)``, channels last) rotated, then shifted, then mirrored."""
        if angle:
            if self.normalised:
                x = rotate_minmax_flow(x, float(angle), ratio=self.ratios[index])  # type: ignore[index]
            else:
                x = rotate_flow(x, float(angle), normalised=False)
        if dx or dy:
            x = shift_flow(x, int(dx), int(dy))
        if flip:
            x = flip_flow(x, normalised=self.normalised)
        return x

    def __call__(self, x: np.ndarray, index: int, rng: np.random.Generator) -> np.ndarray:
        """One random augmentation of sample ``index``'s input ``x`` (``(H, W, C)``, channels last)."""
        d = self.draw(1, rng)
        return self.apply(x, index, d["angle"][0], d["dx"][0], d["dy"][0], d["flip"][0])


def on_tensor(fn: Callable[..., np.ndarray], x: Any, *args: Any, **kwargs: Any) -> Any:
    """Apply a channels-last augmentation ``fn`` to a channels-first ``(C, H, W)`` torch tensor."""
    import torch

    out = fn(x.numpy().transpose(1, 2, 0), *args, **kwargs)
    return torch.from_numpy(np.ascontiguousarray(out.transpose(2, 0, 1)))


def tta_inputs(x: np.ndarray, *, normalised: bool) -> list[np.ndarray]:
    """The inputs whose predicted probabilities test-time augmentation averages: the input and its mirror."""
    return [x, flip_flow(x, normalised=normalised)]
