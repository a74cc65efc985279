"""Who a face is: dlib's 128-d face descriptor (a ResNet trained for face recognition).

King, "Dlib-ml: A Machine Learning Toolkit", JMLR 10, 2009; the model
(``dlib_face_recognition_resnet_model_v1``, a ResNet-29 trained on about three
million faces, 99.38% on LFW) ships in ``face-recognition-models``.  Two
photos of one adult lie within 0.6 of each other (Euclidean distance, dlib's
own threshold); of two people, further.

mextk uses it to tell whether a gallery tile shows a participant seen before
(after a re-layout, a camera-off or a rejoin).  It is computed on the gray
image (the three channels the model wants are the one gray plane repeated):
every descriptor mextk compares is made the same way, and on the shared real
faces the same frame in gray and in colour lie 0.13 apart, the same face at a
third of the size 0.05, two adults 0.81, a child and an adult 0.67, and one
talking head 6 s apart (another pose) 0.40.  Children's faces are told apart
less well by this model, which is why it is one cue beside a tile's look and
the gallery's order, not the only one.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from mextk.faces.landmarks import shape_predictor
from mextk.faces.models import face_models_dir

#: Distance under which two descriptors are one person (dlib's threshold is 0.6; this is stricter).
SAME_PERSON = 0.5
#: Distance over which two descriptors are two people.
OTHER_PERSON = 0.65
#: Face width the descriptor is computed at (dlib's aligned chips are 150 px).
CHIP_FACE = 150


@lru_cache(maxsize=1)
def _recognition_model():  # type: ignore[no-untyped-def]
    """dlib's face recognition ResNet, loaded once per process (about 0.05 s)."""
    import dlib

    path = face_models_dir() / "dlib_face_recognition_resnet_model_v1.dat"
    if not path.exists():
        raise FileNotFoundError(f"{path}: dlib's face recognition model is missing")
    return dlib.face_recognition_model_v1(str(path))


def faceprint(gray: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """The 128-d descriptor of the face in ``box`` (``x, y, w, h``) of a gray image (dlib's scale: not unit length).

    The face is cut with a margin and scaled to about :data:`CHIP_FACE` pixels wide, aligned by
    dlib's 5-point model, and described by the ResNet (about 75 ms on one core).

    Raises
    ------
    ImportError, FileNotFoundError
        Without dlib or its model files.
    """
    import cv2
    import dlib

    x, y, w, h = (int(v) for v in box)
    s = CHIP_FACE / max(w, 1)
    if abs(s - 1.0) > 0.05:  # not a chip cut at the descriptor's size yet: cut one
        m = int(0.4 * max(w, h))
        x0, y0 = max(0, x - m), max(0, y - m)
        crop = gray[y0 : min(gray.shape[0], y + h + m), x0 : min(gray.shape[1], x + w + m)]
        gray = cv2.resize(crop, None, fx=s, fy=s, interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
        x, y, w, h = int((x - x0) * s), int((y - y0) * s), int(w * s), int(h * s)
    gray = np.ascontiguousarray(gray)
    shape = shape_predictor(5)(gray, dlib.rectangle(x, y, x + w, y + h))
    rgb = np.ascontiguousarray(np.repeat(gray[:, :, None], 3, axis=2))
    return np.asarray(_recognition_model().compute_face_descriptor(rgb, shape), dtype=np.float64)


def distance(a: np.ndarray, b: np.ndarray) -> float:
    """Euclidean distance between two descriptors (0: the same; dlib's unit-free scale)."""
    return float(np.linalg.norm(np.asarray(a) - np.asarray(b)))
