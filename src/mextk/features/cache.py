"""On-disk feature cache: ``ROOT/KIND/PARAMS_HASH/SAMPLE_ID.npz`` with ``params.json``.

Changing a parameter changes the hash, so stale features are never reused.  A
sample that failed leaves ``SAMPLE_ID.error`` holding one line; it is
reported, and not retried unless asked.  Files appear atomically, so an
interrupted batch resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from mextk.io.atomic import atomic_path, write_json_atomic, write_text_atomic


def params_hash(params: dict[str, Any]) -> str:
    """Short stable hash of a JSON-serialisable parameter dict."""
    text = json.dumps(params, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _safe(sample_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "__", str(sample_id))


class FeatureCache:
    """Per-sample feature store for one feature kind and parameter set.

    Parameters
    ----------
    root : path-like
        Cache root.
    kind : str
        Feature name (``motion``, ``lbp_top`` ...).
    params : dict
        Exact parameters; hashed into the folder name and saved as ``params.json``.
    """

    def __init__(self, root: str | os.PathLike[str], kind: str, params: dict[str, Any]) -> None:
        self.params = dict(params)
        self.folder = Path(root) / kind / params_hash(self.params)
        self.folder.mkdir(parents=True, exist_ok=True)
        pj = self.folder / "params.json"
        if not pj.exists():
            write_json_atomic(pj, {"kind": kind, **self.params})

    def path(self, sample_id: str) -> Path:
        """The ``.npz`` file of a sample."""
        return self.folder / f"{_safe(sample_id)}.npz"

    def error_path(self, sample_id: str) -> Path:
        """The ``.error`` file of a sample."""
        return self.folder / f"{_safe(sample_id)}.error"

    def has(self, sample_id: str) -> bool:
        """Whether the sample's features are stored."""
        return self.path(sample_id).exists()

    def load(self, sample_id: str) -> dict[str, np.ndarray]:
        """The stored arrays of a sample."""
        with np.load(self.path(sample_id)) as data:
            return {k: data[k] for k in data.files}

    def save(self, sample_id: str, **arrays: np.ndarray) -> Path:
        """Store arrays for a sample (atomically) and clear any earlier error."""
        with atomic_path(self.path(sample_id)) as tmp:
            with open(tmp, "wb") as fh:
                np.savez(fh, **arrays)
        self.error_path(sample_id).unlink(missing_ok=True)
        return self.path(sample_id)

    def error(self, sample_id: str) -> str | None:
        """The recorded one-line error of a sample, if it failed."""
        p = self.error_path(sample_id)
        return p.read_text().strip() if p.exists() else None

    def record_error(self, sample_id: str, message: str) -> None:
        """Record that a sample failed (one line)."""
        write_text_atomic(self.error_path(sample_id), " ".join(str(message).split()) + "\n")
