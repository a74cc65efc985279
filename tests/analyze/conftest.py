"""Fixtures of the analyze tests."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from mextk.cli import app


@pytest.fixture(scope="package")
def model(synth_dataset, tmp_path_factory):
    out, _, _ = synth_dataset
    folder = tmp_path_factory.mktemp("model") / "motion_svm"
    args = ["train", str(out / "manifest.csv"), "--model", "motion_svm", "--task", "cmed7", "--out", str(folder)]
    assert CliRunner().invoke(app, args).exit_code == 0
    return folder
