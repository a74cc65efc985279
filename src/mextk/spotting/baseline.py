"""The training-free spotter: transient region motion, robust peaks, non-maximum suppression.

From the region motion ``M_k(t)`` of :mod:`mextk.spotting.motion` (the motion
of each facial region between frames ``t - k`` and ``t``), the *transient
score* of a region at scale ``k`` is::

    S_k(t) = max(0, min(M_k(t), M_k(t + k)) - M_2k(t + k))

Frame ``t`` must differ from the frame ``k`` before it *and* from the frame
``k`` after it, while those two frames must look alike: the face left its
neutral state and came back, which is what an expression of about ``2k``
frames does around its apex.  A lasting change (the head settles somewhere
else, a macro-expression's rise seen at a micro scale) differs from one side
only, or leaves ``t - k`` and ``t + k`` apart, and scores near 0.  This is the
feature-difference idea of MEGC's baselines (Li et al., FG 2019; He et al.,
MEGC 2020: compare a frame with the average of its neighbours ``k`` away) in
a form that also rejects steps.  The scores of the ``top_regions`` most moving
regions are averaged.  Blinks move the brows a little too; a peak where an
eye's own transient score is more than ``blink_ratio`` times the regions' is
taken for a blink and dropped (an expression moves its regions at least as
much as the eyes).

Peaks: per video and scale, the score is put on a robust z scale (median and
1.4826 x the median absolute deviation), and peaks at least ``threshold`` above
the median, at least ``min_motion_px`` crop pixels, and ``k`` frames apart are
kept (``scipy.signal.find_peaks``), as MEGC's baselines threshold a video's
own signal.  A peak at ``p`` proposes the interval ``[p - k, p + k]``.

Speech.  On real calm footage nearly every false alarm is the mouth (the mouth corners and the upper lip) while
the person talks: articulation moves the lips several times a second, so at a micro scale speech is a train of
transients.  With ``speech_discount`` ``a`` (1.5 by default), each lower-face region's transient score is
lowered by ``a`` times the *speech level* (:func:`speech_level`: how much more the lower face moves than the
upper face, as running medians over ``speech_window_s`` seconds of ``M_k``); the brows and glabella, which
speech leaves alone, are never discounted.  At the micro scale only by default (``speech_macro``): the
synthetic long videos' held expressions raise the lower face's median as speech does, and discounting the
macro scales too cut their pooled macro F1 (tuning seeds 3-5) from 0.69 to 0.34.  ``min_motion_iod`` is a floor
in face-relative units: a peak must move at least that many thousandths of the inter-ocular distance (the
aligned crop's eye centres are ``0.4 crop`` apart); off by default.

Calibration.  The robust z says how a peak stands out of its own video, not how often a face that expresses
nothing gives one.  With a calibration (:mod:`mextk.spotting.calibration`; mextk ships one made on its calm
real reference footage), the micro-expression threshold is raised to the least z with at most
``false_alarms_per_minute`` (1) candidates a minute on that calm footage, and every interval carries
``calm_per_min``, the calm footage's rate of candidates at least as strong.

Measured (``benchmarks/spotting.py`` and the session notes of 2026-12-07; these choices were made while looking at
the calm clips, so their rate there is not held out: the benchmark's leave-one-clip-out rate is): on mextk's calm
reference clips the defaults before (no speech discount, nose-bridge shift, z 3.5) gave 24 micro-expressions a
minute; the speech discount with the similarity fit, 1.7; calibrated, at most 1 by construction (1.7 when each
clip is judged by the threshold the others set; 1.1 once brief whole-face jumps are taken out,
``MotionSettings.spike_px``).  Macro-expressions a minute there: 1.7 before, 9.5 with the
micro-scale discount alone, 2.2 with ``speech_explains``.  Pooled F1 on the synthetic long videos, held-out
seeds 7, 11, 12, 13: 0.708 before, 0.686 now (tuning seeds 3-5: 0.667 before, 0.757 now).

Scales follow the frame rate.  Micro: ``k`` = ``micro_k_s`` seconds (0.2 s:
SOFTNet's k is 6 frames at 30 fps and 37 at 200 fps, about 0.19 s; intervals
of about 0.4 s).  Macro: each of ``macro_k_s`` (0.5, 1 and 1.5 s: intervals of
1 to 3 s).  A short event also scores at every larger scale (frames ``k``
away on both sides are neutral for any ``k`` past its half-length), so a
candidate yields to one at a smaller scale whose apex lies inside it and whose
motion is at least ``finer`` (half) of its own: the smallest scale that
explains an event fits it best.  The rest are ranked by their z score, and one
whose shorter interval shares at least ``overlap`` (half) of its frames with a
better one is dropped (non-maximum suppression); what still overlaps a better
one is cut back to its own frames (:func:`mextk.intervals.separate`), so the
events of one video never overlap.  An interval's type is its scale's.

The ends are measured (``ends="measured"``, :func:`measured_ends`): on the region quarter that moved most
around the apex, the onset is where 90% of the movement into the apex was still to come, the offset where 90%
of the movement back from it is done.  Candidates are compared and suppressed with these ends.  Measured
ends tried earlier, from the scores rather than the face's positions, lost matches on the synthetic tuning sets
(seeds 3-5, pooled F1 0.667 with the window at the time): the frames where the transient score stays above
10-50% of its peak gave 0.11-0.44 (the subtraction of ``M_2k`` narrows it to the event's middle); where
``min(M_k(t), M_k(t + k))`` does, 0.27-0.61; the mean of those ends and the window's, 0.50-0.655.  The
positions keep every match of the window (F1 0.757 on seeds 3-5 with both) and fit the matched intervals
closer (mean IoU 0.92 against 0.77 for micro-expressions).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from mextk.intervals import moving_average, peak_frames, separate, suppress
from mextk.spotting.motion import (
    EXPRESSION_REGIONS,
    EYE_REGIONS,
    REGIONS,
    FaceAligner,
    MotionSettings,
    MotionSignals,
    RegionMotion,
)

#: The regions that speech moves (the upper lip, the mouth corners): discounted during articulation.
SPEECH_REGIONS: tuple[str, ...] = ("nose_lip", "mouth_left", "mouth_right")
#: The regions that speech leaves alone (the brows, the glabella): the face's own level of motion without speech.
UPPER_REGIONS: tuple[str, ...] = ("brow_left", "brow_right", "glabella")


@dataclass(frozen=True)
class SpotterSettings:
    """Settings of the training-free spotter (see the module docstring).

    Attributes
    ----------
    micro_k_s : float
        Half-width of a micro-expression interval, seconds.
    macro_k_s : tuple of float
        Half-widths of macro-expression intervals, seconds.
    threshold : float
        Least robust z score of a peak.
    min_motion_px : float
        Least transient score of a peak, in aligned-crop pixels.
    top_regions : int
        Regions whose scores are averaged (the most moving ones).
    smooth : float
        The score is averaged over this share of ``k`` frames (centred) before peaks are sought.
    blink_ratio : float
        A peak where an eye's transient score exceeds this many times the regions' is a blink, and dropped.
    finer : float
        A candidate yields to one at a smaller scale whose apex lies in it and whose motion is at least this
        share of its own (the same event, fitted tighter).
    overlap : float
        Share of the shorter interval's frames above which the weaker of two candidates is dropped.
    speech_discount : float
        Times the speech level that a lower-face region's transient score is lowered by (0: not at all; see the
        module docstring).
    speech_window_s : float
        Length of the running median of the speech level, seconds.
    speech_macro : bool
        Discount at the macro-expression scales too (else at the micro scale only).
    speech_explains : bool
        A micro-scale transient that only the discount silenced still wins over a larger scale's candidate at the
        same moment (``finer``), so the mouth's speech does not come back as macro-expressions.
    min_motion_iod : float
        Least transient score of a peak in thousandths of the inter-ocular distance (0: only ``min_motion_px``).
    false_alarms_per_minute : float
        With a calibration, each type's threshold is raised to the least score that gives at most this many
        candidates a minute on the calibration's calm footage (:mod:`mextk.spotting.calibration`).
    calibrated_types : tuple of str
        The interval types whose threshold is calibrated.  Micro-expressions only, by default: on mextk's calm
        reference footage the macro-scale candidates are mostly the mouth while people talk, and a macro
        threshold for 1 a minute there (z 7.1) cut the pooled macro F1 on the synthetic long videos (seeds 7,
        11, 12, 13) from 0.609 to 0.476 (at 5 a minute, to 0.567); micro-expressions, the ones a report is read
        for, keep the stated rate.
    calibration : str
        ``"packaged"`` (mextk's own calm reference footage), a calibration file from ``mextk spot-calibrate``,
        or empty: ``threshold`` alone.
    ends : str
        ``"measured"``: each interval's onset and offset are measured on the movement of the face
        (:func:`measured_ends`); ``"window"``: the window ``[apex - k, apex + k]`` of its scale.
    ends_fraction : float
        The share of the movement to or from the apex at which :func:`measured_ends` places the ends.
    motion : MotionSettings
        How region motion is measured.
    """

    micro_k_s: float = 0.2
    macro_k_s: tuple[float, ...] = (0.5, 1.0, 1.5)
    threshold: float = 3.5
    min_motion_px: float = 0.15
    top_regions: int = 2
    blink_ratio: float = 2.0
    smooth: float = 0.5
    finer: float = 0.5
    overlap: float = 0.5
    speech_discount: float = 1.5
    speech_window_s: float = 1.0
    speech_macro: bool = False
    speech_explains: bool = True
    min_motion_iod: float = 0.0
    false_alarms_per_minute: float = 1.0
    calibrated_types: tuple[str, ...] = ("micro",)
    calibration: str = "packaged"
    ends: str = "measured"
    ends_fraction: float = 0.9
    motion: MotionSettings = field(default_factory=MotionSettings)

    def __post_init__(self) -> None:
        if self.ends not in ("measured", "window"):
            raise ValueError(f"ends must be 'measured' or 'window', got {self.ends!r}")
        if not 0 < self.ends_fraction <= 1:
            raise ValueError(f"ends_fraction must be in (0, 1], got {self.ends_fraction}")
        unknown = [t for t in self.calibrated_types if t not in ("micro", "macro")]
        if unknown:
            raise ValueError(f"calibrated_types holds unknown interval types {unknown}; types: micro, macro")
        if self.false_alarms_per_minute < 0:
            raise ValueError(f"false_alarms_per_minute must be at least 0, got {self.false_alarms_per_minute}")

    def motion_floor(self) -> float:
        """The least transient score of a peak in crop pixels: ``min_motion_px`` or ``min_motion_iod``'s, the larger."""
        return max(self.min_motion_px, self.min_motion_iod * 0.4 * self.motion.crop / 1000.0)

    def half_widths(self, fps: float) -> list[tuple[str, int]]:
        """``(type, k)`` per scale, ``k`` in frames at ``fps`` (at least 1; repeated scales once)."""
        out: list[tuple[str, int]] = [("micro", max(1, int(round(self.micro_k_s * fps))))]
        for s in self.macro_k_s:
            k = max(1, int(round(s * fps)))
            if all(k != kk for _, kk in out):
                out.append(("macro", k))
        return out

    def frame_scales(self, fps: float) -> list[int]:
        """Every ``k`` whose motion is measured: each half-width and its double."""
        ks = [k for _, k in self.half_widths(fps)]
        return sorted({*ks, *(2 * k for k in ks)})

    #: The feature cache kind of this spotter's per-video features (:mod:`mextk.spotting.signals`).
    feature_kind = "region_motion"

    def feature_params(self, fps: float) -> dict[str, Any]:
        """What the per-video features depend on at ``fps``."""
        # "arrays": what each video's cache holds (yaw, crowded and positions came later: older caches are redone)
        return {"scales": self.frame_scales(fps), **asdict(self.motion), "arrays": "motion,face,yaw,crowded,positions"}

    def compute_video(self, path: str | os.PathLike[str], fps: float) -> dict[str, np.ndarray]:
        """Decode one video (file or frame folder) and measure its region motion, as arrays to cache.

        The arrays: ``motion``, ``face``, ``positions`` and ``segments`` (:class:`MotionSignals`), ``scales``,
        ``fps``, and per frame the head's ``yaw`` (degrees) and ``crowded`` (another face near it) of
        :class:`FaceAligner`.
        """
        from mextk.io.video import iter_frames

        scales = self.frame_scales(fps)
        aligner = FaceAligner(fps, self.motion)
        state = RegionMotion(scales, self.motion, fps)
        for frame in iter_frames(path, gray=True):
            state.push(aligner.push(frame))
        sig = state.result()
        if not sig.face.any():
            raise ValueError(f"{path}: no face found in any of its {len(sig.face)} frames")
        return _arrays(sig, scales, fps, aligner)

    def compute_clips(self, windows: list[tuple[str, int, int]], fps: float) -> list[dict[str, np.ndarray] | Exception]:
        """:meth:`compute_video` for frames ``[start, stop)`` of several virtual clips of one recording,
        decoded in one pass.

        Returns, per window, its arrays (row ``i`` is clip frame ``start + i``; the motion
        starts afresh at ``start``) or the error that stopped it (the others are unaffected).
        """
        from mextk.io.clipref import iter_shared_clip_frames
        from mextk.io.errors import VideoError

        scales = self.frame_scales(fps)
        aligners = [FaceAligner(fps, self.motion) for _ in windows]
        states = [RegionMotion(scales, self.motion, fps) for _ in windows]
        for i, _, frame in iter_shared_clip_frames(windows, gray=True):
            states[i].push(aligners[i].push(frame))
        out: list[dict[str, np.ndarray] | Exception] = []
        for (path, start, stop), state, aligner in zip(windows, states, aligners, strict=True):
            sig = state.result()
            if len(sig.face) < stop - start:
                out.append(VideoError(f"{path}: its recording ends at clip frame {start + len(sig.face)} of {stop}"))
            else:
                out.append(_arrays(sig, scales, fps, aligner))
        return out

    @staticmethod
    def signals(arrays: dict[str, np.ndarray]) -> MotionSignals:
        """The cached arrays of :meth:`compute_video` as :class:`MotionSignals`."""
        return MotionSignals([int(k) for k in arrays["scales"]], arrays["motion"], arrays["face"], float(arrays["fps"]),
                             arrays.get("positions"), arrays.get("segments"))  # fmt: skip


def _arrays(sig: MotionSignals, scales: list[int], fps: float, aligner: FaceAligner) -> dict[str, np.ndarray]:
    """What :meth:`SpotterSettings.compute_video` caches for one video."""
    n = len(sig.face)
    return {
        "motion": sig.motion,
        "face": sig.face,
        "scales": np.array(scales),
        "fps": np.array(fps),
        "yaw": np.asarray(aligner.yaw[:n], dtype=np.float32),
        "crowded": np.asarray(aligner.crowded[:n], dtype=bool),
        "positions": sig.positions,
        "segments": sig.segments,
    }


def speech_level(motion: MotionSignals, k: int, window_s: float) -> np.ndarray:
    """How much more the lower face moves than the upper face, sustained: the speech level at each frame.

    The running medians (centred windows of ``window_s`` seconds, an odd number of frames, at least 3) of
    ``M_k`` of the most moving of :data:`SPEECH_REGIONS` and of the most moving brow or glabella region
    (:data:`UPPER_REGIONS`); the level is the first minus the second, at least 0.  A quiet face moves its
    lower and upper halves alike (flow noise, the residue of alignment), so its level stays near 0, while
    articulation raises only the lower median.  A long lower-face expression (a smile held for seconds) raises
    it too: that is the price of the discount (see :class:`SpotterSettings`).  Unmeasured frames count as 0.
    Returns ``(T,)`` in crop pixels.
    """
    from scipy.ndimage import median_filter

    i = motion.scales.index(k)
    names = list(REGIONS)
    width = max(3, int(round(window_s * motion.fps)) | 1)

    def sustained(regions: tuple[str, ...]) -> np.ndarray:
        m = motion.motion[:, i, [names.index(r) for r in regions]]
        top = np.max(np.where(np.isnan(m), -np.inf, m), axis=1)
        top = np.where(np.isfinite(top), top, 0.0).astype(np.float64)
        return median_filter(top, size=width, mode="nearest")

    return np.maximum(0.0, sustained(SPEECH_REGIONS) - sustained(UPPER_REGIONS))


def transient_score(
    motion: MotionSignals,
    k: int,
    *,
    top_regions: int = 2,
    regions: tuple[str, ...] = EXPRESSION_REGIONS,
    discount: dict[str, np.ndarray] | None = None,
) -> np.ndarray:
    """``S_k(t)`` of the module docstring before the clipping at 0, averaged over the ``top_regions`` highest regions.

    ``discount`` maps a region to a ``(T,)`` amount subtracted from its score at each frame (the speech level).
    Returns ``(T,)``: ``nan`` where it cannot be measured (no face, or within ``k`` frames of an end).
    The unclipped values are kept so that the noise can be measured on both sides of 0.
    """
    i, j = motion.scales.index(k), motion.scales.index(2 * k)
    names = list(REGIONS)
    m = motion.motion[:, :, [names.index(r) for r in regions]]
    t_len = len(m)
    out = np.zeros(t_len, np.float64)
    if t_len <= k:
        return out
    here = m[: t_len - k, i]  # M_k(t)
    after = m[k:, i]  # M_k(t + k)
    back = m[k:, j]  # M_2k(t + k)
    s = np.minimum(here, after) - back
    for r, amount in (discount or {}).items():
        if r in regions:
            s[:, list(regions).index(r)] -= amount[: t_len - k]
    s = np.where(np.isnan(s), -np.inf, s)
    top = min(top_regions, s.shape[1])
    best = np.sort(s, axis=1)[:, -top:].mean(axis=1)
    out[: t_len - k] = np.where(np.isfinite(best), best, np.nan)
    out[t_len - k :] = np.nan
    return out


def robust_z(x: np.ndarray) -> np.ndarray:
    """``(x - median) / (1.4826 * MAD)`` over the finite values (``nan`` stays ``nan``); a flat signal gives zeros."""
    finite = x[np.isfinite(x)]
    if not len(finite):
        return np.full_like(x, np.nan, dtype=np.float64)
    med = float(np.median(finite))
    mad = float(np.median(np.abs(finite - med))) * 1.4826
    return (x - med) / max(mad, 1e-3)


def measured_ends(motion: MotionSignals, apex: int, k: int, fraction: float = 0.9) -> tuple[int, int]:
    """The onset and offset of an event that peaks at frame ``apex`` at scale ``k``, measured on the face.

    The movement is read on the quarter of an expression region (:data:`EXPRESSION_REGIONS`) that moved most
    from ``apex - k`` to ``apex`` and from ``apex`` to ``apex + k``, from its positions
    (:attr:`MotionSignals.positions`, the head's own motion taken out), within ``2 k`` frames of the apex and
    its stretch of faces.  Going back from the apex, that quarter's distance from its apex position grows while
    the face moves into the expression and stays flat before it began; the onset is the last frame before the
    apex where the distance is at least ``fraction`` of its largest, i.e. where ``fraction`` of the movement
    into the apex was still to come.  The offset is the first frame after the apex where the distance reaches
    ``fraction`` of its largest on that side.  A side whose largest distance is under half the other's did not
    come to rest within the search (the expression began before it, or is held past it) and keeps the window's
    end.  The ends are at least one frame from the apex.  Without positions (signals made by other code), the
    window ``[apex - k, apex + k]``.

    Measured on the synthetic long videos (tuning seeds 3-5; ``benchmarks/spotting.py`` for the held-out ones):
    the intervals that match a true one at IoU >= 0.5 overlap it by 0.92 (micro) and 0.86 (macro) on average,
    against 0.77 and 0.84 for the window, with the same matches; ``fraction`` 0.7 gave 0.82 and 0.80, 0.95 gave
    0.82 and 0.85.

    Examples
    --------
    >>> import numpy as np
    >>> from mextk.spotting.motion import REGIONS
    >>> pos = np.zeros((40, 4 * len(REGIONS), 2), np.float32)
    >>> pos[14:20, 0, 0] = np.linspace(0.5, 3, 6)  # one brow quarter moves 3 px over frames 14-19
    >>> pos[20:26, 0, 0] = np.linspace(2.5, 0, 6)  # and back by frame 25
    >>> pos[20, 0, 0] = 3.0
    >>> sig = MotionSignals([5, 10], np.zeros((40, 2, len(REGIONS))), np.ones(40, bool), 25.0, pos, np.zeros(40, int))
    >>> measured_ends(sig, 20, 5)
    (13, 25)
    """
    pos, seg = motion.positions, motion.segments
    t_len = len(motion.face)
    window_ends = (max(0, apex - k), min(t_len - 1, apex + k))
    if pos is None or seg is None or seg[apex] < 0:
        return window_ends
    names = list(REGIONS)
    cols = np.concatenate([4 * names.index(r) + np.arange(4) for r in EXPRESSION_REGIONS])
    lo, hi = max(0, apex - 2 * k), min(t_len - 1, apex + 2 * k)
    near = np.asarray(pos[lo : hi + 1][:, cols], dtype=np.float64)  # (frames, quarters, 2)
    dist = np.hypot(*(near - near[apex - lo]).transpose(2, 0, 1))
    dist[np.asarray(seg[lo : hi + 1]) != seg[apex]] = np.nan
    dist = np.nan_to_num(dist, nan=0.0)
    before, after = max(lo, apex - k) - lo, min(hi, apex + k) - lo
    q = int(np.argmax(dist[before] + dist[after]))
    back, ahead = dist[: apex - lo + 1, q], dist[apex - lo :, q]
    onset, offset = window_ends
    # a side that moved less than half as far as the other did not come to rest within the search (the
    # expression began before it, or is held past it): its end stays the window's
    if back.max() > 0 and back.max() >= 0.5 * ahead.max():
        onset = lo + int(np.flatnonzero(back >= fraction * back.max()).max())
    if ahead.max() > 0 and ahead.max() >= 0.5 * back.max():
        offset = apex + int(np.flatnonzero(ahead >= fraction * ahead.max()).min())
    return int(max(0, min(onset, apex - 1))), int(min(t_len - 1, max(offset, apex + 1)))


def spot_intervals(
    motion: MotionSignals, settings: SpotterSettings = SpotterSettings(), calibration: Any = None
) -> list[dict[str, Any]]:
    """Intervals spotted in one video's region motion, by onset.

    Each: ``onset``, ``apex``, ``offset``, ``type``, ``score`` (robust z) and ``motion_px``.  With a
    ``calibration`` (:class:`mextk.spotting.calibration.Calibration`, for these settings), each type's threshold
    is at least the calibrated one for ``settings.false_alarms_per_minute``, and each interval also has
    ``calm_per_min``: how many calm-footage candidates a minute scored as high or higher.
    """
    t_len = len(motion.motion)
    floor = settings.motion_floor()
    candidates: list[dict[str, Any]] = []
    for kind, k in settings.half_widths(motion.fps):
        if 2 * k not in motion.scales or t_len <= 2 * k:
            continue
        discount = None
        if settings.speech_discount > 0 and (kind == "micro" or settings.speech_macro):
            level = settings.speech_discount * speech_level(motion, k, settings.speech_window_s)
            discount = {r: level for r in SPEECH_REGIONS}
        raw = transient_score(motion, k, top_regions=settings.top_regions, discount=discount)
        s = moving_average(raw, settings.smooth * k)
        eyes = transient_score(motion, k, top_regions=1, regions=EYE_REGIONS)
        z = robust_z(s)
        height = settings.threshold
        if calibration is not None and kind in settings.calibrated_types:
            height = max(height, calibration.threshold(settings.false_alarms_per_minute, kind))
        peaks = peak_frames(z, height=height, distance=k)
        if discount is not None and settings.speech_explains:
            # the transients that the discount silenced still explain, at this finer scale, what larger scales
            # see at the same moment: speech, not a longer expression
            plain = moving_average(transient_score(motion, k, top_regions=settings.top_regions), settings.smooth * k)
            z_plain = robust_z(plain)
            for p in peak_frames(z_plain, height=height, distance=k):
                if plain[p] >= floor and not any(abs(int(p) - int(q)) <= k for q in peaks):
                    candidates.append({"apex": int(p), "motion_px": float(plain[p]), "k": k, "shadow": True})
        for p in peaks:
            if s[p] < floor:
                continue
            if np.isfinite(eyes[p]) and eyes[p] > settings.blink_ratio * s[p]:
                continue  # the eyes moved far more than any expression region: a blink
            candidates.append(
                {
                    "onset": int(max(0, p - k)),
                    "apex": int(p),
                    "offset": int(min(t_len - 1, p + k)),
                    "type": kind,
                    "score": float(z[p]),
                    "motion_px": float(s[p]),
                    "k": k,
                }
            )
    candidates = [
        c
        for c in candidates
        if not c.get("shadow")
        and not any(
            o["k"] < c["k"]
            and c["onset"] <= o["apex"] <= c["offset"]
            and o["motion_px"] >= settings.finer * c["motion_px"]
            for o in candidates
        )
    ]
    if settings.ends == "measured":
        for c in candidates:
            c["onset"], c["offset"] = measured_ends(motion, c["apex"], c["k"], settings.ends_fraction)
    kept = separate(suppress(candidates, settings.overlap))
    for c in kept:
        del c["k"]
        if calibration is not None:
            c["calm_per_min"] = calibration.per_minute(c["score"], c["type"])
    return kept
