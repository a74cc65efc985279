"""The training-free spotter calibrated to a stated false-alarm rate on calm real faces.

A spotter's score is a robust z within each video (:mod:`mextk.spotting.baseline`): it says how a peak
stands out of that video's own motion, not how often a face that expresses nothing gives such a peak.
A *calibration* answers the second question.  It holds every candidate that the spotter finds, at a low
threshold, on calm real footage (people talking or listening with no elicited expression, so every
candidate is a false alarm), per type, and the minutes of that footage.  From it:

* :meth:`Calibration.threshold`: the least score with at most ``per_minute`` candidates a minute on the calm
  footage (:func:`mextk.spotting.false_alarms.calibrate_threshold`); ``mextk spot`` and ``mextk analyze``
  use it with ``--false-alarms-per-minute`` (1 by default, for micro- and for macro-expressions each);
* :meth:`Calibration.per_minute` and :meth:`Calibration.once_every`: how often an event at least this strong
  happens on calm faces, written beside each event (``calm_per_min``) so that a reader can weigh it.

A calibration is only valid for the settings that made it: every spotter setting except the threshold and
the calibration's own enters its ``settings``, and :meth:`Calibration.check` refuses other ones by name.
mextk ships one (:func:`packaged`), made by ``mextk spot-calibrate`` from the calm clips of mextk's real
reference footage (see ``docs/guide/spotting.md``); ``mextk spot-calibrate`` makes one from your own calm
footage, which is better when your cameras, rooms and people differ.

The rate of a threshold measured on the footage that set it is optimistic; ``benchmarks/spotting.py`` reports
the honest one, each clip judged by the threshold that the other clips set.  Calm footage is short (minutes), so
a rate below one per the footage's length cannot be told from zero: a threshold for 0.5 a minute on 1.8
minutes of footage allows no candidate at all.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mextk.spotting.false_alarms import calibrate_threshold, leave_one_group_out, video_minutes

#: The spotter settings that a calibration does not depend on.
FREE_SETTINGS = ("threshold", "false_alarms_per_minute", "calibrated_types", "calibration")
#: The interval types calibrated.
TYPES = ("micro", "macro")
#: Where the packaged calibration lives inside the package.
PACKAGED = "data/calm_reference.json"


def calibrated_settings(settings: Any) -> dict[str, Any]:
    """The settings a calibration depends on: every field of ``settings`` but :data:`FREE_SETTINGS`."""
    return {k: v for k, v in json.loads(json.dumps(asdict(settings), default=list)).items() if k not in FREE_SETTINGS}


@dataclass(frozen=True)
class Calibration:
    """Candidate scores on calm footage, per type, and the footage's minutes (see the module docstring).

    Attributes
    ----------
    scores : dict of str to tuple of float
        Per type (``micro``, ``macro``), the scores of every candidate found at ``floor`` or above.
    minutes : float
        Length of the calm footage.
    floor : float
        The threshold the candidates were listed at; no threshold below it can be calibrated.
    settings : dict
        :func:`calibrated_settings` of the spotter that listed them.
    footage : tuple of str
        What the footage was (video ids, never paths).
    held_out : dict of str to list of float
        The honest rate of the rule, by requested rate (``"1"``: 1 a minute): each person's footage judged by
        the threshold that the others' set, micro-expressions a minute pooled, with its 95% exact interval
        (``[rate, lower, upper]``); empty where the footage has fewer than two people.
    """

    scores: dict[str, tuple[float, ...]]
    minutes: float
    floor: float
    settings: dict[str, Any]
    footage: tuple[str, ...] = field(default_factory=tuple)
    held_out: dict[str, list[float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.minutes > 0:
            raise ValueError(f"a calibration needs calm footage of positive length, got {self.minutes} minutes")

    def _scores(self, kind: str) -> np.ndarray:
        if kind not in TYPES:
            raise ValueError(f"unknown interval type {kind!r}; types: {', '.join(TYPES)}")
        return np.asarray(self.scores.get(kind, ()), dtype=float)

    def threshold(self, per_minute: float, kind: str) -> float:
        """The least score with at most ``per_minute`` ``kind`` candidates a minute on the calm footage (at
        least :attr:`floor`)."""
        return max(self.floor, calibrate_threshold(self._scores(kind), self.minutes, per_minute))

    def per_minute(self, score: float, kind: str) -> float:
        """Calm-footage ``kind`` candidates a minute scoring ``score`` or more (0 where none did)."""
        return float((self._scores(kind) >= score).sum()) / self.minutes

    def once_every(self, score: float, kind: str) -> float:
        """Minutes between calm-footage candidates at least this strong (``inf`` where none was)."""
        rate = self.per_minute(score, kind)
        return 1.0 / rate if rate > 0 else float("inf")

    def check(self, settings: Any) -> None:
        """Raise ``ValueError`` naming each setting of ``settings`` that differs from the calibration's."""
        mine = calibrated_settings(settings)
        differ = sorted(k for k in {*mine, *self.settings} if mine.get(k) != self.settings.get(k))
        if differ:
            shown = ", ".join(f"{k} ({self.settings.get(k)!r} there, {mine.get(k)!r} here)" for k in differ[:4])
            raise ValueError(
                f"the calm-footage calibration was made with other spotter settings: {shown}; make one for these "
                "settings with 'mextk spot-calibrate', or set calibration= (empty) to use the z threshold alone"
            )

    def to_json(self) -> dict[str, Any]:
        return {
            "minutes": self.minutes,
            "floor": self.floor,
            "footage": list(self.footage),
            "held_out": self.held_out,
            "settings": self.settings,
            "scores": {k: [float(s) for s in sorted(v, reverse=True)] for k, v in self.scores.items()},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Calibration:
        return cls(
            scores={k: tuple(float(s) for s in v) for k, v in data["scores"].items()},
            minutes=float(data["minutes"]),
            floor=float(data["floor"]),
            settings=dict(data["settings"]),
            footage=tuple(data.get("footage", ())),
            held_out={str(k): [float(x) for x in v] for k, v in data.get("held_out", {}).items()},
        )

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the calibration as JSON (atomically)."""
        from mextk.io.atomic import write_json_atomic

        write_json_atomic(Path(path), self.to_json())
        return Path(path)


def load_calibration(path: str | os.PathLike[str]) -> Calibration:
    """A calibration written by :meth:`Calibration.save`; a missing or malformed file is a one-line error."""
    p = Path(path)
    try:
        return Calibration.from_json(json.loads(p.read_text()))
    except FileNotFoundError:
        raise ValueError(f"{p}: calibration file not found") from None
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{p}: not a spotter calibration ({exc})") from None


def packaged() -> Calibration:
    """The calibration shipped with mextk (mextk's calm real reference clips; see the module docstring)."""
    text = resources.files("mextk.spotting").joinpath(PACKAGED).read_text()
    return Calibration.from_json(json.loads(text))


def resolve(settings: Any) -> Calibration | None:
    """The calibration ``settings.calibration`` names (``"packaged"``, a file, or empty for none), checked
    against ``settings``."""
    name = str(getattr(settings, "calibration", "") or "")
    if not name:
        return None
    cal = packaged() if name == "packaged" else load_calibration(name)
    cal.check(settings)
    return cal


def calibrate(candidates: pd.DataFrame, videos: pd.DataFrame, settings: Any, *, floor: float) -> Calibration:
    """A calibration from a spotter's candidates on calm footage.

    Parameters
    ----------
    candidates : DataFrame
        The spotter's intervals (``type``, ``score``; rows without an onset are videos without any), found at
        threshold ``floor`` with ``settings``.
    videos : DataFrame
        Every calm video looked at (``dataset``, ``video_id``, ``fps``, ``n_frames``, and ``subject``), with or
        without candidates: their minutes add up.  With two or more subjects, the rule's honest rate is measured
        leaving one subject (all of their videos) out, for 0.5, 1, 2 and 5 micro-expressions a minute
        (:attr:`Calibration.held_out`).
    """
    events = candidates[candidates["onset"].notna()] if len(candidates) else candidates
    scores: dict[str, Sequence[float]] = {
        kind: tuple(float(s) for s in events[events["type"] == kind]["score"]) if len(events) else () for kind in TYPES
    }
    ids = tuple(sorted(str(v) for v in videos["video_id"].unique()))
    held_out: dict[str, list[float]] = {}
    if "subject" in videos and videos["subject"].nunique() >= 2:
        subject = {str(v): str(s) for v, s in zip(videos["video_id"], videos["subject"], strict=True)}
        for per_minute in (0.5, 1.0, 2.0, 5.0):
            rate = leave_one_group_out(events, videos, subject, per_minute).attrs["rate"]
            held_out[f"{per_minute:g}"] = [float(x) for x in rate]
    return Calibration(
        scores={k: tuple(v) for k, v in scores.items()},
        minutes=float(video_minutes(videos).sum()),
        floor=float(floor),
        settings=calibrated_settings(settings),
        footage=ids,
        held_out=held_out,
    )


def calibration_note(settings: Any, calibration: Calibration | None) -> dict[str, Any] | None:
    """What a report states about the thresholds: the stated rate, the calm footage, and the held-out rate."""
    if calibration is None:
        return None
    rate = float(settings.false_alarms_per_minute)
    return {
        "per_minute": rate,
        "types": list(settings.calibrated_types),
        "minutes": calibration.minutes,
        "videos": len(calibration.footage),
        "held_out": calibration.held_out.get(f"{rate:g}"),
        "source": "mextk's calm reference footage" if settings.calibration == "packaged" else "your calm footage",
    }
