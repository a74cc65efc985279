from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest
from typer.testing import CliRunner

from mextk.cli import app


def test_help_loads_no_heavy_library():
    code = (
        "import sys; from mextk.cli import app\n"
        "mods = ('numpy', 'pandas', 'cv2', 'av', 'sklearn', 'matplotlib', 'torch', 'skimage')\n"
        "heavy = [m for m in mods if m in sys.modules]\n"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
    res = subprocess.run([sys.executable, "-m", "mextk.cli", "--help"], capture_output=True, text=True)
    assert res.returncode == 0 and "demo" in res.stdout and "validate" in res.stdout


def test_tasks_lists_every_taxonomy():
    res = CliRunner().invoke(app, ["tasks"])
    assert res.exit_code == 0
    for name in ("cmed6", "cmed7", "megc3", "spotting", "dfme7", "casme2", "samm"):
        assert name in res.stdout


def test_synth_cli_writes_clips_manifest_and_a_call(tmp_path):
    out = tmp_path / "s"
    base = ["synth", "--out", str(out), "--subjects", "2", "--clips-per-subject", "3", "--size", "64"]
    res = CliRunner().invoke(
        app,
        [
            *base,
            "--classes",
            "happiness,no_me",
            "--proportions",
            "happiness=2,no_me=1",
            "--calls",
            "1",
            "--call-duration",
            "16",
            "--call-participants",
            "2",
            "--call-size",
            "480x270",
        ],
    )
    assert res.exit_code == 0, res.output
    df = pd.read_csv(out / "manifest.csv")
    assert len(df) == 6 and (df["emotion"] == "happiness").sum() == 4
    truth = json.loads((out / "calls" / "call_01.json").read_text())
    assert truth["n_frames"] == 400 and truth["width"] == 480 and (out / "calls" / "call_01.mp4").exists()
    res = CliRunner().invoke(app, [*base, "--classes", "happiness,boredom"])
    assert res.exit_code == 2 and "boredom" in res.output


@pytest.mark.slow
def test_demo_runs_the_whole_path_and_beats_chance(tmp_path):
    out = tmp_path / "demo"
    args = ["demo", "--out", str(out), "--subjects", "4", "--clips-per-subject", "14", "--size", "96", "--jobs", "2"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    runs = {p.name for p in (out / "runs").iterdir()}
    assert runs == {"lbptop_svm-cmed6", "dgcnn-cmed6", "lbptop_svm-spotting", "dgcnn-spotting"}
    scores = {}
    for name in runs:
        metrics = json.loads((out / "runs" / name / "metrics.json").read_text())
        assert set(metrics) >= {"acc", "uf1", "uar", "per_class", "per_dataset"}
        scores[name] = metrics["uf1"]
        preds = pd.read_csv(out / "runs" / name / "predictions.csv", dtype={"subject": str})
        assert preds.groupby("fold")["subject"].nunique().eq(1).all()  # LOSO: each fold tests one subject
        assert (out / "runs" / name / "confusion.png").exists()
    # 6 emotions: chance UF1 is about 1/6 on held-out subjects
    assert scores["lbptop_svm-cmed6"] > 2 / 6 and scores["dgcnn-cmed6"] > 1.5 / 6, scores
    table = (out / "compare.md").read_text()
    assert "LBP-TOP" in table and "DGCNN" in table and "ME vs No-ME" in table and "6-Class" in table
    assert (out / "stats" / "subject_counts.md").exists() and (out / "data" / "manifest.csv").exists()
    # re-running resumes: same table, nothing re-rendered or re-trained
    mtime = (out / "data" / "clips" / "s01" / "s01_001.mp4").stat().st_mtime_ns
    res2 = CliRunner().invoke(app, args)
    assert res2.exit_code == 0
    assert (out / "compare.md").read_text() == table
    assert (out / "data" / "clips" / "s01" / "s01_001.mp4").stat().st_mtime_ns == mtime


def test_errors_are_one_line_and_exit_2(tmp_path):
    res = CliRunner().invoke(app, ["stats", str(tmp_path / "none.csv")])
    assert res.exit_code == 2 and "none.csv: manifest not found" in res.output
    bad = tmp_path / "bad.csv"
    bad.write_text("dataset,subject\nx,y\n")
    res = CliRunner().invoke(app, ["stats", str(bad)])
    assert res.exit_code == 2 and "required column is missing" in res.output
    res = CliRunner().invoke(app, ["demo", "--out", str(tmp_path / "d"), "--task", "nope"])
    assert res.exit_code == 2 and "unknown task 'nope'" in res.output
