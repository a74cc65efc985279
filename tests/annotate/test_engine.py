"""CMED's three-stage protocol run on the engine: assignment, blindness, routing, audit."""

from __future__ import annotations

import json

import pandas as pd
import pytest

pytest.importorskip("sqlalchemy")
pytest.importorskip("alembic")
pytest.importorskip("argon2")

from mextk.annotate.engine import AnnotationProject
from mextk.annotate.protocol import load_protocol, protocol_from_dict  # noqa: E402
from mextk.annotate.rules import NotFound, Refused, SegmentInput, shuffled
from mextk.annotate.store import Answer, Audit, Segment  # noqa: E402
from tests.annotate.helpers import clips_manifest  # noqa: E402


@pytest.fixture
def project(synth_dataset, tmp_path, db_url):
    """A CMED project on three synthetic clips with two labellers, in SQLite and in PostgreSQL."""
    clips_manifest(synth_dataset, tmp_path, 3)
    p = AnnotationProject.create(tmp_path / "proj", tmp_path / "clips.csv", db=db_url)
    a = p.add_user("anna", "labeller", "password-a")
    b = p.add_user("ben", "labeller", "password-b")
    return p, a, b


def _mark_all(p, user, segments_per_clip):
    """The user answers every first-step task they get, with the given segments per task in order."""
    done = []
    for segments in segments_per_clip:
        t = p.next_task(user)
        assert p.task_view(t, user)["kind"] == "segment"
        done.append(p.submit_segments(t, user, segments))
    return done


def test_a_full_round_accepts_at_stage_2_or_3_and_rejects_otherwise(project):
    p, a, b = project
    ids = _mark_all(
        p,
        a,
        [
            [SegmentInput(2, 9, "happiness", apex=5), SegmentInput(10, 17, "disgust", apex=13)],
            [SegmentInput(0, 6, "no_me")],
            [],
        ],
    )
    happy, disgust = ids[0]
    (no_me,) = ids[1]
    assert p.next_task(a) is None  # anna marked them: the stage-2 tasks are never hers
    answers = {happy: "happiness", disgust: "anger", no_me: "fear"}
    routed = {}
    while (t := p.next_task(b)) is not None:
        view = p.task_view(t, b)
        if view["kind"] == "classify":
            routed[view["segment"]] = p.submit_label(t, b, answers[view["segment"]])
        else:  # stage 3 comes back to ben, the stage-2 labeller
            assert view["kind"] == "choose" and view["allow_other"]
            pick = "disgust" if view["segment"] == disgust else "surprise"
            expected = {disgust: ["anger", "disgust"], no_me: ["fear", "no_me"]}[view["segment"]]
            assert sorted(view["choices"]) == expected  # both labels, in some order, no step names
            routed[("3", view["segment"])] = p.submit_label(t, b, pick)
    assert routed == {happy: "accepted", disgust: "open", no_me: "open", ("3", disgust): "accepted",
                      ("3", no_me): "rejected"}  # fmt: skip
    with p.Session() as s:
        segs = {x.id: x for x in s.query(Segment)}
    assert (segs[happy].status, segs[happy].decided_at_step, segs[happy].label) == ("accepted", "verify", "happiness")
    assert (segs[disgust].status, segs[disgust].decided_at_step, segs[disgust].label) == (
        "accepted",
        "reverify",
        "disgust",
    )
    assert segs[no_me].status == "rejected" and segs[no_me].label is None
    progress = p.progress()
    assert progress["segments"] == {"accepted": 2, "rejected": 1}
    assert progress["labellers"]["anna"] == {"mark": {"done": 3}}


def test_the_stage_2_view_says_nothing_of_the_stage_1_label_or_apex(project):
    p, a, b = project
    _mark_all(p, a, [[SegmentInput(2, 9, "happiness", apex=5)], [SegmentInput(2, 9, "sadness", apex=8)], []])
    views = []
    while (t := p.next_task(b)) is not None:
        views.append(p.task_view(t, b))
        p.submit_label(t, b, "happiness")
        if len(views) == 2:
            break
    first, second = views[0], views[1]
    assert first["kind"] == second["kind"] == "classify"
    strip = ("task", "segment", "clip")
    # the two views differ only in ids: the stage-1 labels (happiness, sadness) and apexes (5, 8) are not in them
    assert {k: v for k, v in first.items() if k not in strip} == {k: v for k, v in second.items() if k not in strip}
    assert not {"apex", "label", "answers", "choices"} & set(first)


def test_stage_3_choices_come_in_random_order_without_their_sources():
    import random

    rng = random.Random(0)
    orders = {tuple(shuffled(["disgust", "anger"], rng)) for _ in range(20)}
    assert orders == {("disgust", "anger"), ("anger", "disgust")}
    assert shuffled(["fear", "fear"], rng) == ["fear"]


def test_another_labellers_task_is_not_found_and_answers_are_checked(project):
    p, a, b = project
    t = p.next_task(a)
    with pytest.raises(NotFound):
        p.task_view(t, b)
    with pytest.raises(NotFound):
        p.submit_segments(t, b, [])
    with pytest.raises(NotFound):
        p.task_view(10_000, a)
    with pytest.raises(Refused, match="needs an apex"):
        p.submit_segments(t, a, [SegmentInput(1, 5, "anger")])
    with pytest.raises(Refused, match="outside onset"):
        p.submit_segments(t, a, [SegmentInput(1, 5, "anger", apex=9)])
    with pytest.raises(Refused, match="unknown class"):
        p.submit_segments(t, a, [SegmentInput(1, 5, "joy", apex=2)])
    with pytest.raises(Refused, match="offset <"):
        p.submit_segments(t, a, [SegmentInput(1, 10_000, "no_me")])
    p.submit_segments(t, a, [SegmentInput(1, 5, "no_me")])
    with pytest.raises(Refused, match="already answered"):
        p.submit_segments(t, a, [])
    with pytest.raises(Refused, match="password"):
        p.add_user("carl", "labeller", "short")
    with pytest.raises(Refused, match="role"):
        p.add_user("carl", "owner", "long-enough")


def test_every_answer_and_decision_is_in_the_audit_log(project):
    p, a, b = project
    _mark_all(p, a, [[SegmentInput(2, 9, "happiness", apex=5)], [], []])
    t = p.next_task(b)
    p.submit_label(t, b, "happiness")
    with p.Session() as s:
        answers = s.query(Answer).count()
        audit = pd.DataFrame([(x.action, x.entity, x.user_id, x.new) for x in s.query(Audit)],
                             columns=["action", "entity", "user", "new"])  # fmt: skip
    assert answers == 2 and (audit["action"] == "answer").sum() == 2
    decided = audit[audit["action"] == "decide"]
    assert len(decided) == 1 and decided["new"].iloc[0] == {
        "status": "accepted",
        "label": "happiness",
        "step": "verify",
    }
    assert set(audit.loc[audit["action"] == "answer", "user"]) == {a, b}


def test_protocols_are_data_and_checked():
    cmed = load_protocol("cmed")
    assert [s.id for s in cmed.steps] == ["mark", "verify", "reverify"]
    assert cmed.step("verify").exclude_authors_of == ("mark",) and cmed.step("reverify").same_as == "verify"
    bad = json.loads(json.dumps(cmed.source))
    bad["steps"][1]["assign"] = {"exclude_authors_of": ["later"]}
    with pytest.raises(ValueError, match="not an earlier step"):
        protocol_from_dict(bad)
    with pytest.raises(ValueError, match="unknown protocol"):
        load_protocol("elan")


def test_corrections_and_moves_are_audited_with_old_and_new_values(project):
    p, a, b = project
    root = p.add_user("root", "admin", "password-root")
    ((seg,),) = _mark_all(p, a, [[SegmentInput(2, 9, "happiness", apex=5)]])
    verify = p.next_task(b)
    with pytest.raises(Refused, match="still being labelled"):
        p.correct_segment(seg, root, status="rejected", reason="too early")
    with pytest.raises(Refused, match="may not take"):
        p.reassign_task(verify, root, "anna")  # anna marked it
    assert p.reassign_task(verify, root, None) is None and p.next_task(b) == verify  # to the pool, ben takes it again
    p.submit_label(verify, b, "happiness")
    with pytest.raises(Refused, match="only an admin"):
        p.reassign_task(p.next_task(a), b, None)
    p.correct_segment(seg, root, status="accepted", label="surprise", reason="the brows rise")
    with p.Session() as s:
        row = s.get(Segment, seg)
        assert (row.status, row.label, row.decided_at_step) == ("accepted", "surprise", "correction")
        assert sorted(x.label for x in s.query(Answer).filter(Answer.segment_id == seg)) == ["happiness"] * 2
    trail = [(x["action"], x["user"], x["old"], x["new"]) for x in p.audit_log(entity="segment", entity_id=seg)]
    assert trail[-1] == (
        "correct", "root", {"status": "accepted", "label": "happiness", "step": "verify"},
        {"status": "accepted", "label": "surprise", "step": "correction", "reason": "the brows rise"},
    )  # fmt: skip
    assert [x["action"] for x in p.audit_log(entity="task", entity_id=verify)] == [
        "route", "assign", "reassign", "assign", "close",
    ]  # fmt: skip
