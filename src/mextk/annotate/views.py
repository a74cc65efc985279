"""Read models: what each page shows.  A labeller's views hold only their own tasks and only what the step may
see (the blindness rules, enforced here below the web layer); the admin's views hold everything."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from mextk.annotate.protocol import Protocol
from mextk.annotate.rules import NotFound
from mextk.annotate.store import Answer, Audit, Clip, Segment, Task, User, own_task

#: Where a head counts as turned in the labelling player's quality strip: prepare's default flag limits
#: (``flag_max_yaw``, ``flag_max_pitch``, degrees; a test keeps them equal).
TURNED_YAW, TURNED_PITCH = 30.0, 25.0


class ReadViews:
    """The read models of :class:`mextk.annotate.engine.AnnotationProject`."""

    Session: Any
    protocol: Protocol

    def task_view(self, task_id: int, user_id: int) -> dict[str, Any]:
        """What the user may see of their task, and nothing else (see the module docstring)."""
        with self.Session() as s:
            task = own_task(s, task_id, user_id)
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

        view = self.task_view(task_id, user_id)
        with self.Session() as s:
            clip = s.get(Clip, view["clip"])
        if not clip.quality or not Path(clip.quality).is_file():
            return []
        table = pd.read_csv(clip.quality)
        table = table[(table["frame"] >= view["first"]) & (table["frame"] <= view["last"])]
        turned = (table["yaw"].abs() > TURNED_YAW) | (table["pitch"].abs() > TURNED_PITCH)
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
                if user is not None and self._may_take(s, self.protocol.step(task.step), task, user):  # type: ignore[attr-defined]
                    out["waiting"][task.step] = out["waiting"].get(task.step, 0) + 1
        return out

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
