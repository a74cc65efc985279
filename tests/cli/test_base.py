"""Every command: one error line naming the file, one exit-code scheme, classic help, ``--version``."""

from __future__ import annotations

import importlib.metadata
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mextk.cli import app
from mextk.cli.base import EXIT_INPUT, EXIT_INTERNAL, EXIT_OK, EXIT_PARTIAL

COMMANDS = ["demo", "synth", "validate", "stats", "score", "prepare", "features", "evaluate", "compare", "models",
            "datasets", "annotate", "tasks"]  # fmt: skip


def _invoke(args: list[str]):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(app, [str(a) for a in args])


def _one_error_line(res, *names: str) -> str:  # type: ignore[no-untyped-def]
    """The output is one ``error:`` line that names each of ``names``; return it."""
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert len(lines) == 1, res.output
    assert lines[0].startswith("error: ") and "Traceback" not in res.output, res.output
    for name in names:
        assert name in lines[0], (name, lines[0])
    return lines[0]


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    """A file where a folder is expected, an empty CSV, a CSV of random bytes, a folder, a missing path."""
    (tmp_path / "a_file").write_text("not a folder")
    (tmp_path / "empty.csv").write_bytes(b"")
    (tmp_path / "noise.csv").write_bytes(bytes(range(128, 256)) * 20)
    (tmp_path / "a_folder").mkdir()
    (tmp_path / "empty_root").mkdir()
    (tmp_path / "empty_root" / "video_emotion_metadata.csv").write_bytes(b"")
    (tmp_path / "bad_run").mkdir()
    (tmp_path / "bad_run" / "metrics.json").write_text('{"uf1": 0.5, "ua')
    header = "dataset,subject,sample_id,path,fps,n_frames,onset,apex,offset,emotion,aus\n"
    (tmp_path / "ok.csv").write_text(header + "d,1,a,a.mp4,25,10,,,,,\n")
    return {
        "file": tmp_path / "a_file",
        "empty": tmp_path / "empty.csv",
        "noise": tmp_path / "noise.csv",
        "folder": tmp_path / "a_folder",
        "missing": tmp_path / "missing.csv",
        "empty_root": tmp_path / "empty_root",
        "bad_run": tmp_path / "bad_run",
        "manifest": tmp_path / "ok.csv",
    }


# (command, arguments with the output path as OUT) for every command that writes
OUTPUT_CASES = {
    "demo": ["demo", "--out", "OUT"],
    "synth": ["synth", "--out", "OUT", "--subjects", "1", "--clips-per-subject", "1"],
    "stats": ["stats", "MANIFEST", "--out", "OUT"],
    "prepare": ["prepare", "MISSING_OK", "--out", "OUT"],
    "features": ["features", "landmarks", "MANIFEST", "--out", "OUT"],
    "evaluate": ["evaluate", "MANIFEST", "--model", "lbptop_svm", "--out", "OUT"],
    "compare": ["compare", "RUN", "--out", "OUT"],
}


@pytest.mark.parametrize("command", list(OUTPUT_CASES))
@pytest.mark.parametrize("where", ["is_a_file", "inside_a_file"])
def test_an_output_folder_that_is_a_file_is_one_line_and_exit_2(files, command, where):
    out = files["file"] if where == "is_a_file" else files["file"] / "sub"
    subst = {"OUT": out, "MANIFEST": files["manifest"], "RUN": files["folder"], "MISSING_OK": files["folder"]}
    res = _invoke([subst.get(a, a) for a in OUTPUT_CASES[command]])
    assert res.exit_code == EXIT_INPUT
    _one_error_line(res, "a_file")
    assert files["file"].read_text() == "not a folder"  # nothing was written over it


def test_an_output_file_that_is_a_folder_is_one_line_and_exit_2(files):
    res = _invoke(["cmed-manifest", files["empty_root"], "--out", files["folder"]])
    assert res.exit_code == EXIT_INPUT
    _one_error_line(res, "a_folder", "existing folder")


# (command, arguments with the input as IN)
INPUT_CASES = {
    "validate": ["validate", "IN"],
    "stats": ["stats", "IN"],
    "score": ["score", "IN"],
    "features": ["features", "flow", "IN", "--out", "OUTDIR"],
    "evaluate": ["evaluate", "IN", "--model", "lbptop_svm", "--out", "OUTDIR"],
}


@pytest.mark.parametrize("command", [*INPUT_CASES, "prepare", "compare", "cmed-manifest"])
def test_a_missing_input_is_one_line_naming_it_and_exit_2(files, tmp_path, command):
    missing = files["missing"]
    args = {
        **{k: [files["missing"] if a == "IN" else tmp_path / "o" if a == "OUTDIR" else a for a in v]
           for k, v in INPUT_CASES.items()},
        "prepare": ["prepare", tmp_path / "missing.mp4", "--out", tmp_path / "o"],
        "compare": ["compare", tmp_path / "missing_run"],
        "cmed-manifest": ["cmed-manifest", tmp_path / "missing_root", "--out", tmp_path / "m.csv"],
    }[command]  # fmt: skip
    res = _invoke(args)
    assert res.exit_code == EXIT_INPUT
    name = {"prepare": "missing.mp4", "compare": "missing_run", "cmed-manifest": "missing_root"}.get(
        command, missing.name
    )
    _one_error_line(res, name, "not found")


@pytest.mark.parametrize("command", list(INPUT_CASES))
@pytest.mark.parametrize("kind", ["empty", "noise"])
def test_an_unreadable_csv_is_one_line_naming_the_file_and_exit_2(files, tmp_path, command, kind):
    args = [files[kind] if a == "IN" else tmp_path / "o" if a == "OUTDIR" else a for a in INPUT_CASES[command]]
    res = _invoke(args)
    assert res.exit_code == EXIT_INPUT
    line = _one_error_line(res, files[kind].name)
    assert ("is empty" in line) if kind == "empty" else ("not a readable CSV" in line)
    assert "No columns to parse" not in line


def test_unreadable_metadata_and_metrics_name_their_file(files):
    res = _invoke(["cmed-manifest", files["empty_root"], "--out", files["folder"].parent / "m.csv"])
    assert res.exit_code == EXIT_INPUT
    _one_error_line(res, "video_emotion_metadata.csv", "empty")
    res = _invoke(["compare", files["bad_run"]])
    assert res.exit_code == EXIT_INPUT
    _one_error_line(res, "metrics.json", "not a readable JSON")


def test_usage_errors_are_one_line_and_exit_2():
    for args, words in (
        (["validate"], ["Missing argument", "MANIFEST"]),
        (["nosuchcommand"], ["No such command"]),
        (["--no-such-option"], ["No such option"]),
        (["demo", "--size", "big"], ["--size"]),
    ):
        res = _invoke(args)
        assert res.exit_code == EXIT_INPUT, (args, res.output)
        _one_error_line(res, *words)


def test_an_invalid_manifest_lists_every_problem_like_validate(tmp_path):
    header = "dataset,subject,sample_id,path,fps,n_frames,onset,apex,offset,emotion,aus\n"
    bad = tmp_path / "bad.csv"
    bad.write_text(header + "d,1,a,a.mp4,25,10,5,3,8,happiness,\nd,1,b,b.mp4,-1,10,,,,boredom,\n")
    expected = [
        f"{bad}:2: column 'apex': onset 5 is after apex 3 (sample a)",
        f"{bad}:3: column 'fps': must be a positive number, got '-1' (sample b)",
    ]
    validate = _invoke(["validate", bad, "--no-check-files"])
    assert validate.exit_code == EXIT_PARTIAL
    for command in (["stats", bad], ["features", "landmarks", bad, "--out", tmp_path / "f"]):
        res = _invoke(command)
        assert res.exit_code == EXIT_INPUT
        lines = res.output.splitlines()
        for line in expected:
            assert line in lines and line in validate.output.splitlines(), (line, res.output)
        assert any("boredom" in line for line in lines)
        assert lines[-1].startswith("error: ") and "problem(s)" in lines[-1]


def test_exit_codes_follow_one_scheme(tmp_path, monkeypatch, synth_dataset):
    out, _, df = synth_dataset
    assert _invoke(["tasks"]).exit_code == EXIT_OK
    # 1: some items failed and the rest finished (one clip is corrupt)
    rows = df.head(3).assign(path=[str(out / p) for p in df["path"].head(3)])
    (tmp_path / "corrupt.mp4").write_bytes(b"\x00" * 64)
    rows.loc[rows.index[0], "path"] = str(tmp_path / "corrupt.mp4")
    rows.to_csv(tmp_path / "m.csv", index=False)
    res = _invoke(["features", "lbp_top", tmp_path / "m.csv", "--out", tmp_path / "f"])
    assert res.exit_code == EXIT_PARTIAL and "corrupt.mp4" in res.output and "2 computed" in res.output
    # 2: bad input
    assert _invoke(["validate", tmp_path / "none.csv"]).exit_code == EXIT_INPUT
    # 3: a bug, reported in one line that says so
    import mextk.labels

    class Broken(dict):
        def items(self):  # type: ignore[override]
            raise RuntimeError("simulated bug")

    monkeypatch.setattr(mextk.labels, "TAXONOMIES", Broken())
    res = _invoke(["tasks"])
    assert res.exit_code == EXIT_INTERNAL
    _one_error_line(res, "internal error", "RuntimeError: simulated bug", "MEXTK_DEBUG=1")


def test_version_is_the_installed_package_version():
    res = _invoke(["--version"])
    assert res.exit_code == EXIT_OK
    assert res.output.split()[:2] == ["mextk", importlib.metadata.version("mextk")]


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_help_shows_classic_names_and_no_type_placeholders(command):
    res = CliRunner().invoke(app, [command, "--help"] if command else ["--help"], env={"COLUMNS": "150"})
    assert res.exit_code == EXIT_OK, res.output
    text = res.output
    assert "<bool>" not in text and "<str>" not in text and "<path>" not in text and "<int>" not in text
    usage = next(line for line in text.splitlines() if "Usage:" in line)
    assert "{" not in usage
    # arguments are upper-case names in the usage line, e.g. "mextk validate [OPTIONS] MANIFEST"
    for word in re.findall(r"\[?([A-Za-z_]+)\]?(?:\.\.\.)?", usage.split("[OPTIONS]")[-1]):
        assert word.isupper(), usage


def test_every_command_is_listed_in_the_main_help():
    text = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "150"}).output
    for command in COMMANDS:
        assert command in text
    assert "cmed-manifest" not in text  # the old name still runs, but 'datasets import cmed' is the one shown
