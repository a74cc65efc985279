"""68-point facial landmarks with dlib's ensemble of regression trees.

Kazemi and Sullivan, "One millisecond face alignment with an ensemble of
regression trees", CVPR 2014, doi:10.1109/CVPR.2014.241, trained on 300-W
(iBUG 68-point scheme).  The model file ships in the ``face-recognition-models``
package.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from mextk.faces.models import face_models_dir


@lru_cache(maxsize=1)
def _predictor():  # type: ignore[no-untyped-def]
    import dlib

    path = face_models_dir() / "shape_predictor_68_face_landmarks.dat"
    if not path.exists():
        raise FileNotFoundError(f"{path}: dlib's 68-point model is missing")
    return dlib.shape_predictor(str(path))


def landmarks_68(gray: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """Place 68 landmarks in a face box.

    Parameters
    ----------
    gray : numpy.ndarray
        ``(H, W)`` ``uint8`` image.
    box : tuple of int
        Face box ``(x, y, w, h)`` in ``gray``'s pixels (from any detector).

    Returns
    -------
    numpy.ndarray
        ``(68, 2)`` ``float64`` (x, y) positions.
    """
    import dlib

    if gray.dtype != np.uint8 or gray.ndim != 2:
        raise ValueError(f"expected a (H, W) uint8 image, got {gray.dtype} {gray.shape}")
    x, y, w, h = (int(v) for v in box)
    shape = _predictor()(np.ascontiguousarray(gray), dlib.rectangle(x, y, x + w, y + h))
    return np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float64)
