"""The clips of one recording: open, confirm, close, and what a finished clip becomes.

A clip is one person continuously visible in one crop box (the box moves
only when the gallery is laid out again).  Followers (Algorithm 1 in
:mod:`mextk.prepare.algorithm1`, the gallery feeds in :mod:`mextk.prepare.feeds`)
decide when a face is there; :class:`ClipBook` keeps the bookkeeping that is
the same for both:

* :meth:`ClipBook.open` starts a clip of a track at a frame, in a crop box;
* :meth:`ClipBook.confirm` records that the face was there at a frame;
* :meth:`ClipBook.close` ends it: with ``trim_gaps`` on the last confirmed
  frame, otherwise on the last frame read so far (Algorithm 1 writes every
  frame until the face has been missing too long);
* a clip shorter than ``min_duration`` is deleted (counted, not written);
  a kept one becomes a manifest row, a per-frame quality sidecar and either a
  virtual clip (``clip_format="virtual"``: recording + boxes + frame range,
  :mod:`mextk.io.clipref`) or an entry for the encoder
  (:func:`mextk.prepare.encode.render_clips`).

No frame is held or copied here: the decisions are frame numbers and boxes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mextk.io.clipref import CLIP_SUFFIX, write_clip_ref
from mextk.prepare.checks import ClipEvidence, clip_flags, write_quality_sidecar
from mextk.prepare.config import PrepareConfig

Box = tuple[int, int, int, int]


@dataclass
class Clip:
    """A clip being followed."""

    track_id: int
    index: int
    box: Box  # the current crop box
    tile: Box  # the current tile (or the frame)
    start: int
    confirmed_until: int
    face_h0: float
    evidence: ClipEvidence
    boxes: list[tuple[int, Box]] = field(default_factory=list)  # (first frame, crop box)
    cut_by_damage: bool = False
    #: one record per check of the face inside the clip: [frame, found, faces seen, face height,
    #: how it was found, score, yaw, pitch]
    checks: list[list[Any]] = field(default_factory=list)


@dataclass
class Track:
    """One person: a gallery feed, or a user frame of Algorithm 1."""

    track_id: int
    tile: Box | None = None
    descriptor: np.ndarray | None = None  # the live feed's look (for finding it after a re-layout)
    card: np.ndarray | None = None  # the look of its camera-off card
    face: Box | None = None
    region: Box | None = None  # Algorithm 1: the user frame
    last_seen: int = -(10**9)
    last_full: int = -(10**9)
    last_scan: int = -(10**9)
    last_pose: int = -(10**9)
    clip: Clip | None = None
    n_clips: int = 0
    first_frame: int = -1
    last_frame: int = -1
    template: np.ndarray | None = None
    template_scale: float = 1.0
    template_score: float = float("nan")
    n_faces: int = 0
    last_tile: Box | None = None  # the tile it had before it lost it (a screen share, leaving)
    live: bool = True  # its tile shows a camera, not a camera-off card
    appeared: int | None = None  # the frame its tile appeared at the last re-layout (a join, a return)
    thumb: np.ndarray | None = None  # the tile's thumbnail at the last step (stillness of a card)
    # who the participant is: face chips kept now and then, described only when a re-layout needs it
    face_chips: list[tuple[np.ndarray, tuple[int, int, int, int]]] = field(default_factory=list)
    face_chip_at: int = -(10**9)  # the frame of the last chip
    faceprints: list[np.ndarray] = field(default_factory=list)  # descriptors of the first chips (a cache)


@dataclass
class Finished:
    """A closed clip that was kept: where its frames are and what it covers."""

    path: Path
    start: int
    end: int
    boxes: list[tuple[int, Box]]


class ClipBook:
    """Clip bookkeeping of one recording (see the module docstring).

    Parameters
    ----------
    out : Path
        The recording's output folder (clips go to ``out/clips``).
    name : str
        The recording's name in the manifest.
    recording : Path
        The recording (referenced by virtual clips).
    config : PrepareConfig
        Settings.
    fps : float
        The constant frame rate the recording is read at.
    """

    def __init__(self, out: Path, name: str, recording: Path, config: PrepareConfig, fps: float) -> None:
        self.out = out
        self.name = name
        self.recording = recording
        self.cfg = config
        self.fps = fps
        self.tracks: list[Track] = []
        self.rows: list[dict[str, Any]] = []
        self.finished: list[Finished] = []
        self.dropped_short = 0
        #: the last frame read so far: where a clip without trimming ends
        self.frontier = -1

    def flag_feeds_with_other_faces(self) -> None:
        """Flag ``multiple_faces`` on every clip of a feed where any of its clips earned it.

        People standing or walking behind belong to the participant's room, not to one clip: a
        reviewer must see the flag on each piece of that feed (a clip that happened to have nobody
        behind it in its own checks included).
        """
        crowded = {r["track_id"] for r in self.rows if "multiple_faces" in str(r["flags"]).split("+")}
        for row in self.rows:
            if row["track_id"] in crowded and "multiple_faces" not in str(row["flags"]).split("+"):
                row["flags"] = "+".join([f for f in str(row["flags"]).split("+") if f] + ["multiple_faces"])
                row["kept"] = False

    def new_track(self) -> Track:
        track = Track(len(self.tracks) + 1)
        self.tracks.append(track)
        return track

    def open(self, track: Track, start: int, face: Any, tile: Box, box: Box, *, intrusion: float = 0.0) -> None:
        """Start a clip of ``track`` at frame ``start`` in crop ``box`` (``tile``: the feed's tile, or the frame)."""
        track.n_clips += 1
        cfg = self.cfg
        ev = ClipEvidence(float(tile[3]), intrusion=intrusion, max_yaw=cfg.flag_max_yaw, max_pitch=cfg.flag_max_pitch)
        track.clip = Clip(track.track_id, track.n_clips, box, tile, start, start, float(face[3]), ev)
        track.clip.boxes.append((start, box))
        if track.first_frame < 0:
            track.first_frame = start

    def confirm(self, track: Track, t: int) -> None:
        """The face of ``track`` was there at frame ``t``."""
        assert track.clip is not None
        track.clip.confirmed_until = max(track.clip.confirmed_until, t)

    def check(
        self,
        track: Track,
        *,
        t: int,
        found: bool,
        n_faces: int,
        face: Any = None,
        method: str = "",
        score: float = float("nan"),
        scanned: bool = False,
    ) -> None:
        """Record one check of the face inside the clip (for the flags and the quality sidecar);
        ``scanned``: the detector searched the whole tile at this check (``n_faces`` is fresh)."""
        clip = track.clip
        if clip is None:
            return
        height = float(face[3]) if found and face is not None else float("nan")
        clip.checks.append([t, found, n_faces, height, method if found else "", score, float("nan"), float("nan")])
        ev = clip.evidence
        ev.checks += 1
        ev.found += int(found)
        ev.multi += int(n_faces > 1)
        ev.scans += int(scanned)
        ev.multi_scans += int(scanned and n_faces > 1)
        if found and face is not None:
            ev.face_heights.append(height)

    def pose(self, track: Track, yaw: float, pitch: float) -> None:
        """Record the head pose measured at the latest check."""
        clip = track.clip
        if clip is None or not np.isfinite(yaw):
            return
        clip.evidence.yaws.append(yaw)
        clip.evidence.pitches.append(pitch)
        if clip.checks:
            clip.checks[-1][6:8] = [round(float(yaw), 1), round(float(pitch), 1)]

    def close(self, track: Track, *, end: int | None = None) -> None:
        """End the clip of ``track`` (at most at ``end``); keep it or delete it as too short."""
        clip = track.clip
        if clip is None:
            return
        track.clip = None
        last = clip.confirmed_until if self.cfg.trim_gaps else self.frontier
        end = last if end is None else min(end, last)
        n = end - clip.start + 1
        if n < max(1, int(round(self.cfg.min_duration * self.fps))):
            self.dropped_short += 1
            return
        base = self.out / "clips" / f"t{clip.track_id:02d}_c{clip.index:03d}"
        boxes = [(t0, b) for t0, b in clip.boxes if t0 <= end]
        boxes[0] = (clip.start, boxes[0][1])
        base.parent.mkdir(parents=True, exist_ok=True)
        if self.cfg.clip_format == "virtual":
            path = write_clip_ref(
                base.with_name(base.name + CLIP_SUFFIX),
                self.recording,
                fps=self.fps,
                start_frame=clip.start,
                n_frames=n,
                size=self.cfg.crop_size,
                boxes=boxes,
            )
        else:
            path = base.with_name(base.name + ".mp4")  # encoded after the pass (mextk.prepare.encode)
        self.finished.append(Finished(path, clip.start, end, boxes))
        quality = write_quality_sidecar(
            base.with_name(base.name + ".quality.csv"), clip.checks, start=clip.start, n_frames=n
        )
        track.last_frame = max(track.last_frame, end)
        flags = clip_flags(clip.evidence, self.cfg)
        if clip.cut_by_damage:
            flags.append("cut_by_damage")
        x, y, w, h = boxes[0][1]
        changes = ";".join(f"{t0}:{b[0]},{b[1]},{b[2]},{b[3]}" for t0, b in boxes[1:])
        self.rows.append(
            {
                "dataset": "",
                "subject": "",
                "sample_id": f"{self.name}_t{clip.track_id:02d}_c{clip.index:03d}",
                "path": path.relative_to(self.out).as_posix(),
                "fps": self.fps,
                "n_frames": n,
                "onset": None,
                "apex": None,
                "offset": None,
                "emotion": "",
                "aus": "",
                "source_recording": self.name,
                "track_id": clip.track_id,
                "x": x,
                "y": y,
                "w": w,
                "h": h,
                "start_frame": clip.start,
                "end_frame": end,
                "start_time": round(clip.start / self.fps, 3),
                "end_time": round((end + 1) / self.fps, 3),
                "kept": not flags,
                "flags": "+".join(flags),
                "box_changes": changes,
                "quality": quality.relative_to(self.out).as_posix(),
                **clip.evidence.summary(),
            }
        )
