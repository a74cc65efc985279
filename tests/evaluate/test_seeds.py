"""Repeated runs over seeds (:mod:`mextk.evaluate.seeds`): sub-runs, their spread, and the seed ensemble."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import f1_score

from mextk.evaluate.runconfig import RunConfig
from mextk.evaluate.seeds import evaluate_seeds, parse_seeds, seed_folder, spread


def test_seed_lists_and_ranges_parse_and_bad_ones_are_named():
    assert parse_seeds("0-4") == [0, 1, 2, 3, 4]
    assert parse_seeds("0,3,7") == [0, 3, 7]
    assert parse_seeds("2-3, 9, 3") == [2, 3, 9]
    with pytest.raises(ValueError, match="'x' is not a seed"):
        parse_seeds("1,x")
    with pytest.raises(ValueError, match="runs backwards"):
        parse_seeds("4-1")


def test_spread_is_the_papers_mean_and_sample_sd():
    # issue 16's five STSTNet UF1s: mean 0.688, sd 0.016
    s = spread([0.7113, 0.6904, 0.6826, 0.6660, 0.6916])
    assert s.mean == pytest.approx(0.68838) and s.sd == pytest.approx(0.016386, abs=1e-6)
    assert s.min == 0.666 and s.max == 0.7113 and spread([0.5]).sd == 0.0


@pytest.fixture(scope="module")
def three_seeds(synth_dataset, tmp_path_factory):
    out_dir, _, _ = synth_dataset
    out = tmp_path_factory.mktemp("seeds") / "run"
    config = RunConfig(
        manifest=str(out_dir / "manifest.csv"), model="ststnet", task="cmed7",
        features_dir=str(tmp_path_factory.mktemp("features")), train={"epochs": 3},
    )  # fmt: skip
    metrics = evaluate_seeds(config, out, [0, 1, 2], progress=False)
    return out, metrics


def _uf1(df: pd.DataFrame) -> float:
    labels = sorted(set(df["true_label"]) | set(df["pred_label"]))
    return float(f1_score(df["true_label"], df["pred_label"], labels=labels, average="macro"))


def test_three_seeds_make_three_runs_whose_uf1_spread_is_recomputed_from_their_predictions(three_seeds):
    out, metrics = three_seeds
    assert metrics.seeds == (0, 1, 2)
    uf1 = [_uf1(pd.read_csv(seed_folder(out, s) / "predictions.csv")) for s in (0, 1, 2)]
    assert metrics.summary["uf1"].values == pytest.approx(uf1)
    assert metrics.summary["uf1"].mean == pytest.approx(np.mean(uf1))
    assert metrics.summary["uf1"].sd == pytest.approx(np.std(uf1, ddof=1))
    assert json.loads((out / "metrics.json").read_text())["summary"]["uf1"]["sd"] == pytest.approx(np.std(uf1, ddof=1))
    probs = [pd.read_csv(seed_folder(out, s) / "predictions.csv").set_index("sample_id") for s in (0, 1, 2)]
    assert not np.allclose(
        probs[0].filter(like="p_").to_numpy(), probs[1].loc[probs[0].index].filter(like="p_").to_numpy()
    )


def test_the_seed_ensemble_averages_the_runs_probabilities_per_sample(three_seeds):
    out, metrics = three_seeds
    runs = [pd.read_csv(seed_folder(out, s) / "predictions.csv").set_index("sample_id") for s in (0, 1, 2)]
    ens = pd.read_csv(out / "ensemble" / "predictions.csv").set_index("sample_id")
    cols = [c for c in runs[0].columns if c.startswith("p_")]
    want = np.mean([r.loc[ens.index, cols].to_numpy() for r in runs], axis=0)
    assert np.allclose(ens[cols].to_numpy(), want)
    assert (ens["y_pred"].to_numpy() == want.argmax(axis=1)).all()
    assert metrics.ensemble["uf1"] == pytest.approx(_uf1(ens.reset_index()))


def test_evaluate_seeds_on_the_command_line_prints_mean_and_sd_and_refuses_a_bad_list(synth_dataset, tmp_path):
    from typer.testing import CliRunner

    from mextk.cli import app

    out_dir, _, _ = synth_dataset
    args = ["evaluate", str(out_dir / "manifest.csv"), "--model", "motion_svm", "--task", "cmed7",
            "--out", str(tmp_path / "run"), "--features", str(tmp_path / "features")]  # fmt: skip
    bad = CliRunner().invoke(app, [*args, "--seeds", "3-1"])
    assert bad.exit_code != 0 and "runs backwards" in bad.output
    good = CliRunner().invoke(app, [*args, "--seeds", "0,1"])
    assert good.exit_code == 0, good.output
    assert "UF1" in good.output and " ± " in good.output and "seed ensemble" in good.output
    assert all((tmp_path / "run" / f"seed_{s}" / "metrics.json").exists() for s in (0, 1))


def test_compare_shows_mean_and_sd_for_a_multi_seed_run_and_marks_a_single_run(three_seeds):
    from typer.testing import CliRunner

    from mextk.cli import app
    from mextk.evaluate.compare import compare_runs

    out, metrics = three_seeds
    table = compare_runs([out, seed_folder(out, 0)])
    s = metrics.summary["uf1"]
    assert table["UF1"][0] == f"{s.mean:.3f} ± {s.sd:.3f}" and table["Seeds"][0] == 3
    assert table["Seeds"][1] == "1 (single run)" and isinstance(table["UF1"][1], float)
    assert table["Method"][0] == table["Method"][1] == "STSTNet"
    result = CliRunner().invoke(app, ["compare", str(out), str(seed_folder(out, 0))], env={"COLUMNS": "300"})
    assert result.exit_code == 0 and "±" in result.output and "single run" in result.output


def test_a_killed_multi_seed_run_redoes_only_its_unfinished_seed_and_fold_pairs(three_seeds, synth_dataset, tmp_path):
    import shutil

    out, _ = three_seeds
    run = tmp_path / "run"
    shutil.copytree(out, run)
    killed = seed_folder(run, 1) / "folds" / "002"
    (killed / "done.json").unlink()  # as a kill before the fold finished leaves it
    before = {p: p.stat().st_mtime_ns for p in run.glob("seed_*/folds/*/done.json")}
    config = RunConfig(**json.loads((seed_folder(run, 0) / "config.json").read_text()))
    evaluate_seeds(config, run, [0, 1, 2], progress=False)
    after = {p: p.stat().st_mtime_ns for p in run.glob("seed_*/folds/*/done.json")}
    assert (killed / "done.json") in after and len(after) == len(before) + 1
    assert all(after[p] == t for p, t in before.items())  # every finished (seed, fold) pair was kept


def test_the_process_executor_spreads_every_seeds_folds_over_one_pool_and_matches_local(
    three_seeds, synth_dataset, tmp_path, monkeypatch
):
    import mextk.evaluate.runner as runner

    out, local = three_seeds
    config = RunConfig(**json.loads((seed_folder(out, 0) / "config.json").read_text()))
    calls: list[list[tuple]] = []
    real = runner.run_folds

    def spy(todo, **kwargs):
        calls.append(list(todo))
        return real(todo, **kwargs)

    monkeypatch.setattr(runner, "run_folds", spy)
    spread_run = evaluate_seeds(config, tmp_path / "run", [0, 1, 2], executor="process", jobs=2, progress=False)
    n_folds = len(json.loads((seed_folder(out, 0) / "folds.json").read_text())["test_subjects"])
    assert len(calls) == 1  # one pool for all (seed, fold) pairs, not one per seed
    assert sorted((p.name, k) for p, k in calls[0]) == [(f"seed_{s}", k) for s in range(3) for k in range(n_folds)]
    for s in range(3):  # the same models as one seed after another in this process
        a = pd.read_csv(seed_folder(out, s) / "predictions.csv").sort_values("sample_id")
        b = pd.read_csv(seed_folder(tmp_path / "run", s) / "predictions.csv").sort_values("sample_id")
        assert (a["y_pred"].to_numpy() == b["y_pred"].to_numpy()).all()
    assert spread_run.summary["uf1"].values == pytest.approx(local.summary["uf1"].values)


def test_the_ray_executor_runs_every_seeds_folds_and_matches_local(three_seeds, tmp_path):
    pytest.importorskip("ray")
    out, _ = three_seeds
    config = RunConfig(**json.loads((seed_folder(out, 0) / "config.json").read_text()))
    evaluate_seeds(config, tmp_path / "run", [0, 1], executor="ray", jobs=2, progress=False)
    for s in (0, 1):
        a = pd.read_csv(seed_folder(out, s) / "predictions.csv").sort_values("sample_id")
        b = pd.read_csv(seed_folder(tmp_path / "run", s) / "predictions.csv").sort_values("sample_id")
        assert (a["y_pred"].to_numpy() == b["y_pred"].to_numpy()).all()
        assert np.allclose(a.filter(like="p_").to_numpy(), b.filter(like="p_").to_numpy(), atol=1e-5)
