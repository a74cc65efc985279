"""``mextk analyze`` end to end on a synthetic gallery call whose people make known micro-expressions."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from mextk.cli import app
from tests.analyze.conftest import assert_proposals_load
from tests.prepare.helpers import persons_in_clip

runner = CliRunner()


@pytest.fixture(scope="module")
def analysed(synth_call, model, tmp_path_factory):
    path, _, truth = synth_call
    out = tmp_path_factory.mktemp("analysis")
    # the call is small (640x360, four tiles): prepare flags the later, smaller faces, which analyze leaves out
    # unless asked, so this asks
    args = ["analyze", str(path), "--model", str(model), "--out", str(out), "--include-excluded"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return out, out / path.stem, truth


def test_analyze_writes_the_timeline_report_and_proposals(analysed):
    out, folder, _ = analysed
    timeline = pd.read_csv(folder / "timeline.csv")
    assert list(timeline.columns[:6]) == ["person", "track_id", "clip", "start_frame", "end_frame", "apex_frame"]
    assert (
        len(timeline) > 0
        and timeline["class"].isin(["anger", "disgust", "fear", "sadness", "happiness", "surprise", "no_me"]).all()
    )
    assert ((timeline["end_time"] - timeline["start_time"]) > 0).all()
    assert json.loads((folder / "timeline.json").read_text())["events"][0]["person"] == timeline["person"].iloc[0]
    page = (folder / "report.html").read_text()
    assert page.count("data:image/png;base64,") == timeline["person"].nunique() or page.count("data:image/png") >= 1
    # each event's looping view (or, where dlib finds no face on its first frame, its onset and apex)
    assert any(f"data:image/{kind};base64," in page for kind in ("webp", "gif", "jpeg"))
    for _, own in timeline.groupby("clip"):  # the events of one person's clip never overlap
        own = own.sort_values("start_frame")
        assert (own["start_frame"].to_numpy()[1:] > own["end_frame"].to_numpy()[:-1]).all()
    assert "Full record: timeline.json" in page and "<th>model_dir</th>" not in page  # one settings line
    assert "http://" not in page and "https://" not in page and "<script" not in page  # self-contained
    for person in timeline["person"].unique():
        assert f"<h2>{person}</h2>" in page


def test_spotted_events_fall_in_the_timeline_of_the_person_who_made_them(analysed):
    out, folder, truth = analysed
    timeline = pd.read_csv(folder / "timeline.csv")
    manifest = pd.read_csv(out / "prepared" / "manifest.csv", dtype={"sample_id": str})
    clip_person = {}
    for row in manifest.to_dict("records"):
        who = persons_in_clip(row, truth)
        clip_person[row["sample_id"]] = max(who, key=who.get)
    timeline["maker"] = timeline["clip"].map(clip_person)
    # each person of the timeline is one real person (a track never mixes two people)
    assert (timeline.groupby("person")["maker"].nunique() == 1).all()
    found = n_truth = 0
    for person in truth["participants"]:
        own = timeline[timeline["maker"] == person["person"]]
        for ev in person["events"]:  # call frames
            n_truth += 1
            found += bool(((own["start_frame"] <= ev["offset"]) & (own["end_frame"] >= ev["onset"])).any())
    print(f"{found} of {n_truth} micro-expressions found in their maker's timeline; {len(timeline)} events in all")
    assert found >= max(1, n_truth // 3), (found, n_truth)


def test_the_proposals_load_into_an_annotation_project_and_a_rerun_is_skipped(analysed, synth_call, model, tmp_path):
    out, folder, _ = analysed
    assert_proposals_load(out, folder, tmp_path)
    args = ["analyze", str(synth_call[0]), "--model", str(model), "--out", str(out), "--include-excluded"]
    again = runner.invoke(app, args)
    assert again.exit_code == 0 and "(done before)" in again.output


def test_motion_in_two_stretches_gives_the_events_of_one_pass(analysed, tmp_path):
    from mextk.spotting.baseline import SpotterSettings, spot_intervals
    from mextk.spotting.signals import compute_features, load_features

    out, _, _ = analysed
    manifest = pd.read_csv(out / "prepared" / "manifest.csv", dtype={"sample_id": str})
    videos = pd.DataFrame(
        {"dataset": "analyze", "video_id": manifest["sample_id"],
         "path": [str(out / "prepared" / p) for p in manifest["path"]], "fps": manifest["fps"].astype(float)}
    )  # fmt: skip
    settings = SpotterSettings()
    assert compute_features(videos, tmp_path / "two", settings, jobs=2, progress=False) == {}
    same = total = 0
    for sid, fps in zip(manifest["sample_id"], manifest["fps"], strict=True):
        one = load_features(out / "features", f"analyze/{sid}", settings, float(fps))  # analyze's single pass
        two = load_features(tmp_path / "two", f"analyze/{sid}", settings, float(fps))
        assert one["motion"].shape == two["motion"].shape and np.array_equal(one["face"], two["face"])
        a = {(e["onset"], e["offset"]) for e in spot_intervals(settings.signals(one), settings)}
        b = {(e["onset"], e["offset"]) for e in spot_intervals(settings.signals(two), settings)}
        same, total = same + len(a & b), total + max(len(a), len(b))
    # the stretches differ from the single pass only just after a cut (a fresh alignment and anchor)
    assert same >= 0.8 * total, (same, total)


def test_an_incompatible_model_is_refused_before_any_work(synth_call, model, tmp_path):
    import shutil

    from mextk.analyze.chain import analyze_recording

    path = synth_call[0]
    bad = tmp_path / "model"
    shutil.copytree(model, bad)
    meta = json.loads((bad / "model.json").read_text())
    meta["feature"]["params"]["version"] = -1  # features of another mextk
    (bad / "model.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match=r"model.json: trained on .* features of version -1"):
        analyze_recording(path, bad, tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()  # nothing prepared


def test_unreadable_weights_are_refused_before_any_work_naming_the_file(synth_call, model, tmp_path):
    import shutil

    from mextk.analyze.chain import analyze_recording

    path = synth_call[0]
    bad = tmp_path / "model"
    shutil.copytree(model, bad)
    weights = next(p for p in bad.iterdir() if p.name in ("model.joblib", "model.pt"))
    weights.write_bytes(weights.read_bytes()[:100])  # truncated
    with pytest.raises(ValueError, match=rf"{weights.name}: cannot load the model's weights"):
        analyze_recording(path, bad, tmp_path / "out", progress=False, include_excluded=True)
    assert not (tmp_path / "out").exists()  # nothing prepared


def test_a_relative_out_folder_recognises_every_event(analysed, synth_call, model, tmp_path, monkeypatch):
    # the events' manifest once named its frame folders relative to the working folder, but a manifest's
    # paths are read relative to the manifest itself: with a relative --out no event could be recognised
    import shutil

    out, folder, _ = analysed
    recording = synth_call[0]
    # the prepared clips name their recording relative to themselves: copy both, side by side as they were
    (tmp_path / recording.parent.name).mkdir()
    shutil.copy2(recording, tmp_path / recording.parent.name / recording.name)
    shutil.copytree(out, tmp_path / "rel")
    (tmp_path / "rel" / folder.name / "done.json").unlink()  # recognise again; the clips and motion are reused
    monkeypatch.chdir(tmp_path)
    args = ["analyze", f"{recording.parent.name}/{recording.name}", "--model", str(model), "--out", "rel",
            "--include-excluded"]  # fmt: skip
    assert runner.invoke(app, args).exit_code == 0
    done = json.loads((tmp_path / "rel" / folder.name / "timeline.json").read_text())
    assert done["failed_clips"] == {}
    timeline = pd.read_csv(tmp_path / "rel" / folder.name / "timeline.csv")
    before = pd.read_csv(folder / "timeline.csv")
    assert len(timeline) == len(before) > 0
    assert timeline["class"].notna().all() and (timeline["class"] == before["class"]).all()


def test_a_clip_that_cannot_be_read_is_reported_and_the_others_events_kept(analysed, synth_call, model, tmp_path):
    import shutil

    out, folder, _ = analysed
    recording = synth_call[0]
    (tmp_path / recording.parent.name).mkdir()  # the clips name their recording relative to themselves
    shutil.copy2(recording, tmp_path / recording.parent.name / recording.name)
    shutil.copytree(out, tmp_path / "out")
    (tmp_path / "out" / folder.name / "done.json").unlink()
    before = pd.read_csv(folder / "timeline.csv", dtype={"clip": str})
    broken = before["clip"].iloc[0]
    manifest = pd.read_csv(out / "prepared" / "manifest.csv", dtype={"sample_id": str}).set_index("sample_id")
    (tmp_path / "out" / "prepared" / manifest.loc[broken, "path"]).write_text("{")  # its clip reference
    args = ["analyze", str(tmp_path / recording.parent.name / recording.name), "--model", str(model),
            "--out", str(tmp_path / "out"), "--include-excluded"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert f"clip {broken} not analysed" in result.output and "not a readable clip reference" in result.output
    timeline = pd.read_csv(tmp_path / "out" / folder.name / "timeline.csv", dtype={"clip": str})
    assert broken not in set(timeline["clip"])
    others = before[before["clip"] != broken]
    kept = set(zip(timeline["clip"], timeline["start_frame"], strict=True))
    assert len(others) > 0 and kept == set(zip(others["clip"], others["start_frame"], strict=True))


def test_a_folder_stands_for_every_recording_in_it(analysed, synth_call, model, tmp_path):
    import shutil

    path, _, truth = synth_call
    out, folder, _ = analysed
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    shutil.copy(path, inbox / path.name)  # the same recording, found through its folder: analysed before
    result = runner.invoke(app, ["analyze", str(inbox), "--model", str(model), "--out", str(out), "--include-excluded"])
    assert result.exit_code == 0, result.output
    import re

    events, people = map(int, re.search(rf"{path.name}: (\d+) event\(s\) of (\d+) person", result.output).groups())
    timeline = pd.read_csv(folder / "timeline.csv", dtype={"person": str})
    assert events == len(timeline) > 0 and people == timeline["person"].nunique() > 0


@pytest.fixture(scope="module")
def learned_spotter(tmp_path_factory):
    """A learned spotter trained by mextk spot on two people's synthetic long videos (seed 4)."""
    from mextk.synth.long import synthesize_long_videos

    out = tmp_path_factory.mktemp("learned")
    synthesize_long_videos(out / "set", n_subjects=2, seconds=16, fps=25, size=128, seed=4, progress=False)
    args = ["spot", str(out / "set" / "long.csv"), "--spotter", "learned", "--out", str(out / "run")]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return out / "run" / "model"


def test_analyze_with_a_learned_spotter_names_it_and_keeps_events_apart(synth_call, model, learned_spotter, tmp_path):
    import shutil

    import joblib

    path = synth_call[0]
    out = tmp_path / "analysis"
    spotter = shutil.copytree(learned_spotter, tmp_path / "spotter")
    args = ["analyze", str(path), "--model", str(model), "--out", str(out), "--include-excluded",
            "--spotter", "learned", "--spotter-model", str(spotter)]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "(done before)" in runner.invoke(app, args).output
    # a spotter saved again into the same folder (other bytes) is a new analysis, not the cached one
    joblib.dump(joblib.load(spotter / "spotter.joblib"), spotter / "spotter.joblib", compress=3)
    again = runner.invoke(app, args)
    assert again.exit_code == 0 and "(done before)" not in again.output, again.output
    folder = out / path.stem
    record = json.loads((folder / "timeline.json").read_text())["settings"]
    assert record["spotter"] is None and record["spotter_model"]["datasets"] == {"synth-long": 2}
    page = (folder / "report.html").read_text()
    assert "spotter: learned, trained on 2 people (synth-long), not calibrated" in page
    assert "not calibrated to calm faces" in page
    timeline = pd.read_csv(folder / "timeline.csv")
    for _, own in timeline.groupby("clip"):
        own = own.sort_values("start_frame")
        assert (own["start_frame"].to_numpy()[1:] > own["end_frame"].to_numpy()[:-1]).all()


@pytest.mark.parametrize("case", ["learned without a model", "not a spotter model", "model without learned"])
def test_a_learned_spotter_asked_for_wrongly_is_one_line_exit_2(synth_call, model, tmp_path, case):
    args = ["analyze", str(synth_call[0]), "--model", str(model), "--out", str(tmp_path / "out")]
    if case == "learned without a model":
        args += ["--spotter", "learned"]
    elif case == "not a spotter model":
        args += ["--spotter", "learned", "--spotter-model", str(model)]  # a recognition model folder
    else:
        args += ["--spotter-model", str(tmp_path)]
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    errors = [x for x in result.output.splitlines() if x.startswith("error:")]
    assert len(errors) == 1 and ("spotter" in errors[0])
    assert not (tmp_path / "out" / synth_call[0].stem / "report.html").exists()


@pytest.mark.parametrize("case", ["jpeg", "missing", "model typo", "empty folder"])
def test_bad_input_to_analyze_is_one_line_exit_2_and_writes_nothing(synth_call, model, tmp_path, case):
    import cv2

    recording, model_dir = str(synth_call[0]), str(model)
    if case == "jpeg":
        recording = str(tmp_path / "photo.jpg")
        cv2.imwrite(recording, np.zeros((64, 64, 3), np.uint8))
    elif case == "missing":
        recording = str(tmp_path / "nowhere.mp4")
    elif case == "model typo":
        model_dir = str(model) + "x"
    else:
        (tmp_path / "empty").mkdir()
        recording = str(tmp_path / "empty")
    out = tmp_path / "out"
    result = runner.invoke(app, ["analyze", recording, "--model", model_dir, "--out", str(out)])
    assert result.exit_code == 2, result.output
    errors = [x for x in result.output.splitlines() if x.startswith("error:")]
    assert len(errors) == 1 and (model_dir if case == "model typo" else recording) in errors[0]
    assert not out.exists()
