"""Ordering of names as people expect them."""

from __future__ import annotations

import re
from typing import Any


def natural_key(text: object) -> tuple[Any, ...]:
    """Sort key that orders embedded numbers by value: ``sub_2`` before ``sub_10``, ``img9`` before ``img10``.

    Examples
    --------
    >>> sorted(["sub_10", "sub_2", "Sub_1"], key=natural_key)
    ['Sub_1', 'sub_2', 'sub_10']
    """
    return tuple((0, int(t), "") if t.isdigit() else (1, 0, t.lower()) for t in re.split(r"(\d+)", str(text)))
