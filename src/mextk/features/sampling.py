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
