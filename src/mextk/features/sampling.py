"""Key-frame choice."""

from __future__ import annotations

import numpy as np


def pick_apex(
    n_frames: int,
    *,
    onset: int | None,
    apex: int | None,
    offset: int | None,
    rng: np.random.Generator,
) -> int:
    """The frame a single-frame model looks at: the apex, or a random frame for clips without one.

    No-ME clips have no apex; following CMED (section IV-A) a frame drawn
    uniformly between onset and offset stands in for it.  Missing boundaries
    default to the clip's first and last frame.  Pass a seeded ``rng`` for
    reproducible choices.

    Examples
    --------
    >>> pick_apex(30, onset=2, apex=9, offset=20, rng=np.random.default_rng(0))
    9
    >>> 2 <= pick_apex(30, onset=2, apex=None, offset=20, rng=np.random.default_rng(0)) <= 20
    True
    """
    if apex is not None:
        if not 0 <= apex < n_frames:
            raise ValueError(f"apex {apex} outside a clip of {n_frames} frames")
        return int(apex)
    lo = 0 if onset is None else int(onset)
    hi = n_frames - 1 if offset is None else int(offset)
    if not 0 <= lo <= hi < n_frames:
        raise ValueError(f"bad onset/offset {onset}/{offset} for a clip of {n_frames} frames")
    # A random frame strictly after the onset where possible (the onset frame itself shows no motion).
    return int(rng.integers(min(lo + 1, hi), hi + 1))


def last_frame(n_frames: int, *, onset: int | None, apex: int | None, offset: int | None) -> int:
    """The last frame of a sample's expression, estimated when the coding sheet left the offset unknown.

    A coded offset is returned as it is.  An unknown offset (CAS(ME)^3 Part A has two rows with
    offset 0, a coding gap) is estimated from the onset and apex as ``apex + (apex - onset)``: the
    release mirrors the onset-to-apex rise, which is what the symmetric rise and fall of the ME
    literature's key-frame models assume.  The clip's last frame is *not* used, because a folder may
    hold a whole long video (CAS(ME)^3's ``color`` folders).  Without an apex either, the clip's last
    frame is all there is.  The result is kept inside the clip.

    Examples
    --------
    >>> last_frame(100, onset=10, apex=14, offset=30)
    30
    >>> last_frame(100, onset=10, apex=14, offset=None)
    18
    >>> last_frame(16, onset=10, apex=14, offset=None), last_frame(16, onset=3, apex=None, offset=None)
    (15, 15)
    """
    if offset is not None:
        return int(offset)
    if apex is None:
        return n_frames - 1
    lo = int(apex) if onset is None else int(onset)
    return int(min(n_frames - 1, int(apex) + max(0, int(apex) - lo)))


def uniform_positions(n_frames: int, n: int = 16, *, start: int = 0, stop: int | None = None) -> np.ndarray:
    """``n`` evenly spaced frame positions from ``start`` to ``stop`` (inclusive).

    Positions are fractional when the range holds fewer than ``n`` frames;
    :func:`sample_frames` then interpolates between neighbouring frames.

    Examples
    --------
    >>> uniform_positions(31, 4).tolist()
    [0.0, 10.0, 20.0, 30.0]
    >>> uniform_positions(4, 7).tolist()
    [0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0]
    """
    stop = n_frames - 1 if stop is None else stop
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if not 0 <= start <= stop < n_frames:
        raise ValueError(f"bad range [{start}, {stop}] for a clip of {n_frames} frames")
    if n == 1:
        return np.array([(start + stop) / 2.0])
    return np.linspace(start, stop, n)


def adaptive_positions(onset: int, apex: int, offset: int, n: int = 16) -> np.ndarray:
    """``n`` frame positions built around the onset, apex and offset (temporal adaptive sampling).

    DFME (section 4.2.3) samples 16 key frames "based on the annotated onset,
    apex and offset" without giving the rule.  mextk's rule: the onset, apex
    and offset are always sampled; the other frames are shared between the
    rising phase (onset to apex) and the falling phase (apex to offset) in
    proportion to their lengths (at least one each when ``n >= 5``), and
    within a phase they are spaced by a cosine so that they crowd towards the
    apex, where the movement peaks, and thin out towards onset and offset.
    Short phases give fractional positions (interpolated by
    :func:`sample_frames`).

    Examples
    --------
    >>> p = adaptive_positions(0, 10, 20, n=5)
    >>> p[0], p[2], p[-1]
    (np.float64(0.0), np.float64(10.0), np.float64(20.0))
    """
    if not 0 <= onset <= apex <= offset:
        raise ValueError(f"need 0 <= onset <= apex <= offset, got {onset}, {apex}, {offset}")
    if n < 3:
        raise ValueError(f"adaptive sampling needs n >= 3 (onset, apex, offset), got {n}")
    rest = n - 3
    rise, fall = apex - onset, offset - apex
    if rise + fall == 0:
        return np.full(n, float(apex))
    k_rise = int(round(rest * rise / (rise + fall)))
    if rest >= 2:
        k_rise = min(max(k_rise, 1 if rise > 0 else 0), rest - (1 if fall > 0 else 0))
    k_fall = rest - k_rise

    def phase(a: int, b: int, k: int, towards_end: bool) -> np.ndarray:
        # k inner points between a and b, denser near the apex end (cosine spacing)
        u = np.arange(1, k + 1) / (k + 1)
        w = np.sin(u * np.pi / 2) if towards_end else 1 - np.cos(u * np.pi / 2)
        return a + (b - a) * w

    return np.concatenate(
        [[onset], phase(onset, apex, k_rise, True), [apex], phase(apex, offset, k_fall, False), [offset]]
    ).astype(np.float64)


def sample_frames(volume: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Frames at (possibly fractional) positions, linearly interpolated in time.

    Parameters
    ----------
    volume : numpy.ndarray
        ``(T, H, W)`` or ``(T, H, W, C)`` clip.
    positions : numpy.ndarray
        Frame positions in ``[0, T - 1]``.

    Returns
    -------
    numpy.ndarray
        ``(len(positions), ...)``; integer inputs give the same dtype (rounded),
        float inputs stay float.

    Examples
    --------
    >>> v = np.arange(3, dtype=np.float32).reshape(3, 1, 1)
    >>> sample_frames(v, np.array([0.0, 0.5, 2.0])).ravel().tolist()
    [0.0, 0.5, 2.0]
    """
    positions = np.asarray(positions, dtype=np.float64)
    t = volume.shape[0]
    if positions.size and (positions.min() < 0 or positions.max() > t - 1):
        raise ValueError(f"positions must lie in [0, {t - 1}]")
    lo = np.floor(positions).astype(int)
    hi = np.minimum(lo + 1, t - 1)
    frac = (positions - lo).reshape(-1, *([1] * (volume.ndim - 1)))
    out = volume[lo].astype(np.float64) * (1 - frac) + volume[hi].astype(np.float64) * frac
    if np.issubdtype(volume.dtype, np.integer):
        return np.rint(out).astype(volume.dtype)
    return out.astype(volume.dtype)
