"""Cross-dataset protocols (lodo, holdout, split), per-dataset scores, and the checks that run before any work."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from mextk.cli import app
from mextk.evaluate.compare import compare_runs
from mextk.evaluate.protocols import plan_folds
from mextk.evaluate.runconfig import RunConfig
from mextk.evaluate.runner import evaluate_run
from mextk.evaluate.splits import LeakageError


def _table(rows):
    return pd.DataFrame(rows, columns=["subject", "dataset", "y", "split"])


def test_lodo_tests_each_dataset_once_on_a_model_of_the_others():
    t = _table([("a/1", "a", 0, ""), ("b/1", "b", 1, ""), ("a/2", "a", 1, ""), ("c/1", "c", 0, "")])
    plan = plan_folds(t, "lodo")
    assert plan.names == ["a", "b", "c"]
    assert [(tr.tolist(), te.tolist()) for tr, te in plan.splits] == [
        ([1, 3], [0, 2]),
        ([0, 2, 3], [1]),
        ([0, 1, 2], [3]),
    ]
    with pytest.raises(ValueError, match="two or more datasets"):
        plan_folds(t[t["dataset"] == "a"], "lodo")


def test_holdout_uses_only_the_named_datasets():
    t = _table([("a/1", "a", 0, ""), ("b/1", "b", 1, ""), ("c/1", "c", 0, ""), ("a/2", "a", 1, "")])
    plan = plan_folds(t, "holdout", train=["a"], test=["b"])
    assert plan.keep.tolist() == [True, True, False, True]
    ((train, test),) = plan.splits
    assert train.tolist() == [0, 2] and test.tolist() == [1]  # indices into the kept rows a/1, b/1, a/2
    with pytest.raises(ValueError, match="dataset\\(s\\) d not in the manifest"):
        plan_folds(t, "holdout", train=["a"], test=["d"])
    with pytest.raises(ValueError, match="both in --train-datasets and --test"):
        plan_folds(t, "holdout", train=["a"], test=["a"])


def test_split_column_trains_on_the_other_values_unless_told():
    t = _table([("d/1", "d", 0, "train"), ("d/2", "d", 1, "testA"), ("d/3", "d", 0, "testB"), ("d/4", "d", 1, "train")])
    plan = plan_folds(t, "split", split_column="split", test=["testA"])
    assert plan.keep.all() and plan.splits[0][1].tolist() == [1] and plan.splits[0][0].tolist() == [0, 2, 3]
    plan = plan_folds(t, "split", split_column="split", train=["train"], test=["testA"])
    assert plan.keep.tolist() == [True, True, False, True] and plan.names == ["train -> testA"]
    with pytest.raises(ValueError, match="no column 'fold'"):
        plan_folds(t, "split", split_column="fold", test=["x"])
    with pytest.raises(ValueError, match="values of split: testA, testB, train"):
        plan_folds(t, "split", split_column="split")


def _vector_manifest(tmp_path, datasets=("casme2", "samm"), subjects=4, per=6, split=None):
    """Separable 8-d vectors (class mean +-1), saved as .npy, over datasets that share subject names."""
    rng = np.random.default_rng(0)
    (tmp_path / "x").mkdir(exist_ok=True)
    rows = []
    for d in datasets:
        for s in range(subjects):
            for k in range(per):
                label = ("happiness", "disgust")[k % 2]
                x = rng.normal(1.5 if k % 2 else -1.5, 1.0, 8).astype(np.float32)
                sid = f"{d}_{s}_{k}"
                np.save(tmp_path / "x" / f"{sid}.npy", x)
                rows.append(
                    {
                        "dataset": d,
                        "subject": f"{s + 1:02d}",
                        "sample_id": sid,
                        "path": f"x/{sid}.npy",
                        "fps": 200,
                        "n_frames": 10,
                        "onset": 0,
                        "apex": 4,
                        "offset": 9,
                        "emotion": label,
                        "split": split(d, s) if split else "",
                    }
                )
    path = tmp_path / "m.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def _config(manifest, **kw):
    return RunConfig(manifest=str(manifest), model="motion_svm", task="megc3", input="precomputed", **kw)


def test_lodo_run_scores_each_dataset_and_compare_shows_them(tmp_path):
    m = _vector_manifest(tmp_path)
    result = evaluate_run(_config(m, protocol="lodo"), tmp_path / "lodo", progress=False)
    folds = json.loads((tmp_path / "lodo" / "folds.json").read_text())
    assert folds["names"] == ["casme2", "samm"]
    assert folds["test_subjects"][0] == [f"casme2/{s:02d}" for s in range(1, 5)]
    per_dataset = result.metrics["per_dataset"]
    assert set(per_dataset) == {"casme2", "samm"} and per_dataset["samm"]["n"] == 24
    assert result.uf1 > 0.9  # the classes are separable in every dataset
    table = compare_runs([tmp_path / "lodo"])
    assert table.loc[0, "Protocol"] == "LODO"
    assert table.loc[0, "UF1 (casme2)"] == pytest.approx(result.metrics["per_dataset"]["casme2"]["uf1"])
    assert "UAR (samm)" in table.columns


def test_holdout_run_trains_on_one_dataset_and_tests_on_another(tmp_path):
    m = _vector_manifest(tmp_path, datasets=("casme2", "samm", "smic"))
    res = CliRunner().invoke(
        app,
        [
            "evaluate", str(m), "--model", "motion_svm", "--task", "megc3", "--input", "precomputed",
            "--protocol", "holdout", "--train-datasets", "casme2", "--test", "samm", "--out", str(tmp_path / "h"),
            "--json",
        ],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    metrics = json.loads(res.stdout)
    assert metrics["n"] == 24 and list(metrics["per_dataset"]) == ["samm"]
    assert metrics["protocol_detail"] == "Holdout casme2 -> samm"
    skipped = pd.read_csv(tmp_path / "h" / "skipped.csv")
    assert len(skipped) == 24 and skipped["sample_id"].str.startswith("smic").all()
    done = json.loads((tmp_path / "h" / "folds" / "000" / "done.json").read_text())
    assert (done["n_train"], done["n_test"]) == (24, 24)


def test_a_dataset_name_given_to_train_is_refused_with_a_pointer_to_train_datasets(tmp_path):
    m = _vector_manifest(tmp_path, datasets=("casme2", "samm"))
    res = CliRunner().invoke(
        app,
        [
            "evaluate", str(m), "--model", "motion_svm", "--task", "megc3", "--input", "precomputed",
            "--protocol", "holdout", "--train", "casme2", "--test", "samm", "--out", str(tmp_path / "h"),
        ],
    )  # fmt: skip
    assert res.exit_code == 2 and "--train casme2: a training setting is KEY=VALUE" in res.output
    assert "--train-datasets" in res.output and not (tmp_path / "h" / "config.json").exists()


def test_split_protocol_refuses_a_subject_on_both_sides(tmp_path):
    # DFME-style split column; subject 04 of casme2 has samples in train and testA
    m = _vector_manifest(
        tmp_path, datasets=("casme2",), split=lambda d, s: {0: "train", 1: "train", 2: "testA", 3: "train"}[s]
    )
    result = evaluate_run(_config(m, protocol="split", split_column="split", test_on=["testA"]), tmp_path / "s")
    assert result.n == 6 and result.metrics["protocol_detail"] == "Split split: rest -> testA"
    df = pd.read_csv(m, dtype=str)
    df.loc[df.index[-1], "split"] = "testA"  # one sample of subject 04 moves to the test part
    df.to_csv(tmp_path / "leaky.csv", index=False)
    with pytest.raises(LeakageError, match="casme2/04"):
        evaluate_run(
            _config(tmp_path / "leaky.csv", protocol="split", split_column="split", test_on=["testA"]), tmp_path / "l"
        )
    assert not (tmp_path / "l" / "config.json").exists()


def test_a_failed_check_writes_no_config_so_the_corrected_rerun_starts(tmp_path):
    m = _vector_manifest(tmp_path, datasets=("casme2",), subjects=4)
    out = tmp_path / "run"
    with pytest.raises(ValueError, match="needs at least 10 subjects, got 4"):
        evaluate_run(_config(m, protocol="kfold", n_splits=10), out, progress=False)
    assert not (out / "config.json").exists()
    result = evaluate_run(_config(m, protocol="kfold", n_splits=2), out, progress=False)
    assert result.n_folds == 2


def test_resume_refuses_folds_that_differ_from_the_finished_ones(tmp_path):
    m = _vector_manifest(tmp_path, datasets=("casme2", "samm"))
    out = tmp_path / "run"
    evaluate_run(_config(m, protocol="loso"), out, progress=False)
    folds = json.loads((out / "folds.json").read_text())
    folds["test_subjects"][0], folds["test_subjects"][1] = folds["test_subjects"][1], folds["test_subjects"][0]
    (out / "folds.json").write_text(json.dumps(folds))
    with pytest.raises(FileExistsError, match="folds differ from those of the finished folds"):
        evaluate_run(_config(m, protocol="loso"), out, progress=False)
