"""Label Studio's JSON for video timeline labels, both ways: a lab can move a project in or out.

Export (:func:`export_labelstudio`): one Label Studio task per clip, its video
in ``data.video`` (the prepared clip's path; ``data.clip``, ``data.subject``
and ``data.fps`` name it for mextk), and one annotation per rater and step,
as Label Studio's ``TimelineLabels`` results on a ``Video`` (config:
:func:`labelstudio_config`).  Label Studio numbers frames from 1 and a range
holds both ends, so mextk's 0-based frames ``onset..offset`` become
``{"start": onset + 1, "end": offset + 1}``.  The apex, which a timeline label
has no place for, goes in the region's ``meta`` (``{"apex": k + 1}``); action
units are a ``TextArea`` result (``from_name: "aus"``, ``"AU4+AU7"``) with the
segment's range in its ``meta``.  Each annotation names its step and rater in
``mextk`` (Label Studio ignores the key), so an export holds every answer.

Import (:func:`import_labelstudio`): the answers are *replayed* through the
engine, step by step in protocol order and within a step in file order, so
every rule still holds (a rater never answers a segment twice at one step; a
stage-2 answer by the segment's stage-1 author is refused) and the project
ends where the original did.  An annotation without a ``mextk`` key (made in
Label Studio itself) is read as the first step's answer by its
``completed_by`` user.  Raters missing from the project are added as disabled
labeller accounts (``mextk annotate users password``, then ``enable``, lets
them sign in).  Clips are matched by ``data.clip``, else by the video's file
name.  An answer that cannot be replayed is skipped and reported in one line
(task, annotation, why); the rest are kept.

Rater names are account names (staff), never the filmed people's; subjects
appear only as the manifest's pseudonymous ids.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from sqlalchemy import select

FROM_NAME = "label"
TO_NAME = "video"


def labelstudio_config(project: Any) -> str:
    """The Label Studio labeling config that matches the export: timeline labels, an apex-free video, AUs."""
    labels = "".join(f'<Label value="{c}"/>' for c in project.protocol.classes)
    return (
        f'<View><Video name="{TO_NAME}" value="$video" frameRate="$fps"/>'
        f'<TimelineLabels name="{FROM_NAME}" toName="{TO_NAME}">{labels}<Label value="keyframes"/></TimelineLabels>'
        f'<TextArea name="aus" toName="{TO_NAME}" perRegion="false"/></View>'
    )


def export_labelstudio(project: Any) -> list[dict[str, Any]]:
    """The project as Label Studio tasks (see the module docstring); deterministic for a given project state."""
    from mextk.annotate.store import Answer, Clip, Segment, Task, User

    order = {s.id: k for k, s in enumerate(project.protocol.steps)}
    with project.Session() as s:
        clips = s.scalars(select(Clip).order_by(Clip.id)).all()
        rows = s.execute(
            select(Answer, Task.clip_id, User.name, Segment)
            .join(Task, Task.id == Answer.task_id).join(User, User.id == Answer.user_id)
            .join(Segment, Segment.id == Answer.segment_id).order_by(Answer.id)
        ).all()  # fmt: skip
        first = project.protocol.first
        empty = s.execute(  # a clip marked as holding nothing is an answer too: an annotation without regions
            select(Task.clip_id, User.name).join(User, User.id == Task.assignee_id)
            .where(Task.step == first.id, Task.status == "done", ~Task.id.in_(select(Answer.task_id)))
        ).all() if first.kind == "segment" else []  # fmt: skip
    by_clip: dict[int, dict[tuple[str, str], list[dict[str, Any]]]] = {}
    for clip_id, rater in empty:
        by_clip.setdefault(clip_id, {}).setdefault((first.id, rater), [])
    for answer, clip_id, rater, seg in rows:
        step = project.protocol.step(answer.step)
        group = by_clip.setdefault(clip_id, {}).setdefault((answer.step, rater), [])
        group.append(_result(step.kind, answer, seg, len(group)))
    tasks = []
    for clip in clips:
        groups = sorted(by_clip.get(clip.id, {}).items(), key=lambda kv: (order[kv[0][0]], kv[0][1]))
        annotations = [
            {"id": k + 1, "completed_by": rater, "mextk": {"step": step, "rater": rater}, "result": results}
            for k, ((step, rater), results) in enumerate(groups)
        ]
        tasks.append({
            "id": clip.id,
            "data": {"video": clip.path, "clip": clip.sample_id, "subject": clip.subject, "fps": clip.fps,
                     "n_frames": clip.n_frames},
            "annotations": annotations,
        })  # fmt: skip
    return tasks


def _result(kind: str, answer: Any, seg: Any, k: int) -> dict[str, Any]:
    rid = f"{answer.step}-{k + 1}"
    if kind in ("aus", "reconcile"):
        return {"id": rid, "from_name": "aus", "to_name": TO_NAME, "type": "textarea",
                "value": {"text": ["+".join(answer.value or [])]},
                "meta": {"range": [seg.onset + 1, seg.offset + 1]}}  # fmt: skip
    if kind == "keyframes":
        onset, apex, offset, label = answer.value["onset"], answer.value["apex"], answer.value["offset"], "keyframes"
    else:
        onset, apex, offset, label = seg.onset, seg.apex, seg.offset, answer.label
    region: dict[str, Any] = {
        "id": rid, "from_name": FROM_NAME, "to_name": TO_NAME, "type": "timelinelabels",
        "value": {"ranges": [{"start": onset + 1, "end": offset + 1}], "timelinelabels": [label]},
    }  # fmt: skip
    if apex is not None and kind in ("segment", "keyframes"):
        region["meta"] = {"apex": apex + 1}
    return region


def import_labelstudio(project: Any, tasks: list[dict[str, Any]], *, source: str = "file") -> dict[str, Any]:
    """Replay Label Studio annotations into ``project`` (see the module docstring).

    Returns
    -------
    dict
        ``replayed`` (answers stored), ``skipped`` (one line each) and ``users_added``.
    """
    from mextk.annotate.rules import NotFound, Refused
    from mextk.annotate.store import Clip

    if not isinstance(tasks, list):
        raise ValueError(f"{source}: a Label Studio export is a JSON list of tasks")
    with project.Session() as s:
        clips = s.scalars(select(Clip)).all()
    by_id = {c.sample_id: c for c in clips}
    by_name = {Path(c.path).name: c for c in clips}
    order = {st.id: k for k, st in enumerate(project.protocol.steps)}
    events = []
    skipped: list[str] = []
    for t_index, task in enumerate(tasks):
        data = task.get("data", {}) if isinstance(task, dict) else {}
        clip = by_id.get(str(data.get("clip", ""))) or by_name.get(Path(str(data.get("video", ""))).name)
        where = f"{source}: task {task.get('id', t_index + 1) if isinstance(task, dict) else t_index + 1}"
        if clip is None:
            skipped.append(f"{where}: no clip of the project matches {data.get('clip') or data.get('video')!r}")
            continue
        for a_index, ann in enumerate(task.get("annotations", []) or []):
            meta = ann.get("mextk") or {}
            step = meta.get("step") or project.protocol.first.id
            who = ann.get("completed_by")
            if isinstance(who, dict):  # some Label Studio versions write the user object
                who = who.get("email") or who.get("username") or who.get("id")
            rater = str(meta.get("rater") or who or "").strip()
            label = f"{where}, annotation {ann.get('id', a_index + 1)}"
            if step not in order:
                skipped.append(f"{label}: step {step!r} is not in protocol {project.protocol.name}")
                continue
            if not rater:
                skipped.append(f"{label}: no rater (completed_by)")
                continue
            events.append((order[step], len(events), step, rater, clip, ann.get("result") or [], label))
    added = _ensure_raters(project, sorted({e[3] for e in events}))
    replayed = 0
    for _, _, step_id, rater, clip, results, label in sorted(events, key=lambda e: (e[0], e[1])):
        try:
            replayed += _replay(project, project.protocol.step(step_id), project.user_id(rater), clip, results)
        except (Refused, NotFound, KeyError, TypeError, ValueError) as exc:
            skipped.append(f"{label}: {exc}")
    return {"replayed": replayed, "skipped": skipped, "users_added": added}


def _ensure_raters(project: Any, names: list[str]) -> list[str]:
    added = []
    existing = {u["name"] for u in project.users()}
    for name in names:
        if name not in existing:
            project.add_user(name, "labeller", secrets.token_urlsafe(24))
            project.set_active(name, False)
            added.append(name)
    return added


def _frames(region: dict[str, Any]) -> tuple[int, int]:
    r = region["value"]["ranges"][0]
    onset, offset = int(r["start"]) - 1, int(r["end"]) - 1
    if onset < 0 or offset < onset:
        raise ValueError(f"range {r['start']}..{r['end']} is not a span of frames from 1")
    return onset, offset


def _replay(project: Any, step: Any, user_id: int, clip: Any, results: list[dict[str, Any]]) -> int:
    from mextk.annotate.rules import SegmentInput

    timeline = [r for r in results if r.get("type") == "timelinelabels"]
    texts = [r for r in results if r.get("type") == "textarea"]
    if step.kind == "segment":
        segments = []
        for r in timeline:
            onset, offset = _frames(r)
            apex = (r.get("meta") or {}).get("apex")
            segments.append(SegmentInput(onset, offset, str(r["value"]["timelinelabels"][0]),
                                         apex=None if apex is None else int(apex) - 1))  # fmt: skip
        task = project.claim(step.id, clip.id, None, user_id)
        project.submit_segments(task, user_id, segments)
        return len(segments)
    if step.kind == "keyframes":
        (r,) = timeline
        onset, offset = _frames(r)
        apex = int((r.get("meta") or {})["apex"]) - 1
        task = project.claim(step.id, clip.id, project.clip_segment(clip.id), user_id)
        project.submit_keyframes(task, user_id, onset, apex, offset)
        return 1
    count = 0
    if step.kind in ("aus", "reconcile"):
        for r in texts:
            onset, offset = (int(x) - 1 for x in r["meta"]["range"])
            task = project.claim(step.id, clip.id, project.find_segment(clip.id, onset, offset), user_id)
            project.submit_aus(task, user_id, str((r["value"].get("text") or [""])[0]))
            count += 1
        return count
    for r in timeline:
        onset, offset = _frames(r)
        task = project.claim(step.id, clip.id, project.find_segment(clip.id, onset, offset), user_id)
        project.submit_label(task, user_id, str(r["value"]["timelinelabels"][0]))
        count += 1
    return count
