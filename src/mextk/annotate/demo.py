"""``mextk annotate demo``: a project on synthetic clips with enough labellers to try the app at once.

The clips are rendered by :mod:`mextk.synth` (real-face-based synthetic
subjects, H.264); their own labels are dropped, so the labellers start from
nothing, as with clips fresh from ``mextk prepare``.  A CMED project gets two
labellers (anna, ben); a protocol with more raters per step gets as many as its
largest step needs (DFME: seven, rater1 to rater7), and an admin (``admin``) to try
the progress, agreement, segments and audit pages.  The passwords are made at
random and printed once (they are stored only as hashes).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

#: The demo project's admin account.
ADMIN = "admin"


def make_demo_project(
    out: str | os.PathLike[str], *, clips: int = 6, protocol: str = "cmed", seed: int = 0, progress: bool = True
) -> dict[str, Any]:
    """Render ``clips`` synthetic clips into ``OUT/clips`` and make ``OUT/project`` with its labellers.

    Returns
    -------
    dict
        ``{"project": folder, "users": {name: password}}`` (the labellers, then the admin).
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
    project = AnnotationProject.create(out / "project", out / "clips.csv", protocol=protocol)
    needed = max(2, *(step.raters for step in project.protocol.steps))
    names = ["anna", "ben"] if needed == 2 else [f"rater{k}" for k in range(1, needed + 1)]
    users = {name: secrets.token_urlsafe(9) for name in [*names, ADMIN]}
    for name, password in users.items():
        project.add_user(name, "admin" if name == ADMIN else "labeller", password)
    return {"project": out / "project", "users": users}
