"""The sample manifest: one table, one row per sample (clip).

Standard columns (:data:`COLUMNS`; all required but ``aus``, see :data:`OPTIONAL_COLUMNS`):

``dataset``     source dataset name (``cmed``, ``casme2``, ``synth`` ...)
``subject``     subject id (a string: ``"006"`` keeps its leading zeros)
``sample_id``   unique id of the sample
``path``        video file or folder of frames; relative paths are relative to
                the manifest's folder
``fps``         frame rate
``n_frames``    number of frames in the clip
``onset``, ``apex``, ``offset``
                0-based frame indices within the clip; may be empty where the
                dataset lacks them (No-ME clips have no apex)
``emotion``     the label (mapped by :mod:`mextk.labels`); empty in an *unlabelled* row (a
                clip fresh from ``mextk prepare``).  A file may spell it as the dataset does
                (``Happy``, `` Others``); a loaded manifest holds one spelling per class
                (:func:`mextk.labels.label_key`: ``happiness``, ``others``)
``aus``         action units, ``+``-separated (``AU6+AU12``); may be empty, and the column
                may be missing (no action units: flow images and labels are enough)

Any other column is kept as it is.  Unlabelled rows are valid: every stage
that needs no label (features of every kind, statistics of clips and
durations) takes them; the class tables leave them out and count them, and
``mextk evaluate``, which needs every label, refuses them with one line naming
them (:func:`require_labels`).  Manifests are CSV or Parquet, chosen by the
file extension.  Validation reports *every* problem, one line each, naming the
row (``manifest.csv:5`` is line 5 of the CSV file, the header being line 1)
and the column.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from mextk.io.atomic import atomic_path
from mextk.labels import LabelError, Taxonomy, get_taxonomy, label_key, normalize_label

#: The standard columns, in the order a manifest is written.
COLUMNS: tuple[str, ...] = (
    "dataset",
    "subject",
    "sample_id",
    "path",
    "fps",
    "n_frames",
    "onset",
    "apex",
    "offset",
    "emotion",
    "aus",
)
#: Standard columns that many datasets lack: a manifest without one reads as if it were empty in every row.
OPTIONAL_COLUMNS: tuple[str, ...] = ("aus",)
#: The columns every manifest must have.
REQUIRED_COLUMNS: tuple[str, ...] = tuple(c for c in COLUMNS if c not in OPTIONAL_COLUMNS)


def subject_keys(df: pd.DataFrame) -> pd.Series:
    """Each row's person as ``DATASET/SUBJECT``: subject ids are namespaced by their dataset.

    Two datasets may reuse a subject name (``01``); they are still two people,
    so every split, statistic and score groups by this key.

    Examples
    --------
    >>> subject_keys(pd.DataFrame({"dataset": ["casme2", "samm"], "subject": ["01", "01"]})).tolist()
    ['casme2/01', 'samm/01']
    """
    return df["dataset"].astype(str).str.strip() + "/" + df["subject"].astype(str).str.strip()


def _with_optional(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with every missing optional column added, empty (the same frame when none is missing)."""
    missing = [c for c in OPTIONAL_COLUMNS if c not in df.columns]
    if not missing:
        return df
    out = df.copy()
    for c in missing:
        out[c] = ""
    out.attrs = dict(df.attrs)
    return out


FRAME_COLUMNS: tuple[str, ...] = ("n_frames", "onset", "apex", "offset")
_STRING_COLUMNS: tuple[str, ...] = ("dataset", "subject", "sample_id", "path", "emotion", "aus")
_AU_TOKEN = re.compile(r"^[A-Za-z/\-]*\d+[A-Za-z]?$")


@dataclass(frozen=True)
class ManifestProblem:
    """One problem found in a manifest.

    Attributes
    ----------
    where : str
        ``file:line`` for CSV, ``file: row N`` for Parquet, or the file alone.
    column : str or None
        The offending column.
    message : str
        What is wrong.
    """

    where: str
    column: str | None
    message: str

    def __str__(self) -> str:
        col = f" column '{self.column}':" if self.column else ""
        return f"{self.where}:{col} {self.message}"


class ManifestError(ValueError):
    """A manifest with one or more problems; ``problems`` lists them all."""

    def __init__(self, problems: list[ManifestProblem], source: str = "manifest") -> None:
        self.problems = problems
        self.source = source
        lines = "\n".join(f"  {p}" for p in problems)
        super().__init__(f"{source}: {len(problems)} problem(s)\n{lines}")


def _source_name(df: pd.DataFrame) -> str:
    return str(df.attrs.get("source", "manifest"))


def _is_parquet(df: pd.DataFrame) -> bool:
    return str(_source_name(df)).lower().endswith((".parquet", ".pq"))


def _row_number(df: pd.DataFrame, i: int) -> int:
    """The number a user finds row ``i`` under: the CSV line (header is line 1) or the Parquet row."""
    return i if _is_parquet(df) else i + 2


def _where(df: pd.DataFrame, i: int) -> str:
    src = _source_name(df)
    return f"{src}: row {_row_number(df, i)}" if _is_parquet(df) else f"{src}:{_row_number(df, i)}"


def manifest_root(df: pd.DataFrame) -> Path:
    """Folder that relative ``path`` entries are relative to (the manifest's folder)."""
    return Path(df.attrs.get("root", "."))


def sample_path(df: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Resolve a manifest ``path`` entry against the manifest's folder."""
    p = Path(path)
    return p if p.is_absolute() else manifest_root(df) / p


def parse_frame_index(value: object) -> tuple[int | None, str | None]:
    """A table cell as a frame index: ``(int, None)``, ``(None, None)`` for an empty cell, or ``(None, error)``
    (``1.0`` is 1; ``1.5``, ``true`` and ``"x"`` are errors)."""
    if value is None or value is pd.NA:
        return None, None
    if isinstance(value, float) and np.isnan(value):
        return None, None
    if isinstance(value, (bool, np.bool_)):
        return None, f"{value!r} is not a frame index"
    if isinstance(value, (int, np.integer)):
        return int(value), None
    text = str(value).strip()
    if text == "" or text.lower() in ("nan", "none", "na", "<na>"):
        return None, None
    try:
        number = float(text)
    except ValueError:
        return None, f"{text!r} is not an integer"
    if not np.isfinite(number) or number != int(number):
        return None, f"{text!r} is not an integer"
    return int(number), None


def is_empty_cell(value: object) -> bool:
    """Whether a table cell holds nothing: ``None``, ``NA``, ``nan`` or only spaces."""
    if value is None or value is pd.NA:
        return True
    if isinstance(value, float) and np.isnan(value):
        return True
    return str(value).strip() == ""


def coerce_manifest(df: pd.DataFrame) -> pd.DataFrame:
    """Give a manifest its column types: strings, ``float`` fps and nullable ``Int64`` frames.

    Only the structure is checked here (required columns, integer frame
    values); :func:`validate_manifest` checks everything else.

    Raises
    ------
    ManifestError
        If required columns are missing or a frame column holds non-integers.
    """
    src = _source_name(df)
    df = _with_optional(df)
    problems = [ManifestProblem(src, c, "required column is missing") for c in REQUIRED_COLUMNS if c not in df.columns]
    for col in FRAME_COLUMNS if not problems else ():
        for i, v in enumerate(df[col]):
            err = parse_frame_index(v)[1]
            if err:
                problems.append(ManifestProblem(_where(df, i), col, err))
    if problems:
        raise ManifestError(problems, src)
    out = df.copy()
    for col in _STRING_COLUMNS:
        out[col] = out[col].map(lambda v: "" if is_empty_cell(v) else str(v).strip()).astype(object)
    # one spelling per class: "Others" and "others" are one label everywhere downstream
    out["emotion"] = out["emotion"].map(label_key).astype(object)
    out["fps"] = pd.to_numeric(out["fps"], errors="coerce").astype(float)
    for col in FRAME_COLUMNS:
        out[col] = pd.array([parse_frame_index(v)[0] for v in out[col]], dtype="Int64")
    ordered = list(COLUMNS) + [c for c in out.columns if c not in COLUMNS]
    out = out[ordered]
    out.attrs = dict(df.attrs)
    return out


def validate_manifest(
    df: pd.DataFrame,
    *,
    taxonomy: str | Taxonomy | None = None,
    excluded: str = "drop",
    check_files: bool = True,
    check_labels: bool = True,
) -> list[ManifestProblem]:
    """List every problem in a manifest (an empty list means it is valid).

    Checks: required columns; non-empty ``dataset``, ``subject``,
    ``sample_id``, ``path``; unique ``sample_id``; positive
    ``fps``; integer frame columns with ``n_frames >= 1`` and
    ``0 <= onset <= apex <= offset < n_frames`` (for those present); known
    emotion labels (and, with ``taxonomy`` and ``excluded="error"``, labels the
    task can use); well-formed ``aus``; existing files.  An empty ``emotion``
    is an unlabelled row, not a problem (:func:`unlabelled_rows` lists them).

    Parameters
    ----------
    df : pandas.DataFrame
        The manifest, as returned by :func:`read_manifest_table` or built in code.
    taxonomy : str or Taxonomy, optional
        Task whose labels must be usable.
    excluded : {"drop", "error"}
        With ``"error"``, labels the task excludes are problems too.
    check_files : bool
        Check that every ``path`` exists.
    check_labels : bool
        Check emotion labels.

    Returns
    -------
    list of ManifestProblem
    """
    problems: list[ManifestProblem] = []
    src = _source_name(df)
    df = _with_optional(df)
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    for col in missing:
        problems.append(ManifestProblem(src, col, "required column is missing"))
    if missing:
        return problems
    tax = get_taxonomy(taxonomy) if taxonomy is not None else None
    seen: dict[str, int] = {}
    records = df.to_dict("records")
    for i, row in enumerate(records):
        where = _where(df, i)

        def add(col: str | None, msg: str, where: str = where) -> None:
            problems.append(ManifestProblem(where, col, msg))

        for col in ("dataset", "subject", "sample_id", "path"):
            if is_empty_cell(row[col]):
                add(col, "is empty")
        sid = "" if is_empty_cell(row["sample_id"]) else str(row["sample_id"]).strip()
        if sid:
            if sid in seen:
                add("sample_id", f"duplicate sample_id {sid!r} (first at {_where(df, seen[sid])})")
            else:
                seen[sid] = i
        label = f" (sample {sid})" if sid else ""

        fps = row["fps"]
        try:
            fps_value = float(fps)
        except (TypeError, ValueError):
            fps_value = float("nan")
        if not (np.isfinite(fps_value) and fps_value > 0):
            add("fps", f"must be a positive number, got {fps!r}{label}")

        frames: dict[str, int | None] = {}
        for col in FRAME_COLUMNS:
            value, err = parse_frame_index(row[col])
            if err:
                add(col, f"{err}{label}")
            frames[col] = value
        n = frames["n_frames"]
        if n is None and not parse_frame_index(row["n_frames"])[1]:
            add("n_frames", f"is empty{label}")
        elif n is not None and n < 1:
            add("n_frames", f"must be >= 1, got {n}{label}")
        for col in ("onset", "apex", "offset"):
            v = frames[col]
            if v is None:
                continue
            if v < 0:
                add(col, f"{col} {v} is negative{label}")
            elif n is not None and n >= 1 and v >= n:
                add(col, f"{col} {v} is not < n_frames {n}{label}")
        for c1, c2 in (("onset", "apex"), ("apex", "offset"), ("onset", "offset")):
            v1, v2 = frames[c1], frames[c2]
            if v1 is not None and v2 is not None and v1 > v2:
                add(c2, f"{c1} {v1} is after {c2} {v2}{label}")

        if check_labels:
            if not is_empty_cell(row["emotion"]):
                try:
                    canon = normalize_label(row["emotion"])
                except LabelError as exc:
                    add("emotion", f"{exc}{label}")
                else:
                    if tax is not None and canon not in tax.mapping and excluded == "error":
                        add(
                            "emotion",
                            f"label {row['emotion']!r} is excluded by task {tax.name} "
                            f"(classes: {', '.join(tax.classes)}){label}",
                        )
        if not is_empty_cell(row["aus"]):
            tokens = str(row["aus"]).strip().split("+")
            bad = [t for t in tokens if not _AU_TOKEN.match(t.strip())]
            if bad:
                add("aus", f"malformed action units {str(row['aus'])!r} (expected e.g. AU6+AU12){label}")
        if check_files and not is_empty_cell(row["path"]):
            p = sample_path(df, str(row["path"]).strip())
            if not p.exists():
                add("path", f"file not found: {p}{label}")
    return problems


def unlabelled_rows(df: pd.DataFrame) -> list[int]:
    """Positions of the rows whose ``emotion`` is empty (clips nobody has labelled yet)."""
    if "emotion" not in df.columns:
        return list(range(len(df)))
    return [i for i, v in enumerate(df["emotion"]) if is_empty_cell(v)]


def label_summary(df: pd.DataFrame) -> str:
    """``"labelled"``, ``"unlabelled"`` or ``"partly labelled (N of M rows unlabelled)"``.

    Examples
    --------
    >>> label_summary(pd.DataFrame({"emotion": ["happiness", "", "anger"]}))
    'partly labelled (1 of 3 rows unlabelled)'
    """
    n = len(unlabelled_rows(df))
    if n == 0:
        return "labelled"
    if n == len(df):
        return "unlabelled"
    return f"partly labelled ({n} of {len(df)} rows unlabelled)"


def require_labels(df: pd.DataFrame, *, purpose: str = "this step") -> None:
    """Raise a one-line :class:`ManifestError` naming the unlabelled rows, if there are any.

    Parameters
    ----------
    df : pandas.DataFrame
        The manifest.
    purpose : str
        What needs the labels (``"evaluate"``), for the message.
    """
    rows = unlabelled_rows(df)
    if not rows:
        return
    src = _source_name(df)
    ids = [str(df["sample_id"].iloc[i]) if "sample_id" in df.columns else "" for i in rows]
    shown = ", ".join(f"{_row_number(df, i)} ({sid})" for i, sid in zip(rows[:5], ids[:5], strict=True))
    more = f" and {len(rows) - 5} more" if len(rows) > 5 else ""
    where = "rows" if _is_parquet(df) else "lines"
    raise ManifestError(
        [
            ManifestProblem(
                src,
                "emotion",
                f"{purpose} needs labels, but {len(rows)} of {len(df)} rows are unlabelled ({where} {shown}{more}); "
                "label them first or leave them out",
            )
        ],
        src,
    )


def read_manifest_table(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a manifest file as it is (no type coercion, no validation).

    Every column of a CSV is read as text, so ``subject`` ``006`` stays ``006``.
    """
    from mextk.io.tables import read_csv_text

    path = Path(path)
    suffix = path.suffix.lower()
    if path.is_dir():
        inside = [path / name for name in ("manifest.csv", "manifest.parquet") if (path / name).is_file()]
        hint = f"; did you mean {inside[0]}?" if inside else " (a .csv or .parquet file)"
        raise ValueError(f"{path}: a folder, not a manifest{hint}")
    if suffix == ".csv":
        df = read_csv_text(path, what="manifest")
    elif suffix in (".parquet", ".pq"):
        if not path.exists():
            raise FileNotFoundError(f"{path}: manifest not found")
        try:
            df = pd.read_parquet(path)
        except (OSError, ValueError) as exc:
            if isinstance(exc, PermissionError):
                raise
            raise ValueError(f"{path}: not a readable Parquet manifest ({' '.join(str(exc).split())})") from None
    else:
        got = f"got {suffix!r}" if suffix else "it has no extension"
        raise ValueError(f"{path}: a manifest must be a .csv or .parquet file; {got}")
    df.attrs["source"] = str(path)
    df.attrs["root"] = str(path.resolve().parent)
    return df


def load_manifest(
    path: str | os.PathLike[str],
    *,
    taxonomy: str | Taxonomy | None = None,
    excluded: str = "drop",
    check_files: bool = True,
    validate: bool = True,
) -> pd.DataFrame:
    """Load, validate and type a manifest.

    Parameters
    ----------
    path : path-like
        ``.csv`` or ``.parquet`` file.
    taxonomy, excluded, check_files
        Passed to :func:`validate_manifest`.
    validate : bool
        Validate (and raise) before returning.

    Returns
    -------
    pandas.DataFrame
        Typed manifest; ``df.attrs["root"]`` is the manifest's folder.

    Raises
    ------
    ManifestError
        Listing every problem, one per line.
    """
    df = read_manifest_table(path)
    if validate:
        problems = validate_manifest(df, taxonomy=taxonomy, excluded=excluded, check_files=check_files)
        if problems:
            raise ManifestError(problems, str(path))
    return coerce_manifest(df)


def save_manifest(df: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write a manifest atomically as CSV or Parquet (by extension), required columns first."""
    path = Path(path)
    df = _with_optional(df)
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise ManifestError([ManifestProblem(str(path), c, "required column is missing") for c in missing], str(path))
    ordered = list(COLUMNS) + [c for c in df.columns if c not in COLUMNS]
    out = df[ordered]
    suffix = path.suffix.lower()
    with atomic_path(path) as tmp:
        if suffix == ".csv":
            out.to_csv(tmp, index=False)
        elif suffix in (".parquet", ".pq"):
            out.to_parquet(tmp, index=False)
        else:
            raise ValueError(f"{path}: manifest must be .csv or .parquet, got {suffix!r}")
    return path
