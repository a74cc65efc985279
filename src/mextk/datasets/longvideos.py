"""Loaders of the long-video spotting datasets, from their official sheets and frame folders.

``mextk datasets import NAME ROOT --out long.csv`` writes a long-video manifest
(:mod:`mextk.spotting.long_manifest`): one row per coded interval, and one empty
row for every video folder that holds none (a spotter's false positives there
count too).  As in :mod:`mextk.datasets.official`, the sheets' frame *numbers*
are mapped to 0-based positions in the video's frame folder (files sorted by
the number in their names), and a row that cannot be used is skipped with one
line naming the sheet row (``df.attrs["skipped"]``); apexes that cannot be
used are left empty and noted (``df.attrs["notes"]``).

* ``casme-sq``: CAS(ME)^2 (Qu et al., IEEE TAC 9(4) 2018), 30 fps.  The coding
  workbook (``CAS(ME)^2code_final*.xlsx``) has no header row: its first sheet
  lists, per interval, the participant number, the video name with the
  expression's number (``anger1_1``), onset, apex and offset frames, action
  units, the emotion, the type (``micro-expression`` / ``macro-expression``)
  and the self-report.  Its second sheet maps participant numbers (third
  column) to subject codes (second column: ``15`` for folder ``s15``) and its
  third maps video names (second column: ``anger1``) to video codes (first
  column: ``0401``); the frames are in ``rawpic/s15/15_0401girlcrashing/``
  (``img1.jpg`` ...).  An offset of 0 means "not coded": the interval then
  ends at its apex (MEGC's and SOFTNet's reading), noted.
* ``samm-lv``: SAMM Long Videos (Yap et al., FG 2020), 200 fps.  The sheet
  ``SAMM_LongVideos_V2_Release.xlsx`` (a title block above the header) has
  ``Subject``, ``Filename`` (``006_1_2``: video ``006_1``, its 2nd expression),
  ``Onset``, ``Apex``, ``Offset``, ``Type`` (``Micro - 1/2``, ``Macro``) and
  ``Action Units``; the frames are in ``006_1/`` (``006_1_0001.jpg`` ...).
* ``casme3-lv``: CAS(ME)^3 Part A's long videos (Li et al., IEEE TPAMI 45(3)
  2023), 30 fps: the ME label sheet (micro-expressions) and the MaE label sheet
  (macro-expressions), both with ``Subject``, ``Filename``, ``Onset``,
  ``Apex``, ``Offset``; the frames are the ``color`` folders
  (``spNO.1/a/color/0.jpg`` ...).
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from mextk.datasets.aus import normalise_aus
from mextk.datasets.sheets import cell_text, frame_number, read_coding_sheet, subject_id
from mextk.io.frame_folder import list_frame_files


@dataclass(frozen=True)
class LongSpec:
    """What mextk knows of one long-video dataset's release (printed by ``mextk datasets list``)."""

    name: str
    title: str
    fps: float
    sheets: str
    layout: str
    frames: str
    source: str


LONG_DATASETS: dict[str, LongSpec] = {
    s.name: s
    for s in (
        LongSpec(
            "casme-sq",
            "CAS(ME)^2 long videos",
            30.0,
            "CAS(ME)^2code_final*.xlsx (no header; naming sheets 2 and 3)",
            "rawpic/s{subject}/{subject}_{video code}{name}",
            "img1.jpg ... (the sheet's frame numbers)",
            "Qu et al., CAS(ME)^2, IEEE TAC 9(4) 2018: 98 videos of 22 subjects, 57 micro- and 300 macro-expressions",
        ),
        LongSpec(
            "samm-lv",
            "SAMM Long Videos",
            200.0,
            "SAMM_LongVideos_V2_Release.xlsx",
            "{video}/ (e.g. 006_1/)",
            "006_1_0001.jpg ... (the last number is the sheet's frame number)",
            "Yap et al., SAMM Long Videos, FG 2020: 147 videos of 32 subjects, 159 micro- and 343 macro-expressions",
        ),
        LongSpec(
            "casme3-lv",
            "CAS(ME)^3 Part A long videos",
            30.0,
            "the Part A ME and MaE label sheets (*part_A*ME*.xlsx, *part_A*MaE*.xlsx)",
            "{subject}/{filename}/color or part_A/data/part_A/{subject}/{filename}/color",
            "0.jpg ... (the sheet's frame numbers)",
            "Li et al., CAS(ME)^3, IEEE TPAMI 45(3) 2023, Part A",
        ),
    )
}
LONG_ALIASES = {
    "cas(me)2": "casme-sq",
    "casme^2": "casme-sq",
    "casme_sq": "casme-sq",
    "casme2-lv": "casme-sq",
    "sammlv": "samm-lv",
    "samm-long": "samm-lv",
    "cas(me)3-lv": "casme3-lv",
}


def long_dataset_name(name: str) -> str | None:
    """The canonical name of a long-video dataset, or ``None`` when ``name`` is not one."""
    key = name.strip().lower()
    key = LONG_ALIASES.get(key, key)
    return key if key in LONG_DATASETS else None


class _Skip(Exception):
    """A row that cannot be loaded; the message is the reason."""


@dataclass
class _Row:
    where: str
    subject: str
    folder: Path | None
    onset: object
    apex: object
    offset: object
    kind: str
    emotion: str = ""
    aus: str = ""
    missing: str = ""


def _numbered(folder: Path) -> tuple[list[Path], dict[int, int]]:
    files = list_frame_files(folder)
    index: dict[int, int] = {}
    for i, f in enumerate(files):
        digits = re.findall(r"\d+", f.stem)
        if digits:
            index.setdefault(int(digits[-1]), i)
    return files, index


def _find_sheets(root: Path, sheet_names: Iterable[str] | None, pattern: str) -> list[Path]:
    if sheet_names:
        return [Path(s) for s in sheet_names]
    rx = re.compile(pattern, re.IGNORECASE)
    found = [p for p in sorted([*root.glob("*"), *root.glob("*/*")]) if p.suffix.lower() in (".xlsx", ".xls", ".csv")]
    return [p for p in found if rx.search(p.name)]


# --------------------------------------------------------------------------- CAS(ME)^2


def _casme_sq_rows(root: Path, sheets: list[Path]) -> list[_Row]:
    if not sheets:
        raise FileNotFoundError(f"{root}: no CAS(ME)^2 coding workbook (CAS(ME)^2code_final*.xlsx) found; pass --sheet")
    path = sheets[0]
    book = pd.read_excel(path, sheet_name=None, header=None, dtype=object)
    tabs = list(book.values())
    codes = tabs[0]
    subjects: dict[str, str] = {}
    if len(tabs) > 1 and tabs[1].shape[1] >= 3:
        for _, r in tabs[1].iterrows():
            number, code = cell_text(r.iloc[2]), cell_text(r.iloc[1])
            if number.isdigit() and code.isdigit():
                subjects[number] = code
    videos: dict[str, str] = {}
    if len(tabs) > 2 and tabs[2].shape[1] >= 2:
        for _, r in tabs[2].iterrows():
            code, name = cell_text(r.iloc[0]), cell_text(r.iloc[1]).lower()
            if code.isdigit() and name:
                videos[name] = code.zfill(4)
    base = next((root / b for b in ("rawpic", "rawpic_crop", "cropped", ".") if (root / b).is_dir()), root)
    rows = []
    for i, r in codes.iterrows():
        where = f"{path}:{int(i) + 1}"
        cells = [r.iloc[j] if j < len(r) else None for j in range(9)]
        if all(cell_text(c) == "" for c in cells):
            continue
        if cell_text(cells[2]) and not re.fullmatch(r"\d+", cell_text(cells[2])):
            continue  # a header row, in a copy that has one
        number = cell_text(cells[0])
        code = subjects.get(number, number)
        name = cell_text(cells[1]).split("_")[0].lower()
        vcode = videos.get(name, "")
        folder, missing = None, ""
        if not vcode:
            missing = f"video name {cell_text(cells[1])!r} is not in the workbook's naming sheet"
        else:
            hits = sorted((base / f"s{code}").glob(f"{code}_{vcode}*")) if (base / f"s{code}").is_dir() else []
            folder = hits[0] if hits else None
            if folder is None:
                missing = f"no frame folder {base / f's{code}' / f'{code}_{vcode}*'}"
        offset = cells[4]
        rows.append(
            _Row(
                where,
                code,
                folder,
                cells[2],
                cells[3],
                offset,
                cell_text(cells[7]),
                cell_text(cells[6]),
                cell_text(cells[5]),
                missing,
            )  # fmt: skip
        )
    return rows


def _casme_sq_videos(root: Path) -> list[tuple[str, Path]]:
    base = next((root / b for b in ("rawpic", "rawpic_crop", "cropped", ".") if (root / b).is_dir()), root)
    out = []
    for sub in sorted(p for p in base.glob("s*") if p.is_dir() and p.name[1:].isdigit()):
        for video in sorted(p for p in sub.iterdir() if p.is_dir()):
            out.append((sub.name[1:], video))
    return out


# --------------------------------------------------------------------------- SAMM long videos

_SHEET_COLUMNS = {
    "subject": ("Subject", "sub", "subject_id"),
    "filename": ("Filename", "File name", "fold_name"),
    "onset": ("Onset", "OnsetFrame", "Onset Frame", "OnsetF"),
    "apex": ("Apex", "ApexFrame", "Apex Frame", "ApexF1", "ApexF"),
    "offset": ("Offset", "OffsetFrame", "Offset Frame", "OffsetF"),
    "type": ("Type", "Expression Type", "type"),
    "aus": ("Action Units", "AU", "AUs"),
    "emotion": ("Estimated Emotion", "Emotion", "emotion", "Objective Classes", "Objective class"),
}


def _samm_base(root: Path) -> Path:
    return next(
        (root / b for b in ("SAMM_longvideos", "SAMM_LongVideos", "SAMM_Long_Videos", ".") if (root / b).is_dir()),
        root,
    )


def _samm_rows(root: Path, sheets: list[Path]) -> list[_Row]:
    if not sheets:
        raise FileNotFoundError(f"{root}: no SAMM_LongVideos_*.xlsx found; pass --sheet")
    base = _samm_base(root)
    rows = []
    for path in sheets:
        table = read_coding_sheet(path, _SHEET_COLUMNS, required=("filename", "onset", "offset", "type"))
        for rec in table.records:
            filename = cell_text(rec["filename"])
            parts = filename.split("_")
            video = "_".join(parts[:2]) if len(parts) >= 2 else filename
            folder = base / video
            missing = "" if folder.is_dir() else f"no frame folder {folder}"
            subject = subject_id(rec.get("subject", parts[0]), 3) or parts[0]
            rows.append(
                _Row(
                    table.at(rec),
                    subject,
                    folder if not missing else None,
                    rec["onset"],
                    rec.get("apex"),
                    rec["offset"],
                    cell_text(rec["type"]),
                    cell_text(rec.get("emotion")),
                    cell_text(rec.get("aus")),
                    missing,
                )  # fmt: skip
            )
    return rows


def _samm_videos(root: Path) -> list[tuple[str, Path]]:
    base = _samm_base(root)
    return [
        (p.name.split("_")[0], p) for p in sorted(base.iterdir()) if p.is_dir() and re.fullmatch(r"\d+_\d+", p.name)
    ]


# --------------------------------------------------------------------------- CAS(ME)^3 Part A

_CASME3_LAYOUTS = ("{subject}/{filename}/color", "part_A/data/part_A/{subject}/{filename}/color")


def _casme3_rows(root: Path, sheets: list[Path]) -> list[_Row]:
    if not sheets:
        raise FileNotFoundError(f"{root}: no CAS(ME)^3 Part A ME or MaE label sheet found; pass --sheet")
    rows = []
    for path in sheets:
        kind = "macro" if re.search(r"mae", path.name, re.IGNORECASE) else "micro"
        table = read_coding_sheet(path, _SHEET_COLUMNS, required=("subject", "filename", "onset", "offset"))
        for rec in table.records:
            subject, filename = subject_id(rec["subject"]), cell_text(rec["filename"])
            folder = next(
                (root / p.format(subject=subject, filename=filename) for p in _CASME3_LAYOUTS
                 if (root / p.format(subject=subject, filename=filename)).is_dir()),
                None,
            )  # fmt: skip
            missing = (
                ""
                if folder
                else f"no frame folder {root / _CASME3_LAYOUTS[0].format(subject=subject, filename=filename)}"
            )
            rows.append(
                _Row(
                    table.at(rec),
                    subject,
                    folder,
                    rec["onset"],
                    rec.get("apex"),
                    rec["offset"],
                    cell_text(rec.get("type")) or kind,
                    cell_text(rec.get("emotion")),
                    cell_text(rec.get("aus")),
                    missing,
                )  # fmt: skip
            )
    return rows


def _casme3_videos(root: Path) -> list[tuple[str, Path]]:
    out = []
    for pattern in ("*/*/color", "part_A/data/part_A/*/*/color"):
        for p in sorted(root.glob(pattern)):
            if p.is_dir():
                out.append((p.parent.parent.name, p))
        if out:
            break
    return out


_READERS = {
    "casme-sq": (_casme_sq_rows, _casme_sq_videos, r"code_final|cas\(me\)\^?2.*code"),
    "samm-lv": (_samm_rows, _samm_videos, r"samm_?long ?videos"),
    "casme3-lv": (_casme3_rows, _casme3_videos, r"part_?a.*(me|mae)_?label"),
}


def _video_id(folder: Path, root: Path, name: str) -> str:
    if name == "casme3-lv":
        return f"{folder.parent.parent.name}/{folder.parent.name}"
    return folder.name


def import_long_dataset(
    name: str,
    root: str | os.PathLike[str],
    *,
    sheets: Iterable[str | os.PathLike[str]] | None = None,
) -> pd.DataFrame:
    """Build the long-video manifest of ``casme-sq``, ``samm-lv`` or ``casme3-lv`` (see the module docstring).

    Returns
    -------
    pandas.DataFrame
        A typed long-video manifest, ``path`` relative to ``root`` (``attrs["root"]``), with
        ``attrs["skipped"]`` and ``attrs["notes"]`` (one line each, naming the sheet row).
    """
    from mextk.spotting.long_manifest import coerce_long, expression_kind

    canonical = long_dataset_name(name)
    if canonical is None:
        raise ValueError(f"unknown long-video dataset {name!r}; choose one of {', '.join(LONG_DATASETS)}")
    spec = LONG_DATASETS[canonical]
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: dataset folder not found")
    read_rows, list_videos, sheet_pattern = _READERS[canonical]
    rows = read_rows(root, _find_sheets(root, [str(s) for s in sheets] if sheets else None, sheet_pattern))
    skipped: list[str] = []
    notes: list[str] = []
    listings: dict[Path, tuple[list[Path], dict[int, int]]] = {}
    out: list[dict[str, object]] = []
    for r in rows:
        try:
            if r.missing:
                raise _Skip(r.missing)
            assert r.folder is not None
            files, index = listings.setdefault(r.folder, _numbered(r.folder))
            try:
                kind = expression_kind(r.kind)
            except ValueError as exc:
                raise _Skip(str(exc)) from None
            if kind is None:
                raise _Skip("the type is empty (micro- or macro-expression)")
            on, ap, off = (
                frame_number(v) if cell_text(v) not in ("-1",) else None for v in (r.onset, r.apex, r.offset)
            )
            if on is None:
                raise _Skip("no onset frame")
            if off in (None, 0):
                if ap is None or ap == 0:
                    raise _Skip("no offset frame, and no apex to end the interval at")
                notes.append(
                    f"{r.where}: offset {cell_text(r.offset) or 'empty'} (not coded): the interval ends at apex {ap}"
                )
                off = ap
            if on > off:
                raise _Skip(f"onset {on} is after offset {off}")
            lo, hi = (min(index), max(index)) if index else (None, None)
            for what, number in (("onset", on), ("offset", off)):
                if number not in index:
                    raise _Skip(f"{what} frame {number} is not in {r.folder} (frames {lo}-{hi})")
            apex_pos = None
            if ap is not None and ap != 0:
                if ap in index and on <= ap <= off:
                    apex_pos = index[ap]
                else:
                    notes.append(
                        f"{r.where}: apex {ap} is not between onset {on} and offset {off} in the folder: left empty"
                    )
            out.append(
                {
                    "dataset": canonical,
                    "subject": r.subject,
                    "video_id": _video_id(r.folder, root, canonical),
                    "path": os.path.relpath(r.folder, root),
                    "fps": spec.fps,
                    "n_frames": len(files),
                    "onset": index[on],
                    "apex": apex_pos,
                    "offset": index[off],
                    "type": kind,
                    "emotion": r.emotion,
                    "aus": normalise_aus(r.aus).aus if r.aus else "",
                    "sheet_row": r.where,
                }
            )
        except (_Skip, ValueError) as exc:
            skipped.append(f"{r.where}: {exc}")
    with_intervals = {(o["video_id"]) for o in out}
    for subject, folder in list_videos(root):
        vid = _video_id(folder, root, canonical)
        if vid in with_intervals:
            continue
        files = listings[folder][0] if folder in listings else list_frame_files(folder)
        out.append(
            {"dataset": canonical, "subject": subject, "video_id": vid, "path": os.path.relpath(folder, root),
             "fps": spec.fps, "n_frames": len(files), "onset": None, "apex": None, "offset": None, "type": ""}
        )  # fmt: skip
    if not out:
        raise FileNotFoundError(f"{root}: no {spec.title} video folders or usable sheet rows ({spec.layout})")
    df = pd.DataFrame(out)
    df = df.sort_values(["video_id", "onset"], na_position="first", kind="stable").reset_index(drop=True)
    df = coerce_long(df, source=str(root))
    df.attrs.update({"root": str(root.resolve()), "skipped": skipped, "notes": notes})
    if skipped:
        warnings.warn(f"{spec.title}: skipped {len(skipped)} row(s): " + "; ".join(skipped[:5]), stacklevel=2)
    return df
