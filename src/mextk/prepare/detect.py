"""Face detectors behind one interface: ``detector(gray, min_size=, max_size=) -> (N, 4)`` boxes.

* ``haar``: OpenCV's frontal-face Haar cascade (Viola and Jones, CVPR 2001,
  doi:10.1109/CVPR.2001.990517), the detector of CMED's Algorithm 1; fast.
* ``dlib-hog``: dlib's HOG + linear SVM detector (Dalal and Triggs, CVPR 2005,
  doi:10.1109/CVPR.2005.177), the detector CMED uses before landmarks; fewer
  false positives, slower.
* ``dlib-cnn``: dlib's MMOD CNN detector (King, arXiv:1502.00046), weights from
  the ``face-recognition-models`` package; most robust to pose, slowest on a CPU.

Boxes are ``(x, y, w, h)`` integers in the coordinates of the image given.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from mextk.faces.models import face_models_dir


class HaarDetector:
    """OpenCV's ``haarcascade_frontalface_default.xml``.

    Parameters
    ----------
    scale_factor : float
        Image-pyramid step (OpenCV default 1.1; 1.2 is about twice as fast).
    min_neighbors : int
        Overlapping detections needed to accept a face.
    """

    name = "haar"

    def __init__(self, *, scale_factor: float = 1.1, min_neighbors: int = 5) -> None:
        import cv2

        path = Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml"
        self._cascade = cv2.CascadeClassifier(str(path))
        if self._cascade.empty():
            raise FileNotFoundError(f"{path}: Haar cascade missing (OpenCV 5 no longer ships it; install opencv<5)")
        self.scale_factor = scale_factor
        self.min_neighbors = min_neighbors

    def __call__(self, gray: np.ndarray, *, min_size: int = 24, max_size: int | None = None) -> np.ndarray:
        """Detect faces in a ``(H, W)`` ``uint8`` image."""
        kwargs: dict[str, Any] = {"minSize": (int(min_size), int(min_size))}
        if max_size:
            kwargs["maxSize"] = (int(max_size), int(max_size))
        faces = self._cascade.detectMultiScale(gray, self.scale_factor, self.min_neighbors, **kwargs)
        return np.asarray(faces, dtype=np.int64).reshape(-1, 4)


class DlibHogDetector:
    """dlib's HOG frontal face detector (finds faces of about 80 px and up; smaller ones need upsampling)."""

    name = "dlib-hog"

    def __init__(self) -> None:
        from mextk.faces.landmarks import hog_detector

        # the process's one copy (about 0.5 s to build): each prepared recording built its own
        self._detector = hog_detector()

    def __call__(self, gray: np.ndarray, *, min_size: int = 24, max_size: int | None = None) -> np.ndarray:
        """Detect faces in a ``(H, W)`` ``uint8`` image."""
        import cv2

        # dlib's HOG window is 80 px: upscale so that the smallest wanted face reaches it
        scale = max(1.0, 80.0 / max(1, min_size))
        img = cv2.resize(gray, None, fx=scale, fy=scale) if scale > 1 else gray
        rects = self._detector(np.ascontiguousarray(img), 0)
        return _rects_to_boxes(rects, scale, min_size, max_size)

    def scored(self, gray: np.ndarray, *, threshold: float = 0.0) -> list[tuple[int, int, int, int, float]]:
        """``(x, y, w, h, score)`` of every face, with ``threshold`` added to the SVM's bar (below 0: weaker faces)."""
        rects, scores, _ = self._detector.run(np.ascontiguousarray(gray), 0, threshold)
        return [(r.left(), r.top(), r.width(), r.height(), float(sc)) for r, sc in zip(rects, scores, strict=True)]


class DlibCnnDetector:
    """dlib's MMOD CNN face detector with the weights of ``face-recognition-models``."""

    name = "dlib-cnn"

    def __init__(self) -> None:
        import dlib

        path = face_models_dir() / "mmod_human_face_detector.dat"
        self._detector = dlib.cnn_face_detection_model_v1(str(path))

    def __call__(self, gray: np.ndarray, *, min_size: int = 24, max_size: int | None = None) -> np.ndarray:
        """Detect faces in a ``(H, W)`` ``uint8`` image."""
        import cv2

        scale = max(1.0, 80.0 / max(1, min_size))
        img = cv2.resize(gray, None, fx=scale, fy=scale) if scale > 1 else gray
        dets = self._detector(np.ascontiguousarray(img), 0)
        return _rects_to_boxes([d.rect for d in dets], scale, min_size, max_size)

    def scored(self, gray: np.ndarray, *, threshold: float = 0.0) -> list[tuple[int, int, int, int, float]]:
        """``(x, y, w, h, confidence)`` of every face whose confidence reaches ``threshold``."""
        out = []
        for d in self._detector(np.ascontiguousarray(gray), 0):
            if d.confidence >= threshold:
                r = d.rect
                out.append((r.left(), r.top(), r.width(), r.height(), float(d.confidence)))
        return out


def _rects_to_boxes(rects: Any, scale: float, min_size: int, max_size: int | None) -> np.ndarray:
    boxes = []
    for r in rects:
        x, y, w, h = r.left() / scale, r.top() / scale, r.width() / scale, r.height() / scale
        if w >= min_size and (not max_size or w <= max_size):
            boxes.append((round(x), round(y), round(w), round(h)))
    return np.asarray(boxes, dtype=np.int64).reshape(-1, 4)


@lru_cache(maxsize=8)
def make_detector(
    name: str, scale_factor: float = 1.1, min_neighbors: int = 5
) -> HaarDetector | DlibHogDetector | DlibCnnDetector:
    """Build (once per process) the detector called ``name`` (the Haar cascade's two settings)."""
    if name == "haar":
        return HaarDetector(scale_factor=scale_factor, min_neighbors=min_neighbors)
    if name == "dlib-hog":
        return DlibHogDetector()
    if name == "dlib-cnn":
        return DlibCnnDetector()
    raise ValueError(f"unknown detector {name!r}; choose haar, dlib-hog or dlib-cnn")
