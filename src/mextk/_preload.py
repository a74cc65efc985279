"""Imported once by the fork server of :mod:`mextk.workers` before it forks workers: the heavy imports and
dlib's face models (about 1.5 s), which every worker then shares instead of loading its own.

Nothing here may fail: a missing optional model only means that workers load it (and fail) themselves.
"""

import contextlib

import cv2  # noqa: F401
import numpy  # noqa: F401

with contextlib.suppress(Exception):
    import av  # noqa: F401

with contextlib.suppress(Exception):
    from mextk.faces.landmarks import load_models

    load_models()
