"""``mextk train`` and ``mextk predict``: model folders, their checks, and predictions on clips never seen."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from mextk.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def manifest(synth_dataset) -> Path:
    out, _, _ = synth_dataset
    return out / "manifest.csv"


@pytest.fixture(scope="module")
def held_out(tmp_path_factory) -> pd.DataFrame:
    """Four clips of a person none of the models saw (another seed, so another face)."""
    from mextk.synth.clips import SynthConfig, synthesize_dataset

    out = tmp_path_factory.mktemp("held_out")
    df = synthesize_dataset(
        out,
        SynthConfig(
            n_subjects=1, clips_per_subject=4, size=96, seed=41, classes=("happiness", "surprise", "disgust", "no_me")
        ),
        progress=False,
    )
    df["path"] = [str(out / p) for p in df["path"]]
    return df


@pytest.fixture(scope="module")
def trained(manifest, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("trained") / "model"
    args = ["train", str(manifest), "--model", "motion_svm", "--task", "cmed7", "--out", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "datasets: synth (28 samples)" in result.output and "mean nothing on real faces" in result.output
    return out


def test_train_writes_a_model_folder_with_config_classes_feature_parameters_and_version(trained, manifest):
    from mextk import __version__

    meta = json.loads((trained / "model.json").read_text())
    assert meta["model"] == "motion_svm" and meta["task"] == "cmed7" and meta["mextk_version"] == __version__
    assert meta["classes"] == ["anger", "disgust", "fear", "sadness", "happiness", "surprise", "no_me"]
    assert meta["feature"]["kind"] == "motion" and meta["feature"]["params"]["version"] == 2
    assert len(meta["trained_on"]) == 4  # every subject trains the final model
    assert meta["datasets"] == {"synth": 28} and meta["synthetic_only"] is True  # mextk synth's clips
    assert meta["config"]["manifest"] == str(manifest.resolve())
    assert (trained / "model.joblib").exists() and len(pd.read_csv(trained / "samples.csv")) == 28


def test_predict_on_held_out_clips_equals_the_saved_estimator_on_their_features(trained, held_out, tmp_path):
    import joblib

    out = tmp_path / "pred.csv"
    result = runner.invoke(app, ["predict", str(trained), *held_out["path"], "--out", str(out)])
    assert result.exit_code == 0, result.output
    pred = pd.read_csv(out)
    assert len(pred) == 4 and set(pred["predicted"]) <= set(json.loads((trained / "model.json").read_text())["classes"])
    probs = pred[[c for c in pred.columns if c.startswith("p_")]].to_numpy()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-9)
    # the independent way: the estimator as saved, on the feature files as stored
    model = joblib.load(trained / "model.joblib")
    files = sorted((tmp_path / "pred.features" / "motion").glob("*/*.npz"))  # the cache named after the output
    by_id = {f.stem: f for f in files}
    x = np.stack([np.load(by_id[Path(p).stem])["x"] for p in held_out["path"]])
    scores = model.decision_function(x)  # a linear SVM: mextk's probabilities are the softmax of its scores
    e = np.exp(scores - scores.max(axis=1, keepdims=True))
    expected = np.zeros((4, 7))
    expected[:, model.classes_] = e / e.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(probs, expected, atol=1e-9)
    # a manifest of the same clips, without key frames (so each clip is taken whole, as a bare path is), agrees
    held_out.assign(onset=None, apex=None, offset=None).to_csv(tmp_path / "held.csv", index=False)
    again = runner.invoke(app, ["predict", str(trained), str(tmp_path / "held.csv"), "--out", str(tmp_path / "m.csv")])
    assert again.exit_code == 0, again.output
    np.testing.assert_allclose(pd.read_csv(tmp_path / "m.csv").filter(like="p_").to_numpy(), probs, atol=1e-9)


def test_predict_writes_only_under_out_with_paths_relative_to_it(trained, held_out, tmp_path, monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    clip = Path(held_out["path"].iloc[0])
    result = runner.invoke(app, ["predict", str(trained), str(clip)])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in work.iterdir()) == ["predictions"]  # no features/ in the working folder
    assert sorted(p.name for p in (work / "predictions").iterdir()) == ["features", "predictions.csv"]
    (written,) = pd.read_csv(work / "predictions" / "predictions.csv")["path"]
    assert not Path(written).is_absolute()
    assert (work / "predictions" / written).resolve() == clip.resolve()


@pytest.mark.parametrize("model, settings", [("ststnet", ["--train", "epochs=3"]), ("motion_svm", [])])
def test_a_fold_model_predicts_its_test_samples_with_the_probabilities_of_its_fold(manifest, tmp_path, model, settings):
    run = tmp_path / "run"
    args = ["evaluate", str(manifest), "--model", model, "--task", "cmed7", "--out", str(run), *settings]
    assert runner.invoke(app, args).exit_code == 0
    fold = run / "folds" / "001"
    written = pd.read_csv(fold / "predictions.csv", dtype={"sample_id": str, "subject": str})
    df = pd.read_csv(manifest, dtype=str)
    tested = df[df["sample_id"].isin(written["sample_id"])].copy()
    tested["path"] = [str(manifest.parent / p) for p in tested["path"]]
    tested.to_csv(tmp_path / "fold1.csv", index=False)
    out = tmp_path / "pred.csv"
    result = runner.invoke(app, ["predict", str(fold), str(tmp_path / "fold1.csv"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    pred = pd.read_csv(out, dtype={"sample_id": str}).set_index("sample_id").loc[written["sample_id"]]
    np.testing.assert_allclose(
        pred.filter(like="p_").to_numpy(), written.filter(like="p_").to_numpy(), rtol=1e-5, atol=1e-6
    )


def test_train_again_with_the_same_settings_does_nothing_and_other_settings_are_refused(trained, manifest):
    same = runner.invoke(
        app, ["train", str(manifest), "--model", "motion_svm", "--task", "cmed7", "--out", str(trained)]
    )
    assert same.exit_code == 0 and "already holds this model" in same.output
    other = runner.invoke(
        app, ["train", str(manifest), "--model", "motion_svm", "--task", "cmed6", "--out", str(trained)]
    )
    assert other.exit_code == 2 and "other settings (differs in: task)" in other.output


def test_a_model_whose_features_changed_since_is_refused_in_one_line(trained, held_out, tmp_path):
    import shutil

    old = tmp_path / "old"
    shutil.copytree(trained, old)
    meta = json.loads((old / "model.json").read_text())
    meta["feature"]["params"]["version"] = 1
    meta["mextk_version"] = "0.0.9"
    (old / "model.json").write_text(json.dumps(meta))
    result = runner.invoke(app, ["predict", str(old), held_out["path"].iloc[0], "--out", str(tmp_path / "p.csv")])
    assert result.exit_code == 2
    assert "motion features of version 1 (mextk 0.0.9)" in result.output and "computes version 2" in result.output
    assert not (tmp_path / "p.csv").exists()
    meta["feature"]["params"] = {**meta["feature"]["params"], "version": 2, "bins": 8}
    (old / "model.json").write_text(json.dumps(meta))
    result = runner.invoke(app, ["predict", str(old), held_out["path"].iloc[0], "--out", str(tmp_path / "p.csv")])
    assert result.exit_code == 2 and "feature parameters ['bins'] of motion are unknown" in result.output


def test_predict_reports_a_corrupt_clip_and_predicts_the_others(trained, held_out, tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00" * 100)
    result = runner.invoke(
        app, ["predict", str(trained), held_out["path"].iloc[0], str(bad), "--out", str(tmp_path / "p.csv")]
    )
    assert result.exit_code == 1  # some failed, the rest were done
    assert "failed:" in result.output and "bad.mp4" in result.output
    assert len(pd.read_csv(tmp_path / "p.csv")) == 1
