"""The official-sheet loaders, on small trees in each dataset's released layout (tests/datasets/trees.py)."""

from __future__ import annotations

import warnings

import pandas as pd
import pytest
from typer.testing import CliRunner

from mextk.cli import app
from mextk.datasets.official import import_dataset
from mextk.datasets.sheets import frame_number, read_coding_sheet, subject_id
from mextk.io.manifest import load_manifest

from . import trees


def _load(name, root, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return import_dataset(name, root, **kw)


def test_casme2_rows_map_frame_numbers_to_positions_in_natural_order(tmp_path):
    trees.casme2(tmp_path)
    df = _load("casme2", tmp_path).set_index("sample_id")
    assert sorted(df.index) == ["01/EP02_01f", "01/EP03_02", "17/EP05_09"]
    ep = df.loc["01/EP02_01f"]
    # img46 .. img120: frame 46 is the 1st file, 100 the 55th, 120 the 75th (img100 sorts after img99)
    assert (ep["onset"], ep["apex"], ep["offset"], ep["n_frames"]) == (0, 54, 74, 75)
    assert ep["subject"] == "01" and ep["fps"] == 200 and ep["emotion"] == "happiness" and ep["aus"] == "AU12"
    assert ep["path"] == "CASME2_RAW_selected/sub01/EP02_01f" and ep["filename"] == "EP02_01f"
    second = df.loc["01/EP03_02"]
    assert pd.isna(second["apex"]) and (second["onset"], second["offset"]) == (1, 27)  # img1..img29; apex "/"
    assert second["aus"] == "AU12+AU15" and second["au_sides"] == "AU12:R" and second["emotion"] == "disgust"
    assert second["au_raw"] == "R12+15+?"
    (note,) = _load("casme2", tmp_path).attrs["notes"]
    assert ".xlsx[Sheet1]:3: column 'aus': '?' left out (not action units)" in note
    assert (df.loc["17/EP05_09", "onset"], df.loc["17/EP05_09", "offset"]) == (0, 11)


def test_casme2_bad_rows_are_skipped_with_one_line_naming_the_sheet_row_and_path(tmp_path):
    trees.casme2(tmp_path)
    df = _load("casme2", tmp_path)
    skipped = df.attrs["skipped"]
    assert len(skipped) == 4 and all("\n" not in s for s in skipped)
    by_line = {s.split(".xlsx")[1].split(":")[1]: s for s in skipped}
    # header is line 1; data lines 2-4, empty line 5, bad rows on lines 6-9
    assert set(by_line) == {"6", "7", "8", "9"}
    assert "offset frame 40 is not in" in by_line["6"] and "EP09_01" in by_line["6"] and "frames 1-9" in by_line["6"]
    assert "no frame folder" in by_line["7"] and "sub02/EP99_99" in by_line["7"]
    assert "onset 15 is after offset 10" in by_line["8"]
    assert "unknown emotion label 'confused'" in by_line["9"]


def test_samm_title_block_subject_zeros_or_aus_and_intensity(tmp_path):
    trees.samm(tmp_path)
    loaded = _load("samm", tmp_path)
    df = loaded.set_index("sample_id")
    assert list(df.index) == ["006/006_1_2", "011/011_2_3", "011/011_2_4", "011/011_2_5"]
    # an apex of -1 or one whose frame is not in the folder leaves the apex empty; the sample stays
    assert df.loc[["011/011_2_4", "011/011_2_5"], "apex"].isna().all()
    assert (df.loc["011/011_2_5", "onset"], df.loc["011/011_2_5", "offset"]) == (0, 19)
    notes = loaded.attrs["notes"]
    assert len(notes) == 2 and ":8: column 'apex': '-1' is not a frame number" in notes[0]
    assert ":9: apex frame 1315 is not in" in notes[1] and "011_2_5" in notes[1]
    a = df.loc["006/006_1_2"]
    assert a["subject"] == "006" and (a["onset"], a["apex"], a["offset"], a["n_frames"]) == (0, 26, 37, 38)
    assert a["aus"] == "AU12" and a["au_raw"] == "R12 or R12+R15" and a["emotion"] == "anger"
    b = df.loc["011/011_2_3"]
    assert b["au_intensity"] == "AU14:A" and b["au_sides"] == "AU14:R" and b["objective_class"] == "VII"
    assert (b["onset"], b["apex"], b["offset"]) == (0, 5, 20)


@pytest.mark.parametrize("variant, fps", [("HS", 100.0), ("VIS", 25.0), ("NIR", 25.0)])
def test_smic_labels_come_from_the_folders(tmp_path, variant, fps):
    trees.smic(tmp_path, variant)
    name = {"HS": "smic", "VIS": "smic-vis", "NIR": "smic-nir"}[variant]
    df = _load(name, tmp_path).set_index("sample_id")
    assert sorted(df.index) == ["s1/s1_ne_01", "s1/s1_po_01", "s3/s3_sur_02"]  # non_micro is not a sample
    assert df.loc["s1/s1_ne_01", "emotion"] == "negative" and df.loc["s3/s3_sur_02", "subject"] == "s3"
    row = df.loc["s3/s3_sur_02"]
    assert (row["onset"], row["offset"], row["n_frames"], row["fps"]) == (0, 12, 13, fps) and pd.isna(row["apex"])


def test_smic_raw_layout_is_found_too(tmp_path):
    trees.smic(tmp_path, "HS", cropped=False)
    df = _load("smic", tmp_path)
    assert len(df) == 3 and df["path"].str.startswith("SMIC_all_raw/HS/").all()


def test_casme3_one_video_serves_several_samples_and_a_bad_apex_is_left_empty_and_noted(tmp_path):
    trees.casme3(tmp_path)
    df = _load("casme3", tmp_path)
    ids = df.set_index("sample_id")
    assert sorted(ids.index) == ["spNO.1/a_120", "spNO.1/a_20", "spNO.1/a_355", "spNO.2/b_10"]
    assert pd.isna(ids.loc["spNO.1/a_120", "apex"]) and ids.loc["spNO.1/a_120", "onset"] == 120
    a = ids.loc["spNO.1/a_355"]
    assert a["path"] == "spNO.1/a/color" and (a["onset"], a["apex"], a["offset"], a["n_frames"]) == (355, 360, 370, 400)
    assert a["fps"] == 30 and a["au_sides"] == "AU12:L" and a["objective_class"] == "I"
    assert ids.loc["spNO.1/a_20", "emotion"] == "others"
    assert df.attrs["skipped"] == []
    (line,) = df.attrs["notes"]
    assert ":3:" in line and "apex 0 is outside onset 120 to offset 131; the apex is left empty" in line


def test_casme3_offset_zero_rows_are_kept_with_the_offset_unknown_and_noted(tmp_path):
    trees.casme3_coding_gaps(tmp_path)
    df = _load("casme3", tmp_path)
    ids = df.set_index("sample_id")
    assert sorted(ids.index) == ["spNO.7/c_10", "spNO.7/c_100", "spNO.7/c_200", "spNO.7/c_30"]
    gap = ids.loc["spNO.7/c_100"]
    assert (gap["onset"], gap["apex"]) == (100, 104) and pd.isna(gap["offset"])
    assert pd.isna(ids.loc["spNO.7/c_200", "offset"]) and ids.loc["spNO.7/c_200", "apex"] == 206
    # sheet lines 2 and 4 (header is line 1) are named in the notes; line 5 (no apex) is skipped
    assert [n.split(": ", 1)[0].rsplit(":", 1)[-1] for n in df.attrs["notes"]] == ["2", "4"]
    assert all("offset 0 (before onset" in n and "left empty" in n for n in df.attrs["notes"])
    (skip,) = df.attrs["skipped"]
    assert ":5:" in skip and "offset" in skip


def test_label_spellings_that_differ_in_case_or_space_are_one_class(tmp_path):
    trees.casme3_coding_gaps(tmp_path)
    df = _load("casme3", tmp_path)
    assert df["emotion"].value_counts().to_dict() == {"others": 4}
    out = tmp_path / "m.csv"
    df.assign(emotion=["Others", "others ", " OTHERS", "others"]).to_csv(out, index=False)
    reread = load_manifest(out, check_files=False)
    assert set(reread["emotion"]) == {"others"}


def test_an_unknown_offset_is_estimated_from_onset_and_apex_not_the_folder_end():
    from mextk.features.sampling import last_frame

    # by hand: apex + (apex - onset) = 104 + 4 = 108; the folder holds 300 frames
    assert last_frame(300, onset=100, apex=104, offset=None) == 108
    assert last_frame(300, onset=100, apex=104, offset=150) == 150
    assert last_frame(106, onset=100, apex=104, offset=None) == 105


def test_dfme_keeps_the_split_and_per_sample_fps(tmp_path):
    trees.dfme(tmp_path)
    df = _load("dfme", tmp_path).set_index("sample_id")
    assert df["split"].to_dict() == {
        "sub0003/sub0003_01": "train",
        "sub0003/sub0003_02": "train",
        "sub0201/sub0201_01": "testA",
        "sub0300/sub0300_04": "testB",
    }
    assert df["fps"].tolist() == [500.0, 300.0, 200.0, 500.0]
    row = df.loc["sub0003/sub0003_02"]
    assert (row["onset"], row["apex"], row["offset"]) == (1, 4, 19) and row["emotion"] == "contempt"


def test_mmew_layout_by_emotion_matches_folder_names_whatever_their_case(tmp_path):
    trees.mmew(tmp_path)
    (tmp_path / "Micro_Expression" / "disgust").rename(tmp_path / "Micro_Expression" / "Disgust")
    df = _load("mmew", tmp_path).set_index("sample_id")
    assert df.loc["S02/S02-03-002", "path"] == "Micro_Expression/Disgust/S02-03-002"  # the sheet says disgust
    assert (df.loc["S02/S02-03-002", "apex"], df.loc["S01/S01-01-001", "aus"]) == (17, "AU6+AU12")


def test_layout_option_reads_a_copy_laid_out_differently(tmp_path):
    trees.casme2(tmp_path)
    (tmp_path / "CASME2_RAW_selected").rename(tmp_path / "mine")
    for sub in (tmp_path / "mine").iterdir():
        sub.rename(tmp_path / "mine" / sub.name.replace("sub", "S"))
    assert len(_load("casme2", tmp_path)) == 0
    df = _load("casme2", tmp_path, layout="mine/S{subject}/{filename}")
    assert len(df) == 3 and df["path"].str.startswith("mine/S").all()


def test_sheet_quirks_each_handled(tmp_path):
    path = trees.workbook(
        tmp_path / "s.xlsx",
        {
            "Notes": [["nothing here"]],
            "Codes": [
                ["A title"],
                [],
                [" subject ", "FILENAME", "onset frame", "Apex_Frame", "OffsetFrame  ", "estimated emotion"],
                [3.0, " EP01 ", "46.0", 59.0, 86, "HAPPINESS "],
                [None, None, None, None, None, None],
                [12, "EP02", 1, None, 9, "surprise"],
            ],
        },
    )
    cols = {
        "subject": ("Subject",),
        "filename": ("Filename",),
        "onset": ("OnsetFrame",),
        "apex": ("ApexFrame",),
        "offset": ("OffsetFrame",),
        "emotion": ("Estimated Emotion",),
    }
    table = read_coding_sheet(path, cols, required=list(cols))
    assert [r["_line"] for r in table.records] == [4, 6] and table.where.endswith("s.xlsx[Codes]")
    first = table.records[0]
    assert subject_id(first["subject"], 2) == "03" and subject_id(table.records[1]["subject"], 2) == "12"
    assert (frame_number(first["onset"]), frame_number(first["apex"]), frame_number(first["offset"])) == (46, 59, 86)
    assert frame_number(table.records[1]["apex"]) is None
    with pytest.raises(ValueError, match="not a frame number"):
        frame_number("46.5")
    with pytest.raises(ValueError, match="'Fps'|'fps'"):
        read_coding_sheet(path, {**cols, "fps": ("Fps",)}, required=[*cols, "fps"])


def test_cli_import_writes_a_valid_manifest_and_exits_1_when_rows_were_skipped(tmp_path):
    trees.casme2(tmp_path / "CASME2")
    out = tmp_path / "out" / "casme2.csv"
    res = CliRunner().invoke(app, ["datasets", "import", "casme2", str(tmp_path / "CASME2"), "--out", str(out)])
    assert res.exit_code == 1, res.output
    assert "3 samples of 2 subjects" in res.output and "4 skipped" in res.output
    df = load_manifest(out, check_files=True)  # paths are relative to the manifest's folder, and the frames are there
    assert df["path"].str.startswith("../CASME2/CASME2_RAW_selected/").all()
    res = CliRunner().invoke(app, ["datasets", "import", "casme2", str(tmp_path / "nope"), "--out", str(out)])
    assert res.exit_code == 2 and "dataset folder not found" in res.output


def test_cli_import_cmed_and_list(tmp_path):
    res = CliRunner().invoke(app, ["datasets", "list"])
    assert res.exit_code == 0
    for name in ("casme2", "samm", "smic", "casme3", "dfme", "mmew", "cmed", "megc2019"):
        assert name in res.output
    assert "CASME2-coding-20140508.xlsx" in res.output and "MICRO_ONLY" in res.output
    res = CliRunner().invoke(app, ["datasets", "import", "cmed", str(tmp_path), "--out", str(tmp_path / "m.csv")])
    assert res.exit_code == 2 and "video_emotion_metadata.csv" in res.output
