"""Per-frame motion of facial regions in a long video, streamed (the input of the training-free spotter).

For each frame ``t`` and each temporal scale ``k`` (frames), the motion
``M_k(t)`` of each facial region between frame ``t - k`` and frame ``t``:

1. **Alignment.** Landmarks (:class:`mextk.faces.landmarks.LandmarkTracker`; by
   default dlib's 5-point model, the eye corners and the nose, which is all the
   alignment uses) every ``landmark_every_s`` seconds give a similarity transform that puts the
   eye centres (midpoints of the eye corners, which blinks do not move) at
   fixed places of a ``crop`` x ``crop`` face image (0.4 crop apart, at 38% of
   its height).  The transform is smoothed over time
   (exponential, time constant ``align_smooth_s``), so landmark jitter does not
   become motion; a face not found keeps the last transform for
   ``hold_lost_s``, after which frames count as faceless.
2. **Flow, from anchors.** Dense optical flow (OpenCV's DIS, ``flow_preset``,
   on the crop resized to ``flow_size`` and measured at that resolution: the
   presets' own finest level is a quarter of a large image, too coarse for the
   fraction of a pixel a micro-expression moves) from an *anchor* (an earlier aligned frame, renewed every
   ``anchor_every_s`` seconds) to each aligned frame.  The head's own residual
   motion is subtracted: by default a similarity (shift, turn, zoom) fitted robustly to the
   face above the mouth (``rigid="similarity"``, :class:`AffineFit`; ``"affine"`` fits a full affine), or the
   median flow of the nose bridge (``"nose"``), which no facial muscle moves.  Each region is cut into four
   quarters and each quarter's mean flow vector is its displacement from the anchor; adding the
   displacement of the anchor itself (measured the same way from the anchor
   before it) gives every quarter a *position* per frame.  One flow per frame
   thus serves every temporal scale: the motion of a quarter between frames
   ``t - k`` and ``t`` is the difference of its two positions.  (Measuring each
   scale's flow ``t - k -> t`` directly costs one flow per scale and frame, 8
   at 25 fps, and large macro-expression movements then need a coarser image
   to be followed; the anchored positions follow them in small steps.  The
   mean flow of a patch composes additively to first order in its
   deformation, which for a quarter of a facial region is small.)
3. **Regions.** ``M_k(t)`` of a region is, in crop pixels, the length of the
   movement of its most moving quarter: noise, which points every way,
   averages out of a quarter's mean; a muscle's pull, coherent over a patch,
   does not.  A frame without a face breaks the chain: ``M_k(t)`` is ``nan``
   when frames ``t - k`` and ``t`` are not in one stretch of faces.
   Regions (:data:`REGIONS`): both brows, the glabella, the nose wings and
   upper lip, and both mouth corners, where expressions are looked for; and
   both eyes, measured only to recognise blinks (the commonest facial
   movement, which no dataset labels as an expression).

Memory is flat in the video's length apart from ``(T, quarters, 2)`` positions
and the ``(T, scales, regions)`` result; one aligned crop (the anchor) is held.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from mextk.faces.pose import head_yaw

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
    flow_size : int
        Side of the image that flow is measured on (the crop resized); motion is reported in crop pixels.
    flow_refine : int
        Iterations of DIS's variational refinement (the preset's own: 5 for ``fast``).  0 by
        default: on four synthetic long-video sets (120 intervals) the spotter's pooled F1 was
        0.672 without refinement against 0.629 with the preset's 5 (better on each set), and
        the flow took 1.1 ms instead of 3.0 ms (64 px, one thread); the regions' mean flow
        needs no smooth field.
    landmark_every_s : float
        Seconds between landmark fits (0: every frame).
    landmark_points : {5, 68}
        dlib's landmark model for the alignment, which needs only the eye corners.  5 by default:
        in ``mextk analyze``'s motion stage a fit took 1.45 ms against 3.94 ms (the 68-point
        model, ten times larger, keeps falling out of the CPU's caches), which cut the stage's
        work on a 4-person 720p minute from 24.2 to 19.9 s on one core; the alignment's
        frame-to-frame jitter on five real talking heads was the same (0.8-1.0% in scale,
        4-10 mrad in angle, with either model).  What it costs, on four synthetic long-video
        sets (120 intervals; per set the F1 varies by 0.1 either way): the training-free
        spotter's pooled F1 0.664 against 0.672 with 68 points, the learned one's 0.750
        against 0.768 (micro 0.585 against 0.649, macro 0.936 against 0.913); on a synthetic
        720p gallery, 10 of its 14 micro-expressions found instead of 11.  68 points is the
        choice where accuracy matters more than time.
    align_smooth_s : float
        Time constant of the alignment's smoothing, seconds.
    hold_lost_s : float
        How long the last alignment is kept for a face that is not found, seconds.
    redetect_every : int
        Landmark fits between confirmations by the face detector.
    confirm_margin : float
        The detector confirms the face in its box widened by this share of its width on each side
        (:class:`~mextk.faces.landmarks.LandmarkTracker`): the detector's cost grows with the pixels
        it scans, but 0.25 lowered the spotter's pooled F1 on four synthetic long-video sets from
        0.672 to 0.638 (heads that drift leave a tight box).
    anchor_every_s : float
        Seconds between renewals of the anchor that flow is measured from (each renewal adds
        the anchor's own measurement error to later positions; a longer gap means larger
        displacements to follow).
    rigid : {"similarity", "affine", "nose"}
        How the head's own motion is taken out of the flow: a motion fitted robustly (:class:`AffineFit`) to
        the flow of ``rigid_area``, a similarity (shift, turn, zoom) or an affine one, which takes out what the
        eye-corner alignment leaves behind; or ``"nose"``, the median flow of the nose bridge (a shift only).
        Similarity by default (2026-12-07, default spotter otherwise): on the real calm clips of
        ``../shared/data`` (speaking, swaying, dimmed; 1.8 minutes) the median micro-scale ``M_k`` of the brows
        fell from 0.89 to 0.39 crop pixels (affine 0.37) and of the glabella from 0.63 to 0.39; on the
        synthetic tuning sets (seeds 3-5) the spotter's pooled F1 went from 0.667 (nose) to 0.746 (affine
        0.714), on the held-out seeds 7, 11, 12, 13 from 0.672 with affine to 0.683.  An affine fit also
        absorbs part of a local brow movement (a 2 px step read 1.35 px against 1.53 with ``"nose"`` and
        1.44 with a similarity), which a similarity cannot stretch to.
    rigid_area : (float, float, float, float)
        Where the affine motion is fitted, as ``(x0, y0, x1, y1)`` fractions of the crop: by default the face
        above the mouth, which speech and the jaw leave alone (an expression there is an outlier of the
        robust fit).
    spike_px : float
        A frame whose face quarters jump, by their median, more than this many crop pixels from their running
        median over 5 frames is a failed measurement, replaced by that median (:func:`despike`); 0 keeps every
        frame.  On a real talking head (``talking_head_d9``) one such frame moved
        every region 10-15 px (two frames) and was the report's strongest "expression".
    """

    crop: int = 96
    flow_preset: str = "fast"
    flow_size: int = 64
    flow_refine: int = 0
    landmark_every_s: float = 0.1
    landmark_points: int = 5
    align_smooth_s: float = 0.15
    hold_lost_s: float = 0.5
    redetect_every: int = 10
    confirm_margin: float = 0.5
    anchor_every_s: float = 1.0
    rigid: str = "similarity"
    spike_px: float = 1.0
    rigid_area: tuple[float, float, float, float] = (0.1, 0.05, 0.9, 0.62)

    def __post_init__(self) -> None:
        if self.rigid not in ("nose", "similarity", "affine"):
            raise ValueError(f"rigid must be 'nose', 'similarity' or 'affine', got {self.rigid!r}")
        if self.anchor_every_s < 0:
            raise ValueError(f"anchor_every_s must be at least 0, got {self.anchor_every_s}")
        if self.flow_preset not in _PRESETS:
            raise ValueError(f"flow_preset must be one of {', '.join(_PRESETS)}, got {self.flow_preset!r}")
        if self.flow_refine < 0:
            raise ValueError(f"flow_refine must be at least 0, got {self.flow_refine}")
        if self.flow_size < 32:
            raise ValueError(f"flow_size must be at least 32 pixels, got {self.flow_size}")
        if self.landmark_points not in (5, 68):
            raise ValueError(f"landmark_points must be 5 or 68 (dlib's two models), got {self.landmark_points}")
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
    positions : numpy.ndarray or None
        ``(T, 4 * len(REGIONS), 2)`` each region quarter's position (crop pixels, the head's own motion taken
        out; region by region, four quarters each), ``nan`` without a face; positions are comparable within one
        stretch of faces only.  ``None`` where not kept.
    segments : numpy.ndarray or None
        ``(T,)`` the stretch of faces each frame belongs to (-1: no face).
    """

    scales: list[int]
    motion: np.ndarray
    face: np.ndarray
    fps: float
    positions: np.ndarray | None = None
    segments: np.ndarray | None = None


def eye_transform(landmarks: np.ndarray, crop: int) -> np.ndarray:
    """The ``(4,)`` similarity parameters (centre x, centre y, log scale, angle) of a face's eyes.

    ``landmarks`` are dlib's 68 points or its 5 (:data:`mextk.faces.landmarks.FIVE_IN_68`).
    """
    # eye corners: the lids move in blinks, the corners do not
    if len(landmarks) == 5:
        left, right = landmarks[[2, 3]].mean(axis=0), landmarks[[0, 1]].mean(axis=0)
    else:
        left, right = landmarks[[36, 39]].mean(axis=0), landmarks[[42, 45]].mean(axis=0)
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


def _cells(crop: int) -> tuple[np.ndarray, tuple[slice, slice]]:
    """Each region's four quarters as ``(len(REGIONS) * 4, 4)`` rows ``y0, y1, x0, x1``, and the reference box."""
    rows = []
    for x0f, y0f, x1f, y1f in REGIONS.values():
        x0, y0, x1, y1 = (int(round(v * crop)) for v in (x0f, y0f, x1f, y1f))
        ym, xm = y0 + (y1 - y0) // 2, x0 + (x1 - x0) // 2
        rows += [(a, b, c, d) for a, b in ((y0, ym), (ym, y1)) for c, d in ((x0, xm), (xm, x1))]
    x0, y0, x1, y1 = (int(round(v * crop)) for v in REFERENCE)
    return np.asarray(rows, np.intp), (slice(y0, y1), slice(x0, x1))


class AffineFit:
    """Robust fit of the head's own motion to a flow field over ``area``, evaluated at ``points``.

    ``similarity`` (translation, rotation and scale: 4 parameters) or ``affine`` (6).  Iteratively reweighted
    least squares with Tukey's biweight (4.685 robust standard deviations of the residual, 3 rounds), so a
    local expression inside the area does not pull the fit.
    """

    def __init__(
        self,
        size: int,
        points: np.ndarray,
        area: tuple[float, float, float, float],
        model: str = "affine",
        step: int = 2,
    ) -> None:
        x0, y0, x1, y1 = (int(round(v * size)) for v in area)
        ys, xs = np.mgrid[y0:y1:step, x0:x1:step]
        self._idx = (ys.ravel(), xs.ravel())
        c = 0.5 * size
        self._design = self._rows((xs.ravel() - c) / c, (ys.ravel() - c) / c, model)
        self._at = self._rows((points[:, 0] - c) / c, (points[:, 1] - c) / c, model)
        self._n = len(xs.ravel())

    @staticmethod
    def _rows(x: np.ndarray, y: np.ndarray, model: str) -> np.ndarray:
        """The design matrix ``(2n, p)`` that maps the parameters to the stacked ``(u..., v...)`` flow."""
        one, zero = np.ones_like(x), np.zeros_like(x)
        if model == "similarity":  # u = a + s x - r y, v = b + r x + s y
            u = np.column_stack([one, zero, x, -y])
            v = np.column_stack([zero, one, y, x])
        else:
            u = np.column_stack([one, x, y, zero, zero, zero])
            v = np.column_stack([zero, zero, zero, one, x, y])
        return np.vstack([u, v])

    def __call__(self, flow: np.ndarray) -> np.ndarray:
        """The fitted head motion ``(len(points), 2)`` at the points."""
        f = flow[self._idx].astype(np.float64)
        target = np.concatenate([f[:, 0], f[:, 1]])
        a = self._design
        w = np.ones(self._n)
        coef = np.zeros(a.shape[1])
        for _ in range(3):
            ww = np.concatenate([w, w])
            aw = a * ww[:, None]
            coef = np.linalg.lstsq(aw.T @ a, aw.T @ target, rcond=None)[0]
            res = target - a @ coef
            r = np.hypot(res[: self._n], res[self._n :])
            scale = 1.4826 * float(np.median(r)) + 1e-6
            u = np.minimum(r / (4.685 * scale), 1.0)
            w = (1.0 - u**2) ** 2 + 1e-9
        fitted = self._at @ coef
        half = len(fitted) // 2
        return np.column_stack([fitted[:half], fitted[half:]])


def _cell_means(f: np.ndarray, cells: np.ndarray) -> np.ndarray:
    """The mean ``(u, v)`` of ``f`` over each cell (one summed-area table for all of them)."""
    import cv2

    # OpenCV's summed-area table, in float64: the same sums as two NumPy cumsums, in a quarter of the time
    table = cv2.integral(np.ascontiguousarray(f, np.float32), sdepth=cv2.CV_64F)
    y0, y1, x0, x1 = cells.T
    sums = table[y1, x1] - table[y0, x1] - table[y1, x0] + table[y0, x0]
    return sums / np.maximum((y1 - y0) * (x1 - x0), 1)[:, None]


class FaceAligner:
    """Aligns a stream of frames one at a time (the state of :func:`aligned_faces`, for callers that push frames).

    Beside each aligned face it keeps, per frame pushed, what a report needs to say where spotting was weak:
    ``yaw``, the head's turn in degrees (:func:`mextk.faces.pose.head_yaw` of the last landmarks, ``nan``
    without a face), and ``crowded``, whether the last detection saw another face near this one
    (:attr:`mextk.faces.landmarks.LandmarkTracker.others`).
    """

    def __init__(self, fps: float, settings: MotionSettings = MotionSettings()) -> None:
        from mextk.faces.landmarks import LandmarkTracker

        self.settings = settings
        self._tracker = LandmarkTracker(
            redetect_every=settings.redetect_every,
            confirm_margin=settings.confirm_margin,
            points=settings.landmark_points,
        )
        self._every = max(1, int(round(settings.landmark_every_s * fps)))
        self._hold = max(0, int(round(settings.hold_lost_s * fps)))
        self._smooth = max(settings.align_smooth_s * fps, 1e-6)
        self._params: np.ndarray | None = None
        self._last_fit = -(10**9)
        self._t = 0
        self._yaw = math.nan
        self.yaw: list[float] = []
        self.crowded: list[bool] = []

    def push(self, frame: np.ndarray) -> np.ndarray | None:
        """The next frame's aligned ``crop`` x ``crop`` grayscale face, or ``None`` where there is none."""
        import cv2

        t, self._t = self._t, self._t + 1
        gray = frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
        if t % self._every == 0 or self._params is None:
            lm = self._tracker.update(gray)
            if lm is not None:
                self._yaw = head_yaw(lm)
                target = eye_transform(lm, self.settings.crop)
                if self._params is None or t - self._last_fit > self._hold:
                    self._params = target
                else:
                    alpha = 1.0 - math.exp(-(t - self._last_fit) / self._smooth)
                    step = target - self._params
                    step[3] = (step[3] + math.pi) % (2 * math.pi) - math.pi
                    self._params = self._params + alpha * step
                self._last_fit = t
        if self._params is None or t - self._last_fit > self._hold:
            self.yaw.append(math.nan)
            self.crowded.append(False)
            return None
        self.yaw.append(self._yaw)
        self.crowded.append(self._tracker.others > 0)
        crop = self.settings.crop
        return cv2.warpAffine(gray, _affine(self._params, crop), (crop, crop), flags=cv2.INTER_LINEAR)


def aligned_faces(
    frames: Iterable[np.ndarray], fps: float, settings: MotionSettings = MotionSettings()
) -> Iterator[np.ndarray | None]:
    """Each frame's aligned ``crop`` x ``crop`` grayscale face (``None`` where there is none), streamed."""
    aligner = FaceAligner(fps, settings)
    for frame in frames:
        yield aligner.push(frame)


class RegionMotion:
    """Region motion of a stream of aligned faces pushed one at a time (the state of :func:`region_motion`)."""

    def __init__(self, scales: list[int], settings: MotionSettings = MotionSettings(), fps: float = 30.0) -> None:
        import cv2

        if not scales or min(scales) < 1:
            raise ValueError(f"scales must be positive frame counts, got {scales}")
        self.scales, self.settings, self.fps = list(scales), settings, float(fps)
        self._flow = cv2.DISOpticalFlow_create(_PRESETS[settings.flow_preset])
        self._flow.setFinestScale(0)  # at the image's own resolution (the presets stop at a quarter of it)
        self._flow.setVariationalRefinementIterations(settings.flow_refine)
        self._ratio = settings.crop / settings.flow_size  # motion in crop pixels
        self._cells, self._ref = _cells(settings.flow_size)
        y0, y1, x0, x1 = self._cells.T
        centres = np.column_stack([(x0 + x1) / 2, (y0 + y1) / 2])
        self._affine = (
            AffineFit(settings.flow_size, centres - 0.5, settings.rigid_area, settings.rigid)
            if settings.rigid != "nose"
            else None
        )
        self._every = max(1, int(round(settings.anchor_every_s * fps)))
        self._positions: list[np.ndarray] = []
        self._segments: list[int] = []
        self._anchor: np.ndarray | None = None
        self._anchor_pos = np.zeros((len(self._cells), 2))
        self._anchor_t, self._segment = 0, -1

    def push(self, face: np.ndarray | None) -> None:
        """Add the next frame's aligned face (``None``: no face on this frame)."""
        import cv2

        t = len(self._positions)
        n = len(self._cells)
        if face is None:
            self._anchor = None  # a gap: the next face starts a new segment, not comparable with this one
            self._positions.append(np.full((n, 2), np.nan))
            self._segments.append(-1)
            return
        size = self.settings.flow_size
        img = face if face.shape[0] == size else cv2.resize(face, (size, size), interpolation=cv2.INTER_AREA)
        if self._anchor is None:
            self._anchor, self._anchor_pos, self._anchor_t = img, np.zeros((n, 2)), t
            self._segment += 1
            self._positions.append(self._anchor_pos)
        else:
            f = self._flow.calc(self._anchor, img, None)
            if self._affine is None:
                moved = _cell_means(f, self._cells) - np.median(f[self._ref].reshape(-1, 2), axis=0)
            else:
                moved = _cell_means(f, self._cells) - self._affine(f)
            pos = self._anchor_pos + self._ratio * moved
            self._positions.append(pos)
            if t - self._anchor_t >= self._every:
                self._anchor, self._anchor_pos, self._anchor_t = img, pos, t
        self._segments.append(self._segment)

    def result(self) -> MotionSignals:
        """``M_k(t)`` of every frame pushed so far."""
        n_regions = len(REGIONS)
        t_len = len(self._positions)
        motion = np.full((t_len, len(self.scales), n_regions), np.nan, np.float32)
        seg = np.asarray(self._segments, dtype=np.int64)
        if t_len:
            pos = despike(np.stack(self._positions), seg, self.settings.spike_px)  # (T, quarters, 2)
            for i, k in enumerate(self.scales):
                if k >= t_len:
                    continue
                step = pos[k:] - pos[:-k]  # each quarter's own movement from t - k to t
                length = np.hypot(step[..., 0], step[..., 1]).reshape(t_len - k, n_regions, 4).max(axis=2)
                same = (seg[k:] == seg[:-k]) & (seg[k:] >= 0)
                motion[k:, i] = np.where(same[:, None], length, np.nan)
        positions = pos.astype(np.float32) if t_len else np.zeros((0, len(self._cells), 2), np.float32)
        return MotionSignals(self.scales, motion, seg >= 0, self.fps, positions, seg)


def despike(positions: np.ndarray, segments: np.ndarray, px: float) -> np.ndarray:
    """Positions with brief jumps of the whole face (one or two frames) replaced by their running median.

    Each quarter's track is compared with its running median over 5 frames (within one stretch of faces).  A
    frame where the quarters sit, by their median, more than ``px`` crop pixels from it is a measurement that
    failed there (a motion-blurred or duplicated frame, a landmark fit thrown by a blink): every region then seems
    to move and come straight back, which the transient score takes for the sharpest of expressions.  Its
    positions become the running median's.  No facial movement moves most of the face's quarters for a frame
    or two only (a micro-expression lasts at least 0.2 s and moves a few regions), and a running median keeps
    a ramp or a step as it is, so every expression is kept.  ``px`` 0 leaves the positions as they are.

    Examples
    --------
    >>> pos = np.zeros((9, 3, 2)); pos[3:5] = 8.0  # every quarter jumps on frames 3 and 4 only
    >>> despike(pos, np.zeros(9, int), 1.0)[:, 0, 0].tolist()
    [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    >>> step = np.zeros((9, 3, 2)); step[4:] = 2.0  # the face steps by 2 px and stays there: kept
    >>> bool((despike(step, np.zeros(9, int), 1.0) == step).all())
    True
    """
    from scipy.ndimage import median_filter

    out = np.array(positions, dtype=np.float64, copy=True)
    if px <= 0 or len(out) < 5:
        return out
    seg = np.asarray(segments)
    for s in np.unique(seg[seg >= 0]):
        idx = np.flatnonzero(seg == s)
        if len(idx) < 5:
            continue
        track = out[idx]
        smooth = median_filter(track, size=(5, 1, 1), mode="nearest")
        with np.errstate(invalid="ignore"):
            off = np.nanmedian(np.hypot(*(track - smooth).transpose(2, 0, 1)), axis=1)
        bad = off > px
        out[idx[bad]] = smooth[bad]
    return out


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
    state = RegionMotion(scales, settings, fps)
    for t, face in enumerate(faces):
        state.push(face)
        if on_frame is not None:
            on_frame(t)
    return state.result()
