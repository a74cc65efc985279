"""Labelling protocols as data: steps, who may do each, what each may see, and how answers combine.

A protocol is a JSON file (``mextk/annotate/protocols/NAME.json``; CMED's is
``cmed.json``).  Its steps run in order on each *segment* (a stretch of a clip
from onset to offset):

``segment``   a labeller marks every segment of a clip: onset, offset, a class and, unless the class
              is one of ``no_apex_classes``, an apex.  Each segment then enters the next step.
``classify``  a labeller gives the segment a class.  The answer is compared with the class given at
              step ``compare_with``: agreement leads to ``on_agree``, disagreement to ``on_disagree``
              (``accept``, ``reject`` or the id of another step).
``choose``    a labeller picks one of the classes given at the ``candidates`` steps, shown in random
              order and without saying which step gave which, or (``allow_other``) another class;
              compared and routed as ``classify``.

``assign`` says who may take a step's task: ``exclude_authors_of`` (never the labeller who
answered those steps for the segment: CMED's stage 2 goes to a different labeller) and
``same_as`` (the labeller who answered that step: CMED's stage 3 goes back to the stage-2
labeller).  What a step may see follows from its kind: a ``classify`` task sees the segment
and nothing of the earlier answers; a ``choose`` task sees the candidate classes, shuffled,
with no step names.  The server builds every view from these rules
(:mod:`mextk.annotate.engine`), so a protocol cannot leak what its steps do not show.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

STEP_KINDS = ("segment", "classify", "choose")
OUTCOMES = ("accept", "reject")


@dataclass(frozen=True)
class Step:
    """One step of a protocol (see the module docstring)."""

    id: str
    kind: str
    title: str = ""
    exclude_authors_of: tuple[str, ...] = ()
    same_as: str | None = None
    compare_with: str | None = None
    on_agree: str = "accept"
    on_disagree: str = "reject"
    candidates: tuple[str, ...] = ()
    allow_other: bool = False


@dataclass(frozen=True)
class Protocol:
    """A labelling protocol: its classes and steps."""

    name: str
    classes: tuple[str, ...]
    steps: tuple[Step, ...]
    no_apex_classes: tuple[str, ...] = ()
    title: str = ""
    source: dict[str, Any] = field(default_factory=dict, compare=False)

    def step(self, step_id: str) -> Step:
        """The step named ``step_id``."""
        for s in self.steps:
            if s.id == step_id:
                return s
        raise KeyError(f"protocol {self.name} has no step {step_id!r}")

    @property
    def first(self) -> Step:
        """The step that opens every clip (a ``segment`` step)."""
        return self.steps[0]

    def needs_apex(self, label: str) -> bool:
        """Whether a segment of this class must have an apex."""
        return label not in self.no_apex_classes


def protocol_from_dict(data: dict[str, Any]) -> Protocol:
    """Build and check a protocol from its JSON form.

    Raises
    ------
    ValueError
        One line naming what is wrong: an unknown kind, a step that refers to
        a step that does not come before it, a first step that is not ``segment``.
    """
    name = str(data.get("name", "")).strip()
    if not name:
        raise ValueError("a protocol needs a name")
    classes = tuple(str(c) for c in data.get("classes", []))
    if len(classes) < 2 or len(set(classes)) != len(classes):
        raise ValueError(f"protocol {name}: needs two or more distinct classes")
    steps: list[Step] = []
    for raw in data.get("steps", []):
        assign = raw.get("assign", {}) or {}
        step = Step(
            id=str(raw["id"]),
            kind=str(raw["kind"]),
            title=str(raw.get("title", "")),
            exclude_authors_of=tuple(assign.get("exclude_authors_of", ())),
            same_as=assign.get("same_as"),
            compare_with=raw.get("compare_with"),
            on_agree=str(raw.get("on_agree", "accept")),
            on_disagree=str(raw.get("on_disagree", "reject")),
            candidates=tuple(raw.get("candidates", ())),
            allow_other=bool(raw.get("allow_other", False)),
        )
        where = f"protocol {name}, step {step.id}"
        if step.kind not in STEP_KINDS:
            raise ValueError(f"{where}: kind must be one of {', '.join(STEP_KINDS)}, got {step.kind!r}")
        earlier = {s.id for s in steps}
        for ref in (*step.exclude_authors_of, *(x for x in (step.same_as, step.compare_with) if x), *step.candidates):
            if ref not in earlier:
                raise ValueError(f"{where}: refers to {ref!r}, which is not an earlier step")
        if step.kind != "segment" and not step.compare_with:
            raise ValueError(f"{where}: a {step.kind} step needs compare_with")
        if step.kind == "choose" and len(step.candidates) < 2:
            raise ValueError(f"{where}: a choose step needs two or more candidate steps")
        steps.append(step)
    if not steps or steps[0].kind != "segment" or any(s.kind == "segment" for s in steps[1:]):
        raise ValueError(f"protocol {name}: the first step, and only it, must be a segment step")
    ids = {s.id for s in steps}
    for s in steps:
        for target in (s.on_agree, s.on_disagree):
            if s.kind != "segment" and target not in OUTCOMES and target not in ids:
                raise ValueError(f"protocol {name}, step {s.id}: goes to unknown step or outcome {target!r}")
    no_apex = tuple(str(c) for c in data.get("no_apex_classes", ()))
    unknown = sorted(set(no_apex) - set(classes))
    if unknown:
        raise ValueError(f"protocol {name}: no_apex_classes {', '.join(unknown)} are not classes")
    return Protocol(name, classes, tuple(steps), no_apex, str(data.get("title", "")), dict(data))


def load_protocol(name_or_path: str | Path) -> Protocol:
    """A protocol by name (``cmed``) or from a JSON file."""
    p = Path(name_or_path)
    if p.suffix == ".json" and p.is_file():
        return protocol_from_dict(json.loads(p.read_text(encoding="utf-8")))
    files = {f.name[:-5]: f for f in resources.files("mextk.annotate").joinpath("protocols").iterdir()}
    key = str(name_or_path).strip().lower()
    if key not in files:
        raise ValueError(f"unknown protocol {name_or_path!r}; choose one of {', '.join(sorted(files))} or a .json file")
    return protocol_from_dict(json.loads(files[key].read_text(encoding="utf-8")))
