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
    res = CliRunner().invoke(
        app, ["demo", "--out", str(out), "--subjects", "4", "--clips-per-subject", "14", "--size", "96", "--jobs", "1"]
    )
    assert res.exit_code == 0, res.output
    metrics = json.loads((out / "run" / "metrics.json").read_text())
    assert set(metrics) >= {"acc", "uf1", "uar", "per_class", "per_dataset"}
    assert metrics["uar"] > 2 / 7  # 7 classes: well above chance (1/7) on held-out subjects
    preds = pd.read_csv(out / "run" / "predictions.csv", dtype={"subject": str})
    assert len(preds) == 56
    for _fold, part in preds.groupby("fold"):
        assert part["subject"].nunique() == 1  # LOSO: each fold tests one subject
    assert (out / "run" / "confusion.png").exists() and "UF1" in (out / "run" / "table.md").read_text()
    assert (out / "stats" / "subject_counts.md").exists() and (out / "data" / "manifest.csv").exists()
    assert "UAR" in res.stdout
    # re-running resumes: same metrics, nothing re-rendered
    mtime = (out / "data" / "clips" / "s01" / "s01_001.mp4").stat().st_mtime_ns
    res2 = CliRunner().invoke(
        app, ["demo", "--out", str(out), "--subjects", "4", "--clips-per-subject", "14", "--size", "96", "--jobs", "1"]
    )
    assert res2.exit_code == 0
    assert json.loads((out / "run" / "metrics.json").read_text())["uar"] == metrics["uar"]
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
