from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from mextk.cli import app
from mextk.evaluate.checkpoints import score_checkpoints
from mextk.evaluate.compare import compare_runs
from mextk.evaluate.runconfig import RunConfig
from mextk.evaluate.runner import evaluate_run

# Tiny settings per model: every model trains end to end under LOSO in seconds.
TINY: dict[str, tuple[dict, dict]] = {
    "lbptop_svm": ({}, {}),
    "motion_svm": ({}, {}),
    "vgg16_apex": ({"size": 32}, {"epochs": 1, "batch_size": 8}),
    "dgcnn": ({}, {"epochs": 3}),
    "r3d": ({"size": 32, "n": 8}, {"epochs": 1, "batch_size": 8}),
    "p3d": ({"size": 32, "n": 8}, {"epochs": 1, "batch_size": 8}),
    "d3d": ({"size": 32, "n": 8}, {"epochs": 1, "batch_size": 8}),
    "i3d": ({"size": 32, "n": 8}, {"epochs": 1, "batch_size": 8}),
    "ststnet": ({}, {"epochs": 3}),
    "offapexnet": ({}, {"epochs": 3}),
}


@pytest.fixture(scope="module")
def manifest(synth_dataset) -> Path:
    out, _, _ = synth_dataset
    return out / "manifest.csv"


@pytest.fixture(scope="module")
def features(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("features")


def _config(manifest, features, model, **kw):
    feature_params, train = TINY[model]
    return RunConfig(
        manifest=str(manifest),
        model=model,
        task=kw.pop("task", "cmed7"),
        features_dir=str(features),
        feature_params=feature_params,
        train=train,
        **kw,
    )


@pytest.mark.slow
@pytest.mark.parametrize("model", list(TINY))
def test_every_model_trains_and_is_scored_under_loso(manifest, features, tmp_path, model):
    out = tmp_path / model
    result = evaluate_run(_config(manifest, features, model), out, progress=False)
    assert {"acc", "uf1", "uar", "per_dataset", "per_class"} <= set(result.metrics)
    written = json.loads((out / "metrics.json").read_text())  # the typed result is what the run folder holds
    assert (result.out, result.model, result.uf1, result.n) == (out, model, written["uf1"], written["n"])
    assert result.classes == tuple(written["classes"]) and result.resumed_folds == 0
    preds = pd.read_csv(out / "predictions.csv", dtype={"subject": str})
    probs = preds[[c for c in preds.columns if c.startswith("p_")]].to_numpy()
    assert list(preds.columns[:6]) == ["sample_id", "subject", "dataset", "fold", "y_true", "y_pred"]
    assert probs.shape[1] == 7 and np.allclose(probs.sum(axis=1), 1, atol=1e-4)
    assert (probs.argmax(axis=1) == preds["y_pred"]).all()
    skipped = pd.read_csv(out / "skipped.csv")
    assert len(preds) + len(skipped) == 28 and len(preds) >= 24  # a 96 px face may escape dlib
    assert preds.groupby("fold")["subject"].nunique().eq(1).all() and preds["fold"].nunique() == 4
    table = pd.read_csv(out / "table.csv")
    assert list(table.columns) == ["Method", "Variant", "UF1", "UAR", "Accuracy"] and table["Variant"][0] == "7-Class"
    assert (out / "confusion.png").read_bytes()[:4] == b"\x89PNG"
    saved = sorted(p.name for p in (out / "folds" / "000").iterdir())
    assert ("model.joblib" if model.endswith("_svm") else "model.pt") in saved and "done.json" in saved


@pytest.fixture(scope="module")
def larger_dataset(tmp_path_factory) -> Path:
    """6 subjects x 14 clips (12 No-ME): enough No-ME clips for spotting scores to mean something."""
    from mextk.synth.clips import SynthConfig, synthesize_dataset

    out = tmp_path_factory.mktemp("larger")
    synthesize_dataset(out, SynthConfig(n_subjects=6, clips_per_subject=14, size=96, seed=5), progress=False)
    return out / "manifest.csv"


@pytest.mark.slow
def test_recognition_and_spotting_beat_chance_with_lbp_top(larger_dataset, features, tmp_path):
    rec = evaluate_run(_config(larger_dataset, features, "lbptop_svm", task="cmed6"), tmp_path / "rec", progress=False)
    spot = evaluate_run(
        _config(larger_dataset, features, "lbptop_svm", task="spotting"), tmp_path / "spot", progress=False
    )
    assert rec.n == 72 and rec.variant == "6-Class"  # No-ME left out of the 6 emotions
    assert spot.n == 84 and spot.variant == "ME vs No-ME"
    assert rec.uf1 > 0.5  # chance is 1/6
    # spotting, 72 ME against 12 No-ME: any predictor blind to the input has UAR 0.5; always answering "ME"
    # has UF1 (144/156 + 0) / 2 = 0.46
    assert spot.uar > 0.5 and spot.uf1 > 0.5


@pytest.mark.parametrize("protocol", ["loso", "kfold"])
def test_no_test_subject_reaches_training(manifest, features, tmp_path, protocol, monkeypatch):
    from mextk.evaluate import fitting

    received = []  # the subjects of the samples that the fitting code was actually handed, fold by fold
    real_fit = fitting.fit_model

    def spy(config, inputs, y, train_idx, *, seed, subjects, **kw):
        received.append(set(np.asarray(subjects)[train_idx]))
        return real_fit(config, inputs, y, train_idx, seed=seed, subjects=subjects, **kw)

    monkeypatch.setattr(fitting, "fit_model", spy)
    out = tmp_path / protocol
    evaluate_run(_config(manifest, features, "lbptop_svm", protocol=protocol, n_splits=2), out, progress=False)
    folds = json.loads((out / "folds.json").read_text())["test_subjects"]
    samples = pd.read_csv(out / "samples.csv", dtype={"subject": str})
    assert len(folds) == (4 if protocol == "loso" else 2)
    tested = [s for f in folds for s in f]
    assert sorted(tested) == sorted(samples["subject"].unique())  # every subject tested exactly once
    preds = pd.read_csv(out / "predictions.csv", dtype={"subject": str})
    for k, part in preds.groupby("fold"):
        assert set(part["subject"]) == set(folds[k])
        done = json.loads((out / "folds" / f"{k:03d}" / "done.json").read_text())
        assert done["n_test"] == len(part)
        # what the model was fitted on: every other subject, none of this fold's
        trained = received[k]
        assert not trained & set(folds[k]) and trained | set(folds[k]) == set(samples["subject"])
        saved = json.loads((out / "folds" / f"{k:03d}" / "model.json").read_text())
        assert set(saved["trained_on"]) == trained
    assert len(received) == len(folds)


def test_a_killed_run_resumes_and_gives_identical_metrics(manifest, features, tmp_path):
    # 20 epochs: each fold still takes seconds, so the kill lands between folds
    args = [
        "evaluate", str(manifest), "--model", "dgcnn", "--task", "cmed7", "--features", str(features),
        "--train", "epochs=20", "--json",
    ]  # fmt: skip
    whole = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "whole")])
    assert whole.exit_code == 0, whole.output
    out = tmp_path / "killed"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "mextk", *args, "--out", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    try:
        first = out / "folds" / "000" / "done.json"
        deadline = time.monotonic() + 300
        while not first.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert first.exists(), "the first fold never finished"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    done = sorted(p.parent.name for p in out.glob("folds/*/done.json"))
    assert 1 <= len(done) < 4, f"kill came too late to test resuming ({done})"
    assert not (out / "metrics.json").exists()
    resumed = CliRunner().invoke(app, [*args, "--out", str(out)])
    assert resumed.exit_code == 0, resumed.output
    a = json.loads((tmp_path / "whole" / "metrics.json").read_text())
    b = json.loads((out / "metrics.json").read_text())
    assert (a["acc"], a["uf1"], a["uar"], a["per_class"]) == (b["acc"], b["uf1"], b["uar"], b["per_class"])
    # the same command with other settings is refused rather than mixed into the run
    changed = [("epochs=21" if a == "epochs=20" else a) for a in args]
    other = CliRunner().invoke(app, [*changed, "--out", str(out)])
    assert other.exit_code == 2 and "other settings" in other.output


def test_precomputed_flow_images_and_arrays(manifest, features, tmp_path):
    import cv2

    from mextk.features.batch import KINDS, extract_features
    from mextk.features.cache import FeatureCache

    res = extract_features(manifest, "flow", features, progress=False)
    cache = FeatureCache(features, "flow", KINDS["flow"][1])
    df = pd.read_csv(manifest, dtype=str, keep_default_na=False)
    df = df[df["sample_id"].isin(res["done"] + res["cached"])].copy()
    (tmp_path / "img").mkdir()
    paths_png, paths_npy = [], []
    for sid in df["sample_id"]:
        x = cache.load(sid)["x"]
        png = tmp_path / "img" / f"{sid}.png"
        cv2.imwrite(str(png), cv2.cvtColor(np.rint(x * 255).astype(np.uint8), cv2.COLOR_RGB2BGR))
        np.save(tmp_path / "img" / f"{sid}.npy", x)
        paths_png.append(str(png))
        paths_npy.append(str(tmp_path / "img" / f"{sid}.npy"))
    for kind, paths in (("png", paths_png), ("npy", paths_npy)):
        m = df.assign(path=paths)
        m.to_csv(tmp_path / f"{kind}.csv", index=False)
    runs = {}
    for kind in ("png", "npy"):
        res = CliRunner().invoke(
            app,
            [
                "evaluate", str(tmp_path / f"{kind}.csv"), "--model", "ststnet", "--task", "cmed7",
                "--input", "precomputed", "--epochs", "3", "--out", str(tmp_path / kind), "--json",
            ],
        )  # fmt: skip
        assert res.exit_code == 0, res.output
        runs[kind] = json.loads(res.stdout)
        assert runs[kind]["n"] == len(df)
    computed = evaluate_run(_config(manifest, features, "ststnet"), tmp_path / "cache", progress=False)
    # .npy inputs are the cached arrays themselves: the same predictions as the feature path
    a = pd.read_csv(tmp_path / "npy" / "predictions.csv")
    b = pd.read_csv(tmp_path / "cache" / "predictions.csv")
    assert computed.n == len(df) and (a["y_pred"].to_numpy() == b["y_pred"].to_numpy()).all()
    bad = df.assign(path=[str(tmp_path / "img" / "x.gif")] * len(df))
    bad.to_csv(tmp_path / "bad.csv", index=False)
    res = CliRunner().invoke(
        app, ["evaluate", str(tmp_path / "bad.csv"), "--model", "ststnet", "--input", "precomputed",
              "--out", str(tmp_path / "bad")],
    )  # fmt: skip
    assert res.exit_code == 2 and "x.gif" in res.output


def test_saved_fold_models_score_without_training_and_runs_compare(manifest, features, tmp_path):
    first = evaluate_run(_config(manifest, features, "lbptop_svm"), tmp_path / "a", progress=False)
    rescored = score_checkpoints(tmp_path / "a", tmp_path / "b", progress=False)
    assert (rescored.acc, rescored.uf1) == (first.acc, first.uf1)
    res = CliRunner().invoke(
        app, ["evaluate", str(manifest), "--checkpoints", str(tmp_path / "a"), "--out", str(tmp_path / "c"), "--json"]
    )
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["uar"] == first.uar
    table = compare_runs([tmp_path / "a", tmp_path / "c"])
    assert list(table["Method"]) == ["LBP-TOP", "LBP-TOP"] and table["UF1"].nunique() == 1
    res = CliRunner().invoke(app, ["compare", str(tmp_path / "a"), str(tmp_path / "c"), "--out", str(tmp_path)])
    assert res.exit_code == 0 and "LBP-TOP" in res.output
    assert "| Method" in (tmp_path / "compare.md").read_text()
    res = CliRunner().invoke(app, ["compare", str(tmp_path / "nothing")])
    assert res.exit_code == 2 and "nothing: run folder not found" in res.output
    (tmp_path / "unfinished").mkdir()
    res = CliRunner().invoke(app, ["compare", str(tmp_path / "unfinished")])
    assert res.exit_code == 2 and "unfinished has no metrics.json" in res.output


def test_process_and_ray_executors_match_local(manifest, features, tmp_path):
    cfg = _config(manifest, features, "ststnet")
    local = evaluate_run(cfg, tmp_path / "local", progress=False)
    proc = evaluate_run(cfg, tmp_path / "process", executor="process", jobs=2, progress=False)
    a = pd.read_csv(tmp_path / "local" / "predictions.csv")
    b = pd.read_csv(tmp_path / "process" / "predictions.csv")
    assert (a["y_pred"] == b["y_pred"]).all() and proc.uf1 == local.uf1
    pytest.importorskip("ray")
    ray_run = evaluate_run(cfg, tmp_path / "ray", executor="ray", jobs=2, progress=False)
    c = pd.read_csv(tmp_path / "ray" / "predictions.csv")
    assert (a["y_pred"] == c["y_pred"]).all() and ray_run.uf1 == local.uf1


def test_mlflow_logging(manifest, features, tmp_path, monkeypatch):
    mlflow = pytest.importorskip("mlflow")
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # a file store keeps the test serverless
    uri = (tmp_path / "mlruns").as_uri()
    result = evaluate_run(_config(manifest, features, "lbptop_svm"), tmp_path / "run", mlflow_uri=uri, progress=False)
    mlflow.set_tracking_uri(uri)
    runs = mlflow.search_runs(experiment_names=["mextk"])
    assert len(runs) == 1 and runs["metrics.uf1"][0] == pytest.approx(result.uf1)
    assert runs["params.model"][0] == "lbptop_svm"


def test_bad_settings_fail_before_any_work(manifest, features, tmp_path):
    base = ["evaluate", str(manifest), "--out", str(tmp_path / "x"), "--features", str(features)]
    for extra, message in (
        (["--model", "nope"], "unknown model"),
        (["--model", "dgcnn", "--protocol", "leave-two-out"], "protocol"),
        (["--model", "dgcnn", "--train", "optimiser=adam"], "unknown training setting"),
        (["--model", "dgcnn", "--task", "emotions9"], "unknown task"),
        (["--model", "dgcnn", "--executor", "slurm", "--epochs", "1"], "executor"),
        (["--model", "lbptop_svm", "--size", "64"], "no input size"),
    ):
        res = CliRunner().invoke(app, [*base, *extra])
        assert res.exit_code == 2 and message in res.output, (extra, res.output)


def test_precomputed_graph_files(manifest, features, tmp_path):
    import shutil

    from mextk.features.batch import KINDS, extract_features
    from mextk.features.cache import FeatureCache

    res = extract_features(manifest, "graphs", features, progress=False)
    cache = FeatureCache(features, "graphs", KINDS["graphs"][1])
    df = pd.read_csv(manifest, dtype=str, keep_default_na=False)
    df = df[df["sample_id"].isin(res["done"] + res["cached"])].copy()
    paths = []
    for sid in df["sample_id"]:
        target = tmp_path / f"{sid}.npz"
        shutil.copy(cache.path(sid), target)
        paths.append(str(target))
    df.assign(path=paths).to_csv(tmp_path / "graphs.csv", index=False)
    cfg = RunConfig(
        manifest=str(tmp_path / "graphs.csv"), model="dgcnn", task="cmed7", input="precomputed", train={"epochs": 3}
    )
    from_files = evaluate_run(cfg, tmp_path / "files", progress=False)
    from_cache = evaluate_run(_config(manifest, features, "dgcnn"), tmp_path / "cache", progress=False)
    assert from_files.n == from_cache.n == len(df)
    assert (from_files.acc, from_files.uf1) == (from_cache.acc, from_cache.uf1)


def _subset(manifest: Path, tmp_path: Path, name: str, keep, **columns) -> Path:
    """A copy of the manifest with some rows (paths made absolute) and columns changed."""
    df = pd.read_csv(manifest, dtype=str, keep_default_na=False)
    df["path"] = [str(manifest.parent / p) for p in df["path"]]
    df = df[keep(df)].copy()
    for col, value in columns.items():
        df[col] = value(df) if callable(value) else value
    path = tmp_path / name
    df.to_csv(path, index=False)
    return path


def test_unlabelled_rows_are_refused_in_one_line_and_leave_nothing_to_block_the_rerun(manifest, features, tmp_path):
    unlabelled = _subset(
        manifest, tmp_path, "u.csv", lambda d: d.index >= 0, emotion=lambda d: ["", *d["emotion"].iloc[1:]]
    )
    out = tmp_path / "run"
    args = ["evaluate", "--model", "lbptop_svm", "--task", "cmed7", "--features", str(features), "--out", str(out)]
    res = CliRunner().invoke(app, [args[0], str(unlabelled), *args[1:]])
    assert res.exit_code == 2
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "unlabelled" in lines[0] and "s01_001" in lines[0] and "u.csv" in lines[0], res.output
    assert not out.exists() or not (out / "config.json").exists()
    # the corrected manifest runs in the same folder
    res = CliRunner().invoke(app, [args[0], str(manifest), *args[1:]])
    assert res.exit_code == 0, res.output


def test_a_failed_attempt_does_not_block_a_corrected_rerun(manifest, features, tmp_path):
    out = tmp_path / "run"
    wrong = _config(manifest, features, "lbptop_svm", task="cmed6")
    (out / "folds" / "000").mkdir(parents=True)  # an attempt that stopped before its first fold was done
    from dataclasses import replace

    evaluate_run(replace(wrong, seed=9), out, progress=False)
    assert json.loads((out / "config.json").read_text())["seed"] == 9
    with pytest.raises(FileExistsError, match="other settings"):  # finished folds are never overwritten
        evaluate_run(wrong, out, progress=False)


def test_folds_that_train_on_one_class_are_refused(manifest, features, tmp_path):
    # two subjects with one sample each: each LOSO fold trains on one sample, so on one class
    two = _subset(
        manifest,
        tmp_path,
        "two.csv",
        lambda d: d["sample_id"].isin(["s01_001", "s02_001"]),
        emotion=["happiness", "anger"],
    )
    with pytest.raises(ValueError, match=r"2 of 2 folds train on fewer than 2 classes.*fold 0 \(1 training sample"):
        evaluate_run(_config(two, features, "lbptop_svm", task="cmed6"), tmp_path / "r", progress=False)
    res = CliRunner().invoke(
        app, ["evaluate", str(two), "--model", "lbptop_svm", "--features", str(features), "--out", str(tmp_path / "c")]
    )
    assert res.exit_code == 2 and "fewer than 2 classes" in res.output


def test_a_class_missing_from_a_folds_training_is_warned_about_and_recorded(manifest, features, tmp_path):
    # only subject s01 shows "fear": its fold trains without fear, and says so
    df = pd.read_csv(manifest, dtype=str, keep_default_na=False)
    fear = set(df.loc[df["emotion"] == "fear", "sample_id"])
    keep = _subset(
        manifest,
        tmp_path,
        "rare.csv",
        lambda d: ~d["sample_id"].isin(fear) | (d["subject"] == "s01"),
    )
    rows = pd.read_csv(keep, dtype=str)
    assert set(rows.loc[rows["emotion"] == "fear", "subject"]) == {"s01"}
    with pytest.warns(UserWarning, match="1 of 4 folds train without a class"):
        result = evaluate_run(_config(keep, features, "lbptop_svm", task="cmed7"), tmp_path / "r", progress=False)
    assert len(result.metrics["class_warnings"]) == 1 and result.metrics["class_warnings"][0].startswith(
        "fold 0: training has no fear"
    )
    saved = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert saved["class_warnings"] == result.metrics["class_warnings"]


def test_two_datasets_sharing_a_subject_name_are_two_people_and_two_loso_folds(manifest, features, tmp_path):
    """Subject "s01" of dataset A and of dataset B are two people: LOSO tests them in two folds."""
    df = pd.read_csv(manifest, dtype={"subject": str}, keep_default_na=False)
    subjects = sorted(df["subject"].unique())
    assert len(subjects) == 4
    rename = {subjects[2]: subjects[0], subjects[3]: subjects[1]}  # the last two become dataset B's s01, s02
    second = df["subject"].isin(rename)
    df.loc[second, "dataset"] = "other"
    df.loc[second, "subject"] = df.loc[second, "subject"].map(rename)
    df["path"] = [str((manifest.parent / p).resolve()) for p in df["path"]]
    composite = tmp_path / "composite.csv"
    df.to_csv(composite, index=False)
    assert df["subject"].nunique() == 2  # by name alone there would be only two folds
    out = tmp_path / "run"
    evaluate_run(_config(composite, features, "lbptop_svm"), out, progress=False)
    folds = json.loads((out / "folds.json").read_text())["test_subjects"]
    assert len(folds) == 4 and all(len(f) == 1 for f in folds)
    keys = sorted(k for f in folds for k in f)
    assert keys == sorted({f"{d}/{s}" for d, s in zip(df["dataset"], df["subject"], strict=True)})
    preds = pd.read_csv(out / "predictions.csv", dtype={"subject": str})
    assert preds.groupby("fold")["subject"].nunique().eq(1).all() and preds["subject"].nunique() == 4


def test_flow_augmentation_and_tta_run_under_loso_rotation_leaves_the_kernel_and_rangeless_inputs_are_refused(
    manifest, features, tmp_path
):
    from mextk.evaluate.fitting import predict_saved
    from mextk.evaluate.runconfig import fold_dir

    out = tmp_path / "aug"
    res = CliRunner().invoke(
        app,
        [
            "evaluate", str(manifest), "--model", "ststnet", "--task", "cmed7", "--features", str(features),
            "--epochs", "3", "--train", "augment_flip=0.5", "--train", "augment_shift=2",
            "--train", "augment_rotate=10", "--train", "tta=true", "--out", str(out), "--json",
        ],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    history = json.loads((fold_dir(out, 0) / "history.json").read_text())
    assert history["trainer"] == "torch" and "rotation" in history["kernel_unused"]
    assert history["augment"] == {"flip": 0.5, "shift": 2, "rotate": 10.0, "flow_values": "minmax"}
    config = RunConfig(**json.loads((out / "config.json").read_text()))
    assert config.train["tta"] is True
    samples = pd.read_csv(out / "samples.csv", dtype={"subject": str})
    folds = json.loads((out / "folds.json").read_text())["test_subjects"]
    tested = samples[samples["subject"].isin(folds[0])]
    saved = pd.read_csv(fold_dir(out, 0) / "predictions.csv")
    again = predict_saved(out, 0, config, tested, n_classes=saved.filter(like="p_").shape[1])
    assert np.allclose(again, saved.filter(like="p_").to_numpy(), atol=1e-6)  # the saved model predicts with TTA
    # precomputed arrays carry no flow range: rotating them is refused, naming the file
    from mextk.features.batch import KINDS
    from mextk.features.cache import FeatureCache

    cache = FeatureCache(features, "flow", KINDS["flow"][1])
    assert cache.load(str(samples["sample_id"][0]))["flow_range"].shape == (4,)
    df = pd.read_csv(manifest, dtype=str, keep_default_na=False)
    df = df[df["sample_id"].isin(samples["sample_id"])].copy()
    paths = []
    for sid in df["sample_id"]:
        np.save(tmp_path / f"{sid}.npy", cache.load(sid)["x"])
        paths.append(str(tmp_path / f"{sid}.npy"))
    df.assign(path=paths).to_csv(tmp_path / "npy.csv", index=False)
    cfg = RunConfig(manifest=str(tmp_path / "npy.csv"), model="ststnet", task="cmed7", input="precomputed",
                    train={"epochs": 1, "augment_rotate": 5})  # fmt: skip
    with pytest.raises(ValueError, match=r"\.npy: augment_rotate needs the raw flow's u and v ranges"):
        evaluate_run(cfg, tmp_path / "rangeless", progress=False)
    flips = evaluate_run(replace(cfg, train={"epochs": 1, "augment_flip": 0.5}), tmp_path / "flips", progress=False)
    assert flips.n == len(df)
    from mextk.models.fused import kernel

    if kernel() is not None:  # flips (and shifts) stay in the fused kernel
        assert json.loads((fold_dir(tmp_path / "flips", 0) / "history.json").read_text())["trainer"] == "kernel"


def test_select_on_test_picks_each_folds_best_epoch_on_its_test_subjects_and_marks_the_run_leaky(
    manifest, features, tmp_path
):
    """HTNet's published protocol, on request only: the kept epoch is the one whose model scored best on the fold's
    own test samples, so the fold's saved predictions score exactly the best of the recorded per-epoch scores."""
    from sklearn.metrics import f1_score

    from mextk.evaluate.runconfig import fold_dir
    from mextk.models.training import TrainConfig

    out = tmp_path / "leaky"
    res = CliRunner().invoke(
        app,
        [
            "evaluate", str(manifest), "--model", "ststnet", "--task", "cmed7", "--features", str(features),
            "--epochs", "5", "--train", "lr=0.01", "--select-on-test", "--out", str(out),
        ],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "leaky" in res.output
    assert json.loads((out / "metrics.json").read_text())["leaky"] is True
    history = json.loads((fold_dir(out, 0) / "history.json").read_text())
    assert history["trainer"] == "torch" and "test fold" in history["kernel_unused"]
    scores = history["val_uf1"]
    assert len(scores) == 5 and history["chosen_epoch"] == int(np.argmax(scores)) + 1
    preds = pd.read_csv(fold_dir(out, 0) / "predictions.csv")
    present = sorted(set(preds["y_true"]))  # UF1 over the classes the fold holds, as the papers count it
    expected = f1_score(preds["y_true"], preds["y_pred"], labels=present, average="macro")
    assert max(scores) == pytest.approx(expected)
    assert "LEAKY" in compare_runs([out])["Protocol"].iloc[0]
    with pytest.raises(ValueError, match="val_subjects"):
        TrainConfig(select_on_test=True, val_subjects=0.2)
    svm = RunConfig(manifest=str(manifest), model="motion_svm", task="cmed7", features_dir=str(features),
                    train={"select_on_test": True})  # fmt: skip
    with pytest.raises(ValueError, match="trains no epochs"):
        evaluate_run(svm, tmp_path / "svm", progress=False)


def test_vector_inputs_are_kept_as_one_matrix_that_every_fold_reads(tmp_path):
    """A run of a vector model writes vectors-<digest>.npy once; its rows are the inputs, and a changed input
    file gets a new matrix (its digest names the files' sizes and times)."""
    from mextk.evaluate.fitting import LazyInputs

    g = np.random.default_rng(0)
    paths = []
    for k in range(6):
        np.save(tmp_path / f"{k}.npy", g.random((3, 4), dtype=np.float32))
        paths.append(str(tmp_path / f"{k}.npy"))
    a = LazyInputs(paths, "vector", precomputed=True, preload=True, matrix_dir=tmp_path / "run")
    files = sorted((tmp_path / "run").glob("vectors-*.npy"))
    assert len(files) == 1 and isinstance(a.matrix, np.memmap)
    assert np.array_equal(a.take([4, 1]), np.stack([np.load(paths[4]).ravel(), np.load(paths[1]).ravel()]))
    assert np.array_equal(a[2], np.load(paths[2]).ravel())
    np.save(paths[3], np.zeros((3, 4), dtype=np.float32))
    os.utime(paths[3], ns=(1, 1))  # another time: a new digest
    b = LazyInputs(paths, "vector", precomputed=True, preload=True, matrix_dir=tmp_path / "run")
    assert len(list((tmp_path / "run").glob("vectors-*.npy"))) == 2 and not b.take([3]).any()
    np.save(paths[5], np.zeros(5, dtype=np.float32))
    with pytest.raises(ValueError, match=r"5.npy: 5 values, but .*0.npy has 12"):
        LazyInputs(paths, "vector", precomputed=True, preload=True, matrix_dir=tmp_path / "run2")
    assert not list((tmp_path / "run2").glob("*.npy"))  # nothing half-written is left
