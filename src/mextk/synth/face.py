"""Synthetic faces: subjects made from a real photo, and landmark-driven facial actions.

The base face is the astronaut photograph that ships with scikit-image
(``skimage.data.astronaut()``, Eileen Collins, public domain).  Its 68 iBUG
landmarks (:data:`mextk.faces.reference.ASTRONAUT_LANDMARKS`, which alignment's
reference shape also comes from) were placed once with dlib's predictor, so generating
data needs neither dlib nor its 100 MB model.

A *subject* is the base face after identity-changing transforms
(:func:`make_subject`): a smooth landmark-driven change of face shape (width,
jaw, eye spacing, nose length, mouth width, brow height), skin tone, hair
colour, lighting, a new background and an optional mirror image.

Facial *actions* are displacement fields defined on the landmarks: each action
unit (AU) moves a set of landmarks (:data:`AU_DISPLACEMENTS`), and a dense
field is obtained by Gaussian radial-basis interpolation of the landmark
displacements, with every other landmark pinned at zero so that motion stays
local.  :class:`FaceRenderer` turns a field and a head pose into a frame with
one ``cv2.remap``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from mextk.faces.reference import ASTRONAUT_LANDMARKS, MIRROR

# Person silhouette of the astronaut photo (head ellipse, neck, suit), for background replacement.
_HEAD_ELLIPSE = ((227, 98), (75, 86))
_NECK = [(183, 150), (272, 150), (285, 178), (172, 178)]
_SUIT = [
    (18, 511),
    (22, 330),
    (40, 250),
    (100, 215),
    (118, 168),
    (140, 150),
    (300, 150),
    (312, 175),
    (335, 225),
    (360, 320),
    (368, 511),
]


def _sym(entries: list[tuple[int, float, float]]) -> list[tuple[int, float, float]]:
    """Add the mirror partner of every entry (out/up components are side-relative)."""
    out = list(entries)
    have = {i for i, _, _ in entries}
    for i, o, u in entries:
        j = int(MIRROR[i])
        if j not in have:
            out.append((j, o, u))
    return out


#: Landmark displacements of each action unit as ``(index, outward, upward)``
#: in relative units; "outward" is away from the face's vertical midline.
#: Bilateral units list one side and are mirrored.  ``R12`` is the
#: unilateral lip-corner pull of contempt.
AU_DISPLACEMENTS: dict[str, list[tuple[int, float, float]]] = {
    "AU1": _sym([(21, 0, 1.0), (20, 0, 0.8), (19, 0, 0.4)]),
    "AU2": _sym([(17, 0, 1.0), (18, 0, 0.9), (19, 0, 0.5)]),
    "AU4": _sym([(21, -0.5, -1.0), (20, -0.3, -0.9), (19, -0.1, -0.7), (18, 0, -0.5), (17, 0, -0.3)]),
    "AU5": _sym([(37, 0, 0.6), (38, 0, 0.6), (19, 0, 0.15)]),
    "AU6": _sym([(40, 0, 0.5), (41, 0, 0.5), (36, 0.1, 0.2), (1, 0, 0.4), (2, 0, 0.5), (3, 0, 0.3)]),
    "AU7": _sym([(40, 0, 0.7), (41, 0, 0.7), (37, 0, -0.2), (38, 0, -0.2)]),
    "AU9": _sym([(31, 0, 0.5), (32, 0, 0.4), (21, 0, -0.3)]) + [(33, 0, 0.3), (29, 0, 0.2)],
    "AU10": _sym([(50, 0, 1.0), (49, 0, 0.6), (61, 0, 0.8), (31, 0, 0.3)]) + [(51, 0, 0.9), (62, 0, 0.8)],
    "AU12": _sym([(48, 0.8, 0.6), (60, 0.7, 0.5), (49, 0.3, 0.3), (59, 0.4, 0.3), (67, 0.2, 0.2)]),
    "R12": [(54, 0.8, 0.6), (64, 0.7, 0.5), (53, 0.3, 0.3), (55, 0.4, 0.3), (65, 0.2, 0.2)],
    "AU14": _sym([(48, -0.3, 0.1), (60, -0.2, 0.1)]),
    "AU15": _sym([(48, 0.1, -0.9), (60, 0.1, -0.7), (59, 0, -0.4), (49, 0, -0.2)]),
    "AU17": _sym([(58, 0, 0.5), (7, 0, 0.4)]) + [(57, 0, 0.6), (8, 0, 0.5), (66, 0, 0.3)],
    "AU20": _sym([(48, 1.0, -0.15), (60, 0.9, -0.1), (49, 0.4, 0), (59, 0.4, 0)]),
    "AU23": _sym([(48, -0.4, 0), (60, -0.3, 0), (50, 0, -0.5), (58, 0, 0.5), (61, 0, -0.3), (67, 0, 0.3)])
    + [(51, 0, -0.5), (57, 0, 0.5), (62, 0, -0.3), (66, 0, 0.3)],
    "AU24": _sym([(50, 0, -0.3), (58, 0, 0.3), (61, 0, -0.3), (67, 0, 0.3)])
    + [(51, 0, -0.3), (57, 0, 0.3), (62, 0, -0.3), (66, 0, 0.3)],
    # Lips part and jaw drop: speech in call recordings.
    "AU26": _sym([(58, 0, -0.5), (67, 0, -0.7), (59, 0, -0.3), (7, 0, -0.6), (6, 0, -0.4), (5, 0, -0.2)])
    + [(57, 0, -0.8), (66, 0, -0.7), (8, 0, -0.7)],
}

#: Action units rendered for each emotion (prototypes after Ekman's FACS and DFME's Table VI).
EMOTION_AUS: dict[str, tuple[str, ...]] = {
    "happiness": ("AU6", "AU12"),
    "surprise": ("AU1", "AU2", "AU5"),
    "disgust": ("AU4", "AU7", "AU10"),
    "anger": ("AU4", "AU5", "AU23"),
    "sadness": ("AU1", "AU4", "AU15"),
    "fear": ("AU1", "AU2", "AU4", "AU5", "AU20"),
    "contempt": ("R12", "AU14"),
}

#: Printed AU codes (``R12`` is written ``R-AU12`` as DFME does).
AU_CODES = {au: ("R-AU12" if au == "R12" else au) for au in AU_DISPLACEMENTS}


def face_frame(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Origin, right-pointing and down-pointing unit axes, and inter-ocular distance of a face.

    Parameters
    ----------
    landmarks : numpy.ndarray
        ``(68, 2)`` iBUG landmarks (x, y).

    Returns
    -------
    origin, ex, ey : numpy.ndarray
        Mid-point of the eye centres and the face's x (image-right) and y (down) axes.
    iod : float
        Distance between the eye centres in pixels.
    """
    right_eye = landmarks[36:42].mean(axis=0)
    left_eye = landmarks[42:48].mean(axis=0)
    axis = left_eye - right_eye
    iod = float(np.hypot(*axis))
    ex = axis / iod
    ey = np.array([-ex[1], ex[0]])
    return (right_eye + left_eye) / 2, ex, ey, iod


def au_field(landmarks: np.ndarray, aus: dict[str, float]) -> np.ndarray:
    """Landmark displacements (pixels per unit intensity) of a weighted set of action units.

    Parameters
    ----------
    landmarks : numpy.ndarray
        ``(68, 2)`` landmarks of the neutral face.
    aus : dict
        ``{AU name: weight}``, names from :data:`AU_DISPLACEMENTS`.

    Returns
    -------
    numpy.ndarray
        ``(68, 2)`` displacement (x, y) per landmark, in units of the
        inter-ocular distance times the weights (scale it to pixels yourself).
    """
    origin, ex, ey, iod = face_frame(landmarks)
    side = np.sign((landmarks - origin) @ ex)
    side[np.abs((landmarks - origin) @ ex) < 0.02 * iod] = 0.0
    disp = np.zeros((68, 2))
    for au, weight in aus.items():
        try:
            entries = AU_DISPLACEMENTS[au]
        except KeyError:
            raise ValueError(f"unknown action unit {au!r}; known: {', '.join(AU_DISPLACEMENTS)}") from None
        for i, outward, upward in entries:
            disp[i] += weight * (outward * side[i] * ex - upward * ey)
    return disp


def blink_field(landmarks: np.ndarray, closure: float = 0.9) -> np.ndarray:
    """Landmark displacements (pixels) that close both eyes by ``closure`` (0..1)."""
    disp = np.zeros((68, 2))
    for upper, lower in ((37, 41), (38, 40), (43, 47), (44, 46)):
        disp[upper] = closure * (landmarks[lower] - landmarks[upper])
    return disp


def rbf_basis(points: np.ndarray, centres: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian kernel matrix ``exp(-|p - c|^2 / (2 sigma^2))`` of shape ``(len(points), len(centres))``."""
    d2 = ((points[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2)
    return np.exp(-d2 / (2.0 * sigma * sigma))


def rbf_weights(centres: np.ndarray, displacements: np.ndarray, sigma: float, reg: float = 1e-3) -> np.ndarray:
    """Weights of the Gaussian RBF field that moves each centre by its displacement.

    Solves ``(K + reg I) W = displacements``; the small ridge keeps the
    system well conditioned where landmarks nearly coincide (inner and outer lips).
    """
    k = rbf_basis(centres, centres, sigma)
    return np.linalg.solve(k + reg * np.eye(len(centres)), displacements)


def warp_image(
    image: np.ndarray, landmarks: np.ndarray, displacements: np.ndarray, sigma: float
) -> tuple[np.ndarray, np.ndarray]:
    """Warp a whole image so that each landmark moves by its displacement.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        The warped image and the moved landmarks.
    """
    import cv2

    h, w = image.shape[:2]
    weights = rbf_weights(landmarks, displacements, sigma)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    grid = np.stack([xs.ravel(), ys.ravel()], axis=1)
    field = np.zeros_like(grid)
    # Only pixels near the face move; evaluate the kernel there.
    lo = landmarks.min(axis=0) - 4 * sigma
    hi = landmarks.max(axis=0) + 4 * sigma
    near = np.all((grid >= lo) & (grid <= hi), axis=1)
    field[near] = rbf_basis(grid[near], landmarks, sigma) @ weights
    map_x = (grid[:, 0] - field[:, 0]).reshape(h, w).astype(np.float32)
    map_y = (grid[:, 1] - field[:, 1]).reshape(h, w).astype(np.float32)
    out = cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    moved = landmarks + rbf_basis(landmarks, landmarks, sigma) @ weights
    return out, moved


def move_action_units(image: np.ndarray, aus: tuple[str, ...] | list[str], amount_iod: float) -> np.ndarray | None:
    """A real face image with action units moved: the most moving landmark moves ``amount_iod`` eye distances.

    dlib's 68 landmarks of ``image`` (RGB, any numeric type), the action units' landmark displacements
    (:func:`au_field`, each at weight 1) scaled to that amount, and a radial-basis warp of the image
    (:func:`warp_image`, width 0.18 inter-ocular distances).  Returns the warped image as ``float32``, or None
    where no face is found.
    """
    from mextk.faces.landmarks import image_landmarks

    gray = np.clip(np.asarray(image, np.float32).mean(axis=2), 0, 255).astype(np.uint8)
    lm = image_landmarks(gray)
    if lm is None:
        return None
    iod = face_frame(lm)[3]
    field = au_field(lm, {au: 1.0 for au in aus})
    peak = float(np.max(np.hypot(field[:, 0], field[:, 1])))
    disp = field / max(peak, 1e-9) * (amount_iod * iod)
    return warp_image(np.asarray(image, np.float32), lm, disp, 0.18 * iod)[0]


@dataclass(frozen=True)
class Subject:
    """A synthetic identity.

    Attributes
    ----------
    image : numpy.ndarray
        ``(H, W, 3)`` ``float32`` RGB in [0, 255].
    landmarks : numpy.ndarray
        ``(68, 2)`` neutral landmarks in ``image`` coordinates.
    seed : int
        The seed that made it.
    params : dict
        The identity parameters drawn (for the record).
    """

    image: np.ndarray
    landmarks: np.ndarray
    seed: int
    params: dict

    @property
    def iod(self) -> float:
        """Inter-ocular distance in pixels."""
        return face_frame(self.landmarks)[3]

    @property
    def face_width(self) -> float:
        """Jaw width (landmark 0 to 16) in pixels."""
        return float(np.hypot(*(self.landmarks[16] - self.landmarks[0])))

    @property
    def distance(self) -> float:
        """Relative camera distance (1 = average); crops around the face widen by this factor."""
        return float(self.params.get("distance", 1.0))

    @property
    def face_centre(self) -> np.ndarray:
        """Centre of the landmarks' bounding box."""
        return (self.landmarks.min(axis=0) + self.landmarks.max(axis=0)) / 2


@functools.lru_cache(maxsize=1)
def base_face() -> tuple[np.ndarray, np.ndarray]:
    """The astronaut photo as ``float32`` RGB and its landmarks."""
    from skimage import data

    return data.astronaut().astype(np.float32), ASTRONAUT_LANDMARKS.copy()


def make_background(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """A plausible, slightly out-of-focus room behind a video-call participant.

    A wall with a vertical light gradient, and a few shelves, frames, a door or
    a window, blurred as a webcam's depth of field would blur them.
    """
    import cv2

    wall = rng.uniform(60, 230, size=3)
    wall = wall * 0.55 + wall.mean() * 0.45  # mostly muted colours
    grad = np.linspace(1.08, 0.85, height)[:, None, None]
    bg = np.ones((height, width, 3), np.float32) * wall[None, None, :] * grad
    for _ in range(int(rng.integers(2, 6))):
        kind = rng.choice(["shelf", "frame", "door", "window"])
        x0 = int(rng.uniform(-0.1, 0.9) * width)
        y0 = int(rng.uniform(0.0, 0.8) * height)
        if kind == "shelf":
            w_, h_ = int(rng.uniform(0.2, 0.5) * width), int(rng.uniform(0.02, 0.05) * height)
            colour = rng.uniform(40, 140, size=3)
        elif kind == "frame":
            w_, h_ = int(rng.uniform(0.08, 0.2) * width), int(rng.uniform(0.08, 0.2) * height)
            colour = rng.uniform(20, 255, size=3)
        elif kind == "door":
            w_, h_ = int(rng.uniform(0.15, 0.25) * width), height
            y0 = int(rng.uniform(0.1, 0.3) * height)
            colour = wall * rng.uniform(0.6, 0.9)
        else:
            w_, h_ = int(rng.uniform(0.2, 0.35) * width), int(rng.uniform(0.2, 0.35) * height)
            colour = np.full(3, rng.uniform(200, 250))
        cv2.rectangle(bg, (x0, y0), (x0 + w_, y0 + h_), colour.tolist(), -1)
    k = max(3, (min(height, width) // 40) | 1)
    return cv2.GaussianBlur(bg, (k, k), 0)


def _soft_mask(shape: tuple[int, int], polygons: list[np.ndarray], ellipse: tuple | None, blur: int) -> np.ndarray:
    import cv2

    mask = np.zeros(shape, np.uint8)
    if ellipse is not None:
        cv2.ellipse(mask, ellipse[0], ellipse[1], 0, 0, 360, 255, -1)
    for poly in polygons:
        cv2.fillPoly(mask, [poly.astype(np.int32)], 255)
    mask = cv2.GaussianBlur(mask.astype(np.float32) / 255.0, (blur, blur), 0)
    return mask[:, :, None]


def make_subject(seed: int) -> Subject:
    """Make a distinct synthetic identity from the astronaut photo.

    Identity transforms, all drawn from ``seed``: face shape (jaw width, chin
    length, eye spacing, brow height, nose length, mouth width; up to ~12% of
    the inter-ocular distance), skin tone (brightness 0.6-1.15, warm/cool
    tint), hair colour, lighting (a smooth left/right and top/bottom gradient
    and gamma), background (a generated room), camera distance (the face's
    size within crops and tiles, +-12%) and a mirror image with probability
    1/2.  Seed 0 is the unchanged photo with a new background.

    Parameters
    ----------
    seed : int
        Identity seed.

    Returns
    -------
    Subject
    """
    import cv2

    image, lm = base_face()
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x5EED]))
    h, w = image.shape[:2]
    origin, ex, ey, iod = face_frame(lm)
    identity = seed != 0
    p = {
        "jaw": rng.uniform(-1, 1) if identity else 0.0,
        "chin": rng.uniform(-1, 1) if identity else 0.0,
        "eyes": rng.uniform(-1, 1) if identity else 0.0,
        "brows": rng.uniform(-1, 1) if identity else 0.0,
        "nose": rng.uniform(-1, 1) if identity else 0.0,
        "mouth": rng.uniform(-1, 1) if identity else 0.0,
        "skin": rng.uniform(0.6, 1.15) if identity else 1.0,
        "warmth": rng.uniform(-1, 1) if identity else 0.0,
        "hair": rng.uniform(0.35, 1.25) if identity else 1.0,
        "light_x": rng.uniform(-0.45, 0.45) if identity else 0.0,
        "light_y": rng.uniform(-0.3, 0.3) if identity else 0.0,
        "gamma": rng.uniform(0.85, 1.15) if identity else 1.0,
        "mirror": bool(rng.random() < 0.5) if identity else False,
        # how close the person sits to the camera: scales the face within every crop and tile
        "distance": rng.uniform(0.88, 1.12) if identity else 1.0,
    }
    # 1. face shape
    rel = lm - origin
    out_x = np.sign(rel @ ex)
    disp = np.zeros((68, 2))
    jaw_profile = np.sin(np.linspace(0, np.pi, 17))
    disp[0:17] += (p["jaw"] * 0.12 * iod * jaw_profile * out_x[0:17])[:, None] * ex
    disp[5:12] += (p["chin"] * 0.10 * iod * np.sin(np.linspace(0, np.pi, 7)))[:, None] * ey
    disp[36:48] += (p["eyes"] * 0.05 * iod * out_x[36:48])[:, None] * ex
    disp[17:27] += (p["eyes"] * 0.05 * iod * out_x[17:27])[:, None] * ex - p["brows"] * 0.07 * iod * ey
    disp[30:36] += p["nose"] * 0.08 * iod * ey
    disp[48:68] += p["nose"] * 0.05 * iod * ey
    for i in (48, 54, 60, 64):
        disp[i] += p["mouth"] * 0.08 * iod * out_x[i] * ex
    for i in (49, 53, 59, 55, 61, 63, 65, 67):
        disp[i] += p["mouth"] * 0.04 * iod * out_x[i] * ex
    if identity:
        image, lm = warp_image(image, lm, disp, sigma=0.45 * iod)
    # 2. skin and hair colour
    forehead = lm[17:27] - 0.45 * iod * ey
    neck = np.array([[lm[5, 0], 178.0], [lm[11, 0], 178.0]])
    skin_poly = cv2.convexHull(np.concatenate([lm[0:17], forehead, neck]).astype(np.float32))[:, 0, :]
    skin = _soft_mask((h, w), [skin_poly], None, 9)
    head = _soft_mask((h, w), [], _HEAD_ELLIPSE, 9)
    hair = np.clip(head - skin, 0, 1)
    tint = np.array([1 + 0.06 * p["warmth"], 1.0, 1 - 0.08 * p["warmth"]], np.float32)
    skin_gain = p["skin"] * tint
    image = image * (1 - skin) + image * skin * skin_gain
    hair_gain = p["hair"] * np.array([1.0, 0.97, 0.92], np.float32)
    image = image * (1 - hair) + image * hair * hair_gain
    # 3. background
    person = _soft_mask((h, w), [np.array(_NECK), np.array(_SUIT)], _HEAD_ELLIPSE, 7)
    # every subject, seed 0 included, sits in a generated room
    bg = make_background(h, w, rng)
    image = image * person + bg * (1 - person)
    # 4. lighting
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    light = np.exp(p["light_x"] * (xs - w / 2) / w * 2 + p["light_y"] * (ys - h / 2) / h * 2)
    image = image * light[:, :, None]
    image = 255.0 * np.clip(image / 255.0, 0, 1) ** p["gamma"]
    # 5. mirror
    if p["mirror"]:
        image = image[:, ::-1].copy()
        lm = lm[MIRROR].copy()
        lm[:, 0] = (w - 1) - lm[:, 0]
    params = {k: (round(float(v), 4) if not isinstance(v, bool) else v) for k, v in p.items()}
    return Subject(np.ascontiguousarray(image, dtype=np.float32), lm, seed, params)


class FaceRenderer:
    """Renders frames of one subject through a fixed output window, with facial actions and head motion.

    The window maps output pixel ``(u, v)`` to subject-image coordinates
    ``centre + R(angle) * (u - W/2, v - H/2) / scale``.  A facial action is a
    ``(68, 2)`` landmark displacement (subject pixels); its dense field is a
    Gaussian RBF interpolation evaluated once per window (the head moves by a
    pixel or two, far less than the field's width, so the basis is reused).

    Parameters
    ----------
    subject : Subject
        Who is rendered.
    out_size : (int, int)
        ``(width, height)`` of the output frame.
    centre : array-like
        Window centre in subject-image coordinates.
    scale : float
        Output pixels per subject pixel.
    sigma_iod : float
        Width of the action fields in inter-ocular distances.
    """

    def __init__(
        self,
        subject: Subject,
        *,
        out_size: tuple[int, int],
        centre: np.ndarray,
        scale: float,
        sigma_iod: float = 0.28,
    ) -> None:
        self.subject = subject
        self.width, self.height = int(out_size[0]), int(out_size[1])
        self.centre = np.asarray(centre, dtype=np.float64)
        self.scale = float(scale)
        self.sigma = sigma_iod * subject.iod
        lm = subject.landmarks
        k = rbf_basis(lm, lm, self.sigma)
        self._solve = np.linalg.inv(k + 1e-3 * np.eye(68))
        self._k_landmarks = k
        ys, xs = np.mgrid[0 : self.height, 0 : self.width].astype(np.float64)
        self._uv = np.stack([xs.ravel(), ys.ravel()], axis=1)
        src0 = self._window(self._uv, np.zeros(2), 0.0, 1.0)
        lo = lm.min(axis=0) - 4 * self.sigma
        hi = lm.max(axis=0) + 4 * self.sigma
        self._near = np.flatnonzero(np.all((src0 >= lo) & (src0 <= hi), axis=1))
        self._basis = rbf_basis(src0[self._near], lm, self.sigma).astype(np.float32)

    def _window(self, uv: np.ndarray, shift: np.ndarray, angle: float, zoom: float) -> np.ndarray:
        c, s = np.cos(angle), np.sin(angle)
        rot = np.array([[c, -s], [s, c]])
        rel = (uv - np.array([self.width / 2, self.height / 2])) / (self.scale * zoom)
        return self.centre + shift + rel @ rot.T

    def render(
        self,
        displacement: np.ndarray | None = None,
        *,
        shift: np.ndarray | None = None,
        angle: float = 0.0,
        zoom: float = 1.0,
        gain: float = 1.0,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Render one frame.

        Parameters
        ----------
        displacement : numpy.ndarray, optional
            ``(68, 2)`` landmark displacement in subject pixels.
        shift : numpy.ndarray, optional
            Head translation in subject pixels.
        angle : float
            Head roll in radians.
        zoom : float
            Relative scale (moving towards the camera > 1).
        gain : float
            Global brightness factor (lighting flicker).

        Returns
        -------
        frame : numpy.ndarray
            ``(H, W, 3)`` ``float32`` RGB in [0, 255] (no noise, not quantised).
        landmarks : numpy.ndarray
            ``(68, 2)`` landmark positions in output pixels.
        """
        import cv2

        shift = np.zeros(2) if shift is None else np.asarray(shift, dtype=np.float64)
        src = self._window(self._uv, shift, -angle, zoom)
        lm = self.subject.landmarks
        moved = lm.copy()
        if displacement is not None and np.any(displacement):
            weights = self._solve @ displacement
            src[self._near] -= self._basis @ weights.astype(np.float32)
            moved = lm + self._k_landmarks @ weights
        map_x = src[:, 0].reshape(self.height, self.width).astype(np.float32)
        map_y = src[:, 1].reshape(self.height, self.width).astype(np.float32)
        frame = cv2.remap(self.subject.image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        if gain != 1.0:
            frame = frame * gain
        # Invert the window to place the landmarks in output pixels.
        c, s = np.cos(-angle), np.sin(-angle)
        rot = np.array([[c, -s], [s, c]])
        rel = (moved - self.centre - shift) @ rot
        out_lm = rel * (self.scale * zoom) + np.array([self.width / 2, self.height / 2])
        return frame, out_lm
