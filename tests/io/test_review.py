"""Review decisions (``kept``, ``review.csv``) are honoured by features and evaluate, and can be overridden."""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

from mextk.cli import app
from mextk.io.manifest import read_manifest_table
from mextk.io.review import apply_review, review_exclusions


@pytest.fixture
def reviewed(synth_dataset, tmp_path):
    """Three clips of each of the 4 synthetic subjects; clips 0 and 1 flagged by prepare, clip 1 kept by the
    reviewer, clip 2 rejected by the reviewer."""
    out, _, df = synth_dataset
    rows = df.groupby("subject", sort=True).head(3).copy()
    rows["path"] = [str(out / p) for p in rows["path"]]
    ids = rows["sample_id"].tolist()
    rows["kept"] = [i > 1 for i in range(len(rows))]
    rows["flags"] = ["small_face", "turned_head"] + [""] * (len(rows) - 2)
    rows.to_csv(tmp_path / "manifest.csv", index=False)
    decisions = ["", "Keep", "reject"] + [""] * (len(rows) - 3)
    review = pd.DataFrame({"sample_id": ids, "reviewer_decision": decisions, "reviewer_note": ""})
    review.loc[2, "reviewer_note"] = "a hand over the mouth"
    review.to_csv(tmp_path / "review.csv", index=False)
    return tmp_path / "manifest.csv", ids


def test_decisions_by_hand(reviewed):
    manifest, ids = reviewed
    df = read_manifest_table(manifest)
    assert review_exclusions(df) == {
        ids[0]: "flagged by prepare (small_face), not reviewed",
        ids[2]: "rejected in review.csv:4 (a hand over the mouth)",  # line 4: the header is line 1
    }
    kept, _ = apply_review(df)
    assert kept["sample_id"].tolist() == [ids[1], *ids[3:]]  # the reviewer kept the flagged clip 1
    everything, none = apply_review(df, include_excluded=True)
    assert len(everything) == len(ids) and none == {}


def test_a_manifest_without_review_keeps_everything_and_bad_values_are_named(reviewed, tmp_path):
    manifest, _ = reviewed
    (tmp_path / "plain").mkdir()
    pd.read_csv(manifest).drop(columns=["kept"]).to_csv(tmp_path / "plain" / "m.csv", index=False)
    assert review_exclusions(read_manifest_table(tmp_path / "plain" / "m.csv")) == {}
    review = pd.read_csv(tmp_path / "review.csv", keep_default_na=False)
    review.loc[4, "reviewer_decision"] = "maybe"
    review.to_csv(tmp_path / "review.csv", index=False)
    with pytest.raises(ValueError, match=r"review.csv:6: column 'reviewer_decision': 'maybe' is neither keep"):
        review_exclusions(read_manifest_table(manifest))


@pytest.mark.filterwarnings("ignore:.*folds train without a class")  # 3 clips a subject: rare classes, expected
def test_features_and_evaluate_skip_excluded_clips_and_say_why(reviewed, tmp_path):
    manifest, ids = reviewed
    n = len(ids)
    res = CliRunner().invoke(app, ["features", "lbp_top", str(manifest), "--out", str(tmp_path / "f")])
    assert res.exit_code == 0, res.output
    assert f"{n - 2} computed" in res.output and "2 left out by review decisions" in res.output
    assert "1 flagged by prepare and not reviewed, 1 rejected in review.csv" in res.output
    res = CliRunner().invoke(
        app, ["features", "lbp_top", str(manifest), "--out", str(tmp_path / "f"), "--include-excluded"]
    )
    assert res.exit_code == 0 and f"2 computed, {n - 2} cached" in res.output, res.output

    from mextk.evaluate.runconfig import RunConfig
    from mextk.evaluate.runner import evaluate_run

    cfg = RunConfig(manifest=str(manifest), model="lbptop_svm", task="cmed7", features_dir=str(tmp_path / "f"))
    metrics = evaluate_run(cfg, tmp_path / "run", progress=False)
    skipped = pd.read_csv(tmp_path / "run" / "skipped.csv")
    reasons = dict(zip(skipped["sample_id"], skipped["reason"], strict=True))
    assert reasons[ids[0]].startswith("flagged by prepare") and reasons[ids[2]].startswith("rejected in review.csv")
    assert metrics.n == n - 2
    from dataclasses import replace

    everything = evaluate_run(replace(cfg, include_excluded=True), tmp_path / "all", progress=False)
    assert everything.n == n
