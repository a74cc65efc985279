"""The admin's commands on a running project: correcting a segment's outcome, moving a task to someone else."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from mextk.annotate.protocol import Protocol
from mextk.annotate.rules import NotFound, Refused, short
from mextk.annotate.store import Audit, Segment, Task, User


class AdminCommands:
    """The admin commands of :class:`mextk.annotate.engine.AnnotationProject`."""

    Session: Any
    protocol: Protocol

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
            label = self.class_of(label)  # type: ignore[attr-defined]
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
                if not self._may_take(s, self.protocol.step(task.step), task, user):  # type: ignore[attr-defined]
                    raise Refused(f"{user.name} may not take task {task_id} (a labeller who did not answer it before)")
                target = user.id
            old = task.assignee_id
            task.assignee_id = target
            s.add(Audit(user_id=admin_id, action="reassign", entity="task", entity_id=task.id, old={"to": old},
                        new={"to": target}))  # fmt: skip
            return target
