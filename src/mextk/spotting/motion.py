"""Per-frame motion of facial regions in a long video, streamed (the input of the training-free spotter).

For each frame ``t`` and each temporal scale ``k`` (frames), the motion
``M_k(t)`` of each facial region between frame ``t - k`` and frame ``t``:

1. **Alignment.** 68 landmarks (:class:`mextk.faces.landmarks.LandmarkTracker`)
   every ``landmark_every_s`` seconds give a similarity transform that puts the
   eye centres (midpoints of the eye corners, which blinks do not move) at
   fixed places of a ``crop`` x ``crop`` face image (0.4 crop apart, at 38% of
   its height).  The transform is smoothed over time
   (exponential, time constant ``align_smooth_s``), so landmark jitter does not
   become motion; a face not found keeps the last transform for
   ``hold_lost_s``, after which frames count as faceless.
2. **Flow.** Dense optical flow (OpenCV's DIS, ``flow_preset``) from the aligned
   frame ``t - k`` to the aligned frame ``t`` (a ring buffer keeps the last
   frames, so memory does not grow with the video).
3. **Regions.** The flow of the nose bridge (which no facial muscle moves) is
   the head's own residual motion; it is subtracted, and ``M_k(t)`` of a region
   is, in crop pixels, the length of the mean remaining flow vector of the
   region's most moving quarter (``statistic``).
   Regions (:data:`REGIONS`): both brows, the glabella, the nose wings and
   upper lip, and both mouth corners, where expressions are looked for; and
   both eyes, measured only to recognise blinks (the commonest facial
   movement, which no dataset labels as an expression).

Memory is flat in the video's length: ``M`` is ``(T, scales, regions)``
floats, and at most ``max(k) + 1`` aligned crops are held.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import numpy as np

#: Regions as (x0, y0, x1, y1) fractions of the aligned crop (eye centres at (0.3, 0.38) and (0.7, 0.38)).
REGIONS: dict[str, tuple[float, float, float, float]] = {
    "brow_left": (0.12, 0.1, 0.42, 0.27),
    "brow_right": (0.58, 0.1, 0.88, 0.27),
    "glabella": (0.42, 0.16, 0.58, 0.32),
    "nose_lip": (0.33, 0.6, 0.67, 0.74),
    "mouth_left": (0.2, 0.72, 0.46, 0.94),
    "mouth_right": (0.54, 0.72, 0.8, 0.94),
    "eye_left": (0.17, 0.31, 0.43, 0.45),
    "eye_right": (0.57, 0.31, 0.83, 0.45),
}
#: The regions that expressions are looked for in; the eyes are measured only to recognise blinks.
EXPRESSION_REGIONS: tuple[str, ...] = ("brow_left", "brow_right", "glabella", "nose_lip", "mouth_left", "mouth_right")
EYE_REGIONS: tuple[str, ...] = ("eye_left", "eye_right")
#: The reference region: its flow is the head's residual motion.
REFERENCE: tuple[float, float, float, float] = (0.43, 0.4, 0.57, 0.56)
_PRESETS = {"ultrafast": 0, "fast": 1, "medium": 2}


@dataclass(frozen=True)
class MotionSettings:
    """How region motion is measured (see the module docstring).

    Attributes
    ----------
    crop : int
        Side of the aligned face image, pixels.
    flow_preset : {"ultrafast", "fast", "medium"}
        OpenCV DIS optical-flow preset (medium: slowest, most exact).
    landmark_every_s : float
        Seconds between landmark fits (0: every frame).
    align_smooth_s : float
        Time constant of the alignment's smoothing, seconds.
    hold_lost_s : float
        How long the last alignment is kept for a face that is not found, seconds.
    redetect_every : int
        Landmark fits between confirmations by the face detector.
    coarse_from_s : float
        Scales of at least this many seconds (the macro-expression ones) measure their flow on
        the crop at half size, in a quarter of the time: their movements are large.  The
        motion stays in full-crop pixels.
    statistic : {"coherent", "speed"}
        A region's motion: ``coherent``, the largest length of the *mean* flow vector over
        the region's four quarters (noise, which points every way, averages out; a
        muscle's pull, which is coherent over a patch, does not), or ``speed``, the
        mean length of the flow vectors.
    """

    crop: int = 96
    flow_preset: str = "fast"
    landmark_every_s: float = 0.1
    align_smooth_s: float = 0.15
    hold_lost_s: float = 0.5
    redetect_every: int = 10
    statistic: str = "coherent"
    coarse_from_s: float = 0.4

    def __post_init__(self) -> None:
        if self.statistic not in ("coherent", "speed"):
            raise ValueError(f"statistic must be 'coherent' or 'speed', got {self.statistic!r}")
        if self.flow_preset not in _PRESETS:
            raise ValueError(f"flow_preset must be one of {', '.join(_PRESETS)}, got {self.flow_preset!r}")
        if self.crop < 32:
            raise ValueError(f"crop must be at least 32 pixels, got {self.crop}")


@dataclass
class MotionSignals:
    """Region motion of one video.

    Attributes
    ----------
    scales : list of int
        The temporal scales ``k`` in frames.
    motion : numpy.ndarray
        ``(T, len(scales), len(REGIONS))`` ``float32``: ``M_k(t)`` per region, ``nan`` where
        ``t - k < 0`` or either frame had no face.
    face : numpy.ndarray
        ``(T,)`` boolean: the face was aligned on this frame.
    fps : float
    """

    scales: list[int]
    motion: np.ndarray
    face: np.ndarray
    fps: float


def eye_transform(landmarks: np.ndarray, crop: int) -> np.ndarray:
    """The ``(4,)`` similarity parameters (centre x, centre y, log scale, angle) of a face's eyes."""
    left = landmarks[[36, 39]].mean(axis=0)  # eye corners: the lids move in blinks, the corners do not
    right = landmarks[[42, 45]].mean(axis=0)
    d = right - left
    dist = float(np.hypot(*d))
    return np.array([*(0.5 * (left + right)), math.log(0.4 * crop / max(dist, 1e-6)), math.atan2(d[1], d[0])])


def _affine(params: np.ndarray, crop: int) -> np.ndarray:
    """The 2x3 matrix taking frame pixels to crop pixels for parameters from :func:`eye_transform`."""
    cx, cy, log_s, angle = params
    s = math.exp(log_s)
    c, si = s * math.cos(-angle), s * math.sin(-angle)
    tx = 0.5 * crop - (c * cx - si * cy)
    ty = 0.38 * crop - (si * cx + c * cy)
    return np.array([[c, -si, tx], [si, c, ty]], np.float64)


def _region_value(f: np.ndarray, statistic: str) -> float:
    """One region's motion from its ``(h, w, 2)`` flow (the head's motion already removed)."""
    if statistic == "speed":
        return float(np.hypot(f[..., 0], f[..., 1]).mean())
    h, w = f.shape[:2]
    best = 0.0
    for ys in (slice(0, h // 2), slice(h // 2, h)):
        for xs in (slice(0, w // 2), slice(w // 2, w)):
            cell = f[ys, xs].reshape(-1, 2)
            if len(cell):
                best = max(best, float(np.hypot(*cell.mean(axis=0))))
    return best


def _boxes(crop: int) -> tuple[list[tuple[slice, slice]], tuple[slice, slice]]:
    def box(f: tuple[float, float, float, float]) -> tuple[slice, slice]:
        x0, y0, x1, y1 = (int(round(v * crop)) for v in f)
        return slice(y0, y1), slice(x0, x1)

    return [box(f) for f in REGIONS.values()], box(REFERENCE)


def aligned_faces(
    frames: Iterable[np.ndarray], fps: float, settings: MotionSettings = MotionSettings()
) -> Iterator[np.ndarray | None]:
    """Each frame's aligned ``crop`` x ``crop`` grayscale face (``None`` where there is none), streamed."""
    import cv2

    from mextk.faces.landmarks import LandmarkTracker

    tracker = LandmarkTracker(redetect_every=settings.redetect_every)
    every = max(1, int(round(settings.landmark_every_s * fps)))
    hold = max(0, int(round(settings.hold_lost_s * fps)))
    params: np.ndarray | None = None
    last_fit = -(10**9)
    for t, frame in enumerate(frames):
        gray = frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
        if t % every == 0 or params is None:
            lm = tracker.update(gray)
            if lm is not None:
                target = eye_transform(lm, settings.crop)
                if params is None or t - last_fit > hold:
                    params = target
                else:
                    alpha = 1.0 - math.exp(-(t - last_fit) / max(settings.align_smooth_s * fps, 1e-6))
                    step = target - params
                    step[3] = (step[3] + math.pi) % (2 * math.pi) - math.pi
                    params = params + alpha * step
                last_fit = t
        if params is None or t - last_fit > hold:
            yield None
            continue
        yield cv2.warpAffine(
            gray, _affine(params, settings.crop), (settings.crop, settings.crop), flags=cv2.INTER_LINEAR
        )


def region_motion(
    faces: Iterable[np.ndarray | None],
    scales: list[int],
    *,
    n_frames: int | None = None,
    settings: MotionSettings = MotionSettings(),
    fps: float = 30.0,
    on_frame: Callable[[int], None] | None = None,
) -> MotionSignals:
    """``M_k(t)`` for every scale and region from a stream of aligned faces (see the module docstring)."""
    import cv2

    if not scales or min(scales) < 1:
        raise ValueError(f"scales must be positive frame counts, got {scales}")
    flow = cv2.DISOpticalFlow_create(_PRESETS[settings.flow_preset])
    coarse_flow = cv2.DISOpticalFlow_create(_PRESETS[settings.flow_preset])  # one per size: no re-allocation
    regions, ref = _boxes(settings.crop)
    half_regions, half_ref = _boxes(settings.crop // 2)
    coarse = [k >= settings.coarse_from_s * fps for k in scales]
    depth = max(scales) + 1
    ring: list[np.ndarray | None] = [None] * depth
    small: list[np.ndarray | None] = [None] * depth
    rows: list[np.ndarray] = []
    face: list[bool] = []
    for t, img in enumerate(faces):
        ring[t % depth] = img
        small[t % depth] = (
            cv2.resize(img, (settings.crop // 2,) * 2, interpolation=cv2.INTER_AREA) if img is not None else None
        )
        row = np.full((len(scales), len(regions)), np.nan, np.float32)
        if img is not None:
            for i, k in enumerate(scales):
                if t - k < 0:
                    continue
                half = coarse[i]
                before = (small if half else ring)[(t - k) % depth]
                if before is None:
                    continue
                f = (coarse_flow if half else flow).calc(before, small[t % depth] if half else img, None)
                f -= np.median(f[half_ref if half else ref].reshape(-1, 2), axis=0)
                if half:
                    f *= 2.0  # in full-crop pixels
                row[i] = [_region_value(f[r], settings.statistic) for r in (half_regions if half else regions)]
        rows.append(row)
        face.append(img is not None)
        if on_frame is not None:
            on_frame(t)
    motion = np.stack(rows) if rows else np.zeros((0, len(scales), len(regions)), np.float32)
    return MotionSignals(list(scales), motion, np.asarray(face, bool), float(fps))
