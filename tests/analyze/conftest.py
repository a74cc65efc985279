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


def assert_proposals_load(out, folder, tmp_path) -> None:
    """``folder``'s proposals load into a CMED annotation project over ``out``'s prepared clips, every row usable."""
    import pandas as pd

    pytest.importorskip("sqlalchemy")
    from mextk.annotate.engine import AnnotationProject

    project = AnnotationProject.create(
        tmp_path / "proj", out / "prepared" / "manifest.csv", protocol="cmed", proposals=folder / "proposals.csv"
    )
    assert project.proposal_problems == []  # every row was usable
    assert len(pd.read_csv(folder / "proposals.csv")) == len(pd.read_csv(folder / "timeline.csv")) > 0
