"""Spotter settings changed by name: ``threshold=4``, ``motion.crop=112`` (the CLI's ``--set``), each value
read as the type of the setting it changes."""

from __future__ import annotations

from dataclasses import fields, is_dataclass, replace
from typing import Any


def _coerce(value: Any, current: Any) -> Any:
    if isinstance(current, bool):
        return value if isinstance(value, bool) else str(value).lower() in ("1", "true", "yes", "on")
    if isinstance(current, int):
        return int(value)
    if isinstance(current, float):
        return float(value)
    if isinstance(current, tuple):
        items = value if isinstance(value, (list, tuple)) else [v for v in str(value).split(",") if v.strip()]
        if current and all(isinstance(v, str) for v in current):
            return tuple(str(v).strip() for v in items)
        return tuple(float(v) for v in items)
    return value


def with_settings(settings: Any, changes: dict[str, Any]) -> Any:
    """A copy of a settings dataclass with ``changes`` (``motion.crop`` reaches the nested one); unknown keys fail."""
    nested: dict[str, dict[str, Any]] = {}
    flat: dict[str, Any] = {}
    names = {f.name: f for f in fields(settings)}
    for key, value in changes.items():
        head, _, rest = key.partition(".")
        if head not in names:
            raise ValueError(f"unknown spotter setting {key!r}; settings: {', '.join(names)}")
        if rest:
            nested.setdefault(head, {})[rest] = value
        else:
            flat[head] = _coerce(value, getattr(settings, head))
    for head, sub in nested.items():
        inner = getattr(settings, head)
        if not is_dataclass(inner):
            raise ValueError(f"spotter setting {head!r} has no parts")
        flat[head] = with_settings(inner, sub)
    return replace(settings, **flat)
