"""Candidate segments for the first step (``mextk annotate init --proposals CSV``), e.g. from a spotting model.

The CSV has one row per candidate: ``sample_id`` (the clip, as in the clips
manifest), ``onset`` and ``offset`` (0-based frames in the clip), and
optionally ``apex``, ``label`` (or ``emotion``) and ``score``.  A labeller
at a ``segment`` step sees a clip's candidates and may take one (P) into the
marks, then keep it (Enter) or correct it first; a candidate they do not take
is not an answer.  Candidates appear only in the views of ``segment`` steps:
never at a blind step, and never at a key-frame step, whose raters mark
independently (a shared proposal would anchor all of them alike).

A row that names no clip of the project, has frames outside the clip, an
onset after its offset, an apex outside them or an unknown label is skipped,
and reported in one line naming its CSV line.
"""

from __future__ import annotations

import os
from typing import Any

import pandas as pd


def read_proposals(
    path: str | os.PathLike[str], n_frames: dict[str, int], classes: tuple[str, ...]
) -> tuple[dict[str, list[dict[str, Any]]], list[str]]:
    """Candidates per clip from the CSV, and the problems (one line per skipped row)."""
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: proposals file not found") from None
    df.columns = [str(c).strip().lower() for c in df.columns]
    if "label" not in df.columns and "emotion" in df.columns:
        df = df.rename(columns={"emotion": "label"})
    missing = [c for c in ("sample_id", "onset", "offset") if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: proposals need columns sample_id, onset and offset; missing {', '.join(missing)}")
    out: dict[str, list[dict[str, Any]]] = {}
    problems: list[str] = []
    for k, row in enumerate(df.to_dict("records")):
        where = f"{path}:{k + 2}"  # line 1 is the header
        clip = str(row["sample_id"]).strip()
        if clip not in n_frames:
            problems.append(f"{where}: no clip {clip!r} in the project")
            continue
        try:
            onset, offset = int(float(row["onset"])), int(float(row["offset"]))
            apex = None if str(row.get("apex", "")).strip() == "" else int(float(row["apex"]))
            score = None if str(row.get("score", "")).strip() == "" else float(row["score"])
        except ValueError:
            problems.append(f"{where}: onset, offset, apex and score must be numbers")
            continue
        label = str(row.get("label", "")).strip() or None
        if not 0 <= onset <= offset < n_frames[clip]:
            problems.append(f"{where}: need 0 <= onset <= offset < {n_frames[clip]}, got {onset} and {offset}")
            continue
        if apex is not None and not onset <= apex <= offset:
            problems.append(f"{where}: the apex {apex} is outside {onset} to {offset}")
            continue
        if label is not None and label not in classes:
            problems.append(f"{where}: unknown label {label!r}; the protocol's classes are {', '.join(classes)}")
            continue
        out.setdefault(clip, []).append({"onset": onset, "apex": apex, "offset": offset, "label": label,
                                         "score": score})  # fmt: skip
    for items in out.values():
        items.sort(key=lambda x: (x["onset"], x["offset"]))
    return out, problems
