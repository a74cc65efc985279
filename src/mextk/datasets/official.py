"""Loaders of the public micro-expression datasets, from their official coding sheets and frame folders.

``mextk datasets import NAME ROOT --out manifest.csv`` reads a dataset as it is
released and writes the standard manifest: ``path`` is the sample's folder of
frames, ``onset``/``apex``/``offset`` are 0-based positions in that folder
(frames sorted by the number in their names, so ``img46.jpg`` comes before
``img100.jpg``), ``fps`` is the dataset's (DFME: per sample), ``emotion`` is the
sheet's label in its canonical spelling (:func:`mextk.labels.normalize_label`: the sheet's
``Others`` and ``others`` are one class, ``others``)
and ``aus`` is normalised by :func:`mextk.datasets.aus.normalise_aus`.  Extra
columns: ``filename`` (the sheet's), ``au_raw``, ``au_sides``, ``au_intensity``,
``objective_class`` where the sheet has one, ``split`` for DFME.

The sheets give frame *numbers* as they appear in the file names (CASME II's
``OnsetFrame`` 46 is ``img46.jpg``).  A loader maps each number to the position
of the file carrying it, so a folder that starts at any number, or holds a whole
long video (CAS(ME)^3's ``color`` folders), gives the right 0-based indices.
A row whose folder or onset frame is missing, whose onset is after
its offset or whose label is unknown is skipped with one line naming the sheet
row and the path (``df.attrs["skipped"]``); the rest loads.  An apex that cannot
be used (SAMM's ``-1``, a number outside onset to offset, a frame not in the
folder) leaves the apex empty, as for a clip without one, and is noted
(``df.attrs["notes"]``): the sample keeps its label and its clip, so the counts
of the published lists are kept.  An offset that is missing, or 0 after a later onset (a
coding gap: CAS(ME)^3 Part A has two), is kept empty (unknown) when the onset and apex are
valid, and noted the same way: recognition needs the onset and apex, and the features that need
an offset estimate it (:func:`mextk.features.sampling.last_frame`).

Every dataset's facts (sheet, columns, layout, frame rate) are data in
:data:`mextk.datasets.specs.DATASETS`, printed by ``mextk datasets list``; ``--layout``
replaces the folder pattern for a copy laid out differently.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Iterable, Mapping
from functools import lru_cache
from pathlib import Path

import pandas as pd

from mextk.datasets.aus import normalise_aus
from mextk.datasets.sheets import SheetTable, cell_text, frame_number, read_coding_sheet, subject_id
from mextk.datasets.specs import COMMON_COLUMNS, EXTRA_COLUMNS, DatasetSpec, get_dataset
from mextk.io.frame_folder import list_frame_files
from mextk.io.manifest import COLUMNS, coerce_manifest
from mextk.labels import LabelError, normalize_label


def frame_numbers(files: Iterable[Path]) -> list[int | None]:
    """The frame number of each file: the last run of digits in its name (``006_05562.jpg`` -> 5562)."""
    out: list[int | None] = []
    for f in files:
        digits = re.findall(r"\d+", Path(f).stem)
        out.append(int(digits[-1]) if digits else None)
    return out


class _Folders:
    """Frame listings, each folder read once (CAS(ME)^3's raw folders serve many rows)."""

    def __init__(self) -> None:
        self._cache: dict[Path, tuple[list[Path], dict[int, int]]] = {}

    def get(self, folder: Path) -> tuple[list[Path], dict[int, int]]:
        if folder not in self._cache:
            files = list_frame_files(folder)
            index: dict[int, int] = {}
            for i, number in enumerate(frame_numbers(files)):
                if number is not None and number not in index:
                    index[number] = i
            self._cache[folder] = (files, index)
        return self._cache[folder]


class _Skip(Exception):
    """A row that cannot be loaded; the message is the reason."""


def _fields(rec: Mapping[str, object]) -> dict[str, str]:
    return {
        "subject": str(rec["subject"]),
        "filename": str(rec["filename"]),
        "emotion": str(rec.get("emotion", "")),
        "onset": "" if rec.get("onset") is None else str(rec["onset"]),
        "split": str(rec.get("split", "")),
    }


def _find_folder(root: Path, patterns: Iterable[str], fields: Mapping[str, str]) -> tuple[Path, str]:
    tried = []
    for pattern in patterns:
        try:
            rel = pattern.format(**fields)
        except (KeyError, IndexError) as exc:
            raise ValueError(f"layout {pattern!r} uses an unknown field {exc}") from None
        tried.append(rel)
        found = _resolve(root, rel)
        if found is not None:
            return root / found, found
    others = " (nor the other layouts)" if len(tried) > 1 else ""
    raise _Skip(f"no frame folder: {root / tried[0]} does not exist{others}")


def _resolve(root: Path, rel: str) -> str | None:
    """``rel`` under ``root`` as it exists, matching each part case-insensitively when not exactly (``Happiness``)."""
    if (root / rel).is_dir():
        return rel
    here, parts = root, []
    for part in Path(rel).parts:
        if (here / part).exists():
            name = part
        else:
            matches = [n for n in _listing(here) if n.casefold() == part.casefold()]
            if len(matches) != 1:
                return None
            name = matches[0]
        parts.append(name)
        here = here / name
    return "/".join(parts) if here.is_dir() else None


@lru_cache(maxsize=4096)
def _listing(folder: Path) -> tuple[str, ...]:
    try:
        return tuple(p.name for p in folder.iterdir())
    except OSError:
        return ()


def _position(number: int | None, what: str, folder: Path, files: list[Path], index: dict[int, int]) -> int | None:
    if number is None:
        return None
    if number not in index:
        numbers = sorted(index)
        span = f"frames {numbers[0]}-{numbers[-1]}" if numbers else "no numbered frames"
        raise _Skip(f"{what} frame {number} is not in {folder} ({span}, {len(files)} files)")
    return index[number]


def _label(text: str) -> str:
    if not text:
        raise _Skip("no emotion label")
    try:
        return normalize_label(text)  # one spelling per class: "Others" and "others" are one
    except LabelError as exc:
        raise _Skip(str(exc)) from None


def _split_of(sheet: Path, spec: DatasetSpec) -> str:
    stem = _compact(sheet.stem)
    for key, value in spec.splits.items():
        if stem.startswith(_compact(key)) or _compact(key) in stem.split("_")[0]:
            return value
    return sheet.stem


def _compact(text: str) -> str:
    return re.sub(r"[^a-z0-9_]", "", text.lower())


def find_sheets(root: Path, spec: DatasetSpec) -> list[Path]:
    """The official sheets of ``spec`` present in ``root`` or one folder below it."""
    found = []
    for name in spec.sheets:
        hits = [root / name, *sorted(root.glob(f"*/{_glob_escape(name)}"))]
        hit = next((p for p in hits if p.is_file()), None)
        if hit is not None:
            found.append(hit)
    if spec.name == "casme3" and len(found) > 1:
        found = found[:1]  # several names of one sheet: the first found
    return found


def _glob_escape(name: str) -> str:
    return re.sub(r"([\[\]*?])", r"[\1]", name)


def _sheet_rows(spec: DatasetSpec, sheet: Path) -> SheetTable:
    required = ["subject", "filename", "onset", "offset", "emotion"]
    if spec.fps is None:
        required.append("fps")
    return read_coding_sheet(sheet, COMMON_COLUMNS, required=required, sheet=spec.sheet_tab)


def _record_from_sheet(rec: dict[str, object], spec: DatasetSpec, split: str) -> dict[str, object]:
    out: dict[str, object] = {
        "subject": subject_id(rec["subject"], spec.subject_width),
        "filename": cell_text(rec["filename"]),
        "emotion": cell_text(rec.get("emotion")),
        "au_cell": rec.get("aus"),
        "objective_class": cell_text(rec.get("objective_class")),
        "split": split,
    }
    if not out["subject"] or not out["filename"]:
        raise _Skip("empty Subject or Filename")
    notes: list[str] = []
    for key in ("onset", "apex", "offset"):
        try:
            out[key] = frame_number(rec.get(key))
        except ValueError as exc:
            if key != "apex":
                raise _Skip(f"column {key!r}: {exc}") from None
            out[key] = None
            notes.append(f"column 'apex': {exc}; the apex is left empty")
    if out["onset"] is None:
        raise _Skip("onset frame is missing")
    onset, apex, offset = out["onset"], out["apex"], out["offset"]
    if (offset is None or offset == 0 < onset) and apex is not None and onset <= apex:  # type: ignore[operator]
        # A coding gap (CAS(ME)^3 Part A writes offset 0 on two rows): the onset and apex still give the
        # sample, so it is kept with its offset unknown, as an unusable apex is (features estimate it).
        shown = "missing" if offset is None else f"{offset} (before onset {onset})"
        notes.append(f"offset {shown}; the offset is left empty (unknown)")
        out["offset"] = None
    elif offset is None:
        raise _Skip("offset frame is missing (and no apex after the onset to keep the sample by)")
    elif onset > offset:  # type: ignore[operator]
        raise _Skip(f"onset {onset} is after offset {offset}")
    elif apex is not None and not onset <= apex <= offset:  # type: ignore[operator]
        notes.append(f"apex {apex} is outside onset {onset} to offset {offset}; the apex is left empty")
        out["apex"] = None
    out["notes"] = notes
    if spec.fps is None:
        try:
            fps = float(cell_text(rec.get("fps")))
        except ValueError:
            raise _Skip(f"column 'fps': {cell_text(rec.get('fps'))!r} is not a frame rate") from None
        if not fps > 0:
            raise _Skip(f"column 'fps': {fps} is not a frame rate")
        out["fps"] = fps
    else:
        out["fps"] = spec.fps
    return out


def _manifest_row(
    rec: dict[str, object], spec: DatasetSpec, root: Path, layouts: tuple[str, ...], folders: _Folders
) -> dict[str, object]:
    emotion = _label(str(rec["emotion"]))
    fields = _fields(rec)
    folder, rel = _find_folder(root, layouts, fields)
    files, index = folders.get(folder)
    if not files:
        raise _Skip(f"{folder} holds no frame images")
    if "onset" in rec:
        onset = _position(rec["onset"], "onset", folder, files, index)  # type: ignore[arg-type]
        try:
            apex = _position(rec["apex"], "apex", folder, files, index)  # type: ignore[arg-type]
        except _Skip as exc:  # the sample is still usable: the apex is left empty and the row is noted
            rec["notes"] = [*rec.get("notes", []), f"{exc}; the apex is left empty"]  # type: ignore[list-item]
            apex = None
        offset = _position(rec["offset"], "offset", folder, files, index)  # type: ignore[arg-type]
        if offset is None and apex is None:  # an unknown offset is kept only with an apex to go by
            raise _Skip("the offset is unknown and the apex is not in the folder")
    else:  # labelled by folders: the folder is the clip
        onset, apex, offset = 0, None, len(files) - 1
    aus = normalise_aus(rec.get("au_cell"))
    if aus.problems:
        rec["notes"] = [  # type: ignore[list-item]
            *rec.get("notes", []),  # type: ignore[list-item]
            f"column 'aus': {', '.join(repr(p) for p in aus.problems)} left out (not action units)",
        ]
    return {
        "dataset": spec.name,
        "subject": rec["subject"],
        "sample_id": spec.sample_id.format(**fields),
        "path": rel,
        "fps": rec["fps"],
        "n_frames": len(files),
        "onset": onset,
        "apex": "" if apex is None else apex,
        "offset": offset,
        "emotion": emotion,
        "aus": aus.aus,
        "filename": rec["filename"],
        "au_raw": cell_text(rec.get("au_cell")),
        "au_sides": aus.sides,
        "au_intensity": aus.intensity,
        "objective_class": rec.get("objective_class", ""),
        "split": rec.get("split", ""),
    }


def _folder_records(root: Path, spec: DatasetSpec, layouts: tuple[str, ...]) -> list[tuple[str, dict[str, object]]]:
    """Rows of a dataset labelled by its folders: every folder the layout pattern matches."""
    rows = []
    for pattern in layouts:
        parts = Path(pattern).parts
        regex = (
            "^"
            + "/".join(re.sub(r"\\\{(\w+)\\\}", lambda m: f"(?P<{m.group(1)}>[^/]+)", re.escape(p)) for p in parts)
            + "$"
        )
        glob = "/".join(re.sub(r"\{\w+\}", "*", p) for p in parts)
        for folder in sorted(root.glob(glob)):
            if not folder.is_dir():
                continue
            rel = folder.relative_to(root).as_posix()
            m = re.match(regex, rel)
            if m is None:
                continue
            rec = {k: v for k, v in m.groupdict().items()}
            rec.setdefault("subject", "")
            rec["fps"] = spec.fps
            rows.append((rel, rec))
        if rows:
            return rows  # the first layout that matches anything
    return rows


def import_dataset(
    name: str,
    root: str | os.PathLike[str],
    *,
    sheets: Iterable[str | os.PathLike[str]] | None = None,
    layout: str | None = None,
    progress: bool = False,
) -> pd.DataFrame:
    """Build a manifest of a public dataset from its official sheet(s) and frame folders.

    Parameters
    ----------
    name : str
        ``casme2``, ``samm``, ``smic`` (HS), ``smic-vis``, ``smic-nir``, ``casme3``, ``dfme``, ``mmew``
        (``cmed``: use :func:`mextk.datasets.cmed.load_cmed`).
    root : path-like
        The dataset's folder as released.
    sheets : iterable of path-like, optional
        The coding sheet(s); default: the official file names found in ``root`` or one level below.
    layout : str, optional
        A folder pattern relative to ``root`` that replaces the dataset's own
        (fields ``{subject}``, ``{filename}``, ``{emotion}``, ``{onset}``, ``{split}``).
    progress : bool
        Show a progress bar.

    Returns
    -------
    pandas.DataFrame
        A typed manifest with ``path`` relative to ``root`` (``attrs["root"]``);
        ``attrs["skipped"]`` lists the rows left out, one line each, and
        ``attrs["notes"]`` the rows loaded with an empty apex (unreadable, outside
        onset to offset, or not in the folder: the sample stays usable).

    Raises
    ------
    FileNotFoundError
        ``root`` or a sheet is missing.
    ValueError
        An unknown dataset, a sheet without the needed columns, a bad layout.
    """
    spec = get_dataset(name)
    root = Path(root)
    _listing.cache_clear()  # folder listings are cached for one import only
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: dataset folder not found")
    layouts = (layout,) if layout else spec.layouts
    skipped: list[str] = []
    notes: list[str] = []
    work: list[tuple[str, dict[str, object] | None, str]] = []  # (where, record or None, problem)
    if spec.sheets:
        paths = [Path(s) for s in sheets] if sheets else find_sheets(root, spec)
        if not paths:
            raise FileNotFoundError(
                f"{root}: no coding sheet of {spec.title} found "
                f"(looked for {', '.join(spec.sheets)}); pass --sheet FILE"
            )
        for sheet in paths:
            table = _sheet_rows(spec, sheet)
            split = _split_of(sheet, spec) if spec.splits else ""
            for rec in table.records:
                try:
                    work.append((table.at(rec), _record_from_sheet(rec, spec, split), ""))
                except _Skip as exc:
                    work.append((table.at(rec), None, str(exc)))
    else:
        for rel, rec in _folder_records(root, spec, layouts):
            rec["filename"] = Path(rel).name
            work.append((str(root / rel), rec, ""))
        if not work:
            raise FileNotFoundError(f"{root}: no {spec.title} clip folders match {', '.join(layouts)}")
    iterator: Iterable[tuple[str, dict[str, object] | None, str]] = work
    if progress:
        from rich.progress import track

        iterator = track(work, description=f"reading {spec.title}")
    folders = _Folders()
    rows, seen = [], {}
    for where, rec, problem in iterator:
        if rec is None:
            skipped.append(f"{where}: {problem}")
            continue
        try:
            row = _manifest_row(rec, spec, root, layouts, folders)
        except _Skip as exc:
            skipped.append(f"{where}: {exc}")
            continue
        if row["sample_id"] in seen:
            skipped.append(f"{where}: sample {row['sample_id']} already read at {seen[row['sample_id']]}")
            continue
        seen[row["sample_id"]] = where
        notes += [f"{where}: {n}" for n in rec.get("notes", [])]  # type: ignore[union-attr]
        rows.append(row)
    df = pd.DataFrame(rows, columns=[*COLUMNS, *EXTRA_COLUMNS])
    for col in ("objective_class", "split"):
        if (df[col] == "").all():
            df = df.drop(columns=col)
    df.attrs["source"] = str(root)
    df.attrs["root"] = str(root.resolve())
    df = coerce_manifest(df)
    df.attrs["skipped"] = skipped
    df.attrs["notes"] = notes
    if skipped:
        warnings.warn(f"{spec.title}: skipped {len(skipped)} row(s): " + "; ".join(skipped[:5]), stacklevel=2)
    return df


def relocate(df: pd.DataFrame, out: str | os.PathLike[str]) -> pd.DataFrame:
    """``df`` with each ``path`` made relative to the folder of the manifest file ``out`` (absolute across drives)."""
    from mextk.io.manifest import sample_path

    base = Path(out).resolve().parent
    df = df.copy()
    paths = []
    for p in df["path"]:
        full = sample_path(df, p).resolve()
        try:
            paths.append(Path(os.path.relpath(full, base)).as_posix())
        except ValueError:  # another drive (Windows)
            paths.append(str(full))
    df["path"] = paths
    df.attrs["root"] = str(base)
    return df
