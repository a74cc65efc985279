from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import f1_score, recall_score

from mextk.models.metrics import accuracy, confusion_matrix, per_class_scores, score_predictions, uar, uf1
from tests.conftest import SHARED_REFERENCE, need_shared


@pytest.mark.parametrize("seed", range(20))
def test_matches_scikit_learn_on_random_cases(seed):
    g = np.random.default_rng(seed)
    k = int(g.integers(2, 8))
    n = int(g.integers(5, 200))
    y_true = g.integers(0, k, n)
    y_pred = np.where(g.random(n) < 0.6, y_true, g.integers(0, k + 1, n))  # sometimes a class absent from y_true
    present = np.unique(y_true)
    assert accuracy(y_true, y_pred) == pytest.approx(np.mean(y_true == y_pred))
    assert uf1(y_true, y_pred) == pytest.approx(
        f1_score(y_true, y_pred, labels=present, average="macro", zero_division=0)
    )
    assert uar(y_true, y_pred) == pytest.approx(
        recall_score(y_true, y_pred, labels=present, average="macro", zero_division=0)
    )


def test_hand_computed_example_and_absent_class_rule():
    y_true = ["a", "a", "a", "b"]
    y_pred = ["a", "b", "c", "b"]  # "c" never occurs in truth: left out of the averages
    pcs = per_class_scores(y_true, y_pred)
    assert list(pcs.index) == ["a", "b"]
    assert pcs.loc["a", "recall"] == pytest.approx(1 / 3) and pcs.loc["b", "precision"] == pytest.approx(0.5)
    assert uar(y_true, y_pred) == pytest.approx((1 / 3 + 1) / 2)
    f1_a = 2 * 1 / (2 * 1 + 0 + 2)
    f1_b = 2 * 1 / (2 * 1 + 1 + 0)
    assert uf1(y_true, y_pred) == pytest.approx((f1_a + f1_b) / 2)
    assert accuracy(y_true, y_pred) == 0.5


def test_pooled_differs_from_fold_average_and_per_dataset():
    y_true = [0, 0, 1, 1, 0, 1]
    y_pred = [0, 0, 1, 0, 1, 1]
    ds = ["x", "x", "x", "y", "y", "y"]
    res = score_predictions(y_true, y_pred, datasets=ds)
    assert res["acc"] == pytest.approx(4 / 6) and res["n"] == 6
    # by hand: pooled, each class has TP 2, FP 1, FN 1, so F1 = 4/6 for both and UF1 = 2/3.  Taken as two
    # folds (x, y): fold x is all correct (UF1 1), fold y has F1 0 for class 0 and 2/4 for class 1
    # (UF1 1/4), so the fold average is 0.625: the MEGC pooling is not the average of fold scores.
    assert res["uf1"] == pytest.approx(2 / 3)
    folds = [score_predictions(y_true[i : i + 3], y_pred[i : i + 3])["uf1"] for i in (0, 3)]
    assert folds == pytest.approx([1.0, 0.25])
    assert np.mean(folds) == pytest.approx(0.625) and res["uf1"] != pytest.approx(np.mean(folds))
    assert set(res["per_dataset"]) == {"x", "y"}
    assert res["per_dataset"]["x"]["acc"] == 1.0 and res["per_dataset"]["x"]["n"] == 3
    assert res["per_dataset"]["y"]["uar"] == pytest.approx((0 + 0.5) / 2)
    assert res["per_class"]["1"]["support"] == 3


def test_errors_on_bad_input():
    with pytest.raises(ValueError, match="empty"):
        uf1([], [])
    with pytest.raises(ValueError, match="equally long"):
        uar([0, 1], [0])


def test_confusion_matrix_counts_and_rows():
    cm, order = confusion_matrix([0, 0, 1, 2], [0, 1, 1, 1], labels=[0, 1, 2])
    assert order == [0, 1, 2]
    assert cm.tolist() == [[1, 1, 0], [0, 1, 0], [0, 1, 0]]
    norm, _ = confusion_matrix([0, 0, 1, 2], [0, 1, 1, 1], labels=[0, 1, 2, 3], normalize=True)
    assert norm[0].tolist() == [0.5, 0.5, 0, 0] and norm[3].sum() == 0
    with pytest.raises(ValueError, match="not in the class list"):
        confusion_matrix([0, 5], [0, 0], labels=[0, 1])


def test_confusion_png(tmp_path):
    from mextk.evaluate.run_results import plot_confusion

    path = plot_confusion(["a", "b", "b"], ["a", "a", "b"], tmp_path / "cm.png", labels=["a", "b"], title="t")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    import matplotlib.image as mpimg

    assert mpimg.imread(path).shape[0] > 100


@pytest.mark.shared_data
def test_reproduces_ststnet_published_uf1_uar():
    """STSTNet's own log of its MEGC-2019 LOSO run reports UF1 0.7209 and UAR 0.7250."""
    from mextk.evaluate.run_results import score_file

    res = score_file(need_shared(SHARED_REFERENCE / "ststnet_megc2019_loso_predictions.csv"))
    assert res["n"] == 442
    assert round(res["uf1"], 4) == 0.7209
    assert round(res["uar"], 4) == 0.7250
    assert set(res["per_dataset"]) == {"casme2", "samm", "smic"}


def test_score_cli(tmp_path):
    from typer.testing import CliRunner

    from mextk.cli import app

    path = tmp_path / "p.csv"
    pd.DataFrame(
        {
            "subject": ["1", "1", "2", "2"],
            "dataset": ["a", "a", "b", "b"],
            "y_true": ["pos", "neg", "neg", "sur"],
            "y_pred": ["pos", "neg", "pos", "sur"],
        }
    ).to_csv(path, index=False)
    res = CliRunner().invoke(app, ["score", str(path), "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["acc"] == 0.75 and set(out["per_dataset"]) == {"a", "b"}
    assert out["uar"] == pytest.approx((1 + 0.5 + 1) / 3)
    res = CliRunner().invoke(app, ["score", str(path)])
    assert res.exit_code == 0 and "UF1" in res.stdout and "0.7500" in res.stdout
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"subject": ["1"], "y_true": ["a"]}).to_csv(bad, index=False)
    res = CliRunner().invoke(app, ["score", str(bad)])
    assert res.exit_code == 2 and "missing column(s) y_pred" in res.output
    empty_label = tmp_path / "empty.csv"
    empty_label.write_text("subject,y_true,y_pred\n1,a,a\n2,,b\n")
    res = CliRunner().invoke(app, ["score", str(empty_label)])
    assert res.exit_code == 2 and "empty.csv:3: column 'y_true' is empty" in res.output.replace("\n", "")
