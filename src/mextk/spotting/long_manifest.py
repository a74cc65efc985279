"""The long-video manifest: videos and the expression intervals in them, in one table.

One row per interval; a video without intervals has one row with empty
``onset``, ``apex``, ``offset`` and ``type`` (so the table also says which videos
were looked at: a spotter's output names every video it processed, and an empty
video in the ground truth still counts the false positives spotted in it).

Columns (:data:`LONG_COLUMNS`):

``dataset``, ``subject``   the person, as in every manifest (``(dataset, subject)`` is the person)
``video_id``               unique within a dataset
``path``                   video file or folder of frames (relative to the manifest's folder)
``fps``, ``n_frames``      of the whole video (``n_frames`` may be empty when unknown)
``onset``, ``apex``, ``offset``
                           0-based frame indices in the video, both ends inside the interval;
                           ``apex`` may be empty
``type``                   ``micro`` or ``macro`` (the sheets' spellings, e.g. CAS(ME)^2's
                           ``micro-expression`` or SAMM's ``Micro - 1/2``, are read too); an
                           interval without one is typed by its duration with DFME's rule
                           (:func:`mextk.intervals.expression_type`: under 500 ms onset
                           to offset, or under 250 ms onset to apex, is micro)
``emotion``                optional: the class (ground truth) or the predicted class
``score``                  optional: a spotter's confidence

Extra columns are kept.  Validation reports every problem, one line each,
naming the CSV line and the column, as :mod:`mextk.io.manifest` does.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

from mextk.intervals import expression_type
from mextk.io.atomic import atomic_path
from mextk.io.manifest import ManifestError, ManifestProblem, is_empty_cell, parse_frame_index

LONG_COLUMNS: tuple[str, ...] = (
    "dataset",
    "subject",
    "video_id",
    "path",
    "fps",
    "n_frames",
    "onset",
    "apex",
    "offset",
    "type",
    "emotion",
)
#: Columns a long-video manifest may lack (read as empty).
OPTIONAL_LONG_COLUMNS: tuple[str, ...] = ("path", "n_frames", "apex", "emotion")
TYPES: tuple[str, ...] = ("micro", "macro")
VIDEO_KEY: tuple[str, ...] = ("dataset", "video_id")
_TEXT = ("dataset", "subject", "video_id", "path", "type", "emotion")
_FRAMES = ("n_frames", "onset", "apex", "offset")


def expression_kind(text: object) -> str | None:
    """``micro``, ``macro``, or ``None`` for an empty cell, from any dataset's spelling.

    Raises
    ------
    ValueError
        For text that names neither.

    Examples
    --------
    >>> [expression_kind(t) for t in ("micro-expression", "Micro - 1/2", "ME", "Macro", "MaE", "")]
    ['micro', 'micro', 'micro', 'macro', 'macro', None]
    """
    if is_empty_cell(text):
        return None
    key = re.sub(r"[^a-z]", "", str(text).lower())
    if key in ("me", "micro", "microexpression", "micro12") or key.startswith("micro"):
        return "micro"
    if key in ("mae", "macro", "macroexpression") or key.startswith("macro"):
        return "macro"
    raise ValueError(f"{text!r} is neither a micro- nor a macro-expression (use 'micro' or 'macro')")


def _where(source: str, i: int) -> str:
    return f"{source}:{i + 2}" if not source.lower().endswith((".parquet", ".pq")) else f"{source}: row {i}"


def coerce_long(df: pd.DataFrame, *, source: str | None = None) -> pd.DataFrame:
    """Check and type a long-video manifest; raise :class:`ManifestError` listing every problem.

    Checks: required columns; non-empty ``dataset``, ``subject``, ``video_id``;
    positive ``fps``; integer frames; ``0 <= onset <= apex <= offset`` (and
    ``offset < n_frames`` when known); onset and offset both given or both
    empty; a known ``type`` for each interval; the same ``subject``, ``path``,
    ``fps`` and ``n_frames`` on every row of one video.
    """
    src = source or str(df.attrs.get("source", "manifest"))
    df = df.copy()
    for col in OPTIONAL_LONG_COLUMNS:
        if col not in df.columns:
            df[col] = ""
    problems = [ManifestProblem(src, c, "required column is missing") for c in LONG_COLUMNS if c not in df.columns]
    if problems:
        raise ManifestError(problems, src)
    out = df.copy()
    for col in _TEXT:
        out[col] = out[col].map(lambda v: "" if is_empty_cell(v) else str(v).strip()).astype(object)
    frames: dict[str, list[int | None]] = {c: [] for c in _FRAMES}
    for col in _FRAMES:
        for i, v in enumerate(df[col]):
            value, err = parse_frame_index(v)
            if err:
                problems.append(ManifestProblem(_where(src, i), col, err))
            frames[col].append(value)
    fps = pd.to_numeric(out["fps"], errors="coerce")
    kinds: list[str | None] = []
    for i in range(len(out)):
        where = _where(src, i)
        for col in ("dataset", "subject", "video_id"):
            if out[col].iat[i] == "":
                problems.append(ManifestProblem(where, col, "is empty"))
        if not (np.isfinite(fps.iat[i]) and fps.iat[i] > 0):
            problems.append(ManifestProblem(where, "fps", f"{df['fps'].iat[i]!r} is not a positive frame rate"))
        on, ap, off, n = (frames[c][i] for c in ("onset", "apex", "offset", "n_frames"))
        try:
            kind = expression_kind(out["type"].iat[i])
        except ValueError as exc:
            problems.append(ManifestProblem(where, "type", str(exc)))
            kind = None
        kinds.append(kind)
        if (on is None) != (off is None):
            problems.append(ManifestProblem(where, "onset" if on is None else "offset", "onset and offset go together"))
        elif on is not None and off is not None:
            if on < 0:
                problems.append(ManifestProblem(where, "onset", f"onset {on} is negative"))
            if on > off:
                problems.append(ManifestProblem(where, "onset", f"onset {on} is after offset {off}"))
            if ap is not None and not on <= ap <= off:
                problems.append(ManifestProblem(where, "apex", f"apex {ap} is outside onset {on} to offset {off}"))
            if n is not None and off >= n:
                problems.append(ManifestProblem(where, "offset", f"offset {off} is past the video's {n} frames"))
            if kind is None and on <= off and np.isfinite(fps.iat[i]) and fps.iat[i] > 0:
                kinds[-1] = expression_type(on, ap, off, float(fps.iat[i]))
        elif ap is not None:
            problems.append(ManifestProblem(where, "apex", "an apex without onset and offset"))
    out["fps"] = fps.astype(float)
    for col in _FRAMES:
        out[col] = pd.array(frames[col], dtype="Int64")
    out["type"] = pd.Series([k or "" for k in kinds], index=out.index, dtype=object)
    if "score" in out.columns:
        out["score"] = pd.to_numeric(out["score"], errors="coerce").astype(float)
    if not problems:
        for key, group in out.groupby(list(VIDEO_KEY), sort=False):
            for col in ("subject", "path", "fps", "n_frames"):
                values = group[col].dropna().unique()
                if len(values) > 1:
                    first = _where(src, int(np.flatnonzero(out.index == group.index[0])[0]))
                    problems.append(
                        ManifestProblem(first, col, f"video {key[0]}/{key[1]} has differing {col}: {list(values)}")
                    )
    if problems:
        raise ManifestError(problems, src)
    ordered = list(LONG_COLUMNS) + [c for c in out.columns if c not in LONG_COLUMNS]
    out = out[ordered].reset_index(drop=True)
    out.attrs = dict(df.attrs)
    return out


def load_long_manifest(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read, check and type a long-video manifest (CSV or Parquet)."""
    from mextk.io.manifest import read_manifest_table

    return coerce_long(read_manifest_table(path), source=str(path))


def save_long_manifest(df: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write a long-video manifest atomically (CSV or Parquet by extension), standard columns first."""
    path = Path(path)
    out = df.copy()
    for col in OPTIONAL_LONG_COLUMNS:
        if col not in out.columns:
            out[col] = ""
    out = out[list(LONG_COLUMNS) + [c for c in out.columns if c not in LONG_COLUMNS]]
    with atomic_path(path) as tmp:
        if path.suffix.lower() == ".csv":
            out.to_csv(tmp, index=False)
        elif path.suffix.lower() in (".parquet", ".pq"):
            out.to_parquet(tmp, index=False)
        else:
            raise ValueError(f"{path}: a long-video manifest must be .csv or .parquet, got {path.suffix!r}")
    return path


def videos_of(df: pd.DataFrame) -> pd.DataFrame:
    """One row per video: dataset, subject, video_id, path, fps, n_frames (first-seen order)."""
    cols = ["dataset", "subject", "video_id", "path", "fps", "n_frames"]
    return df[cols].drop_duplicates(subset=list(VIDEO_KEY)).reset_index(drop=True)


def interval_rows(video: dict[str, object], intervals: list[dict[str, object]]) -> list[dict[str, object]]:
    """The manifest rows of one video: one per interval, or one empty row when there is none."""
    base = {c: video.get(c, "") for c in ("dataset", "subject", "video_id", "path", "fps", "n_frames")}
    if not intervals:
        return [{**base, "onset": None, "apex": None, "offset": None, "type": ""}]
    return [{**base, **iv} for iv in intervals]
