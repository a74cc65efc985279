"""One run folder, whatever the stage: a settings record, a fingerprint of the inputs, resume, refusal.

``evaluate``, ``train``, ``spot`` and ``analyze`` each write their outputs into a folder that a rerun
of the same command resumes.  :class:`RunFolder` is what they share:

* the run's **settings record**, a JSON file written atomically (``config.json``, ``spotter.json``,
  ``model.json``, ``done.json``; the settings may sit under a key of it);
* a **fingerprint of the inputs** (:func:`fingerprint_files`: the bytes of the manifest, say), kept
  beside the settings, so that a rerun on edited inputs is not taken for the same run;
* **resume or refuse**: the same settings and inputs resume; other ones are refused with one line
  that names the folder and what differs (``--out`` another folder, or delete it), unless the caller
  says that nothing in the folder is worth keeping yet.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from mextk.io.atomic import read_json, write_json_atomic

#: The record key of the inputs' fingerprint.
INPUTS_KEY = "inputs_fingerprint"


def fingerprint_files(paths: Iterable[str | os.PathLike[str]]) -> str:
    """A SHA-256 of the files' contents, in the order given (16 hex digits): the same bytes, the same print.

    Examples
    --------
    >>> import tempfile, os
    >>> d = tempfile.mkdtemp(); p = os.path.join(d, "m.csv")
    >>> _ = open(p, "w").write("sample_id\\n1\\n")
    >>> fingerprint_files([p]) == fingerprint_files([p]), len(fingerprint_files([p]))
    (True, 16)
    """
    digest = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        digest.update(b"\0")
    return digest.hexdigest()[:16]


def settings_differences(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """The keys whose values differ between two settings records, sorted.

    Examples
    --------
    >>> settings_differences({"lr": 0.1, "epochs": 5}, {"lr": 0.1, "epochs": 8, "seed": 0})
    ['epochs', 'seed']
    """
    return sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))


def _as_json(value: Mapping[str, Any]) -> dict[str, Any]:
    """``value`` as it reads back from JSON (tuples become lists), so that a record compares with a fresh one."""
    return json.loads(json.dumps(dict(value), default=str))


class RunFolder:
    """The folder of one run and its settings record.

    Parameters
    ----------
    path : path-like
        The folder (made when the run is claimed).
    record : str
        The record's file name in the folder.
    what : str
        What the folder holds, for messages ("run", "spotting run", "model").
    key : str, optional
        The key of the record that holds the settings (the whole record without it).
    """

    def __init__(self, path: str | os.PathLike[str], record: str, *, what: str = "run", key: str | None = None):
        self.path = Path(path)
        self.record_path = self.path / record
        self.what = what
        self.key = key

    def recorded(self) -> dict[str, Any] | None:
        """The settings recorded in the folder (``None``: no record yet)."""
        if not self.record_path.exists():
            return None
        record = read_json(self.record_path, what=f"{self.what} record")
        return record.get(self.key) if self.key is not None else record

    def differences(self, settings: Mapping[str, Any], *, inputs: str | None = None) -> list[str] | None:
        """What differs between the folder's run and ``settings`` (``[]``: the same run; ``None``: no run yet)."""
        old = self.recorded()
        if old is None:
            return None
        new = _as_json(settings)
        if inputs is not None:
            new[INPUTS_KEY] = inputs
            if INPUTS_KEY not in old:  # a run recorded before inputs were fingerprinted: its settings decide
                new.pop(INPUTS_KEY)
        return settings_differences(old, new)

    def refusal(self, changed: list[str]) -> FileExistsError:
        """The one-line error for a rerun with other settings."""
        what = ", ".join("the inputs" if k == INPUTS_KEY else k for k in changed)
        return FileExistsError(
            f"{self.path}: holds a {self.what} with other settings (differs in: {what}); "
            "use another --out or delete the folder"
        )

    def claim(
        self,
        settings: Mapping[str, Any],
        *,
        inputs: str | None = None,
        restart_if: Callable[[], bool] | None = None,
        write: bool = True,
    ) -> bool:
        """Take the folder for a run with ``settings`` (and the inputs' fingerprint ``inputs``).

        Returns ``True`` when the folder already holds this run (resume), ``False`` when it starts
        here.  A folder holding a run with other settings or inputs is refused
        (:class:`FileExistsError`, one line), unless ``restart_if()`` says that nothing in it is
        worth keeping: then the record is replaced.  ``write``: write the record now (``False``: the
        caller writes it itself, e.g. at the end of the run).
        """
        changed = self.differences(settings, inputs=inputs)
        if changed == []:
            return True
        if changed and not (restart_if is not None and restart_if()):
            raise self.refusal(changed)
        if write:
            self.write(settings, inputs=inputs)
        return False

    def write(self, settings: Mapping[str, Any], *, inputs: str | None = None, **extra: Any) -> None:
        """Write the record atomically: the settings (under :attr:`key`, beside ``extra``), and the fingerprint."""
        body = _as_json(settings)
        if inputs is not None:
            body[INPUTS_KEY] = inputs
        record = {self.key: body, **extra} if self.key is not None else body
        self.path.mkdir(parents=True, exist_ok=True)
        write_json_atomic(self.record_path, record)
