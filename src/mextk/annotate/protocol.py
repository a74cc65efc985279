"""Labelling protocols as data: steps, who may do each, what each may see, and how answers combine.

A protocol is a JSON file (``mextk/annotate/protocols/NAME.json``: ``cmed.json``,
``dfme.json``).  Its steps run in order on each *segment* (a stretch of a clip
from onset to offset).  Step kinds:

``segment``    (first step only) a labeller marks every segment of a clip: onset, offset, a class
               and, unless the class is one of ``no_apex_classes``, an apex.
``keyframes``  (first step only) each rater marks the onset, apex and offset of the clip's one
               expression; the result is the median of each (:mod:`mextk.annotate.combine`) and
               the segment's type, micro or macro, follows DFME's duration rule.
``classify``   a rater gives the segment a class.  With several raters the result is the class
               that more than ``majority`` (one half) chose, or none.
``choose``     a rater picks one of the classes given at the ``candidates`` steps, shown in random
               order and without saying which step gave which, or (``allow_other``) another class.
``aus``        a rater codes the segment's action units (``AU12``, ``R-AU12``; from the protocol's
               ``aus`` list when it has one).
``reconcile``  a rater sees every answer given at step ``of`` (an ``aus`` step) and settles the
               final set: the only step whose view holds other raters' answers.

``raters`` (default 1) is how many *distinct* labellers answer a step for each segment,
independently: nobody answers the same segment twice at one step, and nobody sees another's
answer to it (a task's view never holds answers, except at ``reconcile``).  When the last rater
is in, the answers combine and the segment moves on:

* ``classify`` and ``choose`` compare their result with step ``compare_with``'s result, if set:
  agreement leads to ``on_agree``, disagreement to ``on_disagree``; without ``compare_with``
  a result leads to ``on_agree``.  No majority leads to ``on_no_majority`` (default ``flag``:
  set aside for discussion).  Targets are ``accept``, ``reject``, ``flag`` or a later step's id.
* ``segment``, ``keyframes``, ``aus`` and ``reconcile`` go to ``next`` (default: the following
  step; after the last one, ``accept``).

``assign`` says who may take a step's task: ``exclude_authors_of`` (never a labeller who
answered those steps for the segment: CMED's stage 2 goes to a different labeller) and
``same_as`` (the labeller who answered that step first: CMED's stage 3 goes back to the
stage-2 labeller).  ``shows`` lists earlier steps whose *results* (never single answers) a
step's view carries: DFME's emotion raters see the final action units.  The server builds
every view from these rules (:mod:`mextk.annotate.engine`), so a protocol cannot leak what
its steps do not show.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

STEP_KINDS = ("segment", "keyframes", "classify", "choose", "aus", "reconcile")
FIRST_KINDS = ("segment", "keyframes")
LABEL_KINDS = ("classify", "choose")
OUTCOMES = ("accept", "reject", "flag")


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
    raters: int = 1
    majority: float = 0.5
    on_no_majority: str = "flag"
    next: str | None = None
    shows: tuple[str, ...] = ()
    of: str | None = None


@dataclass(frozen=True)
class Protocol:
    """A labelling protocol: its classes and steps."""

    name: str
    classes: tuple[str, ...]
    steps: tuple[Step, ...]
    no_apex_classes: tuple[str, ...] = ()
    title: str = ""
    aus: tuple[str, ...] | None = None
    micro_max_ms: float = 500.0
    micro_max_onset_apex_ms: float = 250.0
    source: dict[str, Any] = field(default_factory=dict, compare=False)

    def step(self, step_id: str) -> Step:
        """The step named ``step_id``."""
        for s in self.steps:
            if s.id == step_id:
                return s
        raise KeyError(f"protocol {self.name} has no step {step_id!r}")

    @property
    def first(self) -> Step:
        """The step that opens every clip (a ``segment`` or ``keyframes`` step)."""
        return self.steps[0]

    def after(self, step: Step) -> str:
        """Where a step without a comparison goes: its ``next``, else the following step, else ``accept``."""
        if step.next:
            return step.next
        k = self.steps.index(step)
        return self.steps[k + 1].id if k + 1 < len(self.steps) else "accept"

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
            raters=int(raw.get("raters", 1)),
            majority=float(raw.get("majority", 0.5)),
            on_no_majority=str(raw.get("on_no_majority", "flag")),
            next=raw.get("next"),
            shows=tuple(raw.get("shows", ())),
            of=raw.get("of"),
        )
        where = f"protocol {name}, step {step.id}"
        if step.kind not in STEP_KINDS:
            raise ValueError(f"{where}: kind must be one of {', '.join(STEP_KINDS)}, got {step.kind!r}")
        earlier = {s.id: s for s in steps}
        refs = (*step.exclude_authors_of, *(x for x in (step.same_as, step.compare_with, step.of) if x),
                *step.candidates, *step.shows)  # fmt: skip
        for ref in refs:
            if ref not in earlier:
                raise ValueError(f"{where}: refers to {ref!r}, which is not an earlier step")
        if step.kind == "choose" and len(step.candidates) < 2:
            raise ValueError(f"{where}: a choose step needs two or more candidate steps")
        if step.kind == "choose" and not step.compare_with:
            raise ValueError(f"{where}: a choose step needs compare_with")
        if step.compare_with and earlier[step.compare_with].kind not in ("segment", *LABEL_KINDS):
            raise ValueError(f"{where}: compare_with must name a step that gives a class")
        if step.kind == "reconcile" and (not step.of or earlier[step.of].kind != "aus"):
            raise ValueError(f"{where}: a reconcile step needs 'of', an earlier aus step")
        if not 1 <= step.raters <= 50:
            raise ValueError(f"{where}: raters must be 1 to 50, got {step.raters}")
        if step.kind == "segment" and step.raters != 1:
            raise ValueError(f"{where}: a segment step has one labeller (several raters mark key frames)")
        if step.same_as and step.raters != 1:
            raise ValueError(f"{where}: same_as gives the task to one labeller, so raters must be 1")
        if not 0 <= step.majority < 1:
            raise ValueError(f"{where}: majority is a share in [0, 1), got {step.majority}")
        steps.append(step)
    if not steps or steps[0].kind not in FIRST_KINDS or any(s.kind in FIRST_KINDS for s in steps[1:]):
        raise ValueError(f"protocol {name}: the first step, and only it, must be a segment or keyframes step")
    ids = {s.id for s in steps}
    for k, s in enumerate(steps):
        targets = (s.on_agree, s.on_disagree, s.on_no_majority) if s.kind in LABEL_KINDS else (s.next,)
        for target in targets:
            if target is None or target in OUTCOMES:
                continue
            if target not in ids:
                raise ValueError(f"protocol {name}, step {s.id}: goes to unknown step or outcome {target!r}")
            if [x.id for x in steps].index(target) <= k:
                raise ValueError(f"protocol {name}, step {s.id}: goes back to {target!r}; steps only go forward")
    no_apex = tuple(str(c) for c in data.get("no_apex_classes", ()))
    unknown = sorted(set(no_apex) - set(classes))
    if unknown:
        raise ValueError(f"protocol {name}: no_apex_classes {', '.join(unknown)} are not classes")
    aus = data.get("aus")
    if aus is not None:
        from mextk.annotate.combine import normalise_au

        aus = tuple(normalise_au(a) for a in aus)
    return Protocol(
        name, classes, tuple(steps), no_apex, str(data.get("title", "")), aus,
        float(data.get("micro_max_ms", 500.0)), float(data.get("micro_max_onset_apex_ms", 250.0)), dict(data),
    )  # fmt: skip


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
