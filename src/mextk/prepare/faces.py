"""Finding and re-finding one person's face in a frame: the cues that presence is decided from.

:class:`FaceFinder` offers, from cheap to expensive:

* :meth:`~FaceFinder.follow`: the known face, by normalised-correlation
  template matching near its last place (some 50 times cheaper than a
  detector; a covered face, an empty chair or another person scores low);
* :meth:`~FaceFinder.detect`: the main detector (``detector``: Haar by
  default) over a region, downscaled so that the smallest wanted face meets
  the detector's window; a dim region is histogram-equalised first;
* :meth:`~FaceFinder.recheck`: a second detector (dlib's HOG with a lowered
  threshold, or the MMOD CNN) run only around the face's last place, at the
  scale the face had: it finds the faces a frontal cascade misses (tilted,
  turned up to about 45 degrees, laughing, behind glasses, partly covered);
* :meth:`~FaceFinder.scan`: that detector over a whole tile (a feed whose
  face is not known yet);
* :meth:`~FaceFinder.pose`: yaw and pitch from landmarks fitted in the face
  box (dlib's 5-point model by default, its 68-point model on request).

Boxes are ``(x, y, w, h)`` in source pixels.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from mextk.prepare.clips import Track
from mextk.prepare.config import PrepareConfig
from mextk.prepare.detect import make_detector

Box = tuple[int, int, int, int]

#: Side of the face template used between detections, in pixels.
TEMPLATE = 32
#: Face width the second detector sees (dlib's HOG and MMOD windows are 80 px).
RECHECK_FACE = 96
#: A region whose mean gray level is below this is equalised before the main detector runs.
DIM = 60


class FaceFinder:
    """The face cues of one recording (see the module docstring).

    Parameters
    ----------
    config : PrepareConfig
        Settings: the detectors, their parameters, ``detect_width``, ``follow_min_score``.
    width, height : int
        Frame size.
    """

    def __init__(self, config: PrepareConfig, width: int, height: int) -> None:
        self.cfg = config
        self.width, self.height = width, height
        self.detector = make_detector(config.detector, config.haar_scale_factor, config.haar_min_neighbors)
        self.pose_on = config.pose
        self.identity_off = False

    def detect(self, y: np.ndarray, region: Box, *, min_face: float, max_face: float | None) -> np.ndarray:
        """Faces in ``region`` of the Y plane, as an ``(N, 4)`` array in source pixels."""
        import cv2

        x, yy, w, h = region
        crop = y[yy : yy + h, x : x + w]
        # Downscale so that the smallest face wanted is 24 px (the cascade's window); without a size,
        # to detect_width.
        if min_face > 0:
            s = min(1.0, 24.0 / min_face)
        elif self.cfg.detect_width and self.width > self.cfg.detect_width:
            s = self.cfg.detect_width / self.width
        else:
            s = 1.0
        small = cv2.resize(crop, None, fx=s, fy=s, interpolation=cv2.INTER_AREA) if s < 1.0 else crop
        if self.cfg.layout and small.size and float(small.mean()) < DIM:
            small = cv2.equalizeHist(np.ascontiguousarray(small))  # a dim tile: stretch its contrast
        lo = max(20, int(min_face * s)) if min_face > 0 else 24
        hi = int(max_face * s) if max_face else None
        boxes = self.detector(small, min_size=lo, max_size=hi).astype(np.float64)
        if len(boxes) == 0:
            return np.zeros((0, 4), np.int64)
        boxes /= s
        boxes[:, 0] += x
        boxes[:, 1] += yy
        return np.rint(boxes).astype(np.int64)

    def remember(self, track: Track, y: np.ndarray) -> None:
        """Keep a small gray template of the face just found."""
        import cv2

        assert track.face is not None
        x, yy, w, h = track.face
        patch = y[max(0, yy) : yy + h, max(0, x) : x + w]
        if patch.size == 0:
            track.template = None
            return
        track.template = cv2.resize(patch, (TEMPLATE, TEMPLATE), interpolation=cv2.INTER_AREA)
        track.template_scale = TEMPLATE / max(w, 1)

    def follow(self, track: Track, y: np.ndarray, tile: Box) -> Box | None:
        """The known face near its last place by template matching, or ``None`` below ``follow_min_score``."""
        import cv2

        if track.template is None or track.face is None:
            return None
        fx, fy, fw, fh = track.face
        s = track.template_scale
        m = 0.5 * fw
        x0, y0 = max(tile[0], int(fx - m)), max(tile[1], int(fy - m))
        x1 = min(tile[0] + tile[2], int(fx + fw + m))
        y1 = min(tile[1] + tile[3], int(fy + fh + m))
        roi = y[y0:y1, x0:x1]
        if roi.shape[0] * s < TEMPLATE or roi.shape[1] * s < TEMPLATE:
            return None
        small = cv2.resize(roi, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
        if small.shape[0] < TEMPLATE or small.shape[1] < TEMPLATE:
            return None
        res = cv2.matchTemplate(small, track.template, cv2.TM_CCOEFF_NORMED)
        _, score, _, loc = cv2.minMaxLoc(res)
        track.template_score = float(score)
        if score < self.cfg.follow_min_score:
            return None
        return (int(x0 + loc[0] / s), int(y0 + loc[1] / s), int(fw), int(fh))

    @staticmethod
    def _second(name: str, img: np.ndarray, threshold: float) -> list[tuple[int, int, int, int, float]]:
        """``(x, y, w, h, score)`` of dlib's HOG (``threshold`` added to its bar) or MMOD CNN (a confidence floor)."""
        det = make_detector(name)
        if not hasattr(det, "scored"):
            raise ValueError(f"{name}: a second detector must be dlib-hog or dlib-cnn")
        return det.scored(img, threshold=threshold)

    def recheck(
        self, y: np.ndarray, face: Box, tile: Box, *, detector: str, threshold: float
    ) -> tuple[Box, float] | None:
        """The face near its last place by a second detector at the face's own scale; ``(box, score)`` or ``None``.

        The search window is the last box widened by 60% of its width on each
        side (inside the tile), scaled so that the face is ``RECHECK_FACE``
        pixels wide; a hit must lie near the last place and be of a similar
        size (another person further back does not count).
        """
        import cv2

        fx, fy, fw, fh = face
        m = 0.6 * fw
        x0, y0 = max(tile[0], int(fx - m)), max(tile[1], int(fy - m))
        x1 = min(tile[0] + tile[2], int(fx + fw + m))
        y1 = min(tile[1] + tile[3], int(fy + fh + m))
        roi = y[y0:y1, x0:x1]
        if roi.size == 0:
            return None
        s = RECHECK_FACE / max(fw, 1)
        small = cv2.resize(roi, None, fx=s, fy=s, interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
        cx, cy = fx + fw / 2, fy + fh / 2
        best = None
        for bx, by, bw, bh, score in self._second(detector, small, threshold):
            box = (x0 + bx / s, y0 + by / s, bw / s, bh / s)
            d = np.hypot(box[0] + box[2] / 2 - cx, box[1] + box[3] / 2 - cy)
            if d < 0.5 * fw and 0.6 < box[2] / fw < 1.6 and (best is None or score > best[1]):
                best = (tuple(int(round(v)) for v in box), score)
        return best  # type: ignore[return-value]

    def scan(self, y: np.ndarray, tile: Box, *, detector: str, min_face: float, threshold: float) -> np.ndarray:
        """Faces in a whole tile by the second detector (faces of ``min_face`` px and more), ``(N, 4)``."""
        import cv2

        x, yy, w, h = tile
        # the detector's 80 px window should meet the smallest wanted face (and not much more: time)
        s = min(1.0, 88.0 / max(min_face, 1.0)) if min_face > 0 else min(1.0, 320.0 / max(w, 1))
        crop = y[yy : yy + h, x : x + w]
        small = cv2.resize(crop, None, fx=s, fy=s, interpolation=cv2.INTER_AREA) if s < 1 else crop
        boxes = [
            (x + bx / s, yy + by / s, bw / s, bh / s) for bx, by, bw, bh, _ in self._second(detector, small, threshold)
        ]
        return np.rint(np.asarray(boxes, np.float64).reshape(-1, 4)).astype(np.int64)

    @staticmethod
    def face_chip(y: np.ndarray, face: Box) -> tuple[np.ndarray, Box]:
        """A small gray copy of ``face`` with a margin, scaled to the descriptor's face width, and the face's box
        in it: kept now and then so that who the face is can be asked later, only if it is needed."""
        import cv2

        from mextk.faces.identity import CHIP_FACE

        x, yy, w, h = (int(v) for v in face)
        m = int(0.4 * max(w, h))
        x0, y0 = max(0, x - m), max(0, yy - m)
        crop = y[y0 : min(y.shape[0], yy + h + m), x0 : min(y.shape[1], x + w + m)]
        s = CHIP_FACE / max(w, 1)
        chip = cv2.resize(crop, None, fx=s, fy=s, interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
        box = (int((x - x0) * s), int((yy - y0) * s), int(w * s), int(h * s))
        return np.ascontiguousarray(chip), box

    def faceprint(self, chip: np.ndarray, box: Box) -> np.ndarray | None:
        """Who the face of a chip is (:func:`mextk.faces.identity.faceprint`), or ``None`` without dlib's model.

        The model loads at the first call: a recording whose gallery never needs it never loads it.
        """
        if self.identity_off:
            return None
        from mextk.faces.identity import faceprint

        try:
            return faceprint(chip, box)
        except (ImportError, FileNotFoundError, RuntimeError):
            self.identity_off = True  # the look and the gallery's order still identify feeds
            return None

    def pose(self, y: np.ndarray, face: Box) -> tuple[float, float] | None:
        """Yaw and pitch (degrees) from landmarks fitted in ``face`` (``pose_landmarks``: 5 or 68 points); ``None``
        when pose is off.  The model loads at the first call: a recording without faces never loads it."""
        if not self.pose_on:
            return None
        import cv2

        from mextk.faces.landmarks import landmarks_5, landmarks_68
        from mextk.prepare.checks import head_pose, head_pose_5

        x, yy, w, h = (int(v) for v in face)
        m = int(0.3 * w)
        x0, y0 = max(0, x - m), max(0, yy - m)
        crop = y[y0 : min(self.height, yy + h + m), x0 : min(self.width, x + w + m)]
        s = min(1.0, 160.0 / max(1, w))
        if s < 1:
            crop = cv2.resize(crop, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
        box = (int((x - x0) * s), int((yy - y0) * s), int(w * s), int(h * s))
        try:
            if self.cfg.pose_landmarks == 68:
                yaw, pitch, _ = head_pose(landmarks_68(np.ascontiguousarray(crop), box), (crop.shape[1], crop.shape[0]))
            else:
                yaw, pitch, _ = head_pose_5(landmarks_5(np.ascontiguousarray(crop), box))
        except (ImportError, FileNotFoundError) as exc:
            self.pose_on = False  # no dlib or no model: skip pose from now on
            warn_no_pose(exc)
            return None
        return (yaw, pitch) if np.isfinite(yaw) and np.isfinite(pitch) else None


_POSE_WARNED: list[bool] = []


def warn_no_pose(exc: BaseException) -> None:
    """Say once per process that head pose is off, so that a missing turned_head flag is not taken as a measurement."""
    if _POSE_WARNED:
        return
    _POSE_WARNED.append(True)
    warnings.warn(
        f"head pose cannot be estimated ({exc.__class__.__name__}: {exc}); the turned_head flag is off for this run "
        "(install dlib-bin and face-recognition-models, or pass --no-pose to silence this)",
        UserWarning,
        stacklevel=2,
    )


def nearest(faces: np.ndarray, prev: Any) -> np.ndarray:
    """The face of ``faces`` closest to ``prev`` (centre distance), or the largest when ``prev`` is ``None``."""
    if prev is None:
        return max(faces, key=lambda f: f[2] * f[3])
    p = np.asarray(prev, float)
    return min(faces, key=lambda f: np.hypot(*(f[:2] + f[2:] / 2 - p[:2] - p[2:] / 2)))


def participant(faces: np.ndarray, prev: Any, tile: Box) -> np.ndarray | None:
    """The feed's participant among the faces found in its tile, or ``None`` when none can be.

    A webcam shows its participant as the largest face, near the middle, that stays; people standing
    or walking behind are smaller, off to a side, and pass.  So:

    * with the participant's last face known, only a face of a similar size (0.6-1.6 times its
      height) within 1.5 face widths of it can be them (a head moves less than that between two
      analysis steps); the nearest such face is taken.  A passer-by elsewhere is never taken instead
      (``None``: the other cues and the gap rules decide);
    * with no face known yet, the face with the largest height, weighted down by its distance from
      the tile's centre (``h * (1 - 0.5 d)``, ``d`` the centre distance over half the tile's
      diagonal), is taken.

    Examples
    --------
    >>> faces = np.array([[40, 40, 100, 100], [300, 10, 60, 60]])
    >>> participant(faces, None, (0, 0, 400, 300)).tolist()
    [40, 40, 100, 100]
    >>> participant(faces, (260, 20, 100, 100), (0, 0, 400, 300)) is None  # only the small face is near
    True
    """
    if len(faces) == 0:
        return None
    if prev is not None:
        px, py, pw, ph = (float(v) for v in prev)
        near = [
            f
            for f in faces
            if 0.6 < f[3] / max(ph, 1.0) < 1.6
            and np.hypot(f[0] + f[2] / 2 - px - pw / 2, f[1] + f[3] / 2 - py - ph / 2) <= 1.5 * pw
        ]
        return nearest(np.asarray(near), prev) if near else None
    tx, ty, tw, th = tile
    half_diagonal = max(1.0, 0.5 * float(np.hypot(tw, th)))

    def weight(f: np.ndarray) -> float:
        d = np.hypot(f[0] + f[2] / 2 - tx - tw / 2, f[1] + f[3] / 2 - ty - th / 2) / half_diagonal
        return float(f[3]) * (1.0 - 0.5 * min(1.0, d))

    return max(faces, key=weight)
