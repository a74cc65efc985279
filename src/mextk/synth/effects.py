"""Hard moments composed onto a real camera: head turns, looking down, a hand over the mouth, and more.

These make test galleries harder than the talking-head videos are on their
own, with known timing.  Each effect acts on one participant's camera frame
(RGB ``float32``) during ``[start, stop)`` (call frames), given where the
face is in that camera (:class:`FacePlace`, from 68 landmarks of the video's
first frame; the talking heads keep their place).  Strength ramps in and out
over ``ramp`` frames where a real movement would (a turn, a nod).

========== ======================================================================
kind       what the camera shows
========== ======================================================================
``turn``   the head turned sideways by ``amount`` degrees (a perspective warp of the
           face plane about its vertical axis)
``down``   the head bowed ``amount`` degrees, looking at a desk (warp about the
           horizontal axis, the face moving down)
``hand``   a hand (skin-coloured palm and fingers) over the mouth
``glasses`` dark-rimmed glasses
``laugh``  a wide-open mouth, the head tipped back and shaking (``amount``: degrees
           of roll)
``dim``    the room light down to ``amount`` of its level, with sensor noise
``walker`` another person (``video``) walking past behind at about the participant's eye level,
           left to right, over ``[start, stop)``
           (a long effect is someone standing about); ``amount``: the passer-by's head and
           shoulders as a share of the camera's height (default 0.4)
``expression`` a micro-expression (``emotion``'s action units, :data:`~mextk.synth.face.EMOTION_AUS`)
           rendered into the real face: 68 landmarks of the frame, the action units'
           landmark displacements (:func:`~mextk.synth.face.au_field`) scaled so the
           most moving landmark moves ``amount`` inter-ocular distances at the apex
           (0.08: as the synthetic calls' micro-expressions), and a radial-basis warp of
           the frame (:func:`~mextk.synth.face.warp_image`, width 0.18 inter-ocular
           distances); intensity rises and falls as a raised cosine with its apex
           midway, so ``[start, stop)`` is the expression's onset to offset
========== ======================================================================
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

KINDS = ("turn", "down", "hand", "glasses", "laugh", "dim", "walker", "expression")


@dataclass(frozen=True)
class Effect:
    """One hard moment of one participant.

    Attributes
    ----------
    kind : str
        One of :data:`KINDS`.
    start, stop : int
        Call frames ``[start, stop)``.
    amount : float
        Degrees for ``turn``/``down``/``laugh``, light level for ``dim``, the apex movement in
        inter-ocular distances for ``expression``, the passer-by's size for ``walker``; unused otherwise.
    ramp : int
        Frames over which a movement builds up and fades.
    video : str
        The passer-by's video (``walker``).
    emotion : str
        The emotion whose action units an ``expression`` moves.
    """

    kind: str
    start: int
    stop: int
    amount: float = 0.0
    ramp: int = 8
    video: str = ""
    emotion: str = ""

    def __post_init__(self) -> None:
        from mextk.synth.face import EMOTION_AUS

        if self.kind not in KINDS:
            raise ValueError(f"unknown effect {self.kind!r}; choose one of {', '.join(KINDS)}")
        if self.kind == "expression" and self.emotion not in EMOTION_AUS:
            raise ValueError(
                f"effect expression: unknown emotion {self.emotion!r}; choose one of {', '.join(EMOTION_AUS)}"
            )
        if self.kind == "expression" and self.stop - self.start < 3:
            raise ValueError(f"effect expression: [{self.start}, {self.stop}) is too short to rise and fall")
        if self.stop <= self.start:
            raise ValueError(f"effect {self.kind}: stop {self.stop} must be after start {self.start}")

    def strength(self, t: int) -> float:
        """0 outside the effect, ramping to 1 inside it."""
        if not self.start <= t < self.stop:
            return 0.0
        if self.kind == "expression":  # onset at start, apex midway, offset at stop - 1
            from mextk.synth.clips import expression_profile

            n = self.stop - self.start
            return float(expression_profile(n, 0, n // 2, n - 1)[t - self.start])
        r = max(1, self.ramp)
        return float(min(1.0, (t - self.start + 1) / r, (self.stop - t) / r))


@dataclass(frozen=True)
class FacePlace:
    """Where the face is in a camera: eye centres, mouth centre, face width (pixels)."""

    left_eye: tuple[float, float]
    right_eye: tuple[float, float]
    mouth: tuple[float, float]
    width: float

    @property
    def centre(self) -> tuple[float, float]:
        xs = (self.left_eye[0] + self.right_eye[0] + self.mouth[0]) / 3
        ys = (self.left_eye[1] + self.right_eye[1] + self.mouth[1]) / 3
        return xs, ys


def find_face_place(rgb: np.ndarray) -> FacePlace:
    """The face of a camera frame, from dlib's detector and 68 landmarks.

    Raises
    ------
    ValueError
        When no face is found.
    """
    import cv2

    from mextk.faces.landmarks import image_landmarks

    lm = image_landmarks(cv2.cvtColor(rgb.astype(np.uint8), cv2.COLOR_RGB2GRAY))
    if lm is None:
        raise ValueError("no face in the camera's first frame")
    return FacePlace(
        tuple(float(v) for v in lm[36:42].mean(axis=0)),
        tuple(float(v) for v in lm[42:48].mean(axis=0)),
        tuple(float(v) for v in lm[48:68].mean(axis=0)),
        float(lm[16, 0] - lm[0, 0]),
    )


def _warp_plane(img: np.ndarray, place: FacePlace, yaw: float, pitch: float, shift: tuple[float, float]) -> np.ndarray:
    """Rotate the face plane by ``yaw``/``pitch`` degrees about the face centre, in perspective."""
    import cv2

    h, w = img.shape[:2]
    cx, cy = place.centre
    f = 2.0 * place.width  # a webcam's focal length, in face widths
    ry, rp = np.deg2rad(yaw), np.deg2rad(pitch)
    rot_y = np.array([[np.cos(ry), 0, np.sin(ry)], [0, 1, 0], [-np.sin(ry), 0, np.cos(ry)]])
    rot_x = np.array([[1, 0, 0], [0, np.cos(rp), -np.sin(rp)], [0, np.sin(rp), np.cos(rp)]])
    rot = rot_x @ rot_y
    src = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    dst = []
    for x, y in src:
        p = rot @ np.array([x - cx, y - cy, 0.0])
        z = f + p[2]
        dst.append([cx + shift[0] + f * p[0] / z, cy + shift[1] + f * p[1] / z])
    m = cv2.getPerspectiveTransform(src, np.array(dst, np.float32))
    return _head_only(img, cv2.warpPerspective(img, m, (w, h), borderMode=cv2.BORDER_REPLICATE), place)


def _head_only(img: np.ndarray, moved: np.ndarray, place: FacePlace) -> np.ndarray:
    """``moved`` inside a soft ellipse around the head, ``img`` (the room) outside: only the head moves."""
    import cv2

    mask = np.zeros(img.shape[:2], np.float32)
    cx, cy = place.centre
    w = place.width
    cv2.ellipse(mask, (int(cx), int(cy - 0.1 * w)), (int(0.85 * w), int(1.25 * w)), 0, 0, 360, 1.0, -1)
    k = int(0.3 * w) | 1
    mask = cv2.GaussianBlur(mask, (k, k), 0)[..., None]
    return moved * mask + img * (1 - mask)


def _expression(img: np.ndarray, effect: Effect, strength: float) -> np.ndarray:
    """``img`` with ``effect``'s action units moved to ``strength`` of their apex (unchanged without a face)."""
    from mextk.synth.face import EMOTION_AUS, move_action_units

    moved = move_action_units(img, EMOTION_AUS[effect.emotion], strength * effect.amount)
    return img if moved is None else moved


def apply_effects(
    img: np.ndarray,
    t: int,
    effects: list[Effect],
    place: FacePlace,
    rng: np.random.Generator,
    walkers: dict[str, np.ndarray] | None = None,
) -> np.ndarray:
    """The camera frame ``img`` (RGB float) at call frame ``t`` with every active effect applied."""
    import cv2

    out = img
    for e in effects:
        s = e.strength(t)
        if s <= 0:
            continue
        w = place.width
        if e.kind == "walker" and walkers is not None and e.video in walkers:
            other = walkers[e.video]
            side = int((e.amount or 0.4) * out.shape[0])
            small = cv2.resize(other, (side, side), interpolation=cv2.INTER_AREA).astype(np.float32)
            frac = (t - e.start) / max(1, e.stop - e.start)
            x0 = int(-side + frac * (out.shape[1] + side))
            cx, cy = place.centre
            # standing up behind the participant: the passer-by's face (in the upper half of the picture) at
            # about the participant's eye level, a little higher (further back)
            y0 = int(np.clip(cy - 0.55 * side, 0, max(0, out.shape[0] - side)))
            # behind the participant: hidden where the participant's head and shoulders are
            behind = np.ones(out.shape[:2], np.float32)
            cv2.ellipse(behind, (int(cx), int(cy)), (int(0.6 * w), int(0.85 * w)), 0, 0, 360, 0.0, -1)
            cv2.rectangle(behind, (int(cx - 0.9 * w), int(cy + 0.6 * w)), (int(cx + 0.9 * w), out.shape[0]), 0.0, -1)
            xa, xb = max(0, x0), min(out.shape[1], x0 + side)
            if xb > xa:
                out = out.copy()
                region = out[y0 : y0 + side, xa:xb]
                mask = behind[y0 : y0 + side, xa:xb, None][: region.shape[0]]
                patch = small[: region.shape[0], xa - x0 : xb - x0]
                out[y0 : y0 + side, xa:xb] = region * (1 - mask) + patch * mask
        elif e.kind == "turn":
            out = _warp_plane(out, place, s * e.amount, 0.0, (0.15 * w * s * np.sign(e.amount), 0.0))
        elif e.kind == "down":
            out = _warp_plane(out, place, 0.0, -s * e.amount, (0.0, 0.35 * w * s))
        elif e.kind == "laugh":
            out = out.copy()
            mx, my = place.mouth
            # the jaw drops: stretch the band around the mouth downwards, with a dark open mouth
            a, b = int(my - 0.12 * w), int(my + 0.25 * w)
            x0, x1 = int(mx - 0.35 * w), int(mx + 0.35 * w)
            band = out[a:b, x0:x1]
            if band.size:
                grown = cv2.resize(band, (band.shape[1], int(band.shape[0] * (1 + 0.35 * s))))
                bottom = min(out.shape[0], a + grown.shape[0])
                out[a:bottom, x0:x1] = grown[: bottom - a]
                cv2.ellipse(
                    out,
                    (int(mx), int(my + 0.05 * w)),
                    (int(0.16 * w), int(0.09 * w * s) + 1),
                    0,
                    0,
                    360,
                    (60, 20, 25),
                    -1,
                )
            roll = s * e.amount * np.sin(2 * np.pi * 4 * t / 25.0)
            m = cv2.getRotationMatrix2D(place.centre, float(roll), 1.0)
            rolled = cv2.warpAffine(out, m, (out.shape[1], out.shape[0]), borderMode=cv2.BORDER_REPLICATE)
            out = _head_only(out, rolled, place)
            out = _warp_plane(out, place, 0.0, 12.0 * s, (0.0, -0.05 * w * s))
        elif e.kind == "hand":
            out = out.copy()
            mx, my = place.mouth
            cheek = img[int(place.left_eye[1] + 0.25 * w), int(place.left_eye[0])].astype(float)
            skin = tuple(float(c) for c in np.clip(cheek * 1.05 + 8, 0, 255))
            cv2.ellipse(out, (int(mx), int(my + 0.05 * w)), (int(0.28 * w), int(0.17 * w)), 0, 0, 360, skin, -1)
            for k in range(4):  # fingers across the cheek
                fy = int(my - 0.1 * w + k * 0.07 * w)
                cv2.rectangle(out, (int(mx - 0.5 * w), fy), (int(mx + 0.1 * w), fy + int(0.06 * w)), skin, -1)
        elif e.kind == "glasses":
            out = out.copy()
            r = int(0.13 * w)
            for ex, ey in (place.left_eye, place.right_eye):
                cv2.circle(out, (int(ex), int(ey)), r, (25, 25, 25), max(2, int(0.025 * w)))
            (lx, ly), (rx, ry) = place.left_eye, place.right_eye
            cv2.line(out, (int(lx + r), int(ly)), (int(rx - r), int(ry)), (25, 25, 25), max(2, int(0.02 * w)))
        elif e.kind == "expression":
            out = _expression(out, e, s)
        elif e.kind == "dim":
            level = 1.0 - s * (1.0 - e.amount)
            out = out * level + rng.standard_normal(out.shape, dtype=np.float32) * np.float32(3.0 * s)
    return out


def load_walker(path: str | Path, size: int = 256) -> np.ndarray:
    """A passer-by's picture: the first frame of ``path``, square-cropped on its largest face."""
    import cv2

    from mextk.io.video import read_frames

    frame = read_frames(path, start=0, stop=1)[0]
    place = find_face_place(frame)
    cx, cy = place.centre
    half = int(1.2 * place.width)
    x0, y0 = max(0, int(cx - half)), max(0, int(cy - half))
    crop = frame[y0 : y0 + 2 * half, x0 : x0 + 2 * half]
    return cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA).astype(np.float32)
