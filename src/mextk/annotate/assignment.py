"""Who gets which task: claiming the next one a labeller may take, atomically, and opening a step's tasks."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update

from mextk.annotate.protocol import Protocol, Step
from mextk.annotate.rules import SYSTEM_RANDOM, Refused, may_rate, shuffled
from mextk.annotate.store import Answer, Audit, Segment, Task, User, add_tasks


class AssignmentCommands:
    """The assignment commands of :class:`mextk.annotate.engine.AnnotationProject`."""

    Session: Any
    protocol: Protocol

    def _may_take(self, s: Any, step: Step, task: Task, user: User) -> bool:
        """Whether ``user`` may answer ``task``: a labeller, not already a rater of this step on this item, and
        not an author of the steps the step excludes."""
        same_item = select(Task.id).where(
            Task.step == task.step, Task.clip_id == task.clip_id, Task.assignee_id == user.id, Task.id != task.id,
            Task.segment_id.is_(None) if task.segment_id is None else Task.segment_id == task.segment_id,
        )  # fmt: skip
        rates = s.scalar(same_item.limit(1)) is not None
        authored = False
        if task.segment_id is not None and step.exclude_authors_of:
            authors = s.scalars(
                select(Answer.user_id)
                .where(Answer.segment_id == task.segment_id, Answer.step.in_(step.exclude_authors_of))
            ).all()  # fmt: skip
            authored = user.id in set(authors)
        return may_rate(user.role, rates_item_already=rates, authored_excluded_step=authored)

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
            labels = [self._result(s, seg, c) for c in step.candidates]  # type: ignore[attr-defined]
            choices = shuffled([x for x in labels if x is not None], SYSTEM_RANDOM)  # random order, no step names
        for task in add_tasks(s, step, seg.clip_id, seg.id, assignee=assignee, choices=choices):
            s.add(Audit(action="route", entity="task", entity_id=task.id, new={"step": step.id, "to": assignee}))
