"""``mextk annotate demo``: a project on synthetic clips with two labellers, to try the app at once.

The clips are rendered by :mod:`mextk.synth` (real-face-based synthetic
subjects, H.264); their own labels are dropped, so the labellers start from
nothing, as with clips fresh from ``mextk prepare``.  The two accounts' passwords
are made at random and printed once (they are stored only as hashes).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any


def make_demo_project(
    out: str | os.PathLike[str], *, clips: int = 6, seed: int = 0, progress: bool = True
) -> dict[str, Any]:
    """Render ``clips`` synthetic clips into ``OUT/clips`` and make ``OUT/project`` with users anna and ben.

    Returns
    -------
    dict
        ``{"project": folder, "users": {name: password}}``.
    """
    from mextk.annotate.engine import AnnotationProject
    from mextk.synth.clips import SynthConfig, synthesize_dataset

    out = Path(out)
    if (out / "project" / "project.json").exists():
        raise FileExistsError(f"{out / 'project'}: a demo project is already there; choose another --out")
    per_subject = max(4, (clips + 1) // 2)  # the synthesiser covers its 7 classes: at least 8 clips are made
    df = synthesize_dataset(
        out / "clips", SynthConfig(n_subjects=2, clips_per_subject=per_subject, size=160, seed=seed), progress=progress
    ).head(clips)
    unlabelled = df.copy()
    for col in ("onset", "apex", "offset", "emotion", "aus"):
        unlabelled[col] = ""
    unlabelled["path"] = [str((out / "clips" / p).resolve()) for p in df["path"]]
    unlabelled.to_csv(out / "clips.csv", index=False)
    project = AnnotationProject.create(out / "project", out / "clips.csv")
    users = {name: secrets.token_urlsafe(9) for name in ("anna", "ben")}
    for name, password in users.items():
        project.add_user(name, "labeller", password)
    return {"project": out / "project", "users": users}
