"""Answers: a labeller's submissions, checked, stored with their audit records, and, when a step's last rater
is in, combined (:func:`mextk.annotate.rules.combine_step`) and moved on."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, update

from mextk.annotate.protocol import LABEL_KINDS, Protocol, Step
from mextk.annotate.rules import Refused, SegmentInput, check_segment, class_of, combine_step, short
from mextk.annotate.store import Answer, Audit, Clip, Segment, Task, own_task


class AnswerCommands:
    """The answer commands of :class:`mextk.annotate.engine.AnnotationProject`."""

    Session: Any
    protocol: Protocol

    def submit_segments(self, task_id: int, user_id: int, segments: list[SegmentInput]) -> list[int]:
        """Answer a ``segment`` task: the clip's segments (none is an answer too). Returns the segment ids."""
        with self.Session() as s, s.begin():
            task = own_task(s, task_id, user_id)
            step = self.protocol.step(task.step)
            if step.kind != "segment":
                raise Refused(f"task {task_id} asks for a class, not segments")
            if task.status != "open":
                raise Refused(f"task {task_id} is already answered")
            clip = s.get(Clip, task.clip_id)
            segments = [check_segment(self.protocol, seg, clip.n_frames, k) for k, seg in enumerate(segments)]
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
        task = own_task(s, task_id, user_id)
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
        """Every rater of ``step`` is in: combine the answers (:func:`~mextk.annotate.rules.combine_step`), move on."""
        reference = self._result(s, seg, step.compare_with) if step.compare_with else None
        fps = s.get(Clip, seg.clip_id).fps
        outcome = combine_step(self.protocol, step, [tuple(a) for a in answers], fps=fps, reference=reference)
        if outcome.keyframes is not None:
            seg.onset, seg.apex, seg.offset = outcome.keyframes
            seg.expression = outcome.expression
        if outcome.aus is not None:
            seg.aus = outcome.aus
        seg.results = {**(seg.results or {}), step.id: outcome.result}
        self._go(s, seg, outcome.target, step.id, outcome.label, user_id)

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
            self._route(s, seg, self.protocol.step(target))  # type: ignore[attr-defined]

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

    def class_of(self, label: object, where: str = "") -> str:
        """The protocol's class that ``label`` names (:func:`mextk.annotate.rules.class_of`)."""
        return class_of(self.protocol, label, where)
