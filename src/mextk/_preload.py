"""Imported once by the fork server of :mod:`mextk.workers` before it forks workers: the heavy imports and
dlib's face models (about 2 s), which every worker then shares instead of loading its own.

pandas and the modules whose functions the pools of ``mextk analyze`` run (region motion, features)
are among them: each new pool's workers imported pandas again otherwise, about 0.5 s on each core
at the start of every stage.

Nothing here may fail: a missing optional model only means that workers load it (and fail) themselves.
"""

import contextlib

import cv2  # noqa: F401
import numpy  # noqa: F401

with contextlib.suppress(Exception):
    import av  # noqa: F401

with contextlib.suppress(Exception):
    import pandas  # noqa: F401

    import mextk.analyze.events  # noqa: F401
    import mextk.features.batch  # noqa: F401
    import mextk.spotting.signals  # noqa: F401

with contextlib.suppress(Exception):
    from mextk.faces.landmarks import load_models

    load_models()
