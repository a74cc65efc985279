"""The documented path, stage to stage, through the command line with no hand edit in between:
``synth --calls`` -> ``prepare`` -> ``validate``/``stats`` -> ``features`` of every kind."""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

from mextk.cli import app
from mextk.features.kinds import KIND_DEFAULTS

pytestmark = pytest.mark.slow


def _run(*args: object):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(app, [str(a) for a in args])


def test_synthetic_call_to_prepared_clips_to_every_feature_kind(tmp_path):
    res = _run("synth", "--out", tmp_path / "s", "--clips-per-subject", "0", "--calls", "1", "--call-duration", "16",
               "--call-participants", "2", "--call-size", "480x270")  # fmt: skip
    assert res.exit_code == 0, res.output
    res = _run("prepare", tmp_path / "s" / "calls", "--out", tmp_path / "p")
    assert res.exit_code == 0, res.output
    manifest = tmp_path / "p" / "manifest.csv"
    clips = pd.read_csv(manifest, dtype=str, keep_default_na=False)
    assert len(clips) >= 2 and (clips["emotion"] == "").all()  # prepared clips are unlabelled

    res = _run("validate", manifest)
    assert res.exit_code == 0 and "no problems; unlabelled" in res.output, res.output
    res = _run("stats", manifest)
    assert res.exit_code == 0 and "Labels are missing" in res.output, res.output
    # clips that prepare flagged (small faces in this 480x270 call) are left out unless reviewed, and said so
    flagged = int((clips["kept"].str.lower() == "false").sum())
    for kind in KIND_DEFAULTS:
        res = _run("features", kind, manifest, "--out", tmp_path / "f")
        assert res.exit_code == 0, (kind, res.output)
        expected = f"{len(clips) - flagged} computed, 0 cached, 0 failed"
        if flagged:
            expected += f", {flagged} left out by review decisions"
        assert expected in " ".join(res.output.split()), (kind, res.output)
        res = _run("features", kind, manifest, "--out", tmp_path / "f", "--include-excluded")
        assert res.exit_code == 0 and f"{flagged} computed, {len(clips) - flagged} cached, 0 failed" in res.output
    # what does need labels says so, in one line each
    res = _run("features", "deflection", manifest, "--out", tmp_path / "f")
    assert res.exit_code == 2 and "none of the" in res.output and "onset and an apex" in res.output
    res = _run("evaluate", manifest, "--model", "lbptop_svm", "--out", tmp_path / "run")
    assert res.exit_code == 2 and "unlabelled" in res.output
