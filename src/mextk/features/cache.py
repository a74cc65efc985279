"""On-disk feature cache: ``ROOT/KIND/PARAMS_HASH/SAMPLE_ID.npz`` with ``params.json``.

Changing a parameter changes the hash, so stale features are never reused.
Each sample's file also keeps a *fingerprint* of what it was computed from (the
dataset, the clip's size on disk and length, onset, apex and offset): a sample
whose manifest row or clip changed since, or another dataset's sample with the
same id, is computed again rather than served stale.  A sample that failed
leaves ``SAMPLE_ID.error`` holding one line (and the fingerprint); it is
reported, and not retried unless asked or its row changed.  Files appear
atomically, so an interrupted batch resumes where it stopped.
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


#: The array in each sample's file that holds its fingerprint.
FINGERPRINT = "_fingerprint"


def safe_file_name(sample_id: str) -> str:
    """A sample id as a file name: every run of characters other than letters, digits, ``.``, ``_``, ``-`` is ``__``."""
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
        return self.folder / f"{safe_file_name(sample_id)}.npz"

    def error_path(self, sample_id: str) -> Path:
        """The ``.error`` file of a sample."""
        return self.folder / f"{safe_file_name(sample_id)}.error"

    def has(self, sample_id: str, fingerprint: str | None = None) -> bool:
        """Whether the sample's features are stored (and, given a fingerprint, computed from that input)."""
        p = self.path(sample_id)
        if not p.exists():
            return False
        if fingerprint is None:
            return True
        try:
            with np.load(p) as data:
                return FINGERPRINT in data.files and str(data[FINGERPRINT]) == fingerprint
        except (OSError, ValueError, EOFError):  # a damaged file: computed again
            return False

    def load(self, sample_id: str) -> dict[str, np.ndarray]:
        """The stored arrays of a sample (without the fingerprint)."""
        with np.load(self.path(sample_id)) as data:
            return {k: data[k] for k in data.files if k != FINGERPRINT}

    def save(self, sample_id: str, fingerprint: str | None = None, **arrays: np.ndarray) -> Path:
        """Store arrays for a sample (atomically) and clear any earlier error."""
        if fingerprint is not None:
            arrays = {**arrays, FINGERPRINT: np.array(fingerprint)}
        with atomic_path(self.path(sample_id)) as tmp:
            with open(tmp, "wb") as fh:
                np.savez(fh, **arrays)
        self.error_path(sample_id).unlink(missing_ok=True)
        return self.path(sample_id)

    def error(self, sample_id: str, fingerprint: str | None = None) -> str | None:
        """The recorded one-line error of a sample, if it failed (from the same input, given a fingerprint)."""
        p = self.error_path(sample_id)
        if not p.exists():
            return None
        lines = p.read_text().splitlines()
        if fingerprint is not None and (len(lines) < 2 or lines[1].strip() != f"fingerprint: {fingerprint}"):
            return None
        return lines[0].strip() if lines else ""

    def record_error(self, sample_id: str, message: str, fingerprint: str | None = None) -> None:
        """Record that a sample failed (one line, then its fingerprint)."""
        text = " ".join(str(message).split()) + "\n"
        if fingerprint is not None:
            text += f"fingerprint: {fingerprint}\n"
        write_text_atomic(self.error_path(sample_id), text)
