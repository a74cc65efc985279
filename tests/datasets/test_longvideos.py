"""The long-video loaders (CAS(ME)^2, SAMM Long Videos, CAS(ME)^3 Part A), on small trees in their released
layouts (tests/datasets/trees.py), and through ``mextk datasets import`` into ``mextk spot-eval``."""

from __future__ import annotations

import warnings

import pandas as pd
from typer.testing import CliRunner

from mextk.cli import app
from mextk.datasets.longvideos import import_long_dataset
from mextk.spotting.long_manifest import load_long_manifest

from . import trees

runner = CliRunner()


def _load(name, root):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return import_long_dataset(name, root)


def test_casme_sq_maps_names_and_subjects_through_the_naming_sheets_and_frame_numbers_to_positions(tmp_path):
    trees.casme_sq(tmp_path)
    df = _load("casme-sq", tmp_path)
    ivs = df[df["onset"].notna()].set_index(["video_id", "onset"])
    micro = ivs.loc[("15_0101disgustingteeth", 9)]  # img10 is the 10th file: position 9
    assert (micro["apex"], micro["offset"], micro["type"], micro["subject"]) == (13, 19, "micro", "15")
    assert micro["fps"] == 30 and micro["n_frames"] == 120 and micro["aus"] == "AU4+AU12"
    assert micro["path"] == "rawpic/s15/15_0101disgustingteeth"
    macro = ivs.loc[("15_0101disgustingteeth", 49)]  # offset 0 (not coded): ends at the apex, img70
    assert (macro["apex"], macro["offset"], macro["type"]) == (69, 69, "macro")
    assert any("offset 0 (not coded)" in n and ":2" in n for n in df.attrs["notes"])
    assert ivs.loc[("16_0402beatingpregnantwoman", 4), "offset"] == 59


def test_casme_sq_bad_rows_are_skipped_with_the_sheet_line_and_uncoded_videos_kept_empty(tmp_path):
    trees.casme_sq(tmp_path)
    df = _load("casme-sq", tmp_path)
    skipped = {s.split(".xlsx:")[1].split(":")[0]: s for s in df.attrs["skipped"]}
    assert set(skipped) == {"4", "5", "6"}
    assert "onset 40 is after offset 30" in skipped["4"]
    assert "'sad9_1' is not in the workbook's naming sheet" in skipped["5"]
    assert "'blink' is neither a micro- nor a macro-expression" in skipped["6"]
    empty = df[df["video_id"] == "16_0101disgustingteeth"]
    assert len(empty) == 1 and empty["onset"].isna().all() and empty["n_frames"].iloc[0] == 60


def test_samm_lv_reads_below_the_title_block_and_skips_an_offset_past_the_video(tmp_path):
    trees.samm_lv(tmp_path)
    df = _load("samm-lv", tmp_path)
    ivs = df[df["onset"].notna()]
    assert list(zip(ivs["video_id"], ivs["onset"], ivs["offset"], ivs["type"], strict=True)) == [
        ("006_1", 99, 179, "micro"),
        ("006_1", 199, 289, "macro"),
    ]
    assert ivs["fps"].eq(200).all() and ivs["subject"].eq("006").all()
    assert pd.isna(ivs["apex"].iloc[1])  # SAMM's -1: no apex
    (bad,) = df.attrs["skipped"]
    assert "offset frame 400 is not in" in bad and "006_2" in bad and "frames 1-200" in bad
    assert set(df["video_id"]) == {"006_1", "006_2", "007_3"}  # the uncoded and the skipped videos stay listed


def test_casme3_lv_takes_micro_from_the_me_sheet_and_macro_from_the_mae_sheet(tmp_path):
    trees.casme3_lv(tmp_path)
    df = _load("casme3-lv", tmp_path)
    ivs = df[df["onset"].notna()].set_index(["video_id", "onset"])
    assert ivs.loc[("spNO.1/a", 10), "type"] == "micro"  # frames from 0.jpg: number 10 is position 10
    assert ivs.loc[("spNO.1/a", 40), "type"] == "macro" and ivs.loc[("spNO.2/a", 0), "offset"] == 89
    assert set(df["video_id"]) == {"spNO.1/a", "spNO.1/b", "spNO.2/a"}


def test_import_command_writes_a_long_manifest_that_spot_eval_reads(tmp_path):
    trees.samm_lv(tmp_path / "SAMM")
    out = tmp_path / "out" / "samm_lv.csv"
    result = runner.invoke(app, ["datasets", "import", "samm-lv", str(tmp_path / "SAMM"), "--out", str(out)])
    assert result.exit_code == 1  # one row skipped, the rest written
    assert "skipped:" in result.output and "3 videos of 2 subjects, 1 micro- and 1 macro-expressions" in result.output
    df = load_long_manifest(out)
    assert (out.parent / df["path"].iloc[0]).is_dir()  # paths relative to the manifest
    scored = runner.invoke(app, ["spot-eval", str(out), str(out), "--json"])
    assert scored.exit_code == 0, scored.output
    listed = runner.invoke(app, ["datasets", "list"])
    assert "samm-lv" in listed.output and "casme-sq" in listed.output
