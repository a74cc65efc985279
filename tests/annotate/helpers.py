"""Helpers shared by the annotation tests."""

from __future__ import annotations

import socket
from pathlib import Path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def clips_manifest(synth_dataset, tmp_path: Path, n: int):  # type: ignore[no-untyped-def]
    """The first ``n`` clips of the session's synthetic dataset as ``tmp_path/clips.csv`` (absolute paths)."""
    out, _, df = synth_dataset
    rows = df.head(n).copy()
    rows["path"] = [str(out / p) for p in rows["path"]]
    rows.to_csv(tmp_path / "clips.csv", index=False)
    return rows
