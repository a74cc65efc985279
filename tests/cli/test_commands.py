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
    # 6 subjects: with 4, six-class scores of 56 clips swing by +-0.1 with any change to the features.  The DGCNN
    # trains 60 epochs instead of the demo's 150 (half the test's time); measured: UF1 0.34 for 6 classes, 0.77 for
    # ME vs No-ME (0.45 and 0.70 at 150)
    args = ["demo", "--out", str(out), "--subjects", "6", "--clips-per-subject", "14", "--size", "96", "--jobs", "2",
            "--dgcnn-epochs", "60"]  # fmt: skip
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


def _help(*command: str, flag: str = "--help") -> str:
    res = CliRunner().invoke(app, [*command, flag], env={"COLUMNS": "250"})
    assert res.exit_code == 0, res.output
    return " ".join(res.output.replace("│", " ").split())  # one line, whatever the wrapping


def test_features_help_lists_every_kind_with_its_parameters_and_defaults():
    from mextk.features.kinds import KIND_DEFAULTS

    text = _help("features")
    assert "mextk.features.batch.KINDS" not in text
    for kind, params in KIND_DEFAULTS.items():
        assert f"{kind}:" in text
        for key in params:
            if key != "version":
                assert f"{key}=" in text, (kind, key)
    # a few defaults as the README and the papers give them
    for setting in ("n=16", "size=112", "out_size=28", "rows=5", "cols=5", "mapping=u2", "radius=[1,1,1]", "k=4"):
        assert setting in text, setting
    assert "deflection:" in text


def test_prepare_help_gives_the_default_under_both_presets():
    text = _help("prepare", flag="--help-all")
    # CMED's Algorithm 1 looks every 60 frames at the next three, ends a clip after 60 missing frames
    assert (
        "--detect-every INTEGER Frames between analysis steps (layout, face checks). "
        "(default: 5; with --preset cmed: 60)" in text
    )
    assert "the one with most faces is used. (default: 1; with --preset cmed: 3)" in text
    assert "this many frames. (default: 25; with --preset cmed: 60)" in text
    assert "Clips shorter than this (seconds) are deleted. (default: 3.0, under both presets)" in text


def test_models_lists_the_svm_settings_of_the_classical_baselines():
    res = CliRunner().invoke(app, ["models"], env={"COLUMNS": "400"})
    row = next(line for line in res.output.splitlines() if "lbptop_svm" in line)
    assert "C=0.01" in row and "class_weight=balanced" in row
    row = next(line for line in res.output.splitlines() if "motion_svm" in line)
    assert "C=1.0" in row


def test_demo_help_explains_its_dgcnn_epochs():
    text = _help("demo")
    assert "[default: 150]" in text and "registry's 50" in text


def test_a_call_too_short_for_its_events_names_the_options_that_fix_it(tmp_path):
    res = CliRunner().invoke(app, ["synth", "--out", str(tmp_path), "--clips-per-subject", "0", "--calls", "1",
                                   "--call-duration", "15"])  # fmt: skip
    assert res.exit_code == 2
    line = " ".join(res.output.split())
    # 4 events (a late join, an early leave, a screen share's start and end) 4 s apart need 5 x 4 = 20 s
    assert "at least 20 s" in line and "--call-duration" in line and "--call-event-gap" in line
    assert "--call-event-gap" in _help("synth")


def test_one_recognition_task_default_for_evaluate_and_train_and_stats_says_why_it_differs():
    import typer

    from mextk.cli import app as cli_app

    group = typer.main.get_command(cli_app)
    defaults = {
        name: next(p.default for p in group.commands[name].params if p.name == "task")
        for name in ("evaluate", "train", "stats", "demo")
    }
    assert defaults == {"evaluate": "cmed6", "train": "cmed6", "demo": "cmed6", "stats": "cmed7"}
    help_text = next(p.help for p in group.commands["stats"].params if p.name == "task")
    assert "cmed6" in help_text and "No-ME" in help_text


def test_each_key_value_option_of_evaluate_reaches_only_its_own_part_of_the_settings(tmp_path, monkeypatch):
    import mextk.evaluate.runner

    seen = {}

    def capture(config, out, **options):  # the boundary: the run itself is tested in tests/evaluate
        seen["config"], seen["options"] = config, options
        raise SystemExit(0)

    monkeypatch.setattr(mextk.evaluate.runner, "evaluate_run", capture)
    manifest = tmp_path / "m.csv"
    manifest.write_text("sample_id\n")
    args = ["evaluate", str(manifest), "--model", "dgcnn", "--out", str(tmp_path / "run"), "--feature", "k=6",
            "--train", "epochs=7", "--model-option", "dropout=0.3", "--jobs", "2"]  # fmt: skip
    CliRunner().invoke(app, args)
    config = seen["config"]
    assert config.feature_params == {"k": 6} and config.train == {"epochs": 7}
    assert config.model_options == {"dropout": 0.3}
    assert seen["options"]["executor"] == "process"  # with --jobs 2, as prepare's default
    # the old catch-all name is gone: one meaning per option
    res = CliRunner().invoke(app, [*args[:6], "--set", "k=6"])
    assert res.exit_code == 2 and "--set" in res.output


@pytest.mark.parametrize(
    "command, config, fields",
    [
        ("demo", "mextk.demo:DemoConfig", {"subjects": "n_subjects", "clips_per_subject": "clips_per_subject",
                                           "size": "size", "task": "task", "dgcnn_epochs": "dgcnn_epochs",
                                           "seed": "seed", "jobs": "jobs"}),
        ("synth", "mextk.synth.clips:SynthConfig", {"subjects": "n_subjects", "clips_per_subject": "clips_per_subject",
                                                    "size": "size", "fps": "fps", "crf": "crf",
                                                    "seed": "seed", "proportions": "proportions"}),
    ],
)  # fmt: skip
def test_command_defaults_are_their_config_dataclass_defaults(command, config, fields):
    """The CLI states its defaults literally (so that --help imports nothing heavy); they must equal the API's."""
    import dataclasses
    import importlib

    import typer

    module, name = config.split(":")
    defaults = {f.name: f.default for f in dataclasses.fields(getattr(importlib.import_module(module), name))}
    params = {p.name: p.default for p in typer.main.get_command(app).commands[command].params}
    assert {option: params[option] for option in fields} == {option: defaults[f] for option, f in fields.items()}


def test_prepare_help_shows_the_common_settings_and_help_all_every_one_grouped():
    runner = CliRunner()
    short = runner.invoke(app, ["prepare", "--help"], env={"COLUMNS": "100"})
    full = runner.invoke(app, ["prepare", "--help-all"], env={"COLUMNS": "100"})
    assert short.exit_code == 0 and full.exit_code == 0
    assert "--max-gap" in short.output and "--haar-scale-factor" not in short.output and "--help-all" in short.output
    assert len(short.output.splitlines()) < 150
    for text in ("--haar-scale-factor", "--flag-max-yaw", "Review flags", "Detection and tracking", "--max-gap"):
        assert text in full.output, text
    # a setting hidden from --help still works
    bad = runner.invoke(app, ["prepare", "--flag-max-yaw", "abc", "x.mp4"])
    assert bad.exit_code == 2 and "flag-max-yaw" in bad.output
