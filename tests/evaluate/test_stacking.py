"""Stacked ensembles (:mod:`mextk.evaluate.stacking`, ``mextk ensemble --stack``)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import minimize
from typer.testing import CliRunner

from mextk.cli import app
from mextk.evaluate.compare import compare_runs
from mextk.evaluate.runconfig import RunConfig
from mextk.evaluate.runner import evaluate_run
from mextk.evaluate.seeds import evaluate_seeds, seed_folder
from mextk.evaluate.stacking import inner_predictions, stack_runs, stack_weights


def _balanced_loglik(w, probs, y):
    """The objective written out directly: each class's mean log-probability of the mixture, averaged."""
    mix = np.tensordot(w, probs, axes=1)[np.arange(len(y)), y]
    with np.errstate(divide="ignore"):  # a member sure of a wrong class: -inf at the grid's end
        return np.mean([np.log(mix[y == c]).mean() for c in np.unique(y)])


def test_weights_of_two_members_match_a_grid_search_of_the_balanced_log_likelihood():
    g = np.random.default_rng(0)
    y = np.r_[np.zeros(30, int), np.ones(10, int), np.full(5, 2)]  # imbalanced: balancing matters
    probs = g.dirichlet(np.ones(3), size=(2, len(y)))
    probs[0, np.arange(len(y)), y] += 0.5  # member 0 knows something
    probs /= probs.sum(axis=2, keepdims=True)
    w = stack_weights(probs, y)
    grid = np.linspace(0, 1, 100_001)
    best = grid[np.argmax([_balanced_loglik(np.array([a, 1 - a]), probs, y) for a in grid])]
    assert w.sum() == pytest.approx(1.0) and (w >= 0).all()
    assert w[0] == pytest.approx(best, abs=2e-5)


def test_weights_of_three_members_match_scipys_constrained_optimum():
    g = np.random.default_rng(1)
    y = g.integers(0, 4, 80)
    probs = g.dirichlet(np.ones(4), size=(3, len(y)))
    for m, boost in enumerate((0.8, 0.3, 0.0)):
        probs[m, np.arange(len(y)), y] += boost
    probs /= probs.sum(axis=2, keepdims=True)
    res = minimize(
        lambda w: -_balanced_loglik(w, probs, y), np.full(3, 1 / 3), method="SLSQP", bounds=[(0, 1)] * 3,
        constraints=[{"type": "eq", "fun": lambda w: w.sum() - 1}], options={"ftol": 1e-14, "maxiter": 1000},
    )  # fmt: skip
    assert np.allclose(stack_weights(probs, y), res.x, atol=1e-4)


def test_a_member_that_is_always_right_takes_all_the_weight_and_a_useless_one_none():
    y = np.arange(12) % 3
    right = np.eye(3)[y] * 0.9 + 0.1 / 3
    useless = np.full((12, 3), 1 / 3)
    w = stack_weights(np.stack([useless, right]), y)
    assert w[1] == pytest.approx(1.0, abs=1e-6) and w[0] == pytest.approx(0.0, abs=1e-6)


def test_weights_refuse_arrays_of_the_wrong_shape():
    with pytest.raises(ValueError, match="members, samples, classes"):
        stack_weights(np.ones((4, 3)), np.zeros(4, int))


@pytest.fixture(scope="module")
def runs(synth_dataset, tmp_path_factory):
    """A motion-SVM run and a two-seed STSTNet run under the same LOSO folds (4 subjects)."""
    out_dir, _, _ = synth_dataset
    root = tmp_path_factory.mktemp("stack")
    base = RunConfig(manifest=str(out_dir / "manifest.csv"), model="motion_svm", task="cmed7",
                     features_dir=str(root / "features"))  # fmt: skip
    evaluate_run(base, root / "svm", progress=False)
    evaluate_seeds(RunConfig(**{**base.__dict__, "model": "ststnet", "train": {"epochs": 3}}), root / "ststnet", [0, 1],
                   progress=False)  # fmt: skip
    return root


def test_inner_predictions_never_read_the_outer_folds_test_subjects(runs, tmp_path):
    run = runs / "svm"
    folds = json.loads((run / "folds.json").read_text())["test_subjects"]
    inner_predictions(str(run), 1, dest=str(tmp_path / "a"), inner_folds=3)
    # the same run with fold 1's test subject relabelled and given another sample's input
    other = tmp_path / "tampered"
    shutil.copytree(run, other)
    samples = pd.read_csv(other / "samples.csv", dtype={"sample_id": str, "subject": str})
    test = samples["subject"].isin(folds[1])
    samples.loc[test, "y"] = (samples.loc[test, "y"] + 1) % 3
    samples.loc[test, "source"] = samples.loc[~test, "source"].iloc[0]
    samples.to_csv(other / "samples.csv", index=False)
    inner_predictions(str(other), 1, dest=str(tmp_path / "b"), inner_folds=3)
    a = pd.read_csv(tmp_path / "a" / "001.csv", dtype={"sample_id": str})
    b = pd.read_csv(tmp_path / "b" / "001.csv", dtype={"sample_id": str})
    pd.testing.assert_frame_equal(a, b)
    # every training sample of the fold, and none of its test samples, is predicted once, by subject-whole folds
    train_ids = set(samples.loc[~test, "sample_id"])
    assert set(a["sample_id"]) == train_ids and a["sample_id"].is_unique
    subject = samples.set_index("sample_id").loc[a["sample_id"], "subject"].to_numpy()
    assert all(a.loc[subject == s, "inner_fold"].nunique() == 1 for s in set(subject))
    assert sorted(a["inner_fold"].unique()) == [0, 1, 2]
    assert np.allclose(a.filter(like="p_").sum(axis=1), 1.0)


def test_the_stacked_ensemble_weighs_each_fold_by_its_own_inner_weights(runs, tmp_path):
    out = tmp_path / "stacked"
    metrics = stack_runs([runs / "svm", runs / "ststnet"], out, inner_folds=3, progress=False)
    record = json.loads((out / "stacking.json").read_text())
    weights = np.array(record["fold_weights"])
    n_folds = len(json.loads((runs / "svm" / "folds.json").read_text())["test_subjects"])
    assert weights.shape == (n_folds, 2) and np.allclose(weights.sum(axis=1), 1.0, atol=1e-5)
    table = pd.read_csv(out / "predictions.csv", dtype={"sample_id": str}).set_index("sample_id")
    ids = table.index.tolist()

    def probs(folder):
        return pd.read_csv(folder / "predictions.csv", dtype={"sample_id": str}).set_index("sample_id").loc[ids]

    svm = probs(runs / "svm").filter(like="p_").to_numpy()
    st = (probs(seed_folder(runs / "ststnet", 0)).filter(like="p_").to_numpy()
          + probs(seed_folder(runs / "ststnet", 1)).filter(like="p_").to_numpy()) / 2  # fmt: skip
    fold = table["fold"].to_numpy()
    expected = weights[fold, :1] * svm + weights[fold, 1:] * st
    assert np.allclose(table.filter(like="p_").to_numpy(), expected, atol=1e-5)
    # each fold's weights are the optimum of its own inner predictions (checked with scipy)
    inner = [pd.read_csv(out / "inner" / f"{g}" / "002.csv") for g in (0, 1)]
    y = inner[0]["y_true"].to_numpy()
    stacked = np.stack([t.filter(like="p_").to_numpy() for t in inner])
    grid = np.linspace(0, 1, 20_001)
    best = grid[np.argmax([_balanced_loglik(np.array([a, 1 - a]), stacked, y) for a in grid])]
    assert weights[2, 0] == pytest.approx(best, abs=1e-4)
    assert metrics["kind"] == "stacked ensemble" and metrics["leaky"] is False
    df = compare_runs([runs / "svm", out])
    assert df["Method"].tolist()[1] == "stacked ensemble" and df["UF1"].tolist()[1] == pytest.approx(metrics["uf1"])


def test_an_interrupted_stacking_resumes_and_another_stacking_in_the_folder_is_refused(runs, tmp_path):
    out = tmp_path / "stacked"
    first = stack_runs([runs / "svm", runs / "ststnet"], out, inner_folds=2, progress=False)
    kept = out / "inner" / "0" / "000.csv"
    lost = out / "inner" / "1" / "001.csv"
    stamp = kept.stat().st_mtime_ns
    lost.unlink()  # as if killed before this fold finished
    again = stack_runs([runs / "svm", runs / "ststnet"], out, inner_folds=2, progress=False)
    assert lost.exists() and kept.stat().st_mtime_ns == stamp  # only the missing fold was trained again
    assert again["uf1"] == pytest.approx(first["uf1"])
    with pytest.raises(FileExistsError, match="inner_folds"):
        stack_runs([runs / "svm", runs / "ststnet"], out, inner_folds=3, progress=False)


def test_a_leaky_member_is_refused_for_stacking(runs, tmp_path):
    leaky = tmp_path / "leaky"
    shutil.copytree(runs / "svm", leaky)
    metrics = json.loads((leaky / "metrics.json").read_text())
    (leaky / "metrics.json").write_text(json.dumps({**metrics, "leaky": True}))
    with pytest.raises(ValueError, match=r"leaky: a leaky run"):
        stack_runs([leaky, runs / "ststnet"], tmp_path / "out", progress=False)


def test_ensemble_stack_command_prints_the_stacked_scores_and_mean_weights(runs, tmp_path):
    out = tmp_path / "cli"
    res = CliRunner().invoke(
        app, ["ensemble", str(runs / "svm"), str(runs / "ststnet"), "--out", str(out), "--stack", "--inner-folds", "2"]
    )
    assert res.exit_code == 0, res.output
    assert "stacked ensemble of 2 runs: UF1" in res.stdout and "mean weights: " in res.stdout
    res = CliRunner().invoke(app, ["ensemble", str(runs / "svm"), str(runs / "ststnet"), "--out", str(tmp_path / "x"),
                                   "--stack", "--inner-folds", "1"])  # fmt: skip
    assert res.exit_code != 0 and "inner_folds must be at least 2" in res.output
