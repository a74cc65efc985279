"""The labelling protocol's rules as pure functions: who may rate an item, what a valid segment is, which class a
label names, and how the raters' answers of a step become one result and the next move.

Nothing here touches the database or the web: :mod:`mextk.annotate.engine` gathers the facts, asks these
rules, and writes what they decide (tested on their own in ``tests/annotate/test_rules.py``).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from mextk.annotate.protocol import Protocol, Step

ROLES = ("admin", "labeller")


class NotFound(LookupError):
    """A task, clip or user that does not exist, or that the asking user may not see (the same to them)."""


class Refused(ValueError):
    """A request that breaks a rule: a bad answer, a task already done, a step the user may not take."""


@dataclass(frozen=True)
class SegmentInput:
    """A segment as a labeller marks it (0-based frames within the clip)."""

    onset: int
    offset: int
    label: str
    apex: int | None = None


def short(value: object, limit: int = 40) -> str:
    """``repr(value)`` cut to ``limit`` characters, for messages that quote what a request sent."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 4] + "...'"


SYSTEM_RANDOM = random.SystemRandom()  # a labeller cannot predict the order from earlier tasks


def shuffled(labels: list[str], rng: random.Random) -> list[str]:
    """The distinct candidate labels in a random order (which step gave which is not kept)."""
    distinct = list(dict.fromkeys(labels))
    rng.shuffle(distinct)
    return distinct


def may_rate(role: str, *, rates_item_already: bool, authored_excluded_step: bool) -> bool:
    """Whether a user may take a task: a labeller, not already a rater of this step on this item (nobody rates
    the same item twice at one step), and not an author of a step this one excludes (blind review)."""
    return role == "labeller" and not rates_item_already and not authored_excluded_step


def class_of(protocol: Protocol, label: object, where: str = "") -> str:
    """The protocol's class that ``label`` names, whatever its case or surrounding space.

    ``" Happiness"`` and ``"happiness"`` are one class, in answers and in imports alike.  Other
    spellings (``"happy"``) are refused: the protocol's classes are what labellers are shown, so
    an import that uses other words is a mistake worth a line (the label cut short).
    """
    if isinstance(label, str):
        key = " ".join(label.split()).casefold()
        for cls in protocol.classes:
            if " ".join(cls.split()).casefold() == key:
                return cls
    prefix = f"{where}: " if where else ""
    raise Refused(f"{prefix}unknown class {short(label)}; choose one of {', '.join(protocol.classes)}")


def check_segment(protocol: Protocol, seg: SegmentInput, n_frames: int, k: int) -> SegmentInput:
    """``seg`` (the ``k``-th of an answer) with its class in the protocol's spelling, or :class:`Refused` naming
    what is wrong: frames that are not integers or not in ``0 <= onset <= apex <= offset < n_frames``, an
    apex missing where the class needs one, or given where it has none."""
    where = f"segment {k + 1}"
    label = class_of(protocol, seg.label, where)
    for name, value in (("onset", seg.onset), ("offset", seg.offset), ("apex", seg.apex)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise Refused(f"{where}: {name} must be an integer frame number, got {short(value)}")
    if not 0 <= seg.onset <= seg.offset < n_frames:
        raise Refused(f"{where}: need 0 <= onset <= offset < {n_frames}, got onset {seg.onset}, offset {seg.offset}")
    if protocol.needs_apex(label):
        if seg.apex is None:
            raise Refused(f"{where}: a {label} segment needs an apex")
    elif seg.apex is not None:
        raise Refused(f"{where}: a {label} segment has no apex (leave it out)")
    if seg.apex is not None and not seg.onset <= seg.apex <= seg.offset:
        raise Refused(f"{where}: the apex {seg.apex} is outside onset {seg.onset} to offset {seg.offset}")
    return SegmentInput(onset=seg.onset, offset=seg.offset, label=label, apex=seg.apex)


@dataclass(frozen=True)
class Outcome:
    """What a step's combined answers decide: the step's ``result`` (kept on the segment), where the segment
    goes next (``target``: ``accept``, ``reject``, ``flag`` or a step id), the class it is accepted with
    (``label``), and, from a key-frame step, the segment's new ``keyframes`` and ``expression``; from a
    reconciliation, its ``aus``."""

    result: Any
    target: str
    label: str | None = None
    keyframes: tuple[int, int | None, int] | None = None
    expression: str | None = None
    aus: list[str] | None = None


def combine_step(protocol: Protocol, step: Step, answers: list[tuple[str, Any]], *, fps: float,
                 reference: Any = None) -> Outcome:  # fmt: skip
    """Every rater of ``step`` is in: their answers ``(label, value)`` in rater order become one outcome
    (DFME's rules, :mod:`mextk.annotate.combine`).  ``reference``: the combined result of the step this one
    is compared with (``compare_with``), if any; ``fps``: the clip's, for the micro/macro rule."""
    from mextk.annotate.combine import majority_label, median_keyframes
    from mextk.intervals import expression_type

    if step.kind == "keyframes":
        onset, apex, offset = median_keyframes([(v["onset"], v["apex"], v["offset"]) for _, v in answers])
        expression = expression_type(
            onset, apex, offset, fps, micro_max_ms=protocol.micro_max_ms,
            micro_max_onset_apex_ms=protocol.micro_max_onset_apex_ms,
        )  # fmt: skip
        result = {"onset": onset, "apex": apex, "offset": offset, "expression": expression}
        return Outcome(result, protocol.after(step), keyframes=(onset, apex, offset), expression=expression)
    if step.kind == "aus":
        return Outcome([list(v or []) for _, v in answers], protocol.after(step))
    if step.kind == "reconcile":
        aus = list(answers[-1][1] or [])
        return Outcome(aus, protocol.after(step), aus=aus)
    labels = [x for x, _ in answers]
    result = labels[0] if step.raters == 1 else majority_label(labels, share=step.majority)
    if result is None:
        return Outcome(None, step.on_no_majority)
    if step.compare_with:
        return Outcome(result, step.on_agree if result == reference else step.on_disagree, label=reference)
    return Outcome(result, step.on_agree, label=result)
