"""How several raters' answers become one: DFME's rules (section 3.3.2) as pure functions.

* Key frames: the median of the raters' onsets, apexes and offsets.  DFME uses
  five raters, so the median is one of their frames; with an even count this
  takes the *lower* median, so the result is always a frame some rater chose
  (the mean of the middle two could fall between frames).
* Micro or macro: DFME's duration rule, :func:`mextk.intervals.expression_type`
  (under 500 ms, or under 250 ms from onset to apex, is micro).  Both are kept.
* Emotion: the class that *more than* ``share`` (one half) of the raters
  chose; none (the segment is flagged for discussion) otherwise.
* Action units: codes are normalised to ``AU12``, or ``L-AU12`` / ``R-AU12``
  for one side (DFME's ``L/R-AU`` notation); a sided code and the unsided one
  are different codes.
"""

from __future__ import annotations

import re
from collections import Counter

_AU = re.compile(r"^(?:([LR])\s*-?\s*)?(?:AU)?\s*(\d{1,2})$", re.IGNORECASE)


def lower_median(values: list[int]) -> int:
    """The median of integers; with an even count, the lower of the middle two.

    Examples
    --------
    >>> lower_median([12, 10, 11, 30, 9]), lower_median([4, 1, 3, 2])
    (11, 2)
    """
    if not values:
        raise ValueError("the median of no values")
    ordered = sorted(values)
    return ordered[(len(ordered) - 1) // 2]


def median_keyframes(marks: list[tuple[int, int | None, int]]) -> tuple[int, int | None, int]:
    """The combined ``(onset, apex, offset)`` of raters' marks; the apex from those who gave one (``None``: nobody).

    The combined apex is clamped into the combined onset..offset, which the
    medians of three separate lists need not respect.
    """
    onset = lower_median([m[0] for m in marks])
    offset = lower_median([m[2] for m in marks])
    apexes = [m[1] for m in marks if m[1] is not None]
    apex = None if not apexes else min(max(lower_median(apexes), onset), offset)
    return onset, apex, offset


def majority_label(labels: list[str], *, share: float = 0.5) -> str | None:
    """The label that more than ``share`` of the raters chose, or ``None``.

    Examples
    --------
    >>> majority_label(["fear"] * 4 + ["anger"] * 3), majority_label(["fear"] * 3 + ["anger"] * 3 + ["sadness"])
    ('fear', None)
    """
    if not labels:
        return None
    label, n = Counter(labels).most_common(1)[0]
    return label if n > share * len(labels) else None


def normalise_au(code: str) -> str:
    """One action-unit code as ``AU12``, ``L-AU12`` or ``R-AU12``; ``ValueError`` for anything else.

    Examples
    --------
    >>> normalise_au("12"), normalise_au("au4"), normalise_au("R12"), normalise_au("L-AU10")
    ('AU12', 'AU4', 'R-AU12', 'L-AU10')
    """
    m = _AU.match(str(code).strip())
    if not m:
        raise ValueError(f"{code!r} is not an action unit (AU12, R-AU12, L12, ...)")
    side, number = m.group(1), int(m.group(2))
    return f"{side.upper()}-AU{number}" if side else f"AU{number}"


def parse_aus(text: str | list[str]) -> list[str]:
    """A set of AU codes from ``"4+7, R12"`` or a list, normalised, each once, in AU order."""
    tokens = text if isinstance(text, list) else [t for t in re.split(r"[\s+,;]+", str(text)) if t]
    codes = {normalise_au(t) for t in tokens}
    return sorted(codes, key=au_sort_key)


def au_sort_key(code: str) -> tuple[int, str]:
    """Sort AU codes by number, then side (``AU12`` before ``L-AU12`` before ``R-AU12``)."""
    number = int(re.sub(r"\D", "", code) or 10**6)
    return number, code.split("-")[0] if "-" in code else ""
