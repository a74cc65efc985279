"""Small copies of the public datasets in their official layouts, with sheets written by openpyxl.

Each builder writes the frame folders (tiny JPEG/BMP files) and a coding sheet
with the official column names and the quirks the real sheets have: a title
block above the header, numbers stored as floats, subject ids without their
leading zeros, trailing spaces, mixed case, empty rows, blank columns and a
stray extra sheet.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from openpyxl import Workbook

_JPEG = cv2.imencode(".jpg", np.full((8, 8, 3), 128, np.uint8))[1].tobytes()
_BMP = cv2.imencode(".bmp", np.full((8, 8, 3), 128, np.uint8))[1].tobytes()


def frames(folder: Path, names: list[str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_bytes(_BMP if name.endswith(".bmp") else _JPEG)
    return folder


def workbook(path: Path, sheets: dict[str, list[list[object]]]) -> Path:
    wb = Workbook()
    wb.remove(wb.active)
    for title, rows in sheets.items():
        ws = wb.create_sheet(title)
        for row in rows:
            ws.append(row)
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    return path


CASME2_HEADER = [
    "Subject",
    "Filename",
    None,
    "OnsetFrame",
    "ApexFrame",
    "OffsetFrame",
    None,
    "Action Units",
    "Estimated Emotion",
]


def casme2(root: Path) -> Path:
    """Three good rows (one with ``/`` for its apex), an empty row, and four bad rows."""
    base = root / "CASME2_RAW_selected"
    frames(base / "sub01" / "EP02_01f", [f"img{i}.jpg" for i in range(46, 121)])  # img46 .. img120
    frames(base / "sub01" / "EP03_02", [f"img{i}.jpg" for i in range(1, 30)])
    frames(base / "sub17" / "EP05_09", [f"img{i}.jpg" for i in range(8, 20)])
    frames(base / "sub02" / "EP09_01", [f"img{i}.jpg" for i in range(1, 10)])
    rows = [
        CASME2_HEADER,
        [1, "EP02_01f ", None, 46.0, 100.0, 120.0, None, "12", "Happiness"],
        [1.0, "EP03_02", None, 2, "/", 28, None, "R12+15+?", " disgust "],
        ["17", "EP05_09", None, 8, 9, 19, None, "4+7", "repression"],
        [None, None, None, None, None, None, None, None, None],
        [2, "EP09_01", None, 3, 4, 40, None, "4", "others"],  # offset frame missing
        [2, "EP99_99", None, 3, 4, 5, None, "4", "others"],  # folder missing
        [17, "EP05_09", None, 15, 16, 10, None, "4", "sadness"],  # onset after offset
        [1, "EP03_02", None, 2, 3, 4, None, "4", "confused"],  # unknown label
    ]
    return workbook(root / "CASME2-coding-20140508.xlsx", {"Sheet1": rows, "Sheet2": [["notes"], ["x"]]})


SAMM_HEADER = [
    "Subject",
    "Filename",
    "Inducement Code",
    "Onset Frame",
    "Apex Frame",
    "Offset Frame",
    "Duration",
    "Micro",
    "Action Units",
    "Estimated Emotion",
    "Objective Classes",
    "Notes",
]


def samm(root: Path) -> Path:
    """A title block above the header; subjects stored as numbers (6 for 006)."""
    frames(root / "SAMM" / "006" / "006_1_2", [f"006_{i:05d}.jpg" for i in range(5562, 5600)])
    frames(root / "SAMM" / "011" / "011_2_3", [f"011_{i:05d}.jpg" for i in range(990, 1011)])
    frames(root / "SAMM" / "011" / "011_2_4", [f"011_{i:05d}.jpg" for i in range(1200, 1211)])
    frames(root / "SAMM" / "011" / "011_2_5", [f"011_{i:05d}.jpg" for i in range(1300, 1321) if i != 1315])
    title = [["SAMM Micro-Movement FACS codes"], [None], ["Version 2"], [None]]
    rows = [
        *title,
        SAMM_HEADER,
        [6, "006_1_2", 1, 5562, 5588.0, 5599, 38, "Micro - 1/2", "R12 or R12+R15", "Anger ", "IV", ""],
        ["011", "011_2_3", 2, 990, 995, 1010, 21, "Micro - 1/2", "R14A", "Other", "VII", "note"],
        [11, "011_2_4", 2, 1200, -1, 1210, 11, "Micro - 1/2", "4", "Fear", "VI", "apex not coded"],
        [11, "011_2_5", 2, 1300, 1315, 1320, 21, "Micro - 1/2", "4", "Fear", "VI", "apex frame lost"],
    ]
    return workbook(root / "SAMM_Micro_FACS_Codes_v2.xlsx", {"ALL": [["everything"]], "MICRO_ONLY": rows})


def smic(root: Path, variant: str = "HS", cropped: bool = True) -> Path:
    base = root / ("SMIC_all_cropped" if cropped else "SMIC_all_raw") / variant
    name = "reg_{:05d}.bmp" if cropped else "image{:06d}.bmp"
    frames(base / "s1" / "micro" / "negative" / "s1_ne_01", [name.format(i) for i in range(1, 12)])
    frames(base / "s1" / "micro" / "positive" / "s1_po_01", [name.format(i) for i in range(100, 108)])
    frames(base / "s3" / "micro" / "surprise" / "s3_sur_02", [name.format(i) for i in range(7, 20)])
    frames(base / "s3" / "non_micro" / "s3_nm_01", [name.format(i) for i in range(1, 5)])
    return root


CASME3_HEADER = ["Subject", "Filename", "Onset", "Apex", "Offset", "AU", "Objective class", "emotion"]


def casme3(root: Path) -> Path:
    """Raw layout: one folder of a whole video serves two micro-expressions."""
    frames(root / "spNO.1" / "a" / "color", [f"{i}.jpg" for i in range(0, 400)])
    frames(root / "spNO.2" / "b" / "color", [f"{i}.jpg" for i in range(0, 50)])
    rows = [
        CASME3_HEADER,
        ["spNO.1", "a", 355, 360, 370, "L12", "I", "happy"],
        ["spNO.1", "a", 120.0, 0, 131, "4+7", "II", "Others"],  # apex 0: before the onset
        ["spNO.1", "a", 20, 25, 31, "4+7", "II", "others"],
        ["spNO.2", "b", 10, 12, 14, "1+2", "III", "surprise"],
    ]
    return workbook(root / "CAS(ME)^3_part_A_ME_label.xlsx", {"label": rows})


def casme3_coding_gaps(root: Path) -> Path:
    """CAS(ME)^3 rows as the real sheet has them: offset 0 after a valid onset and apex (a coding gap,
    sheet lines 798 and 800 of the release), and ``Others`` beside ``others``."""
    frames(root / "spNO.7" / "c" / "color", [f"{i}.jpg" for i in range(0, 300)])
    rows = [
        CASME3_HEADER,
        ["spNO.7", "c", 100, 104, 0, "4", "II", "Others"],  # offset 0: a coding gap
        ["spNO.7", "c", 10, 12, 20, "4", "II", "others"],
        ["spNO.7", "c", 200, 206, 0, "12", "I", " others "],  # offset 0 again
        ["spNO.7", "c", 250, "", 0, "12", "I", "happy"],  # offset 0 and no apex: nothing to go by
        ["spNO.7", "c", 30, 35, 40, "1+2", "III", "OTHERS"],
    ]
    return workbook(root / "CAS(ME)^3_part_A_ME_label.xlsx", {"label": rows})


DFME_HEADER = ["Subject", "Filename", "OnsetFrame", "ApexFrame", "OffsetFrame", "Emotion", "EmotionId", "Fps", "AU"]


def dfme(root: Path) -> Path:
    frames(root / "sub0003_01", [f"{i}.jpg" for i in range(1, 31)])
    frames(root / "sub0003_02", [f"{i}.jpg" for i in range(1, 21)])
    frames(root / "sub0201_01", [f"{i}.jpg" for i in range(1, 41)])
    frames(root / "sub0300_04", [f"{i}.jpg" for i in range(1, 16)])
    workbook(
        root / "training_full_with_AU.xlsx",
        {
            "Sheet1": [
                DFME_HEADER,
                ["sub0003", "sub0003_01", 1, 10, 30, "happiness", 4, 500, "L12"],
                ["sub0003", "sub0003_02", 2.0, 5.0, 20.0, "Contempt", 1, 300.0, "R14+23"],
            ]
        },
    )
    workbook(
        root / "testA_full_with_AU.xlsx",
        {"Sheet1": [DFME_HEADER, ["sub0201", "sub0201_01", 3, 20, 40, "surprise", 6, 200, "1+2"]]},
    )
    workbook(
        root / "testB_full_with_AU.xlsx",
        {"Sheet1": [DFME_HEADER, ["sub0300", "sub0300_04", 1, 7, 15, "fear", 3, 500, "4+5"]]},
    )
    return root


def mmew(root: Path) -> Path:
    frames(root / "Micro_Expression" / "happiness" / "S01-01-001", [f"{i}.jpg" for i in range(1, 25)])
    frames(root / "Micro_Expression" / "disgust" / "S02-03-002", [f"{i}.jpg" for i in range(1, 40)])
    rows = [
        [
            "Subject",
            "Filename",
            "OnsetFrame",
            "ApexFrame",
            "OffsetFrame",
            "Action Units",
            "Estimated Emotion",
            "remarks",
        ],
        ["S01", "S01-01-001", 1, 10, 24, "AU6+AU12", "happiness", ""],
        ["S02", "S02-03-002", 3, 18, 39, "AU9", "disgust", ""],
    ]
    return workbook(root / "MMEW_Micro_Exp.xlsx", {"Sheet1": rows})


def casme_sq(root: Path) -> Path:
    """CAS(ME)^2: a header-less code sheet and the two naming sheets; 3 videos of 2 subjects, one without codes.

    Code rows (sheet lines): 1 micro in s15/15_0101 (img10..img20), 2 macro there with offset 0 (ends at apex),
    3 macro in s16/16_0402, 4 an onset after its offset, 5 a video name not in the naming sheet,
    6 an unknown type.
    """
    base = root / "rawpic"
    frames(base / "s15" / "15_0101disgustingteeth", [f"img{i}.jpg" for i in range(1, 121)])
    frames(base / "s16" / "16_0402beatingpregnantwoman", [f"img{i}.jpg" for i in range(1, 81)])
    frames(base / "s16" / "16_0101disgustingteeth", [f"img{i}.jpg" for i in range(1, 61)])  # nothing coded
    codes = [
        [1, "disgust1_1", 10.0, 14.0, 20.0, "4+R12", "disgust", "micro-expression", "disgust"],
        [1, "disgust1_2", 50.0, 70.0, 0.0, "12", "happy", "macro-expression", "happy"],
        [2, "anger2_1", 5.0, 30.0, 60.0, "4", "anger", "macro-expression", "anger"],
        [2, "anger2_2", 40.0, 35.0, 30.0, "4", "anger", "macro-expression", "anger"],
        [2, "sad9_1", 5.0, 6.0, 7.0, "1", "sadness", "macro-expression", "sad"],
        [1, "disgust1_3", 90.0, 92.0, 95.0, "9", "disgust", "blink", "disgust"],
    ]
    naming_subjects = [["subject", 15, 1], ["subject", 16, 2]]
    naming_videos = [["0101", "disgust1"], ["0402", "anger2"]]
    return workbook(
        root / "CAS(ME)^2code_final(Updated).xlsx",
        {"codefinal": codes, "naming rule1": naming_subjects, "naming rule2": naming_videos},
    )


def samm_lv(root: Path) -> Path:
    """SAMM long videos: a title block, two videos of subject 006 and one of 007 without codes (200 fps)."""
    base = root / "SAMM_longvideos"
    frames(base / "006_1", [f"006_1_{i:04d}.jpg" for i in range(1, 301)])
    frames(base / "006_2", [f"006_2_{i:04d}.jpg" for i in range(1, 201)])
    frames(base / "007_3", [f"007_3_{i:04d}.jpg" for i in range(1, 101)])
    title = [["SAMM Long Videos"], ["Release 2"], [None]]
    header = ["Subject", "Filename", "Inducement Code", "Onset", "Apex", "Offset", "Duration", "Type", "Action Units"]
    rows = [
        [6, "006_1_1", 1, 100, 130, 180, 81, "Micro - 1/2", "R12"],
        [6, "006_1_2", 1, 200, -1, 290, 91, "Macro", "6+12"],
        [6, "006_2_1", 2, 20, 60, 400, 381, "Macro", "4"],  # the offset is past the video's 200 frames
    ]
    return workbook(root / "SAMM_LongVideos_V2_Release.xlsx", {"FACS": [*title, header, *rows]})


def casme3_lv(root: Path) -> Path:
    """CAS(ME)^3 Part A long videos: an ME and a MaE sheet over the color folders (frames from 0)."""
    for sub, video in (("spNO.1", "a"), ("spNO.1", "b"), ("spNO.2", "a")):
        frames(root / sub / video / "color", [f"{i}.jpg" for i in range(0, 90)])
    header = ["Subject", "Filename", "Onset", "Apex", "Offset", "AU", "Objective class", "emotion"]
    workbook(
        root / "CAS(ME)3_part_A_ME_label_JpgIndex_v2.xlsx",
        {"label": [header, ["spNO.1", "a", 10, 13, 18, "12", "1", "happy"]]},
    )
    return workbook(
        root / "CAS(ME)3_part_A_MaE_label_JpgIndex_v2.xlsx",
        {
            "label": [
                header,
                ["spNO.1", "a", 40, 50, 80, "4", "3", "anger"],
                ["spNO.2", "a", 0, 10, 89, "4", "3", "anger"],
            ]
        },
    )
