"""Settings of the recording-splitting stage, and the two presets.

``cmed`` is CMED's Algorithm 1 as written (Matharaarachchi et al., CMED,
section III-B); ``default`` is the faster-reacting, layout-aware variant that
mextk recommends.  Every number is a field and so a command-line option.

Choices where the paper is vague, for ``cmed``:

* "every 60 frames, read the next three frames": at every frame index
  ``t`` with ``t % 60 == 0`` the frames ``t, t+1, t+2`` are examined (a
  look-ahead of three frames, not a skip: every frame is still written);
* "the list with the most faces": the frame of the three with the most
  detections (the earliest on ties) supplies the faces;
* "face belongs to an existing user frame": the face's centre lies inside
  that user frame's 300x300 region;
* a new user frame is a 300x300 region centred on the face, shifted to lie
  inside the recording;
* "disappears for more than 60 frames": at a detection frame, the face of a
  user frame was last seen more than 60 frames ago; until then every frame is
  written (so a clip can run up to two detection intervals past the face);
* crops are written at their 300x300 source size;
* the cascade runs with OpenCV's default pyramid step (1.1) on frames downscaled
  to at most 960 pixels wide (Algorithm 1 does not say; 720p and 1080p gallery
  faces stay far above the cascade's 24-pixel window, and detection costs about
  half as much).

For ``default`` the numbers differ so that every participant who is on camera
is kept, with clip boundaries within half a second of the truth: the layout is
analysed every 5 frames (0.2 s); each gallery tile is one participant's feed,
present while its camera is live (not a camera-off card) and its face
plausibly there; faces are re-found by template matching, the Haar cascade
(every 100 frames, and whenever matching fails), dlib's HOG near the last place
with a lowered bar, and dlib's CNN before a clip may end; a clip ends on the
last frame its face was seen when the face has been gone for more than 1 s by
every cue, or the camera went off; crops follow the gallery's tiles.  Clips are
virtual (recording + boxes + frame range) unless ``clip_format="mp4"``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

DETECTORS = ("haar", "dlib-hog", "dlib-cnn")


@dataclass(frozen=True)
class PrepareConfig:
    """All settings of ``mextk prepare``.

    Attributes
    ----------
    preset : str
        ``"default"`` or ``"cmed"``, for the record only: behaviour follows the other
        settings, never this name (use :func:`preset` to build one).
    detector : str
        ``haar`` (OpenCV frontal face cascade), ``dlib-hog`` or ``dlib-cnn`` (dlib's MMOD
        CNN, weights from ``face-recognition-models``).
    detect_every : int
        Frames between analysis steps (layout, face checks).
    full_detect_every : int
        Frames between full-tile detections (the detector over whole tiles); in between,
        known faces are re-checked in a small window around their last position.
    lookahead : int
        Frames examined at each step; the one with most faces is used.
    max_gap : int
        A clip ends when its face has not been seen for more than this many frames.
    min_duration : float
        Clips shorter than this (seconds) are deleted.
    trim_gaps : bool
        Hold back frames after the last sighting and drop them if the face does not
        return, so the clip ends where the face was last seen.
    clip_start : str
        Where a new clip starts: ``sighting``, the frame the face was first seen in; or
        ``step``, the first frame of the analysis step that saw it (Algorithm 1 writes the
        look-ahead frames too).
    layout : bool
        Follow the gallery's tiles (crop inside a tile, identify people across
        layout changes); otherwise faces open "user frames" as in Algorithm 1.
    screen_share : bool
        Detect and drop screen-share segments.
    crop : str
        ``"fixed"``: a ``crop_size`` square of source pixels centred on the face
        (Algorithm 1); ``"face"``: a square ``crop_scale`` times the face size,
        inside the tile, resized to ``crop_size``.
    crop_size : int
        Output side in pixels (a multiple of 4).
    crop_scale : float
        Crop side relative to the detected face box (``crop="face"``).
    detect_width : int
        Frames are downscaled to at most this width for the detector (0: no
        downscaling).
    min_face_frac : float
        Faces smaller than this fraction of their tile's height are ignored by the
        detector (they are thumbnails, or people far back in a room).
    haar_scale_factor : float
        Pyramid step of the Haar cascade (1.1 in Algorithm 1's OpenCV default; 1.15 is
        about 30% faster and finds the same gallery faces).
    haar_min_neighbors : int
        Overlapping cascade hits needed to accept a face (OpenCV's tutorials use 5; 4 finds
        more faces in expressive or dim tiles, where the search is confined to one tile anyway).
    follow_min_score : float
        Between full detections a face is followed by template matching; below this
        normalised correlation it counts as lost and the detector runs.
    recheck_detector : str
        ``dlib-hog``, ``dlib-cnn`` or ``none``: when template matching and the detector both
        miss a known face, this detector looks again near its last place, at the face's
        scale (it finds tilted, turned, laughing and partly covered faces that a frontal
        cascade misses), and scans live tiles whose face is not known yet.
    recheck_threshold : float
        Added to the recheck detector's acceptance bar (dlib's HOG: an SVM score; below 0
        accepts weaker faces, which is safe near a face's last place).
    confirm_detector : str
        ``dlib-cnn``, ``dlib-hog`` or ``none``: before a clip ends because its face has been
        missing for ``max_gap`` frames, this detector must not find it near its last place.
    search_every : int
        Frames between searches of a live tile whose face is not known (a camera on an empty
        chair, a feed that just joined).
    pose_every : int
        Frames between head-pose measurements of a clip's face.
    card_min_flat : float
        A tile is a camera-off card when at least this share of its thumbnail is plain (within
        4 gray levels of its median) and it does not change between steps (or is black).
    card_max_change : float
        The most a card's thumbnail may change between steps (mean gray levels).
    fps : float or None
        Constant output frame rate; ``None`` keeps the input's average rate.
        Variable-frame-rate input is converted to this rate while decoding.
    clip_format : str
        ``virtual``: each clip is a small ``.clip.json`` naming the recording, the crop boxes
        and the frame range, decoded on demand by every later stage (no re-encoding, nothing
        lost to a second compression; the recording must stay where it is); ``mp4``: each
        clip is encoded to its own H.264 file (a second pass over the recording).
    x264_preset, crf : str, int
        Encoder speed/size trade-off and quality of ``mp4`` clips.  ``ultrafast`` at CRF 18
        keeps the quality and costs about twice the disk space of ``veryfast``.
    flag_min_face_px : float
        Flag ``small_face`` when the median face height is below this (source px): a
        micro-expression moves a few pixels on a 150-300 px face (CASME II, SAMM, CMED);
        below 64 px it is lost in the compression noise.
    flag_min_face_frac : float
        Flag ``small_face`` also when the median face height is below this fraction of the
        tile height; 0 (the default) turns this off, because what the features need is
        pixels on the face, not a share of the tile: a 144 px face in a large tile is
        fine for them.
    flag_max_yaw, flag_max_pitch : float
        Flag ``turned_head`` when the median absolute yaw / pitch (degrees, from
        landmarks: ``pose_landmarks``) exceeds these.
    flag_multi_face : float
        Flag ``multiple_faces`` when more than one face is seen in the tile in at
        least this fraction of the whole-tile searches (every ``full_detect_every``
        frames, and whenever the face is looked for afresh); then every clip of
        that feed is flagged.  Low, because the detector finds a person half hidden
        behind the participant in only some searches: 0.1 flags a feed where a
        passer-by was found in one search of ten.
    flag_min_visible : float
        Flag ``face_covered`` when the face is found in less than this fraction of
        the checks inside the clip.
    flag_max_intrusion : float
        Flag ``intrusion`` when more than this fraction of the crop is outside the
        face's tile or is black bars.
    pose : bool
        Estimate head pose from landmarks (needs dlib and face-recognition-models).
    pose_landmarks : int
        5: head pose from dlib's 5-point model (9 MB, loads in 0.06 s, and the face descriptor
        aligns with it; ``checks.head_pose_5``).  68: from the 68-point model (100 MB, 0.46 s to
        load, holding Python's lock: a fresh run took 0.6 s longer; ``checks.head_pose``, a full
        3-D solve).  The two agree within 4 degrees of yaw and 9 of pitch (medians, real faces).
    """

    preset: str = "default"
    detector: str = "haar"
    detect_every: int = 5
    full_detect_every: int = 100
    lookahead: int = 1
    max_gap: int = 25
    min_duration: float = 3.0
    trim_gaps: bool = True
    clip_start: str = "sighting"
    layout: bool = True
    screen_share: bool = True
    crop: str = "face"
    crop_size: int = 300
    crop_scale: float = 2.2
    detect_width: int = 960
    min_face_frac: float = 0.15
    haar_scale_factor: float = 1.15
    haar_min_neighbors: int = 4
    follow_min_score: float = 0.6
    recheck_detector: str = "dlib-hog"
    recheck_threshold: float = -0.5
    confirm_detector: str = "dlib-cnn"
    search_every: int = 10
    pose_every: int = 50
    card_min_flat: float = 0.6
    card_max_change: float = 0.8
    clip_format: str = "virtual"
    fps: float | None = None
    x264_preset: str = "ultrafast"
    crf: int = 18
    flag_min_face_px: float = 64.0
    flag_min_face_frac: float = 0.0
    flag_max_yaw: float = 30.0
    flag_max_pitch: float = 25.0
    flag_multi_face: float = 0.1
    flag_min_visible: float = 0.5
    flag_max_intrusion: float = 0.1
    pose: bool = True
    pose_landmarks: int = 5

    def __post_init__(self) -> None:
        if self.detector not in DETECTORS:
            raise ValueError(f"unknown detector {self.detector!r}; choose one of {', '.join(DETECTORS)}")
        for name in ("recheck_detector", "confirm_detector"):
            if getattr(self, name) not in ("none", "dlib-hog", "dlib-cnn"):
                raise ValueError(f"{name} must be none, dlib-hog or dlib-cnn, got {getattr(self, name)!r}")
        if self.clip_format not in ("virtual", "mp4"):
            raise ValueError(f"clip_format must be 'virtual' or 'mp4', got {self.clip_format!r}")
        for name in ("search_every", "pose_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1")
        if self.pose_landmarks not in (5, 68):
            raise ValueError(f"pose_landmarks must be 5 or 68, got {self.pose_landmarks!r}")
        if self.clip_start not in ("sighting", "step"):
            raise ValueError(f"clip_start must be 'sighting' or 'step', got {self.clip_start!r}")
        if self.crop not in ("fixed", "face"):
            raise ValueError(f"crop must be 'fixed' or 'face', got {self.crop!r}")
        if self.crop_size % 4 or self.crop_size < 32:
            raise ValueError(f"crop_size must be a multiple of 4 and >= 32, got {self.crop_size}")
        for name in ("detect_every", "full_detect_every", "lookahead"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1")
        if self.lookahead > self.detect_every:
            raise ValueError("lookahead cannot exceed detect_every")
        if self.max_gap < 0 or self.min_duration < 0:
            raise ValueError("max_gap and min_duration must be >= 0")
        if self.fps is not None and self.fps <= 0:
            raise ValueError("fps must be positive")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


CMED_PRESET = PrepareConfig(
    preset="cmed",
    detect_every=60,
    full_detect_every=60,
    lookahead=3,
    max_gap=60,
    min_duration=3.0,
    trim_gaps=False,
    clip_start="step",
    layout=False,
    screen_share=False,
    crop="fixed",
    crop_size=300,
    detect_width=960,
    min_face_frac=0.0,
    haar_scale_factor=1.1,
    haar_min_neighbors=5,
    recheck_detector="none",
    confirm_detector="none",
)


def setting_help() -> dict[str, str]:
    """The help of every setting, from :class:`PrepareConfig`'s docstring (its one source).

    Every field but ``preset`` gets an entry; a description shared by several
    fields (``flag_max_yaw, flag_max_pitch : float``) serves each of them.

    Examples
    --------
    >>> setting_help()["max_gap"]
    'A clip ends when its face has not been seen for more than this many frames.'
    """
    import inspect
    import re

    doc = inspect.cleandoc(PrepareConfig.__doc__ or "")
    body = doc.split("Attributes\n----------\n", 1)[1]
    entries: dict[str, str] = {}
    names: list[str] = []
    text: list[str] = []

    def flush() -> None:
        description = " ".join(" ".join(text).split()).replace("``", "")
        for name in names:
            entries[name] = description

    for line in body.splitlines():
        header = re.match(r"^(\w+(?:, \w+)*) : ", line)
        if header:
            if names:
                flush()
            names, text = header.group(1).split(", "), []
        elif line.strip():
            text.append(line.strip())
    if names:
        flush()
    return {f.name: entries[f.name] for f in fields(PrepareConfig) if f.name != "preset"}


def preset(name: str, **overrides: Any) -> PrepareConfig:
    """Build the settings of a preset (``default`` or ``cmed``) with overrides.

    Raises
    ------
    ValueError
        For an unknown preset or option.
    """
    if name == "default":
        base = PrepareConfig()
    elif name == "cmed":
        base = CMED_PRESET
    else:
        raise ValueError(f"unknown preset {name!r}; choose 'default' or 'cmed'")
    known = {f.name for f in fields(PrepareConfig)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ValueError(f"unknown option(s): {', '.join(unknown)}")
    return replace(base, **{k: v for k, v in overrides.items() if v is not None})
