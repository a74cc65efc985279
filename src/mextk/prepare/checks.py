"""Automatic exclusion checks for prepared clips (what CMED's reviewers checked by hand).

Each clip collects measurements while it is written (:class:`ClipEvidence`),
and :func:`clip_flags` turns them into flags with thresholds from
:class:`~mextk.prepare.config.PrepareConfig`:

``small_face``      the median face height is below ``flag_min_face_px`` pixels (what the
                    features need), or, when set, below ``flag_min_face_frac`` of the tile's height;
``turned_head``     the median absolute yaw or pitch, estimated from dlib's 5 landmarks
                    (``pose_landmarks = 68``: from 68), exceeds ``flag_max_yaw`` /
                    ``flag_max_pitch`` degrees;
``multiple_faces``  another face was seen in the tile in at least
                    ``flag_multi_face`` of the whole-tile searches (a sibling, an adult
                    behind); then every clip of that feed carries it;
``face_covered``    the face was found in fewer than ``flag_min_visible`` of the
                    checks inside the clip (hands, food, turning away);
``intrusion``       more than ``flag_max_intrusion`` of the crop lies outside the
                    face's tile or is black bars (letterboxing, other tiles).

Flags never delete a clip; they mark it ``kept = false`` in the review table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mextk.prepare.config import PrepareConfig

Box = tuple[int, int, int, int]

# A 3-D face (millimetres; x right, y up, z towards the camera) at six iBUG landmarks.  Depths
# follow the generic head model common in pose estimation; x and y are scaled from the 2-D
# proportions of a frontal dlib-landmarked face (skimage's astronaut) and tuned so that dlib's
# landmarks of that frontal face give yaw and pitch within about 5 degrees of zero.
_MODEL_POINTS = np.array(
    [
        [0.0, 0.0, 0.0],  # 30 nose tip
        [0.0, -78.0, -12.5],  # 8 chin
        [-43.3, 35.0, -26.0],  # 36 right eye, outer corner (image left)
        [43.3, 35.0, -26.0],  # 45 left eye, outer corner
        [-31.0, -17.0, -24.1],  # 48 mouth corner (image left)
        [31.0, -17.0, -24.1],  # 54 mouth corner
    ]
)
_MODEL_INDEX = [30, 8, 36, 45, 48, 54]


def head_pose(landmarks: np.ndarray, image_size: tuple[int, int]) -> tuple[float, float, float]:
    """Yaw, pitch and roll in degrees from 68 landmarks (0, 0, 0 = frontal).

    Solves the perspective-n-point problem (``cv2.solvePnP``) for six
    landmarks against a generic 3-D face, with a pinhole camera whose focal
    length is the image width.

    Parameters
    ----------
    landmarks : numpy.ndarray
        ``(68, 2)`` landmarks.
    image_size : (int, int)
        ``(width, height)`` of the image the landmarks are in.

    Returns
    -------
    (float, float, float)
        Yaw (turning left/right), pitch (nodding), roll (tilting).
    """
    import cv2

    w, h = image_size
    cam = np.array([[w, 0, w / 2], [0, w, h / 2], [0, 0, 1]], dtype=np.float64)
    image_points = landmarks[_MODEL_INDEX].astype(np.float64)
    # image y points down, the model's y points up
    model = _MODEL_POINTS * np.array([1.0, -1.0, -1.0])
    ok, rvec, _ = cv2.solvePnP(model, image_points, cam, np.zeros(4), flags=cv2.SOLVEPNP_SQPNP)
    if not ok:
        return float("nan"), float("nan"), float("nan")
    rot, _ = cv2.Rodrigues(rvec)
    sy = np.hypot(rot[0, 0], rot[1, 0])
    pitch = np.degrees(np.arctan2(rot[2, 1], rot[2, 2]))
    yaw = np.degrees(np.arctan2(-rot[2, 0], sy))
    roll = np.degrees(np.arctan2(rot[1, 0], rot[0, 0]))
    pitch = (pitch + 180) % 360 - 180
    return float(yaw), float(pitch), float(roll)


#: The face of :func:`head_pose_5`, in biocular widths (the distance between the outer eye corners): the base of
#: the nose lies ``NOSE_DEPTH_5`` in front of the outer corners (the lever of yaw), and, facing the camera,
#: ``NOSE_DROP_5`` below the line through them; ``NOSE_PITCH_5`` is its lever for pitch.  Fitted by least squares
#: to :func:`head_pose` (68 landmarks) on 1,065 faces of the ten real clips of ``../shared/data/videos`` (every
#: third frame; ``benchmarks/pose.py`` refits them and prints the agreement).
NOSE_DEPTH_5 = 0.192
NOSE_DROP_5 = 0.535
NOSE_PITCH_5 = 0.52


def head_pose_5(points: np.ndarray) -> tuple[float, float, float]:
    """Yaw, pitch and roll in degrees from dlib's 5 landmarks (0, 0, 0 = frontal; the signs of :func:`head_pose`).

    The head is seen in scaled orthographic projection (a face is small against its distance from the
    camera): after the roll is undone along the line through the outer eye corners, the base of the
    nose, a point in front of that line, moves sideways with yaw and up or down with pitch::

        x / span = -NOSE_DEPTH_5 * tan(yaw)
        y / span * cos(yaw) = NOSE_DROP_5 * cos(pitch) + NOSE_PITCH_5 * sin(pitch)

    with ``(x, y)`` the nose base from the corners' midpoint and ``span`` the corners' distance
    (``cos(yaw)`` undoes the shortening of ``span`` when the head turns).  Five points cannot give
    the full 3-D solve of :func:`head_pose` (four of them lie nearly on one line: a
    perspective-n-point solve on them flips between solutions), but their model loads in 0.06 s
    against 0.46 s, which is what a prepare run pays for pose.  Against the 68-point pose, leaving
    each clip out of the fit: yaw within 4.0 degrees (median; 13 at the 90th percentile), pitch
    within 8.6 (17), on 1,065 real faces, 3-40 degrees of yaw (``benchmarks/pose.py``).  Pitch is the
    weaker: a short nose or a child's face reads as a head tilted up; the pitch bar of
    ``turned_head`` is for strong nods.

    Parameters
    ----------
    points : numpy.ndarray
        ``(5, 2)`` in the order of :data:`mextk.faces.landmarks.FIVE_IN_68` (the outer and inner
        corner of the eye on the image's right, the same of the eye on its left, the nose base).

    Returns
    -------
    (float, float, float)
        Yaw (turning left/right), pitch (nodding), roll (tilting); ``nan`` for a degenerate shape.
    """
    p = np.asarray(points, dtype=np.float64)
    d = p[0] - p[2]
    span = float(np.hypot(*d))
    if not np.isfinite(span) or span < 1e-6:
        return float("nan"), float("nan"), float("nan")
    roll = np.arctan2(d[1], d[0])
    c, s = np.cos(roll), np.sin(roll)
    nx, ny = (p[4] - (p[0] + p[2]) / 2) @ np.array([[c, -s], [s, c]])  # the nose base, the eye line level
    yaw = -np.arctan(nx / span / NOSE_DEPTH_5)
    q = ny / span * np.cos(yaw)
    lever, phase = np.hypot(NOSE_DROP_5, NOSE_PITCH_5), np.arctan2(NOSE_PITCH_5, NOSE_DROP_5)
    pitch = phase - np.arccos(np.clip(q / lever, -1.0, 1.0))
    return float(np.degrees(yaw)), float(np.degrees(pitch)), float(np.degrees(roll))


def black_bar_fraction(gray: np.ndarray, *, level: int = 24, min_run: float = 0.04) -> float:
    """Fraction of an image covered by black bars (uniform near-black full rows or columns at its edges)."""
    h, w = gray.shape
    if h == 0 or w == 0:
        return 0.0
    dark = gray <= level
    rows = dark.mean(axis=1) > 0.98
    cols = dark.mean(axis=0) > 0.98

    def edge_run(mask: np.ndarray) -> int:
        n = len(mask)
        a = int(np.argmin(mask)) if not mask.all() else n
        b = int(np.argmin(mask[::-1])) if not mask.all() else 0
        return (a if a >= min_run * n else 0) + (b if b >= min_run * n else 0)

    r, c = edge_run(rows), edge_run(cols)
    return float(min(1.0, r / h + c / w - (r / h) * (c / w)))


def outside_fraction(crop: Box, tile: Box) -> float:
    """Fraction of the crop box that lies outside the tile."""
    cx, cy, cw, ch = crop
    tx, ty, tw, th = tile
    iw = max(0, min(cx + cw, tx + tw) - max(cx, tx))
    ih = max(0, min(cy + ch, ty + th) - max(cy, ty))
    return 1.0 - iw * ih / float(cw * ch)


@dataclass
class ClipEvidence:
    """What was measured about a clip while it was written."""

    tile_height: float
    face_heights: list[float] = field(default_factory=list)
    yaws: list[float] = field(default_factory=list)
    pitches: list[float] = field(default_factory=list)
    checks: int = 0
    found: int = 0
    multi: int = 0
    scans: int = 0  # checks at which the detector searched the whole tile (gallery feeds)
    multi_scans: int = 0  # of those, the ones that found another face
    intrusion: float = 0.0

    #: Limits (degrees) beyond which a pose measurement counts as a turned head (set from the config).
    max_yaw: float = 30.0
    max_pitch: float = 25.0

    def turned_share(self) -> float:
        """Share of the pose measurements with the head turned beyond the limits (nan: none measured)."""
        if not self.yaws:
            return float("nan")
        turned = [
            abs(y) > self.max_yaw or abs(p) > self.max_pitch for y, p in zip(self.yaws, self.pitches, strict=True)
        ]
        return float(np.mean(turned))

    def multi_face_share(self) -> float:
        """Share of the checks that saw another face: of the whole-tile searches where there were any (a check
        between two searches only repeats the last count), else of all checks (Algorithm 1 detects at each)."""
        if self.scans:
            return self.multi_scans / self.scans
        return self.multi / self.checks if self.checks else 0.0

    def summary(self) -> dict[str, float]:
        """Medians and rates, for the manifest's measurement columns."""
        med = lambda v: float(np.median(v)) if v else float("nan")  # noqa: E731
        return {
            "face_px": round(med(self.face_heights), 1),
            "face_frac": round(med(self.face_heights) / self.tile_height, 3) if self.tile_height else float("nan"),
            "yaw": round(med([abs(y) for y in self.yaws]), 1),
            "pitch": round(med([abs(p) for p in self.pitches]), 1),
            "turned": round(self.turned_share(), 3),
            "visible": round(self.found / self.checks, 3) if self.checks else float("nan"),
            "multi_face": round(self.multi_face_share(), 3),
            "intrusion": round(self.intrusion, 3),
        }


def clip_flags(evidence: ClipEvidence, config: PrepareConfig) -> list[str]:
    """The exclusion flags a clip earns (empty: keep it)."""
    s = evidence.summary()
    flags = []
    if s["face_px"] == s["face_px"] and (
        s["face_px"] < config.flag_min_face_px or s["face_frac"] < config.flag_min_face_frac
    ):
        flags.append("small_face")
    if (s["yaw"] == s["yaw"] and s["yaw"] > config.flag_max_yaw) or (
        s["pitch"] == s["pitch"] and s["pitch"] > config.flag_max_pitch
    ):
        flags.append("turned_head")
    if evidence.checks and s["multi_face"] >= config.flag_multi_face:
        flags.append("multiple_faces")
    if evidence.checks and s["visible"] < config.flag_min_visible:
        flags.append("face_covered")
    if s["intrusion"] > config.flag_max_intrusion:
        flags.append("intrusion")
    return flags


#: Columns of the per-frame quality sidecar (``CLIP.quality.csv``).
QUALITY_COLUMNS = (
    "frame",
    "source_frame",
    "checked",
    "face_visible",
    "faces",
    "face_height",
    "found_by",
    "score",
    "yaw",
    "pitch",
    "occluded",
)


def quality_table(checks: list[list[Any]], *, start: int, n_frames: int) -> pd.DataFrame:
    """The per-frame quality of a clip, from the checks made while it was written.

    The face is checked every few frames (``detect_every``), not on every
    frame; each frame carries the values of the latest check at or before it
    (the first check's for frames before it), and ``checked`` says which frames
    were measured.  ``found_by`` is ``detector`` or ``template`` (template
    matching between detections, ``score`` its normalised correlation);
    ``yaw``/``pitch`` (degrees) are measured on the first checks of a clip only;
    ``occluded`` is true where the face was not found inside the clip (covered,
    turned away, out of the tile): those frames stay in the clip, and labellers
    and the feature stage decide what to drop.

    Parameters
    ----------
    checks : list of lists
        ``[frame, found, faces, face height, found_by, score, yaw, pitch]`` in source frames.
    start : int
        The clip's first source frame.
    n_frames : int
        Frames in the clip.

    Examples
    --------
    >>> t = quality_table([[10, True, 1, 80.0, "detector", float("nan"), 5.0, 2.0],
    ...                    [15, False, 0, float("nan"), "", float("nan"), float("nan"), float("nan")]],
    ...                   start=10, n_frames=8)
    >>> t["face_visible"].tolist(), t["checked"].tolist()
    ([True, True, True, True, True, False, False, False], [True, False, False, False, False, True, False, False])
    """
    frames = np.arange(start, start + n_frames)
    table = pd.DataFrame({"frame": np.arange(n_frames), "source_frame": frames})
    if not checks:
        for col in QUALITY_COLUMNS[2:]:
            table[col] = pd.NA
        return table
    ordered = sorted(checks, key=lambda c: c[0])
    times = np.array([c[0] for c in ordered])
    latest = np.clip(np.searchsorted(times, frames, side="right") - 1, 0, len(ordered) - 1)
    table["checked"] = np.isin(frames, times)
    table["face_visible"] = [bool(ordered[k][1]) for k in latest]
    table["faces"] = [int(ordered[k][2]) for k in latest]
    for j, col in ((3, "face_height"), (5, "score"), (6, "yaw"), (7, "pitch")):
        table[col] = [float(ordered[k][j]) for k in latest]
    table["found_by"] = [str(ordered[k][4]) for k in latest]
    table["occluded"] = ~table["face_visible"]
    return table[list(QUALITY_COLUMNS)]


def write_quality_sidecar(path: Path, checks: list[list[Any]], *, start: int, n_frames: int) -> Path:
    """Write :func:`quality_table` to ``path`` (``CLIP.quality.csv`` beside the clip), atomically; return it."""
    from mextk.io.atomic import atomic_path

    with atomic_path(path) as tmp:
        quality_table(checks, start=start, n_frames=n_frames).to_csv(tmp, index=False)
    return path
