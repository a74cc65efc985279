from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mextk.io.manifest import (
    COLUMNS,
    REQUIRED_COLUMNS,
    ManifestError,
    coerce_manifest,
    load_manifest,
    read_manifest_table,
    save_manifest,
    validate_manifest,
)


def _row(**kw):
    row = {
        "dataset": "casme2",
        "subject": "006",
        "sample_id": "006_a",
        "path": "a.mp4",
        "fps": "200",
        "n_frames": "30",
        "onset": "2",
        "apex": "10",
        "offset": "20",
        "emotion": "happiness",
        "aus": "AU6+AU12",
        "note": "kept",
    }
    row.update(kw)
    return row


def _write(tmp_path, rows, name="manifest.csv", touch=True):
    df = pd.DataFrame(rows)
    if touch:
        for p in df["path"]:
            if p:
                (tmp_path / p).write_bytes(b"")
    path = tmp_path / name
    df.to_csv(path, index=False)
    return path


def test_valid_manifest_roundtrips_csv_and_parquet_with_types_and_extras(tmp_path):
    path = _write(tmp_path, [_row(), _row(sample_id="006_b", path="b.mp4", apex="", emotion="No_Emotion", aus="")])
    df = load_manifest(path)
    assert list(df.columns[: len(REQUIRED_COLUMNS)]) == list(REQUIRED_COLUMNS)
    assert df["subject"].tolist() == ["006", "006"]  # leading zeros kept
    assert df["note"].tolist() == ["kept", "kept"]
    assert str(df["onset"].dtype) == "Int64" and df["apex"].isna().tolist() == [False, True]
    assert df["fps"].dtype == float
    pq = tmp_path / "m.parquet"
    save_manifest(df, pq)
    back = load_manifest(pq)
    pd.testing.assert_frame_equal(back.reset_index(drop=True), df.reset_index(drop=True), check_like=False)
    csv2 = tmp_path / "m2.csv"
    save_manifest(back, csv2)
    assert load_manifest(csv2)["subject"].tolist() == ["006", "006"]


def test_every_problem_is_reported_with_row_and_column(tmp_path):
    rows = [
        _row(),
        _row(sample_id="006_a", path="b.mp4"),  # duplicate id (line 3)
        _row(sample_id="c", path="c.mp4", onset="12", apex="", offset="9"),  # onset after offset (line 4)
        _row(sample_id="d", path="d.mp4", apex="30"),  # apex == n_frames (line 5)
        _row(sample_id="e", path="e.mp4", onset="1.5"),  # non-integer (line 6)
        _row(sample_id="f", path="f.mp4", emotion="hapy"),  # unknown label (line 7)
        _row(sample_id="g", path="missing.mp4"),  # missing file (line 8)
        _row(sample_id="h", path="h.mp4", fps="0", aus="AU6++AU12"),  # bad fps and AUs (line 9)
        _row(sample_id="i", path="i.mp4", subject="", n_frames="abc"),  # line 10
    ]
    path = _write(tmp_path, rows)
    (tmp_path / "missing.mp4").unlink()
    problems = [str(p) for p in validate_manifest(read_manifest_table(path))]
    name = str(path)
    expected = [
        f"{name}:3: column 'sample_id': duplicate sample_id '006_a'",
        f"{name}:4: column 'offset': onset 12 is after offset 9",
        f"{name}:5: column 'apex': apex 30 is not < n_frames 30",
        f"{name}:5: column 'offset': apex 30 is after offset 20",
        f"{name}:6: column 'onset': '1.5' is not an integer",
        f"{name}:7: column 'emotion': unknown emotion label 'hapy'",
        f"{name}:8: column 'path': file not found",
        f"{name}:9: column 'fps': must be a positive number",
        f"{name}:9: column 'aus': malformed action units 'AU6++AU12'",
        f"{name}:10: column 'subject': is empty",
        f"{name}:10: column 'n_frames': 'abc' is not an integer",
    ]
    for e in expected:
        assert any(p.startswith(e) for p in problems), (e, problems)
    assert all("\n" not in p for p in problems)
    assert len(problems) == len(expected)
    with pytest.raises(ManifestError) as err:
        load_manifest(path)
    assert len(err.value.problems) == len(expected)
    assert "11 problem(s)" in str(err.value)


def test_missing_columns_and_formats(tmp_path):
    df = pd.DataFrame([{k: v for k, v in _row().items() if k not in ("fps", "aus")}])
    probs = [str(p) for p in validate_manifest(df, check_files=False)]
    assert [p.split(": ", 1)[1] for p in probs] == ["column 'fps': required column is missing"]  # aus is optional
    (tmp_path / "m.txt").write_text("x")
    with pytest.raises(ValueError, match=r"\.csv or \.parquet"):
        read_manifest_table(tmp_path / "m.txt")
    with pytest.raises(FileNotFoundError, match="nope.csv"):
        load_manifest(tmp_path / "nope.csv")


def test_taxonomy_checks(tmp_path):
    path = _write(tmp_path, [_row(), _row(sample_id="b", path="b.mp4", emotion="others")])
    df = read_manifest_table(path)
    assert validate_manifest(df, taxonomy="cmed6") == []  # excluded labels are dropped later, not errors
    probs = validate_manifest(df, taxonomy="cmed6", excluded="error")
    assert len(probs) == 1 and "excluded by task cmed6" in str(probs[0]) and ":3:" in str(probs[0])


def test_parquet_rows_are_named_by_row_number(tmp_path):
    df = pd.DataFrame([_row(), _row(sample_id="b", onset="40")])
    path = tmp_path / "m.parquet"
    df.to_parquet(path)
    probs = [str(p) for p in validate_manifest(read_manifest_table(path), check_files=False)]
    assert probs == [
        f"{path}: row 1: column 'onset': onset 40 is not < n_frames 30 (sample b)",
        f"{path}: row 1: column 'apex': onset 40 is after apex 10 (sample b)",
        f"{path}: row 1: column 'offset': onset 40 is after offset 20 (sample b)",
    ]


def test_relative_paths_resolve_against_manifest_folder(tmp_path, monkeypatch):
    sub = tmp_path / "ds"
    sub.mkdir()
    path = _write(sub, [_row()])
    monkeypatch.chdir(tmp_path)  # elsewhere: still valid
    assert validate_manifest(read_manifest_table(path)) == []


def test_coerce_rejects_non_integer_frames_and_keeps_empty():
    df = pd.DataFrame([_row(apex=np.nan), _row(sample_id="b", onset=3.0)])
    out = coerce_manifest(df)
    assert out["apex"].isna().tolist() == [True, False] and out["onset"].tolist() == [2, 3]
    with pytest.raises(ManifestError, match="not an integer"):
        coerce_manifest(pd.DataFrame([_row(offset="x")]))


def test_validate_cli_prints_all_and_exits_nonzero(tmp_path):
    from typer.testing import CliRunner

    from mextk.cli import app

    path = _write(tmp_path, [_row(), _row(sample_id="b", path="b.mp4", onset="25", offset="20", emotion="joyful")])
    res = CliRunner().invoke(app, ["validate", str(path)])
    assert res.exit_code == 1
    lines = [ln for ln in res.stdout.splitlines() if ln.strip()]
    assert any("column 'offset': onset 25 is after offset 20" in ln for ln in lines)
    assert any("column 'apex': onset 25 is after apex 10" in ln for ln in lines)
    assert any("column 'emotion': unknown emotion label 'joyful'" in ln for ln in lines)
    good = _write(tmp_path, [_row()], name="good.csv")
    res = CliRunner().invoke(app, ["validate", str(good)])
    assert res.exit_code == 0 and "no problems" in res.stdout


def test_unlabelled_rows_are_valid_and_counted(tmp_path):
    from typer.testing import CliRunner

    from mextk.cli import app
    from mextk.io.manifest import label_summary, require_labels, unlabelled_rows

    rows = [_row(), _row(sample_id="b", path="b.mp4", onset="", apex="", offset="", emotion="")]
    path = _write(tmp_path, rows)
    df = read_manifest_table(path)
    assert validate_manifest(df) == [] and unlabelled_rows(df) == [1]
    assert label_summary(df) == "partly labelled (1 of 2 rows unlabelled)"
    with pytest.raises(ManifestError, match=r"evaluate needs labels, but 1 of 2 rows are unlabelled \(lines 3 \(b\)\)"):
        require_labels(df, purpose="evaluate")
    res = CliRunner().invoke(app, ["validate", str(path)])
    assert res.exit_code == 0 and "no problems; partly labelled (1 of 2 rows unlabelled)" in res.stdout
    only = _write(tmp_path, rows[1:], name="u.csv")
    res = CliRunner().invoke(app, ["validate", str(only)])
    assert res.exit_code == 0 and res.stdout.strip().endswith("no problems; unlabelled")
    require_labels(read_manifest_table(_write(tmp_path, rows[:1], name="l.csv")))  # labelled: no error


def test_a_manifest_without_an_aus_column_loads_with_no_action_units(tmp_path):
    """Flow images and labels are enough: the aus column may be left out, and reads as empty."""
    row = {k: v for k, v in _row().items() if k != "aus"}
    path = tmp_path / "m.csv"
    pd.DataFrame([row]).to_csv(path, index=False)
    assert validate_manifest(pd.read_csv(path), check_files=False) == []
    df = load_manifest(path, check_files=False)
    assert df["aus"].tolist() == [""] and list(df.columns[:11]) == list(COLUMNS)
    save_manifest(pd.read_csv(path), tmp_path / "out.csv")  # written with the column, empty
    assert pd.read_csv(tmp_path / "out.csv", keep_default_na=False)["aus"].tolist() == [""]


def test_a_folder_given_as_a_manifest_suggests_the_manifest_inside_it(tmp_path):
    from mextk.io.manifest import read_manifest_table

    (tmp_path / "prepared").mkdir()
    with pytest.raises(ValueError, match=r"prepared: a folder, not a manifest \(a .csv or .parquet file\)"):
        read_manifest_table(tmp_path / "prepared")
    (tmp_path / "prepared" / "manifest.csv").write_text("dataset\n")
    with pytest.raises(ValueError, match=r"did you mean .*prepared/manifest.csv\?"):
        read_manifest_table(tmp_path / "prepared")
