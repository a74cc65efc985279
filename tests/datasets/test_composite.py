"""MEGC 2019's composite set from per-dataset manifests with the official label distributions."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from mextk.cli import app
from mextk.datasets.composite import compose, composite_definition
from mextk.evaluate.splits import LeaveOneSubjectOut
from mextk.io.manifest import load_manifest, subject_keys

# The published label counts of the three datasets (CASME II: Yan et al. 2014, Table 3; SAMM: Davison et al.
# 2018, MICRO_ONLY; SMIC-HS: Li et al. 2013).
CASME2 = {"happiness": 32, "disgust": 63, "surprise": 25, "repression": 27, "others": 99, "fear": 2, "sadness": 7}
SAMM = {
    "Anger": 57,
    "Contempt": 12,
    "Disgust": 9,
    "Fear": 8,
    "Sadness": 6,
    "Happiness": 26,
    "Surprise": 15,
    "Other": 26,
}
SMIC = {"negative": 70, "positive": 51, "surprise": 43}


def _manifest(path, dataset, labels, n_subjects, special=()):
    rows = []
    for label, n in labels.items():
        for _ in range(n):
            i = len(rows)
            subject = f"{i % n_subjects + 1:02d}"
            rows.append((subject, f"EP{i:03d}", label))
    for subject, filename, label in special:  # the first clip of each label becomes a named one
        j = next(j for j, r in enumerate(rows) if r[2] == label)
        rows[j] = (subject, filename, label)
    df = pd.DataFrame(
        [
            {
                "dataset": dataset,
                "subject": s,
                "sample_id": f"{s}/{f}",
                "path": f"frames/{s}/{f}",
                "fps": 200,
                "n_frames": 30,
                "onset": 0,
                "apex": 10,
                "offset": 29,
                "emotion": e,
                "filename": f,
            }
            for s, f, e in rows
        ]
    )
    df.to_csv(path, index=False)
    return path


@pytest.fixture
def manifests(tmp_path):
    excluded = [("04", "EP12_01f", "disgust"), ("05", "EP09_05f", "repression")]
    return {
        "casme2": _manifest(tmp_path / "casme2.csv", "casme2", CASME2, 26, excluded),
        "samm": _manifest(tmp_path / "samm.csv", "samm", SAMM, 28),
        "smic": _manifest(tmp_path / "smic.csv", "smic", SMIC, 16),
    }


def test_megc2019_has_exactly_its_442_samples(manifests):
    composite = compose("megc2019", {k: load_manifest(p, check_files=False) for k, p in manifests.items()})
    counts = composite.groupby(["dataset", "emotion"]).size().to_dict()
    assert counts == {
        ("smic", "negative"): 70,
        ("smic", "positive"): 51,
        ("smic", "surprise"): 43,
        ("casme2", "negative"): 88,
        ("casme2", "positive"): 32,
        ("casme2", "surprise"): 25,
        ("samm", "negative"): 92,
        ("samm", "positive"): 26,
        ("samm", "surprise"): 15,
    }
    assert len(composite) == 442 and composite.attrs["mismatches"] == []
    assert not ((composite["subject"] == "04") & (composite["filename"] == "EP12_01f")).any()
    samm_labels = {label.lower() for label in SAMM} - {"other"}  # in their canonical spelling
    assert set(composite.loc[composite["dataset"] == "samm", "source_emotion"]) == samm_labels
    assert composite["sample_id"].is_unique
    assert composite["sample_id"].str.startswith(("smic/", "casme2/", "samm/")).all()
    # one LOSO fold per (dataset, subject): 16 + 26 + 28 subjects, though the names "01".."16" recur
    groups = subject_keys(composite)
    assert LeaveOneSubjectOut().get_n_splits(groups=groups) == 16 + 26 + 28


def test_a_partial_copy_is_reported_not_silent(manifests):
    parts = {k: load_manifest(p, check_files=False) for k, p in manifests.items()}
    parts["samm"] = parts["samm"].iloc[10:]  # 10 anger clips missing
    composite = compose("megc2019", parts)
    assert composite.attrs["mismatches"] == ["samm: 82 negative samples, megc2019 has 92"]


def test_unknown_labels_and_missing_datasets_are_errors(manifests):
    parts = {k: load_manifest(p, check_files=False) for k, p in manifests.items()}
    with pytest.raises(ValueError, match="needs a manifest of samm"):
        compose("megc2019", {k: v for k, v in parts.items() if k != "samm"})
    bad = parts["casme2"].copy()
    bad.loc[bad.index[0], "emotion"] = "tense"
    with pytest.raises(ValueError, match="'tense' is neither mapped nor left out"):
        compose("megc2019", {**parts, "casme2": bad})
    with pytest.raises(ValueError, match="unknown composite"):
        compose("megc2030", parts)


def test_definition_is_data_with_its_source():
    spec = composite_definition("megc2019")
    assert "doi:10.1109/FG.2019.8756611" in spec["source"]
    total = sum(sum(p["expected"].values()) for p in spec["datasets"].values())
    assert total == 442
    assert "casme3" in composite_definition("megc2022")["datasets"]
    assert composite_definition("megc2023") == composite_definition("megc2022")


def test_cli_compose_writes_the_composite_and_counts(manifests, tmp_path):
    out = tmp_path / "c" / "composite.csv"
    args = ["datasets", "compose", "megc2019", "--out", str(out)]
    args += [f"--{k}={v}" for k, v in manifests.items()]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "wrote" in res.output and "442 samples" in res.output and "warning" not in res.output
    df = pd.read_csv(out, dtype=str)
    assert len(df) == 442 and set(df["emotion"]) == {"negative", "positive", "surprise"}
    assert df["path"].str.startswith("../frames/").all()  # relative to the composite's folder
    counts = pd.read_csv(out.with_name("composite_counts.csv"), index_col=0)
    assert counts.loc["total", "total"] == 442 and counts.loc["casme2", "negative"] == 88
    json.dumps(composite_definition("megc2019"))
