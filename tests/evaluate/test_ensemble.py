"""Ensembles of finished runs (:mod:`mextk.evaluate.ensemble`, ``mextk ensemble``)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import f1_score
from typer.testing import CliRunner

from mextk.cli import app
from mextk.evaluate.compare import compare_runs
from mextk.evaluate.ensemble import ensemble_runs
from mextk.evaluate.runconfig import RunConfig
from mextk.evaluate.runner import evaluate_run
from mextk.evaluate.seeds import evaluate_seeds, seed_folder


@pytest.fixture(scope="module")
def runs(synth_dataset, tmp_path_factory):
    """A motion-SVM run and a two-seed STSTNet run under the same LOSO folds, and a 2-fold motion-SVM run."""
    out_dir, _, _ = synth_dataset
    root = tmp_path_factory.mktemp("ens")
    features = str(root / "features")
    base = RunConfig(manifest=str(out_dir / "manifest.csv"), model="motion_svm", task="cmed7", features_dir=features)
    evaluate_run(base, root / "svm", progress=False)
    st = RunConfig(**{**base.__dict__, "model": "ststnet", "train": {"epochs": 3}})
    evaluate_seeds(st, root / "ststnet", [0, 1], progress=False)
    evaluate_run(RunConfig(**{**base.__dict__, "protocol": "kfold", "n_splits": 2}), root / "kfold", progress=False)
    return root


def _probs(folder, ids):
    table = pd.read_csv(folder / "predictions.csv", dtype={"sample_id": str}).set_index("sample_id").loc[ids]
    return table.filter(like="p_").to_numpy()


def test_the_ensemble_averages_seeds_first_then_runs_and_scores_its_own_predictions(runs, tmp_path):
    metrics = ensemble_runs([runs / "svm", runs / "ststnet"], tmp_path / "ens")
    table = pd.read_csv(tmp_path / "ens" / "predictions.csv", dtype={"sample_id": str})
    ids = table["sample_id"].tolist()
    st = (_probs(seed_folder(runs / "ststnet", 0), ids) + _probs(seed_folder(runs / "ststnet", 1), ids)) / 2
    expected = (_probs(runs / "svm", ids) + st) / 2  # the two-seed run weighs as much as the single run
    assert np.allclose(table.filter(like="p_").to_numpy(), expected, atol=1e-6)
    assert (table["y_pred"].to_numpy() == expected.argmax(axis=1)).all()
    labels = sorted(set(table["true_label"]) | set(table["pred_label"]))
    assert metrics["uf1"] == pytest.approx(f1_score(table["true_label"], table["pred_label"], labels=labels,
                                                    average="macro"))  # fmt: skip
    assert metrics["kind"] == "model ensemble" and metrics["leaky"] is False
    record = json.loads((tmp_path / "ens" / "ensemble.json").read_text())
    assert [m["seeds"] for m in record["members"]] == [1, 2]
    # a run folder that compare reads, beside its members
    df = compare_runs([runs / "svm", tmp_path / "ens"])
    assert df["Method"].tolist()[1] == "ensemble" and df["Protocol"].tolist() == ["LOSO", "LOSO"]
    assert df["UF1"].tolist()[1] == pytest.approx(metrics["uf1"])


def test_runs_with_other_folds_or_a_repeated_run_are_refused_by_name(runs, tmp_path):
    with pytest.raises(ValueError, match=r"kfold: protocol 'kfold' differs"):
        ensemble_runs([runs / "svm", runs / "kfold"], tmp_path / "a")
    with pytest.raises(ValueError, match="given twice"):
        ensemble_runs([runs / "ststnet", seed_folder(runs / "ststnet", 1)], tmp_path / "b")
    with pytest.raises(ValueError, match="at least two"):
        ensemble_runs([runs / "svm"], tmp_path / "c")
    moved = tmp_path / "moved"
    shutil.copytree(runs / "svm", moved)
    folds = json.loads((moved / "folds.json").read_text())
    first, second, *rest = folds["test_subjects"]
    folds["test_subjects"] = [first + second, *rest]  # two subjects tested together: other folds
    (moved / "folds.json").write_text(json.dumps(folds))
    with pytest.raises(ValueError, match=r"moved: its test folds differ"):
        ensemble_runs([runs / "svm", moved], tmp_path / "d")
    assert not (tmp_path / "a").exists() and not (tmp_path / "d").exists()  # nothing written for a refusal


def test_a_leaky_member_makes_a_leaky_ensemble_and_the_command_says_so(runs, tmp_path):
    leaky = tmp_path / "leaky"
    shutil.copytree(runs / "svm", leaky)
    m = json.loads((leaky / "metrics.json").read_text())
    (leaky / "metrics.json").write_text(json.dumps({**m, "leaky": True}))
    res = CliRunner().invoke(app, ["ensemble", str(leaky), str(runs / "ststnet"), "--out", str(tmp_path / "e")])
    assert res.exit_code == 0, res.output
    assert "LEAKY" in res.output
    assert json.loads((tmp_path / "e" / "metrics.json").read_text())["leaky"] is True
    bad = CliRunner().invoke(app, ["ensemble", str(runs / "svm"), str(runs / "kfold"), "--out", str(tmp_path / "f")])
    assert bad.exit_code == 2 and "differs" in bad.output
