"""Label Studio JSON both ways (round trip through a fresh project) and ELAN .eaf export."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("sqlalchemy")
pytest.importorskip("argon2")

from mextk.annotate.engine import AnnotationProject
from mextk.annotate.labelstudio import export_labelstudio, import_labelstudio  # noqa: E402
from mextk.annotate.rules import SegmentInput
from tests.annotate.helpers import clips_manifest  # noqa: E402


def _cmed_round(tmp_path, synth_dataset):
    rows = clips_manifest(synth_dataset, tmp_path, 3)
    p = AnnotationProject.create(tmp_path / "a", tmp_path / "clips.csv")
    a, b = p.add_user("anna", "labeller", "password-a"), p.add_user("ben", "labeller", "password-b")
    p.submit_segments(p.next_task(a), a, [SegmentInput(2, 9, "happiness", apex=5), SegmentInput(10, 17, "disgust", 13)])
    p.submit_segments(p.next_task(a), a, [SegmentInput(0, 6, "no_me")])
    answers = {"happiness": "happiness", "disgust": "anger", "no_me": "fear"}
    marked = {x["segment"]: x["answers"]["mark"][0] for x in p.segments()}
    while (t := p.next_task(b)) is not None:
        view = p.task_view(t, b)
        if view["kind"] == "segment":  # ben marks the third clip: nothing in it
            p.submit_segments(t, b, [])
            continue
        p.submit_label(t, b, answers[marked[view["segment"]]] if view["kind"] == "classify" else "disgust")
    return p, rows


def test_a_cmed_project_survives_a_round_trip_through_label_studio(synth_dataset, tmp_path):
    p, _ = _cmed_round(tmp_path, synth_dataset)
    first = export_labelstudio(p)
    task = first[0]
    # Label Studio counts frames from 1, both ends included: mextk's 2..9 is 3..10, the apex 5 is 6
    (mark,) = [a for a in task["annotations"] if a["mextk"]["step"] == "mark"]
    region = mark["result"][0]
    assert region["value"] == {"ranges": [{"start": 3, "end": 10}], "timelinelabels": ["happiness"]}
    assert region["meta"] == {"apex": 6} and region["type"] == "timelinelabels"
    assert [a["mextk"]["step"] for a in task["annotations"]] == ["mark", "verify", "reverify"]
    fresh = AnnotationProject.create(tmp_path / "b", tmp_path / "clips.csv")
    result = import_labelstudio(fresh, json.loads(json.dumps(first)))
    assert result["skipped"] == [] and result["users_added"] == ["anna", "ben"] and result["replayed"] == 8
    assert [a["result"] for a in first[2]["annotations"]] == [[]]  # ben's "nothing in this clip" is kept
    assert fresh.progress()["steps"]["mark"] == {"done": 3}
    assert export_labelstudio(fresh) == first  # the two exports are equal
    assert [(x["status"], x["label"], x["decided_at"]) for x in fresh.segments()] == [
        (x["status"], x["label"], x["decided_at"]) for x in p.segments()
    ]
    assert fresh.authenticate("anna", "password-a") is None  # imported raters start disabled


def test_a_dfme_project_survives_a_round_trip_through_label_studio(synth_dataset, tmp_path):
    clips_manifest(synth_dataset, tmp_path, 1)
    p = AnnotationProject.create(tmp_path / "a", tmp_path / "clips.csv", protocol="dfme")
    ids = [p.add_user(f"r{k}", "labeller", f"password-{k}") for k in range(1, 8)]
    for u, marks in zip(ids, [(2, 5, 8), (3, 5, 9), (2, 6, 8), (1, 5, 8), (2, 5, 10)], strict=False):
        p.submit_keyframes(p.next_task(u), u, *marks)
    for u, codes in ((ids[5], "4+7"), (ids[6], "R12")):
        p.submit_aus(p.next_task(u), u, codes)
    p.submit_aus(p.next_task(ids[5]), ids[5], "4+7+R12")
    for k, u in enumerate(ids):
        p.submit_label(p.next_task(u), u, "fear" if k < 5 else "surprise")
    first = export_labelstudio(p)
    fresh = AnnotationProject.create(tmp_path / "b", tmp_path / "clips.csv", protocol="dfme")
    result = import_labelstudio(fresh, first)
    assert result["skipped"] == [] and result["replayed"] == 5 + 2 + 1 + 7
    assert export_labelstudio(fresh) == first
    (seg,) = fresh.segments()
    assert (seg["onset"], seg["apex"], seg["offset"], seg["label"], seg["aus"]) == (
        2,
        5,
        8,
        "fear",
        ["AU4", "AU7", "R-AU12"],
    )


def test_plain_label_studio_annotations_become_first_step_answers_and_bad_ones_are_named(synth_dataset, tmp_path):
    rows = clips_manifest(synth_dataset, tmp_path, 2)
    p = AnnotationProject.create(tmp_path / "a", tmp_path / "clips.csv")
    video = rows.iloc[0]["path"].split("/")[-1]
    tasks = [
        {"id": 7, "data": {"video": f"/data/upload/3/{video}"},  # matched by file name
         "annotations": [{"id": 1, "completed_by": {"id": 3, "email": "coder@lab.example"}, "result": [
             {"type": "timelinelabels", "value": {"ranges": [{"start": 4, "end": 9}], "timelinelabels": ["fear"]},
              "meta": {"apex": 6}}]}]},
        {"id": 8, "data": {"video": "/data/upload/3/unknown.mp4"}, "annotations": []},
        {"id": 9, "data": {"clip": rows.iloc[1]["sample_id"]},
         "annotations": [{"id": 2, "completed_by": 5, "result": [
             {"type": "timelinelabels", "value": {"ranges": [{"start": 4, "end": 9}], "timelinelabels": ["joy"]}}]}]},
    ]  # fmt: skip
    result = import_labelstudio(p, tasks, source="ls.json")
    assert result["replayed"] == 1 and result["users_added"] == ["5", "coder@lab.example"]
    assert result["skipped"][0] == "ls.json: task 8: no clip of the project matches '/data/upload/3/unknown.mp4'"
    assert result["skipped"][1].startswith("ls.json: task 9, annotation 2: segment 1: unknown class 'joy'")
    (seg,) = p.segments()
    assert (seg["onset"], seg["apex"], seg["offset"], seg["answers"]) == (3, 5, 8, {"mark": ["fear"]})
    with pytest.raises(ValueError, match="a JSON list of tasks"):
        import_labelstudio(p, {"tasks": []})


def test_elan_files_hold_a_tier_per_rater_and_step_with_times_in_ms(synth_dataset, tmp_path):
    pympi = pytest.importorskip("pympi")
    from mextk.annotate.elan import export_elan

    p, rows = _cmed_round(tmp_path, synth_dataset)
    files = export_elan(p, tmp_path / "eaf")
    assert len(files) == 3
    eaf = pympi.Elan.Eaf(str(files[0]))
    assert set(eaf.get_tier_names()) == {"anna / mark", "anna / mark / apex", "ben / verify", "ben / reverify", "final"}
    fps = float(rows.iloc[0]["fps"])
    # frames 2..9 span [2 / fps, 10 / fps) seconds
    start, end = round(1000 * 2 / fps), round(1000 * 10 / fps)
    assert (start, end, "happiness") in [tuple(a[:3]) for a in eaf.get_annotation_data_for_tier("anna / mark")]
    final = sorted(a[2] for a in eaf.get_annotation_data_for_tier("final"))
    assert final == ["disgust", "happiness"]  # the disgust segment was accepted at stage 3
    assert "classes" in eaf.controlled_vocabularies
