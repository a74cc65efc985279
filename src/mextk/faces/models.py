"""Where the pretrained face models live (shipped by the ``face-recognition-models`` package)."""

from __future__ import annotations

import importlib.util
from pathlib import Path


def face_models_dir() -> Path:
    """Folder of the model files that ``face-recognition-models`` ships.

    Located with :func:`importlib.util.find_spec`, without importing the
    package (its import needs ``pkg_resources``).

    Raises
    ------
    FileNotFoundError
        If the package is not installed.
    """
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "the face-recognition-models package is not installed (pip install face-recognition-models)"
        )
    return Path(list(spec.submodule_search_locations)[0]) / "models"
