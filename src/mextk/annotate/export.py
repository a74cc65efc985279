"""``mextk annotate export``: the accepted segments as a dataset (a standard manifest and one clip per segment).

Each accepted segment becomes one sample, as CMED released its samples: the
clip cut from onset to offset (``clips/SUBJECT/SAMPLE.mp4``, H.264), so
``onset = 0``, ``offset = n_frames - 1`` and ``apex`` counts from the segment's
first frame.  Extra columns: ``accepted_at`` (the protocol step that accepted
it) and ``stage`` (that step's number, 1-based: CMED's 2 or 3), ``source_clip``
(the prepared clip's sample id) and ``source_onset`` (where the segment starts
in it).  Subjects are the pseudonymous ids of the manifest the project was made
from; nothing else about a person leaves the project.  Clips are written
atomically and an export that is run again writes only what is missing.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import select


def export_project(project: Any, out: str | os.PathLike[str], *, progress: bool = False) -> pd.DataFrame:
    """Write ``OUT/manifest.csv`` and ``OUT/clips/`` for the accepted segments; returns the manifest."""
    from mextk.annotate.store import Clip, Segment
    from mextk.io.manifest import COLUMNS, save_manifest
    from mextk.io.video import read_frames, write_video

    out = Path(out)
    steps = {s.id: k + 1 for k, s in enumerate(project.protocol.steps)}
    with project.Session() as s:
        rows = s.execute(
            select(Segment, Clip).join(Clip, Clip.id == Segment.clip_id).where(Segment.status == "accepted")
            .order_by(Clip.sample_id, Segment.onset, Segment.id)
        ).all()  # fmt: skip
    records: list[dict[str, Any]] = []
    counter: dict[str, int] = {}
    iterator = rows
    if progress:
        from rich.progress import track

        iterator = track(rows, description="exporting segments")
    for seg, clip in iterator:
        counter[clip.sample_id] = counter.get(clip.sample_id, 0) + 1
        sample_id = f"{clip.sample_id}_seg{counter[clip.sample_id]:02d}"
        rel = Path("clips") / _safe(clip.subject) / f"{_safe(sample_id)}.mp4"
        n = seg.offset - seg.onset + 1
        if not (out / rel).exists():
            frames = read_frames(clip.path, start=seg.onset, stop=seg.offset + 1)
            write_video(out / rel, frames, fps=clip.fps)
        records.append(
            {
                "dataset": clip.dataset,
                "subject": clip.subject,
                "sample_id": sample_id,
                "path": rel.as_posix(),
                "fps": clip.fps,
                "n_frames": n,
                "onset": 0,
                "apex": "" if seg.apex is None else seg.apex - seg.onset,
                "offset": n - 1,
                "emotion": seg.label,
                "aus": "",
                "accepted_at": seg.decided_at_step,
                "stage": steps.get(seg.decided_at_step or "", ""),
                "source_clip": clip.sample_id,
                "source_onset": seg.onset,
            }
        )
    df = pd.DataFrame(records, columns=[*COLUMNS, "accepted_at", "stage", "source_clip", "source_onset"])
    out.mkdir(parents=True, exist_ok=True)
    save_manifest(df, out / "manifest.csv")
    return df


def _safe(name: str) -> str:
    import re

    return re.sub(r"[^A-Za-z0-9._-]+", "_", str(name)).strip("._") or "x"
