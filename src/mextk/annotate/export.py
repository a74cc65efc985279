"""``mextk annotate export``: the accepted segments as a dataset (a standard manifest, with clips or references).

Each accepted segment (at a protocol step, or by an admin's correction)
becomes one sample.  Two ways to write it:

* ``clips`` (default), as CMED released its samples: the clip cut from onset
  to offset (``clips/SUBJECT/SAMPLE.mp4``, H.264), so ``onset = 0``,
  ``offset = n_frames - 1`` and ``apex`` counts from the segment's first frame.
* ``references``: no video is written; ``path`` is the prepared clip (absolute)
  and ``onset``, ``apex``, ``offset`` and ``n_frames`` are its own frames, as
  the manifest of a dataset that keeps several samples in one long video (the
  feature code reads only onset to offset).  For a project too large to copy.

A sample's id is the prepared clip's id and the segment's frames,
``CLIP_fONSET-OFFSET`` (``_sID`` added when two accepted segments share both),
so an export that is run again names every segment as before: clips already
written are kept, only missing ones are written (each atomically), and a
segment that is no longer accepted leaves the manifest (its old clip stays on
disk and is counted in the log).  ``aus`` holds the final action units where the
protocol codes them (DFME) as the manifest writes them (``AU4+AU12``, numbers
only) and ``au_sides`` the side of a one-sided one (``R-AU12`` gives ``AU12:R``),
as the dataset importers do.  Extra columns: ``expression``
(``micro`` or ``macro`` where the protocol tells them apart: DFME keeps both,
and ``mextk evaluate`` reads every row, so filter macro-expressions out when
only micro-expressions are wanted), ``accepted_at`` (the step that accepted it,
or ``correction``), ``stage`` (that step's number, 1-based: CMED's
2 or 3; empty for a correction), ``source_clip`` and ``source_onset``.
Subjects are the pseudonymous ids of the manifest the project was made from;
no name, password or audit record leaves the project.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import select

log = logging.getLogger(__name__)


EXPORT_MODES = ("clips", "references")


def export_project(
    project: Any, out: str | os.PathLike[str], *, mode: str = "clips", progress: bool = False
) -> pd.DataFrame:
    """Write ``OUT/manifest.csv`` (and ``OUT/clips/`` in ``clips`` mode) for the accepted segments.

    Parameters
    ----------
    project : AnnotationProject
        The project.
    out : path
        The dataset folder.
    mode : {"clips", "references"}
        Cut each segment into its own clip, or point at the prepared clip (see the module docstring).
    progress : bool
        Show a progress bar.

    Returns
    -------
    pandas.DataFrame
        The manifest as written.
    """
    if mode not in EXPORT_MODES:
        raise ValueError(f"mode must be one of {', '.join(EXPORT_MODES)}, got {mode!r}")
    from mextk.annotate.store import Clip, Segment
    from mextk.io.manifest import COLUMNS, save_manifest
    from mextk.io.video import read_frames
    from mextk.io.writer import write_video

    out = Path(out)
    steps = {s.id: k + 1 for k, s in enumerate(project.protocol.steps)}
    with project.Session() as s:
        rows = s.execute(
            select(Segment, Clip).join(Clip, Clip.id == Segment.clip_id).where(Segment.status == "accepted")
            .order_by(Clip.sample_id, Segment.onset, Segment.id)
        ).all()  # fmt: skip
    records: list[dict[str, Any]] = []
    seen: set[str] = set()
    iterator = rows
    if progress:
        from rich.progress import track

        iterator = track(rows, description="exporting segments")
    for seg, clip in iterator:
        sample_id = f"{clip.sample_id}_f{seg.onset}-{seg.offset}"
        if sample_id in seen:
            sample_id = f"{sample_id}_s{seg.id}"
        seen.add(sample_id)
        record = {
            "dataset": clip.dataset,
            "subject": clip.subject,
            "sample_id": sample_id,
            "fps": clip.fps,
            "emotion": seg.label,
            **_manifest_aus(seg.aus or []),
            "expression": seg.expression or "",
            "accepted_at": seg.decided_at_step,
            "stage": steps.get(seg.decided_at_step or "", ""),
            "source_clip": clip.sample_id,
            "source_onset": seg.onset,
        }
        if mode == "references":
            record.update(path=clip.path, n_frames=clip.n_frames, onset=seg.onset,
                          apex="" if seg.apex is None else seg.apex, offset=seg.offset)  # fmt: skip
        else:
            rel = Path("clips") / safe_file_name(clip.subject) / f"{safe_file_name(sample_id)}.mp4"
            n = seg.offset - seg.onset + 1
            if not (out / rel).exists():
                frames = read_frames(clip.path, start=seg.onset, stop=seg.offset + 1)
                write_video(out / rel, frames, fps=clip.fps)
            record.update(path=rel.as_posix(), n_frames=n, onset=0,
                          apex="" if seg.apex is None else seg.apex - seg.onset, offset=n - 1)  # fmt: skip
        records.append(record)
    df = pd.DataFrame(
        records, columns=[*COLUMNS, "au_sides", "expression", "accepted_at", "stage", "source_clip", "source_onset"]
    )
    out.mkdir(parents=True, exist_ok=True)
    save_manifest(df, out / "manifest.csv")
    if mode == "clips" and (out / "clips").is_dir():
        written = {out / p for p in df["path"]}
        stale = [f for f in (out / "clips").rglob("*.mp4") if f not in written]
        if stale:
            log.info("%d clip(s) in %s are no longer accepted segments; left in place", len(stale), out / "clips")
    return df


def safe_file_name(name: str) -> str:
    import re

    return re.sub(r"[^A-Za-z0-9._-]+", "_", str(name)).strip("._") or "x"


def _manifest_aus(codes: list[str]) -> dict[str, str]:
    """``aus`` and ``au_sides`` columns from AU codes (``AU4``, ``R-AU12``)."""
    aus: list[str] = []
    sides: list[str] = []
    for code in codes:
        side, _, name = code.rpartition("-")
        if name not in aus:
            aus.append(name)
        if side:
            sides.append(f"{name}:{side}")
    return {"aus": "+".join(aus), "au_sides": "+".join(sides)}
