"""Load the CMED dataset from its released layout into a manifest.

CMED (Matharaarachchi et al., "CMED: A Child Micro-Expression Dataset")
ships ``video_emotion_metadata.csv`` with the columns ``subject, filename,
emotion, apex_frame`` and the clips under
``FinalFullVideos_subjects/{emotion}/{subject}/{filename}``.  The clips were
cut from onset to offset during labelling, so ``onset = 0`` and
``offset = n_frames - 1``; ``apex_frame`` counts from 0 at the clip start and
is blank for ``No_Emotion`` clips.  The recordings are 25 fps.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import pandas as pd

from mextk.io.errors import VideoError
from mextk.io.manifest import COLUMNS, coerce_manifest
from mextk.io.tables import read_csv_text
from mextk.io.video import probe_video

CMED_METADATA = "video_emotion_metadata.csv"
CMED_CLIP_FOLDER = "FinalFullVideos_subjects"
CMED_FPS = 25.0


def load_cmed(
    root: str | os.PathLike[str],
    *,
    metadata: str = CMED_METADATA,
    fps: float = CMED_FPS,
    on_error: str = "skip",
    progress: bool = False,
) -> pd.DataFrame:
    """Build a manifest from CMED's released folder, opening each clip once for its length.

    Parameters
    ----------
    root : path-like
        The folder holding ``video_emotion_metadata.csv`` and ``FinalFullVideos_subjects``.
    metadata : str
        Name of the metadata CSV inside ``root``.
    fps : float
        Frame rate of the clips (CMED: 25).
    on_error : {"skip", "raise"}
        A missing or unreadable clip is skipped (and listed in
        ``df.attrs["skipped"]`` and a warning) or raises.
    progress : bool
        Show a progress bar while probing clips.

    Returns
    -------
    pandas.DataFrame
        A typed manifest with ``path`` relative to ``root`` (``attrs["root"]``);
        extra columns ``filename`` and ``apex_frame`` keep the original values.

    Raises
    ------
    FileNotFoundError
        If the metadata file is missing.
    ValueError
        If it lacks a required column, or a row's apex is not an integer.
    """
    if on_error not in ("skip", "raise"):
        raise ValueError(f"on_error must be 'skip' or 'raise', got {on_error!r}")
    root = Path(root)
    meta_path = root / metadata
    if not meta_path.exists():
        raise FileNotFoundError(f"{meta_path}: CMED metadata not found")
    meta = read_csv_text(meta_path, what="CMED metadata")
    need = ["subject", "filename", "emotion", "apex_frame"]
    missing = [c for c in need if c not in meta.columns]
    if missing:
        raise ValueError(f"{meta_path}: missing column(s) {', '.join(missing)}")

    rows: list[dict[str, object]] = []
    skipped: list[str] = []
    records = meta.to_dict("records")
    iterator = records
    if progress:
        from rich.progress import track

        iterator = track(records, description="probing CMED clips")
    for i, rec in enumerate(iterator):
        line = i + 2
        rel = Path(CMED_CLIP_FOLDER) / rec["emotion"] / rec["subject"] / rec["filename"]
        try:
            info = probe_video(root / rel)
        except VideoError as exc:
            msg = f"{meta_path}:{line}: {exc}"
            if on_error == "raise":
                raise VideoError(msg) from exc
            skipped.append(msg)
            continue
        apex_text = str(rec["apex_frame"]).strip()
        problem = _apex_problem(apex_text, info.n_frames)
        if problem:
            msg = f"{meta_path}:{line}: column 'apex_frame': {problem} ({rel})"
            if on_error == "raise":
                raise ValueError(msg)
            skipped.append(msg)
            continue
        rows.append(
            {
                "dataset": "cmed",
                "subject": rec["subject"],
                "sample_id": f"{rec['subject']}/{Path(rec['filename']).stem}",
                "path": rel.as_posix(),
                "fps": fps,
                "n_frames": info.n_frames,
                "onset": 0,
                "apex": apex_text,
                "offset": info.n_frames - 1,
                "emotion": rec["emotion"],
                "aus": "",
                "filename": rec["filename"],
                "apex_frame": apex_text,
            }
        )
    df = pd.DataFrame(rows, columns=[*COLUMNS, "filename", "apex_frame"])
    df.attrs["source"] = str(meta_path)
    df.attrs["root"] = str(root.resolve())
    df = coerce_manifest(df)
    df.attrs["skipped"] = skipped
    if skipped:
        warnings.warn(f"{meta_path}: skipped {len(skipped)} clip(s): " + "; ".join(skipped), stacklevel=2)
    return df


def _apex_problem(apex_text: str, n_frames: int) -> str | None:
    if apex_text == "":
        return None
    try:
        apex = float(apex_text)
    except ValueError:
        return f"{apex_text!r} is not an integer"
    if apex != int(apex):
        return f"{apex_text!r} is not an integer"
    if not 0 <= apex < n_frames:
        return f"apex {int(apex)} is outside the clip's {n_frames} frames"
    return None
