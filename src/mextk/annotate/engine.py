"""The labelling engine: a project folder, its clips and users, and the protocol's steps run on the server.

Every rule of the protocol (:mod:`mextk.annotate.protocol`) is enforced here,
below the web layer, so no page or request can get around it:

* a task goes only to a labeller the step allows (never the author of the
  segment's earlier answers where ``exclude_authors_of`` says so);
* a labeller reads and answers only their own tasks: another's task id is
  "not found", exactly as an id that does not exist;
* the view of a task (:meth:`AnnotationProject.task_view`) holds only what
  the step may see: a ``classify`` task shows the segment's frame range and
  the classes, never an earlier answer or the apex; a ``choose`` task shows
  the candidate classes in a random order with no step names;
* every answer and decision is written in one transaction together with its
  audit record (who, when, old value, new value), so an interrupted request
  leaves either both or neither.

Project folder: ``project.json`` (protocol name, creation time),
``protocol.json`` (the protocol as it was when the project was made: a later
mextk cannot change a running project's rules) and ``annotate.db`` (SQLite,
unless a database URL is given).
"""

from __future__ import annotations

import functools
import json
import os
import random
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, update

from mextk.annotate.protocol import LABEL_KINDS, Protocol, Step, protocol_from_dict
from mextk.annotate.store import Answer, Audit, Clip, Segment, Task, User, database_url, make_engine, sessions, upgrade

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


def hash_password(password: str) -> str:
    """An argon2id hash of ``password``."""
    from argon2 import PasswordHasher

    return PasswordHasher().hash(password)


def check_password(stored: str, password: str) -> bool:
    """Whether ``password`` matches the stored hash (constant-time)."""
    from argon2 import PasswordHasher
    from argon2.exceptions import InvalidHashError, VerificationError

    try:
        return PasswordHasher().verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


@functools.cache
def _decoy_hash() -> str:
    """An argon2 hash of a random password, checked against when a sign-in names no account."""
    import secrets

    return hash_password(secrets.token_urlsafe(16))


def short(value: object, limit: int = 40) -> str:
    """``repr(value)`` cut to ``limit`` characters, for messages that quote what a request sent."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 4] + "...'"


_SYSTEM_RANDOM = random.SystemRandom()  # a labeller cannot predict the order from earlier tasks


def shuffled(labels: list[str], rng: random.Random) -> list[str]:
    """The distinct candidate labels in a random order (which step gave which is not kept)."""
    distinct = list(dict.fromkeys(labels))
    rng.shuffle(distinct)
    return distinct


def _open_tasks(
    s: Any,
    step: Step,
    clip_id: int,
    segment_id: int | None,
    *,
    assignee: int | None = None,
    choices: list[str] | None = None,
) -> list[Task]:
    """The step's tasks on one item, one per rater (``seat``), unassigned unless ``assignee`` is given."""
    tasks = [
        Task(step=step.id, clip_id=clip_id, segment_id=segment_id, seat=k, assignee_id=assignee, choices=choices)
        for k in range(step.raters)
    ]
    s.add_all(tasks)
    s.flush()
    return tasks


class AnnotationProject:
    """An annotation project on disk: open one with ``AnnotationProject(folder)``, make one with :meth:`create`."""

    def __init__(self, folder: str | os.PathLike[str], *, db: str | None = None) -> None:
        self.folder = Path(folder)
        meta = self.folder / "project.json"
        if not meta.is_file():
            raise FileNotFoundError(f"{self.folder}: not an annotation project (no project.json)")
        self.protocol: Protocol = protocol_from_dict(json.loads((self.folder / "protocol.json").read_text()))
        self.engine = make_engine(database_url(self.folder, db))
        upgrade(self.engine)
        self.Session = sessions(self.engine)
        self.proposal_problems: list[str] = []

    # ------------------------------------------------------------------ making a project

    @classmethod
    def create(
        cls,
        folder: str | os.PathLike[str],
        manifest: str | os.PathLike[str],
        *,
        protocol: str | os.PathLike[str] = "cmed",
        db: str | None = None,
        proposals: str | os.PathLike[str] | None = None,
    ) -> AnnotationProject:
        """Make a project folder from a manifest of prepared clips (one first-step task per clip).

        ``proposals``: a CSV of candidate segments for a ``segment`` first step
        (:mod:`mextk.annotate.proposals`); rows it cannot use are listed in
        ``project.proposal_problems`` and left out.

        Raises
        ------
        FileExistsError
            The folder already holds a project.
        ValueError
            Proposals for a protocol whose first step does not mark segments.
        """
        from mextk.annotate.protocol import load_protocol
        from mextk.io.atomic import write_json_atomic
        from mextk.io.manifest import load_manifest, sample_path

        folder = Path(folder)
        if (folder / "project.json").exists():
            raise FileExistsError(f"{folder}: already an annotation project; open it, or choose another folder")
        proto = load_protocol(protocol)
        df = load_manifest(manifest, check_files=True)
        candidates: dict[str, list[dict[str, Any]]] = {}
        problems: list[str] = []
        if proposals is not None:
            from mextk.annotate.proposals import read_proposals

            if proto.first.kind != "segment":
                raise ValueError(f"protocol {proto.name} starts with {proto.first.kind}: proposals need a segment step")
            sizes = {str(r["sample_id"]): int(r["n_frames"]) for r in df.to_dict("records")}
            candidates, problems = read_proposals(proposals, sizes, proto.classes)
        folder.mkdir(parents=True, exist_ok=True)
        write_json_atomic(folder / "protocol.json", proto.source)
        clips = []
        for row in df.to_dict("records"):
            quality = row.get("quality")
            clips.append(
                Clip(
                    sample_id=str(row["sample_id"]),
                    dataset=str(row["dataset"]),
                    subject=str(row["subject"]),
                    path=str(sample_path(df, row["path"]).resolve()),
                    fps=float(row["fps"]),
                    n_frames=int(row["n_frames"]),
                    quality=str(sample_path(df, quality).resolve()) if isinstance(quality, str) and quality else None,
                    proposals=candidates.get(str(row["sample_id"])),
                )
            )
        engine = make_engine(database_url(folder, db))
        upgrade(engine)
        with sessions(engine)() as s, s.begin():
            s.add_all(clips)
            s.flush()
            for clip in clips:
                if proto.first.kind == "keyframes":  # one expression per clip: its segment exists from the start
                    seg = Segment(clip_id=clip.id, onset=0, apex=None, offset=clip.n_frames - 1)
                    s.add(seg)
                    s.flush()
                    _open_tasks(s, proto.first, clip.id, seg.id)
                else:
                    _open_tasks(s, proto.first, clip.id, None)
            s.add(Audit(action="create", entity="project",
                        new={"clips": len(clips), "protocol": proto.name,
                             "proposals": sum(len(v) for v in candidates.values())}))  # fmt: skip
        engine.dispose()
        write_json_atomic(
            folder / "project.json",
            {"protocol": proto.name, "created": datetime.now(UTC).isoformat(), "clips": len(clips)},
        )
        made = cls(folder, db=db)
        made.proposal_problems = problems
        return made

    def add_user(self, name: str, role: str, password: str) -> int:
        """Add a user; returns the id."""
        name = name.strip()
        if role not in ROLES:
            raise Refused(f"role must be one of {', '.join(ROLES)}, got {role!r}")
        if not name or len(name) > 64:
            raise Refused("a user name must have 1 to 64 characters")
        if len(password) < 8:
            raise Refused("a password needs at least 8 characters")
        with self.Session() as s, s.begin():
            if s.scalar(select(User).where(User.name == name)) is not None:
                raise Refused(f"user {name!r} exists")
            user = User(name=name, role=role, password_hash=hash_password(password))
            s.add(user)
            s.flush()
            s.add(Audit(action="add", entity="user", entity_id=user.id, new={"name": name, "role": role}))
            return user.id

    def authenticate(self, name: str, password: str) -> User | None:
        """The active user with this name and password, or ``None``.

        The password is hashed whether or not the name exists (against a fixed decoy hash when it
        does not), so the time a refusal takes does not tell which names are accounts.
        """
        with self.Session() as s:
            user = s.scalar(select(User).where(User.name == name.strip()[:64], User.active.is_(True)))
            ok = check_password(user.password_hash if user is not None else _decoy_hash(), password)
            return user if user is not None and password and ok else None

    def user(self, user_id: int) -> User:
        """A user by id."""
        with self.Session() as s:
            user = s.get(User, user_id)
            if user is None:
                raise NotFound(f"user {user_id} not found")
            return user

    # ------------------------------------------------------------------ tasks

    def _may_take(self, s: Any, step: Step, task: Task, user: User) -> bool:
        """Whether ``user`` may answer ``task``: a labeller, not already a rater of this step on this item, and
        not an author of the steps the step excludes."""
        if user.role != "labeller":
            return False
        same_item = select(Task.id).where(
            Task.step == task.step, Task.clip_id == task.clip_id, Task.assignee_id == user.id, Task.id != task.id,
            Task.segment_id.is_(None) if task.segment_id is None else Task.segment_id == task.segment_id,
        )  # fmt: skip
        if s.scalar(same_item.limit(1)) is not None:
            return False  # nobody rates the same item twice at one step
        if task.segment_id is None or not step.exclude_authors_of:
            return True
        authors = s.scalars(
            select(Answer.user_id).where(Answer.segment_id == task.segment_id, Answer.step.in_(step.exclude_authors_of))
        ).all()
        return user.id not in set(authors)

    def next_task(self, user_id: int) -> int | None:
        """The user's next task: their oldest open one, or a newly claimed one they may take; ``None`` when done.

        Unassigned tasks of later steps come first (segments already in flight are finished before new clips
        are opened), each step's in the order they were made.
        """
        with self.Session() as s, s.begin():
            user = s.get(User, user_id)
            if user is None or user.role != "labeller":
                return None
            own = s.scalar(
                select(Task.id).where(Task.assignee_id == user.id, Task.status == "open").order_by(Task.id).limit(1)
            )
            if own is not None:
                return own
            for step in reversed(self.protocol.steps):
                unassigned = (
                    select(Task)
                    .where(Task.step == step.id, Task.assignee_id.is_(None), Task.status == "open")
                    .order_by(Task.id)
                )
                for task in s.scalars(unassigned):
                    if not self._may_take(s, step, task, user):
                        continue
                    claimed = s.execute(  # atomic: two labellers asking at once cannot both get it
                        update(Task).where(Task.id == task.id, Task.assignee_id.is_(None)).values(assignee_id=user.id)
                    )
                    if claimed.rowcount == 1:
                        s.add(
                            Audit(
                                user_id=user.id, action="assign", entity="task", entity_id=task.id, new={"to": user.id}
                            )
                        )
                        return task.id
            return None

    def claim(self, step_id: str, clip_id: int, segment_id: int | None, user_id: int) -> int:
        """The user's open task of ``step_id`` on this clip or segment: theirs already, or a free one they may
        take (claimed now).  For replaying answers made elsewhere (:mod:`mextk.annotate.labelstudio`)."""
        step = self.protocol.step(step_id)
        with self.Session() as s, s.begin():
            user = s.get(User, user_id)
            where = (Task.step == step_id, Task.clip_id == clip_id, Task.status == "open",
                     Task.segment_id.is_(None) if segment_id is None else Task.segment_id == segment_id)  # fmt: skip
            own = s.scalar(select(Task.id).where(*where, Task.assignee_id == user_id).limit(1))
            if own is not None:
                return own
            for task in s.scalars(select(Task).where(*where, Task.assignee_id.is_(None)).order_by(Task.seat)):
                if user is not None and self._may_take(s, step, task, user):
                    claimed = s.execute(
                        update(Task).where(Task.id == task.id, Task.assignee_id.is_(None)).values(assignee_id=user_id)
                    )
                    if claimed.rowcount == 1:
                        s.add(Audit(user_id=user_id, action="assign", entity="task", entity_id=task.id,
                                    new={"to": user_id}))  # fmt: skip
                        return task.id
        raise Refused(f"no open {step_id} task on clip {clip_id} that this rater may take")

    def user_id(self, name: str) -> int:
        """A user's id by name."""
        with self.Session() as s:
            found = s.scalar(select(User.id).where(User.name == name.strip()))
        if found is None:
            raise NotFound(f"no user {name!r}")
        return found

    def set_password(self, name: str, password: str) -> None:
        """Give an account a new password (its open sessions end)."""
        if len(password) < 8:
            raise Refused("a password needs at least 8 characters")
        with self.Session() as s, s.begin():
            user = s.scalar(select(User).where(User.name == name.strip()))
            if user is None:
                raise NotFound(f"no user {name!r}")
            user.password_hash = hash_password(password)
            from mextk.annotate.store import LoginSession

            s.execute(update(LoginSession).where(LoginSession.user_id == user.id).values(revoked=True))
            s.add(Audit(action="password", entity="user", entity_id=user.id))

    def clip_segment(self, clip_id: int) -> int:
        """The one segment of a clip (protocols whose first step marks key frames)."""
        with self.Session() as s:
            ids = s.scalars(select(Segment.id).where(Segment.clip_id == clip_id).order_by(Segment.id)).all()
        if len(ids) != 1:
            raise NotFound(f"clip {clip_id} has {len(ids)} segments, not one")
        return ids[0]

    def find_segment(self, clip_id: int, onset: int, offset: int) -> int:
        """The segment of a clip with these frames (the first one, if several)."""
        with self.Session() as s:
            found = s.scalar(
                select(Segment.id).where(Segment.clip_id == clip_id, Segment.onset == onset, Segment.offset == offset)
                .order_by(Segment.id).limit(1)
            )  # fmt: skip
        if found is None:
            raise NotFound(f"clip {clip_id} has no segment {onset}-{offset}")
        return found

    def _own_task(self, s: Any, task_id: int, user_id: int) -> Task:
        task = s.get(Task, task_id)
        if task is None or task.assignee_id != user_id:
            raise NotFound(f"task {task_id} not found")
        return task

    def task_view(self, task_id: int, user_id: int) -> dict[str, Any]:
        """What the user may see of their task, and nothing else (see the module docstring)."""
        with self.Session() as s:
            task = self._own_task(s, task_id, user_id)
            step = self.protocol.step(task.step)
            clip = s.get(Clip, task.clip_id)
            view: dict[str, Any] = {
                "task": task.id,
                "kind": step.kind,
                "title": step.title,
                "status": task.status,
                "clip": clip.id,
                "fps": clip.fps,
                "classes": list(self.protocol.classes),
                "no_apex_classes": list(self.protocol.no_apex_classes),
            }
            if step.kind in ("segment", "keyframes"):
                view.update(first=0, last=clip.n_frames - 1)
                if step.kind == "segment" and clip.proposals:  # never at a blind or key-frame step
                    view["proposals"] = [dict(x) for x in clip.proposals]
                if task.segment_id is not None:
                    view["segment"] = task.segment_id
                return view
            seg = s.get(Segment, task.segment_id)
            view.update(segment=seg.id, first=seg.onset, last=seg.offset)
            if step.kind == "choose":
                view.update(choices=list(task.choices or []), allow_other=step.allow_other)
            if step.kind in ("aus", "reconcile"):
                view["aus"] = None if self.protocol.aus is None else list(self.protocol.aus)
            if step.kind == "reconcile":  # the one view that holds other raters' answers, by design
                coded = s.execute(
                    select(Answer.user_id, Answer.value).join(Task, Task.id == Answer.task_id)
                    .where(Answer.segment_id == seg.id, Answer.step == step.of).order_by(Task.seat)
                ).all()  # fmt: skip
                view["codings"] = [{"coder": k + 1, "yours": u == user_id, "aus": list(v or [])}
                                   for k, (u, v) in enumerate(coded)]  # fmt: skip
            if step.shows:
                results = seg.results or {}
                view["shown"] = [{"step": self.protocol.step(x).title, "value": results.get(x)} for x in step.shows]
            return view

    def quality(self, task_id: int, user_id: int) -> list[dict[str, Any]]:
        """Per-frame quality from prepare's sidecar for the frames the task may show: face visible, head turned.

        A head counts as turned beyond prepare's default limits (yaw 30 degrees, pitch 25).  A clip
        without a sidecar (not from ``mextk prepare``) gives an empty list.
        """
        import pandas as pd

        from mextk.prepare.config import PrepareConfig

        view = self.task_view(task_id, user_id)
        with self.Session() as s:
            clip = s.get(Clip, view["clip"])
        if not clip.quality or not Path(clip.quality).is_file():
            return []
        table = pd.read_csv(clip.quality)
        table = table[(table["frame"] >= view["first"]) & (table["frame"] <= view["last"])]
        limits = PrepareConfig()
        turned = (table["yaw"].abs() > limits.flag_max_yaw) | (table["pitch"].abs() > limits.flag_max_pitch)
        return [
            {"frame": int(f), "face_visible": bool(v), "turned": bool(t)}
            for f, v, t in zip(table["frame"], table["face_visible"].fillna(0).astype(bool), turned, strict=True)
        ]

    def queue(self, user_id: int) -> list[dict[str, Any]]:
        """The user's own tasks, open and done (no other labeller's)."""
        with self.Session() as s:
            tasks = s.scalars(select(Task).where(Task.assignee_id == user_id).order_by(Task.id)).all()
            return [
                {"task": t.id, "step": t.step, "title": self.protocol.step(t.step).title, "status": t.status,
                 "clip": t.clip_id, "done_at": t.done_at.isoformat(timespec="seconds") if t.done_at else None}
                for t in tasks
            ]  # fmt: skip

    def labeller_progress(self, user_id: int) -> dict[str, dict[str, int]]:
        """A labeller's numbers per step: ``done``, ``open`` (theirs), ``waiting`` (unclaimed tasks they may take)."""
        out: dict[str, dict[str, int]] = {"done": {}, "open": {}, "waiting": {}}
        with self.Session() as s:
            user = s.get(User, user_id)
            for step, status, n in s.execute(
                select(Task.step, Task.status, func.count()).where(Task.assignee_id == user_id)
                .group_by(Task.step, Task.status)
            ):  # fmt: skip
                out[status][step] = n
            for task in s.scalars(select(Task).where(Task.assignee_id.is_(None), Task.status == "open")):
                if user is not None and self._may_take(s, self.protocol.step(task.step), task, user):
                    out["waiting"][task.step] = out["waiting"].get(task.step, 0) + 1
        return out

    def submit_segments(self, task_id: int, user_id: int, segments: list[SegmentInput]) -> list[int]:
        """Answer a ``segment`` task: the clip's segments (none is an answer too). Returns the segment ids."""
        with self.Session() as s, s.begin():
            task = self._own_task(s, task_id, user_id)
            step = self.protocol.step(task.step)
            if step.kind != "segment":
                raise Refused(f"task {task_id} asks for a class, not segments")
            if task.status != "open":
                raise Refused(f"task {task_id} is already answered")
            clip = s.get(Clip, task.clip_id)
            segments = [self._check_segment(seg, clip.n_frames, k) for k, seg in enumerate(segments)]
            ids = []
            target = self.protocol.after(step)
            for seg in segments:
                row = Segment(clip_id=clip.id, onset=seg.onset, apex=seg.apex, offset=seg.offset,
                              results={step.id: seg.label})  # fmt: skip
                s.add(row)
                s.flush()
                s.add(Answer(task_id=task.id, segment_id=row.id, user_id=user_id, step=step.id, label=seg.label))
                s.add(
                    Audit(
                        user_id=user_id,
                        action="answer",
                        entity="segment",
                        entity_id=row.id,
                        new={
                            "step": step.id,
                            "onset": seg.onset,
                            "apex": seg.apex,
                            "offset": seg.offset,
                            "label": seg.label,
                        },
                    )
                )
                self._go(s, row, target, step.id, seg.label, user_id)
                ids.append(row.id)
            self._close(s, task, user_id)
            return ids

    def _answering(self, s: Any, task_id: int, user_id: int, kinds: tuple[str, ...], what: str) -> tuple[Task, Step]:
        """The user's open task of one of ``kinds``, with its segment locked until the transaction ends.

        The lock (a no-op update of the segment's row: a row lock in PostgreSQL, the write lock in
        SQLite) makes the last raters of a step, submitting at once, combine their answers exactly once.
        """
        task = self._own_task(s, task_id, user_id)
        step = self.protocol.step(task.step)
        if step.kind not in kinds:
            raise Refused(f"task {task_id} does not ask for {what}")
        if task.segment_id is not None:
            s.execute(update(Segment).where(Segment.id == task.segment_id).values(status=Segment.status))
        s.refresh(task)
        if task.status != "open":
            raise Refused(f"task {task_id} is already answered")
        return task, step

    def submit_label(self, task_id: int, user_id: int, label: str) -> str:
        """Answer a ``classify`` or ``choose`` task; returns what became of the segment (accepted, rejected, open)."""
        with self.Session() as s, s.begin():
            task, step = self._answering(s, task_id, user_id, LABEL_KINDS, "a class")
            label = self.class_of(label)
            if step.kind == "choose" and not step.allow_other and label not in (task.choices or []):
                raise Refused(f"choose one of {', '.join(task.choices or [])}")
            return self._answer(s, task, step, user_id, label=label, value=None)

    def submit_keyframes(self, task_id: int, user_id: int, onset: int, apex: int, offset: int) -> str:
        """Answer a ``keyframes`` task: the onset, apex and offset of the clip's expression."""
        with self.Session() as s, s.begin():
            task, step = self._answering(s, task_id, user_id, ("keyframes",), "key frames")
            n = s.get(Clip, task.clip_id).n_frames
            if any(isinstance(v, bool) or not isinstance(v, int) for v in (onset, apex, offset)):
                raise Refused(f"key frames must be integer frame numbers, got {short((onset, apex, offset))}")
            if not 0 <= onset <= apex <= offset < n:
                raise Refused(f"need 0 <= onset <= apex <= offset < {n}, got {onset}, {apex}, {offset}")
            value = {"onset": int(onset), "apex": int(apex), "offset": int(offset)}
            return self._answer(s, task, step, user_id, label="", value=value)

    def submit_aus(self, task_id: int, user_id: int, aus: str | list[str]) -> str:
        """Answer an ``aus`` or ``reconcile`` task: the action units (``"4+7"``, ``["AU4", "R-AU12"]``; none is
        an answer too)."""
        from mextk.annotate.combine import parse_aus

        with self.Session() as s, s.begin():
            task, step = self._answering(s, task_id, user_id, ("aus", "reconcile"), "action units")
            try:
                codes = parse_aus(aus)
            except ValueError as exc:
                raise Refused(str(exc)) from None
            allowed = self.protocol.aus
            unknown = [c for c in codes if allowed is not None and c not in allowed]
            if unknown:
                raise Refused(f"{', '.join(unknown)} not in this protocol's action units")
            return self._answer(s, task, step, user_id, label="", value=codes)

    def _answer(self, s: Any, task: Task, step: Step, user_id: int, *, label: str, value: Any) -> str:
        """Store an answer with its audit record, close the task, and combine when it was the step's last."""
        seg = s.get(Segment, task.segment_id)
        s.add(Answer(task_id=task.id, segment_id=seg.id, user_id=user_id, step=step.id, label=label, value=value))
        new = {"step": step.id, "label": label} if value is None else {"step": step.id, "value": value}
        s.add(Audit(user_id=user_id, action="answer", entity="segment", entity_id=seg.id, new=new))
        self._close(s, task, user_id)
        s.flush()
        done = s.scalar(
            select(func.count()).select_from(Task)
            .where(Task.step == step.id, Task.segment_id == seg.id, Task.status == "done")
        )  # fmt: skip
        if done < step.raters:
            return seg.status
        answers = s.execute(
            select(Answer.label, Answer.value).join(Task, Task.id == Answer.task_id)
            .where(Answer.segment_id == seg.id, Answer.step == step.id).order_by(Task.seat, Answer.id)
        ).all()  # fmt: skip
        self._combine(s, seg, step, answers, user_id)
        return seg.status

    def _combine(self, s: Any, seg: Segment, step: Step, answers: list[Any], user_id: int) -> None:
        """Every rater of ``step`` is in: combine their answers (:mod:`mextk.annotate.combine`) and move on."""
        from mextk.annotate.combine import expression_type, majority_label, median_keyframes

        if step.kind == "keyframes":
            marks = [(v["onset"], v["apex"], v["offset"]) for _, v in answers]
            seg.onset, seg.apex, seg.offset = median_keyframes(marks)
            fps = s.get(Clip, seg.clip_id).fps
            seg.expression = expression_type(
                seg.onset, seg.apex, seg.offset, fps, micro_max_ms=self.protocol.micro_max_ms,
                micro_max_onset_apex_ms=self.protocol.micro_max_onset_apex_ms,
            )  # fmt: skip
            result: Any = {"onset": seg.onset, "apex": seg.apex, "offset": seg.offset, "expression": seg.expression}
            target, label = self.protocol.after(step), None
        elif step.kind == "aus":
            result = [list(v or []) for _, v in answers]
            target, label = self.protocol.after(step), None
        elif step.kind == "reconcile":
            result = list(answers[-1][1] or [])
            seg.aus = result
            target, label = self.protocol.after(step), None
        else:
            labels = [x for x, _ in answers]
            result = labels[0] if step.raters == 1 else majority_label(labels, share=step.majority)
            label = result
            if result is None:
                target = step.on_no_majority
            elif step.compare_with:
                reference = self._result(s, seg, step.compare_with)
                target = step.on_agree if result == reference else step.on_disagree
                label = reference
            else:
                target = step.on_agree
        seg.results = {**(seg.results or {}), step.id: result}
        self._go(s, seg, target, step.id, label, user_id)

    def _result(self, s: Any, seg: Segment, step_id: str) -> Any:
        """A step's combined result on a segment (projects from before results were kept: its one answer)."""
        if seg.results and step_id in seg.results:
            return seg.results[step_id]
        return s.scalar(select(Answer.label).where(Answer.segment_id == seg.id, Answer.step == step_id).limit(1))

    def _go(self, s: Any, seg: Segment, target: str, step_id: str, label: str | None, user_id: int) -> None:
        """Accept (with ``label``), reject, flag, or open the step ``target`` on the segment."""
        if target == "accept":
            self._decide(s, seg, "accepted", step_id, label, user_id)
        elif target == "reject":
            self._decide(s, seg, "rejected", step_id, None, user_id)
        elif target == "flag":
            self._decide(s, seg, "flagged", step_id, None, user_id)
        else:
            self._route(s, seg, self.protocol.step(target))

    # ------------------------------------------------------------------ the admin's corrections

    def _admin(self, s: Any, user_id: int) -> User:
        user = s.get(User, user_id)
        if user is None or user.role != "admin" or not user.active:
            raise Refused("only an admin may do this")
        return user

    def correct_segment(
        self, segment_id: int, admin_id: int, *, status: str, label: str | None = None, reason: str
    ) -> dict[str, Any]:
        """An admin's correction of a segment's outcome (``accepted`` with a class, or ``rejected``).

        The labellers' answers stay as they were given; only the segment's
        outcome changes, and the audit log keeps the old and new outcome, who
        changed it, when, and why (``reason`` is required).  A segment still in
        the protocol (an open task on it) cannot be corrected: that would race
        the labeller who holds it.  Returns the new outcome.
        """
        reason = reason.strip()
        if not reason:
            raise Refused("a correction needs a reason (it goes into the audit log)")
        if status not in ("accepted", "rejected"):
            raise Refused(f"status must be accepted or rejected, got {short(status)}")
        if status == "accepted":
            if label is None:
                raise Refused(f"an accepted segment needs a class, one of {', '.join(self.protocol.classes)}")
            label = self.class_of(label)
        with self.Session() as s, s.begin():
            self._admin(s, admin_id)
            seg = s.get(Segment, segment_id)
            if seg is None:
                raise NotFound(f"segment {segment_id} not found")
            if s.scalar(select(Task.id).where(Task.segment_id == seg.id, Task.status == "open").limit(1)):
                raise Refused(f"segment {segment_id} is still being labelled; correct it once its tasks are done")
            old = {"status": seg.status, "label": seg.label, "step": seg.decided_at_step}
            seg.status, seg.label = status, (label if status == "accepted" else None)
            seg.decided_at_step = "correction"
            new = {"status": seg.status, "label": seg.label, "step": "correction", "reason": reason}
            s.add(Audit(user_id=admin_id, action="correct", entity="segment", entity_id=seg.id, old=old, new=new))
            return new

    def reassign_task(self, task_id: int, admin_id: int, to: str | None) -> int | None:
        """Move an open task to another labeller (``to``: a user name), or back to the pool (``None``).

        For a labeller who leaves or falls behind.  The step's rules still hold:
        a segment's earlier authors never get it where the step excludes them.
        Returns the new assignee's id (``None``: the pool).
        """
        with self.Session() as s, s.begin():
            self._admin(s, admin_id)
            task = s.get(Task, task_id)
            if task is None:
                raise NotFound(f"task {task_id} not found")
            if task.status != "open":
                raise Refused(f"task {task_id} is already answered")
            target = None
            if to is not None:
                user = s.scalar(select(User).where(User.name == to.strip(), User.active.is_(True)))
                if user is None:
                    raise NotFound(f"no active user {to!r}")
                if not self._may_take(s, self.protocol.step(task.step), task, user):
                    raise Refused(f"{user.name} may not take task {task_id} (a labeller who did not answer it before)")
                target = user.id
            old = task.assignee_id
            task.assignee_id = target
            s.add(Audit(user_id=admin_id, action="reassign", entity="task", entity_id=task.id, old={"to": old},
                        new={"to": target}))  # fmt: skip
            return target

    def set_active(self, name: str, active: bool) -> None:
        """Enable or disable an account; a disabled user cannot sign in and their sessions stop working."""
        with self.Session() as s, s.begin():
            user = s.scalar(select(User).where(User.name == name.strip()))
            if user is None:
                raise NotFound(f"no user {name!r}")
            old, user.active = user.active, active
            s.add(Audit(action="enable" if active else "disable", entity="user", entity_id=user.id,
                        old={"active": old}, new={"active": active}))  # fmt: skip

    def users(self) -> list[dict[str, Any]]:
        """The accounts: name, role, active, and their done and open tasks."""
        with self.Session() as s:
            counts = dict(
                ((uid, st), n)
                for uid, st, n in s.execute(
                    select(Task.assignee_id, Task.status, func.count()).group_by(Task.assignee_id, Task.status)
                )
            )
            return [
                {"id": u.id, "name": u.name, "role": u.role, "active": u.active,
                 "done": counts.get((u.id, "done"), 0), "open": counts.get((u.id, "open"), 0)}
                for u in s.scalars(select(User).order_by(User.id))
            ]  # fmt: skip

    def segments(self) -> list[dict[str, Any]]:
        """Every segment with its outcome, type, AUs and each step's answers (a list per step, in the raters'
        order: a class, or the key frames or action units), for the admin; never shown to labellers."""
        with self.Session() as s:
            answers: dict[int, dict[str, list[Any]]] = {}
            given = select(Answer.segment_id, Answer.step, Answer.label, Answer.value).order_by(Answer.id)
            for seg_id, step, label, value in s.execute(given):
                answers.setdefault(seg_id, {}).setdefault(step, []).append(label if value is None else value)
            rows = s.execute(
                select(Segment, Clip.sample_id).join(Clip, Clip.id == Segment.clip_id).order_by(Segment.id)
            )
            return [
                {"segment": seg.id, "clip": sample, "onset": seg.onset, "apex": seg.apex, "offset": seg.offset,
                 "status": seg.status, "label": seg.label, "decided_at": seg.decided_at_step,
                 "expression": seg.expression, "aus": seg.aus, "answers": answers.get(seg.id, {})}
                for seg, sample in rows
            ]  # fmt: skip

    def open_tasks(self) -> list[dict[str, Any]]:
        """Every open task with who holds it (``None``: the pool), for the admin."""
        with self.Session() as s:
            rows = s.execute(
                select(Task.id, Task.step, User.name).outerjoin(User, User.id == Task.assignee_id)
                .where(Task.status == "open").order_by(Task.id)
            )  # fmt: skip
            return [{"task": t, "step": step, "assignee": name} for t, step, name in rows]

    def audit_log(self, *, entity: str | None = None, entity_id: int | None = None) -> list[dict[str, Any]]:
        """The audit records, oldest first: when, who (user name; empty for the system), action, entity, old, new."""
        with self.Session() as s:
            query = select(Audit, User.name).outerjoin(User, User.id == Audit.user_id).order_by(Audit.id)
            if entity is not None:
                query = query.where(Audit.entity == entity)
            if entity_id is not None:
                query = query.where(Audit.entity_id == entity_id)
            return [
                {"id": a.id, "at": a.at.isoformat(), "user": name or "", "action": a.action, "entity": a.entity,
                 "entity_id": a.entity_id, "old": a.old, "new": a.new}
                for a, name in s.execute(query)
            ]  # fmt: skip

    # ------------------------------------------------------------------ helpers

    def class_of(self, label: object, where: str = "") -> str:
        """The protocol's class that ``label`` names, whatever its case or surrounding space.

        ``" Happiness"`` and ``"happiness"`` are one class, in answers and in imports alike.  Other
        spellings (``"happy"``) are refused: the protocol's classes are what labellers are shown, so
        an import that uses other words is a mistake worth a line (the label cut short).
        """
        if isinstance(label, str):
            key = " ".join(label.split()).casefold()
            for cls in self.protocol.classes:
                if " ".join(cls.split()).casefold() == key:
                    return cls
        prefix = f"{where}: " if where else ""
        raise Refused(f"{prefix}unknown class {short(label)}; choose one of {', '.join(self.protocol.classes)}")

    def _check_segment(self, seg: SegmentInput, n_frames: int, k: int) -> SegmentInput:
        """``seg`` with its class in the protocol's spelling, or :class:`Refused` naming what is wrong."""
        where = f"segment {k + 1}"
        label = self.class_of(seg.label, where)
        for name, value in (("onset", seg.onset), ("offset", seg.offset), ("apex", seg.apex)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise Refused(f"{where}: {name} must be an integer frame number, got {short(value)}")
        if not 0 <= seg.onset <= seg.offset < n_frames:
            raise Refused(
                f"{where}: need 0 <= onset <= offset < {n_frames}, got onset {seg.onset}, offset {seg.offset}"
            )
        if self.protocol.needs_apex(label):
            if seg.apex is None:
                raise Refused(f"{where}: a {label} segment needs an apex")
        elif seg.apex is not None:
            raise Refused(f"{where}: a {label} segment has no apex (leave it out)")
        if seg.apex is not None and not seg.onset <= seg.apex <= seg.offset:
            raise Refused(f"{where}: the apex {seg.apex} is outside onset {seg.onset} to offset {seg.offset}")
        return SegmentInput(onset=seg.onset, offset=seg.offset, label=label, apex=seg.apex)

    def _route(self, s: Any, seg: Segment, step: Step) -> None:
        """Open ``step``'s tasks on the segment (one per rater), assigned as the step says."""
        assignee = None
        if step.same_as:
            assignee = s.scalar(
                select(Answer.user_id).where(Answer.segment_id == seg.id, Answer.step == step.same_as)
                .order_by(Answer.id).limit(1)
            )  # fmt: skip
        choices = None
        if step.kind == "choose":
            labels = [self._result(s, seg, c) for c in step.candidates]
            choices = shuffled([x for x in labels if x is not None], _SYSTEM_RANDOM)  # random order, no step names
        for task in _open_tasks(s, step, seg.clip_id, seg.id, assignee=assignee, choices=choices):
            s.add(Audit(action="route", entity="task", entity_id=task.id, new={"step": step.id, "to": assignee}))

    def _decide(self, s: Any, seg: Segment, status: str, step_id: str, label: str | None, user_id: int) -> None:
        old = {"status": seg.status, "label": seg.label}
        seg.status, seg.decided_at_step, seg.label = status, step_id, label
        s.add(
            Audit(
                user_id=user_id, action="decide", entity="segment", entity_id=seg.id, old=old,
                new={"status": status, "label": label, "step": step_id},
            )
        )  # fmt: skip

    def _close(self, s: Any, task: Task, user_id: int) -> None:
        task.status, task.done_at = "done", datetime.now(UTC)
        s.add(Audit(user_id=user_id, action="close", entity="task", entity_id=task.id, old="open", new="done"))

    def progress(self) -> dict[str, Any]:
        """Open and done tasks per step and per labeller, and segments per status (the admin page's numbers)."""
        with self.Session() as s:
            per_step = s.execute(select(Task.step, Task.status, func.count()).group_by(Task.step, Task.status)).all()
            per_user = s.execute(
                select(User.name, Task.step, Task.status, func.count())
                .join(User, User.id == Task.assignee_id)
                .group_by(User.name, Task.step, Task.status)
            ).all()
            segs = s.execute(select(Segment.status, func.count()).group_by(Segment.status)).all()
        out: dict[str, Any] = {"steps": {}, "labellers": {}, "segments": {k: v for k, v in segs}}
        for step, status, n in per_step:
            out["steps"].setdefault(step, {})[status] = n
        for name, step, status, n in per_user:
            out["labellers"].setdefault(name, {}).setdefault(step, {})[status] = n
        return out
