from __future__ import annotations

import json

import pandas as pd

from mextk.evaluate.run_results import write_run_report


def test_run_folder_contract(tmp_path):
    preds = pd.DataFrame(
        {
            "sample_id": ["a", "b", "c", "d"],
            "subject": ["1", "1", "2", "2"],
            "dataset": ["x"] * 4,
            "fold": [0, 0, 1, 1],
            "y_true": [0, 1, 2, 2],
            "y_pred": [0, 1, 2, 0],
        }
    )
    m = write_run_report(
        tmp_path, preds, classes=["negative", "positive", "surprise"], method="M", variant="3-class", config={"seed": 0}
    )
    for f in ("predictions.csv", "metrics.json", "confusion.png", "table.md", "table.csv", "config.json"):
        assert (tmp_path / f).exists(), f
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["acc"] == m["acc"] == 0.75 and set(saved["per_class"]) == {"negative", "positive", "surprise"}
    table = pd.read_csv(tmp_path / "table.csv")
    assert table.columns.tolist() == ["Method", "Variant", "UF1", "UAR", "Accuracy"]
    out = pd.read_csv(tmp_path / "predictions.csv")
    assert out["pred_label"].tolist() == ["negative", "positive", "surprise", "negative"]
