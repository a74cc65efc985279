"""Agreement statistics and the export of accepted segments, after a CMED round on the engine."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("sqlalchemy")
pytest.importorskip("argon2")

from sklearn.metrics import cohen_kappa_score  # noqa: E402

from mextk.annotate.agreement import cohen_kappa  # noqa: E402
from mextk.annotate.agreement_report import project_agreement  # noqa: E402
from mextk.annotate.engine import AnnotationProject
from mextk.annotate.export import export_project  # noqa: E402
from mextk.annotate.rules import SegmentInput
from tests.annotate.helpers import clips_manifest  # noqa: E402


def test_kappa_equals_scikit_learns():
    rng = np.random.default_rng(0)
    for _ in range(20):
        a = rng.choice(["x", "y", "z", "w"], 40).tolist()
        b = [x if rng.random() < 0.6 else str(rng.choice(["x", "y", "z", "w"])) for x in a]
        assert cohen_kappa(a, b) == pytest.approx(cohen_kappa_score(a, b))
    assert cohen_kappa(["x", "x"], ["x", "x"]) == 1.0  # scikit-learn: nan


@pytest.fixture
def finished(synth_dataset, tmp_path):
    """A CMED round on 3 clips: 4 segments; 2 agree at stage 2, 1 is accepted at stage 3, 1 rejected."""
    clips_manifest(synth_dataset, tmp_path, 3)
    p = AnnotationProject.create(tmp_path / "proj", tmp_path / "clips.csv")
    a = p.add_user("anna", "labeller", "password-a")
    b = p.add_user("ben", "labeller", "password-b")
    marks = [
        [SegmentInput(2, 9, "happiness", apex=5), SegmentInput(10, 17, "disgust", apex=13)],
        [SegmentInput(1, 8, "surprise", apex=4)],
        [SegmentInput(0, 6, "no_me")],
    ]
    for segments in marks:
        p.submit_segments(p.next_task(a), a, segments)
    verify = {"happiness": "happiness", "disgust": "anger", "surprise": "surprise", "no_me": "fear"}
    stage1 = {}
    with p.Session() as s:
        from mextk.annotate.store import Answer

        stage1 = {x.segment_id: x.label for x in s.query(Answer).filter(Answer.step == "mark")}
    while (t := p.next_task(b)) is not None:
        view = p.task_view(t, b)
        if view["kind"] == "classify":
            p.submit_label(t, b, verify[stage1[view["segment"]]])
        else:
            p.submit_label(t, b, "disgust" if stage1[view["segment"]] == "disgust" else "sadness")
    return p, tmp_path


def test_agreement_report_counts_each_stage_and_kappa_is_sklearns(finished):
    p, _ = finished
    report = project_agreement(p)
    assert report["steps"] == ["mark", "verify"] and report["n"] == 4
    a = ["happiness", "disgust", "surprise", "no_me"]
    b = ["happiness", "anger", "surprise", "fear"]
    assert report["kappa"] == pytest.approx(cohen_kappa_score(a, b, labels=report["classes"]))
    assert report["accepted"] == {"verify": 2, "reverify": 1} and report["rejected"] == 1 and report["open"] == 0
    assert report["routed"] == {"verify": 4, "reverify": 2}
    m = np.array(report["confusion"])
    classes = report["classes"]
    assert m.sum() == 4 and m[classes.index("disgust"), classes.index("anger")] == 1


def test_export_writes_the_accepted_segments_as_a_dataset(finished):
    from mextk.io.manifest import load_manifest
    from mextk.io.video import probe_video

    p, tmp = finished
    df = export_project(p, tmp / "export")
    assert len(df) == 3 and sorted(df["emotion"]) == ["disgust", "happiness", "surprise"]
    m = load_manifest(tmp / "export" / "manifest.csv", taxonomy="cmed7", check_files=True)
    happy = m[m["emotion"] == "happiness"].iloc[0]
    assert (happy["onset"], happy["apex"], happy["offset"], happy["n_frames"]) == (0, 3, 7, 8)
    assert happy["accepted_at"] == "verify" and int(happy["stage"]) == 2 and int(happy["source_onset"]) == 2
    assert m.loc[m["emotion"] == "disgust", "stage"].astype(int).tolist() == [3]
    assert probe_video(tmp / "export" / happy["path"]).n_frames == 8
    from typer.testing import CliRunner

    from mextk.cli import app

    res = CliRunner().invoke(app, ["stats", str(tmp / "export" / "manifest.csv")])  # CMED Tables II-V
    assert res.exit_code == 0, res.output
    assert "Happiness" in res.output and "Disgust" in res.output and "Surprise" in res.output
    again = export_project(p, tmp / "export")  # run again: same manifest, clips not rewritten
    assert again.equals(df)


def test_references_point_at_the_prepared_clips_frames(finished):
    from mextk.io.manifest import load_manifest

    p, tmp = finished
    df = export_project(p, tmp / "refs", mode="references")
    assert not (tmp / "refs" / "clips").exists()  # nothing copied
    m = load_manifest(tmp / "refs" / "manifest.csv", taxonomy="cmed7", check_files=True)
    happy = m[m["emotion"] == "happiness"].iloc[0]
    with p.Session() as s:
        from mextk.annotate.store import Clip

        source = s.query(Clip).filter(Clip.sample_id == happy["source_clip"]).one()
    assert happy["path"] == source.path and int(happy["n_frames"]) == source.n_frames
    assert (happy["onset"], happy["apex"], happy["offset"]) == (2, 5, 9)  # the stage-1 marks, in the source's frames
    assert sorted(df["sample_id"]) == sorted(export_project(p, tmp / "cut")["sample_id"])  # same ids as clips mode
    with pytest.raises(ValueError, match="mode must be one of"):
        export_project(p, tmp / "x", mode="links")


def test_a_correction_reaches_the_export_and_ids_stay_stable(finished):
    p, tmp = finished
    before = export_project(p, tmp / "export").set_index("sample_id")
    admin = p.add_user("root", "admin", "password-root")
    segments = {x["answers"]["mark"][0]: x["segment"] for x in p.segments()}
    p.correct_segment(segments["no_me"], admin, status="accepted", label="no_me", reason="a blink, not fear")
    p.correct_segment(segments["happiness"], admin, status="rejected", reason="the face turns away")
    after = export_project(p, tmp / "export").set_index("sample_id")
    assert set(before.index) - set(after.index) == {before.index[before["emotion"] == "happiness"][0]}
    (added,) = set(after.index) - set(before.index)
    assert after.loc[added, "emotion"] == "no_me" and after.loc[added, "accepted_at"] == "correction"
    kept = sorted(set(before.index) & set(after.index))
    cols = ["path", "emotion", "stage"]
    assert after.loc[kept, cols].astype(str).equals(before.loc[kept, cols].astype(str))
    with pytest.raises(Exception, match="needs a reason"):
        p.correct_segment(segments["surprise"], admin, status="rejected", reason="")
    ben = p.authenticate("ben", "password-b").id
    with pytest.raises(Exception, match="only an admin"):  # a labeller may not
        p.correct_segment(segments["surprise"], ben, status="rejected", reason="mine")


def test_mextk_evaluate_trains_on_an_export(synth_dataset, tmp_path):
    """12 clips of 4 subjects marked as rendered, confirmed at stage 2, exported, then LOSO with LBP-TOP + SVM."""
    from typer.testing import CliRunner

    from mextk.cli import app

    rows = clips_manifest(synth_dataset, tmp_path, 12)
    p = AnnotationProject.create(tmp_path / "proj", tmp_path / "clips.csv")
    a = p.add_user("anna", "labeller", "password-a")
    b = p.add_user("ben", "labeller", "password-b")
    truth = {r.sample_id: r for r in rows.itertuples()}
    with p.Session() as s:
        from mextk.annotate.store import Clip, Task

        clip_of_task = {t.id: c.sample_id for t, c in s.query(Task, Clip).join(Clip, Clip.id == Task.clip_id)}
    for _ in range(12):
        t = p.next_task(a)
        r = truth[clip_of_task[t]]
        apex = None if r.emotion == "no_me" else int(r.apex)
        p.submit_segments(t, a, [SegmentInput(int(r.onset), int(r.offset), r.emotion, apex=apex)])
    marked = {x["segment"]: x["answers"]["mark"][0] for x in p.segments()}
    while (t := p.next_task(b)) is not None:  # ben agrees with every one
        p.submit_label(t, b, marked[p.task_view(t, b)["segment"]])
    export_project(p, tmp_path / "export")
    res = CliRunner().invoke(
        app, ["evaluate", str(tmp_path / "export" / "manifest.csv"), "--model", "lbptop_svm", "--out",
              str(tmp_path / "run")]
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    # one fold per subject; the default 6-class task leaves out the one No-ME clip among the 12
    assert metrics["n_folds"] == 4 and metrics["n"] == 11 and metrics["protocol"] == "loso"
