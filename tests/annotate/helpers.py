"""Helpers shared by the annotation tests."""

from __future__ import annotations

from pathlib import Path

from mextk.annotate.testing import free_port

__all__ = ["clips_manifest", "free_port"]


def clips_manifest(synth_dataset, tmp_path: Path, n: int):  # type: ignore[no-untyped-def]
    """The first ``n`` clips of the session's synthetic dataset as ``tmp_path/clips.csv`` (absolute paths)."""
    out, _, df = synth_dataset
    rows = df.head(n).copy()
    rows["path"] = [str(out / p) for p in rows["path"]]
    rows.to_csv(tmp_path / "clips.csv", index=False)
    return rows
