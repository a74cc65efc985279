"""Cut one group video-call recording into per-person face clips, streaming.

:class:`RecordingSplitter` reads a recording once, frame by frame, as a
constant-frame-rate stream (variable-frame-rate input is converted on the
fly), and writes every clip while it reads: frames are cut straight from the
decoded YUV planes and encoded to H.264 without an RGB round trip.  Memory is
bounded by the number of open clips, never by the recording's length.

Two modes, chosen by :class:`~mextk.prepare.config.PrepareConfig`:

* **user frames** (``layout=False``; the ``cmed`` preset): CMED's Algorithm 1.
  Faces found at the analysis steps open "user frames" (regions) and each
  user frame writes its crop until its face has been missing too long.
* **gallery tiles** (``layout=True``; the default): the analysis step finds
  the gallery's tiles (:mod:`mextk.prepare.layout`); each participant's feed
  is a track that keeps its id when the gallery is laid out again (matched by
  the tile's content) and when the person leaves and comes back.  Crops stay
  inside the tile.  Steps where the gallery is replaced by a shared screen are
  dropped and recorded.  Recordings without a gallery fall back to user frames.

A clip is one person continuously visible in one fixed crop box.  It ends
when the face has not been seen for more than ``max_gap`` frames, when the
tile moves or the face leaves the crop box, at a screen share, or at the end
of the recording.  With ``trim_gaps`` frames after the last sighting are held
back and dropped if the face does not return, so a clip ends on the last frame
the face was seen (to within the analysis step).  Clips shorter than
``min_duration`` are deleted (Algorithm 1).  Each clip is written atomically.
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mextk.io.video import CfrReader, VideoError, VideoWriter, yuv_planes
from mextk.prepare.checks import (
    ClipEvidence,
    black_bar_fraction,
    clip_flags,
    head_pose,
    outside_fraction,
    write_quality_sidecar,
)
from mextk.prepare.config import PrepareConfig
from mextk.prepare.detect import make_detector
from mextk.prepare.layout import Box, Layout, descriptor_similarity, find_tiles, iou, tile_descriptor

#: Width of the frame copy the layout is analysed on.
LAYOUT_WIDTH = 320
#: Tile-content similarity (:func:`~mextk.prepare.layout.descriptor_similarity`) above which a tile
#: shows a known participant's feed in a new place.  Measured on three synthetic galleries and one
#: of real faces: the same feed 0.2-0.6 s apart (rescaled across re-layouts) scores at least 0.42,
#: different feeds at most 0.32.
SAME_FEED = 0.37
#: The looser bar for a feed that stays in its slot, and the assignment bonus for staying there.
SAME_SLOT = 0.2
#: The bar for a feed that keeps its place in the gallery's order but moved.
SAME_ORDERED = 0.3
#: Tiles overlapping more than this (IoU) are the same slot, measured a few pixels differently.
SAME_BOX = 0.8


class _Encoder:
    """Cuts and encodes one clip's frames on a worker thread, in order.

    The decoder, the detector and the encoders of the other clips go on
    meanwhile (OpenCV and FFmpeg release the GIL), which uses the second core.
    Frames are passed as references to the decoded frame's planes, so the
    queue holds no copies.
    """

    def __init__(self, writer: VideoWriter, cut: Callable[[Any, Box], np.ndarray]) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self.writer = writer
        self._cut = cut
        self._pool = ThreadPoolExecutor(max_workers=1)
        self._pending: list[Any] = []
        self.n_frames = 0
        self._batch: list[tuple[Any, Box]] = []

    def add(self, planes: Any, box: Box) -> None:
        self._batch.append((planes, box))
        self.n_frames += 1

    #: Batches queued before the reader waits for the encoder: bounds the frames held in memory.
    MAX_QUEUED = 4

    def submit(self) -> None:
        if self._batch:
            batch, self._batch = self._batch, []
            self._pending.append(self._pool.submit(self._run, batch))
        while len(self._pending) > self.MAX_QUEUED:
            self._pending.pop(0).result()
        self._pending = [f for f in self._pending if not f.done() or f.exception() is not None]

    def _run(self, batch: list[tuple[Any, Box]]) -> None:
        for planes, box in batch:
            self.writer.write_yuv420(self._cut(planes, box))

    def finish(self, keep: bool) -> None:
        """Wait for the queue; then move the file into place (``keep``) or discard it."""
        self.submit()
        self._pool.shutdown(wait=True)
        try:
            for fut in self._pending:
                fut.result()  # re-raise an encoding error here
        except BaseException:
            self.writer.abort()
            raise
        if keep and self.writer.n_written > 0:
            self.writer.close()
        else:
            self.writer.abort()


@dataclass
class _Clip:
    track_id: int
    index: int
    box: Box  # the current crop box
    tile: Box  # the current tile (or the frame)
    start: int
    confirmed_until: int
    face_h0: float
    path: Path
    writer: _Encoder
    evidence: ClipEvidence
    hold: list[tuple[int, Any]] = field(default_factory=list)  # unconfirmed frames: (t, planes)
    boxes: list[tuple[int, Box]] = field(default_factory=list)  # (first frame, crop box) when the tile moved
    written_until: int = -1
    cut_by_damage: bool = False
    #: one record per check of the face inside the clip: [frame, found, faces seen, face height,
    #: how it was found ("detector" or "template"), template score, yaw, pitch]
    checks: list[list[Any]] = field(default_factory=list)

    def box_at(self, t: int) -> Box:
        """The crop box in force at frame ``t``."""
        box = self.boxes[0][1]
        for t0, b in self.boxes:
            if t0 <= t:
                box = b
        return box


@dataclass
class _Track:
    track_id: int
    tile: Box | None = None
    descriptor: np.ndarray | None = None
    face: Box | None = None
    region: Box | None = None  # user-frame mode: the user frame
    last_seen: int = -(10**9)
    last_full: int = -(10**9)
    clip: _Clip | None = None
    n_clips: int = 0
    first_frame: int = -1
    last_frame: int = -1
    template: np.ndarray | None = None
    template_scale: float = 1.0
    template_score: float = float("nan")  # the last template match's correlation
    n_faces: int = 0
    last_tile: Box | None = None  # the tile it had before it lost it (a screen share, leaving)


@dataclass
class _Faces:
    """Faces found at one step."""

    t: int
    boxes: np.ndarray  # (N, 4) source pixels


def _even(v: float) -> int:
    return int(v) // 2 * 2


def _contains(outer: Box, px: float, py: float) -> bool:
    x, y, w, h = outer
    return x <= px < x + w and y <= py < y + h


class RecordingSplitter:
    """Split one recording; see the module docstring.

    Parameters
    ----------
    path : path-like
        The recording.
    out_dir : path-like
        Folder for this recording's clips (``clips/``).
    config : PrepareConfig
        Settings.
    name : str
        The recording's name in the manifest (``source_recording``).
    """

    def __init__(self, path: str | os.PathLike[str], out_dir: str | os.PathLike[str], config: PrepareConfig, name: str):
        self.path = Path(path)
        self.out = Path(out_dir)
        self.cfg = config
        self.name = name
        self.detector = make_detector(config.detector, config.haar_scale_factor, config.haar_min_neighbors)
        self.tracks: list[_Track] = []
        self.rows: list[dict[str, Any]] = []
        self.dropped_short = 0
        self.share: list[list[int]] = []
        self._in_share = False
        self._gallery_seen = False
        self._mode: str | None = None
        self._last_tiles: tuple[Box, ...] | None = None
        self._order: list[int] = []  # track ids in the gallery's reading order
        self.fps = 0.0
        self.width = self.height = 0

    # ------------------------------------------------------------------ geometry
    def _detect(self, y: np.ndarray, region: Box, *, min_face: float, max_face: float | None) -> np.ndarray:
        """Faces in ``region`` of the Y plane, in source pixels."""
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
        lo = max(20, int(min_face * s)) if min_face > 0 else 24
        hi = int(max_face * s) if max_face else None
        boxes = self.detector(small, min_size=lo, max_size=hi).astype(np.float64)
        if len(boxes) == 0:
            return np.zeros((0, 4), np.int64)
        boxes /= s
        boxes[:, 0] += x
        boxes[:, 1] += yy
        return np.rint(boxes).astype(np.int64)

    def _crop_box(self, face: np.ndarray, bounds: Box) -> Box:
        fx, fy, fw, fh = (float(v) for v in face)
        bx, by, bw, bh = bounds
        if self.cfg.crop == "fixed":
            side = min(self.cfg.crop_size, bw, bh)
        else:
            side = min(self.cfg.crop_scale * max(fw, fh), bw, bh)
        side = max(4, int(side) // 4 * 4)
        cx, cy = fx + fw / 2, fy + fh / 2
        x = int(np.clip(cx - side / 2, bx, bx + bw - side))
        y = int(np.clip(cy - side / 2, by, by + bh - side))
        x, y = _even(x), _even(y)
        x = max(_even(bx + 1) if bx % 2 else bx, x)
        y = max(_even(by + 1) if by % 2 else by, y)
        return (x, y, side, side)

    def _cut(self, planes: tuple[np.ndarray, np.ndarray, np.ndarray], box: Box) -> np.ndarray:
        import cv2

        y, u, v = planes
        x0, y0, s, _ = box
        size = self.cfg.crop_size
        yc = y[y0 : y0 + s, x0 : x0 + s]
        uc = u[y0 // 2 : (y0 + s) // 2, x0 // 2 : (x0 + s) // 2]
        vc = v[y0 // 2 : (y0 + s) // 2, x0 // 2 : (x0 + s) // 2]
        out = np.empty((size * 3 // 2, size), np.uint8)
        if s == size:
            out[:size] = yc
            out[size : size + size // 4] = uc.reshape(size // 4, size)
            out[size + size // 4 :] = vc.reshape(size // 4, size)
            return out
        interp = cv2.INTER_AREA if s > size else cv2.INTER_LINEAR
        out[:size] = cv2.resize(yc, (size, size), interpolation=interp)
        half = size // 2
        out[size : size + size // 4] = cv2.resize(uc, (half, half), interpolation=interp).reshape(size // 4, size)
        out[size + size // 4 :] = cv2.resize(vc, (half, half), interpolation=interp).reshape(size // 4, size)
        return out

    # ------------------------------------------------------------------ clips
    def _open_clip(
        self, track: _Track, t: int, face: np.ndarray, tile: Box, planes: Any, box: Box | None = None
    ) -> None:
        box = box or self._crop_box(face, tile if self._mode == "tiles" else (0, 0, self.width, self.height))
        track.n_clips += 1
        path = self.out / "clips" / f"t{track.track_id:02d}_c{track.n_clips:03d}.mp4"
        writer = _Encoder(
            VideoWriter(path, fps=self.fps, crf=self.cfg.crf, preset=self.cfg.x264_preset, threads=1), self._cut
        )
        ev = ClipEvidence(tile_height=float(tile[3]))
        # intrusion: the part of the crop outside the face's gallery tile, or black bars inside it
        lay = self._layout_of(planes[0])
        face_tile = next((tl for tl in lay.tiles if _contains(tl, face[0] + face[2] / 2, face[1] + face[3] / 2)), tile)
        bars = black_bar_fraction(planes[0][box[1] : box[1] + box[3], box[0] : box[0] + box[2]])
        ev.intrusion = max(outside_fraction(box, face_tile) if lay.gallery else 0.0, bars)
        track.clip = _Clip(track.track_id, track.n_clips, box, tile, t, t, float(face[3]), path, writer, ev)
        track.clip.boxes.append((t, box))
        if track.first_frame < 0:
            track.first_frame = t

    def _close_clip(self, track: _Track, *, end: int | None = None) -> None:
        clip = track.clip
        if clip is None:
            return
        track.clip = None
        if self.cfg.trim_gaps:
            end = clip.confirmed_until if end is None else min(end, clip.confirmed_until)
            self._flush(clip, end)
        else:
            end = clip.written_until if end is None else min(end, clip.written_until)
        clip.hold.clear()
        n = end - clip.start + 1
        if n < max(1, int(round(self.cfg.min_duration * self.fps))) or clip.writer.n_frames == 0:
            clip.writer.finish(keep=False)
            self.dropped_short += 1
            return
        clip.writer.finish(keep=True)
        quality = write_quality_sidecar(clip.path, clip.checks, start=clip.start, n_frames=clip.writer.n_frames)
        track.last_frame = max(track.last_frame, end)
        flags = clip_flags(clip.evidence, self.cfg)
        if clip.cut_by_damage:
            flags.append("cut_by_damage")
        x, y, w, h = clip.boxes[0][1]
        changes = ";".join(f"{t0}:{b[0]},{b[1]},{b[2]},{b[3]}" for t0, b in clip.boxes[1:] if t0 <= end)
        self.rows.append(
            {
                "dataset": "",
                "subject": "",
                "sample_id": f"{self.name}_t{clip.track_id:02d}_c{clip.index:03d}",
                "path": clip.path.relative_to(self.out).as_posix(),
                "fps": self.fps,
                "n_frames": clip.writer.n_frames,
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
                "end_frame": clip.start + clip.writer.n_frames - 1,
                "start_time": round(clip.start / self.fps, 3),
                "end_time": round((clip.start + clip.writer.n_frames) / self.fps, 3),
                "kept": not flags,
                "flags": "+".join(flags),
                "box_changes": changes,
                "quality": quality.relative_to(self.out).as_posix(),
                **clip.evidence.summary(),
            }
        )

    def _flush(self, clip: _Clip, until: int) -> None:
        keep = []
        for t, planes in clip.hold:
            if t <= until:
                if t > clip.written_until:
                    clip.writer.add(planes, clip.box_at(t))
                    clip.written_until = t
            else:
                keep.append((t, planes))
        clip.hold = keep
        clip.writer.submit()

    def _confirm(self, track: _Track, t: int) -> None:
        clip = track.clip
        assert clip is not None
        clip.confirmed_until = max(clip.confirmed_until, t)
        if self.cfg.trim_gaps:
            self._flush(clip, clip.confirmed_until)

    def _dispatch(self, frames: list[tuple[int, Any, Any]]) -> None:
        for track in self.tracks:
            clip = track.clip
            if clip is None:
                continue
            for t, _, planes in frames:
                if t < clip.start or t <= clip.written_until:
                    continue
                if not self.cfg.trim_gaps or t <= clip.confirmed_until:
                    clip.writer.add(planes, clip.box_at(t))
                    clip.written_until = t
                else:
                    # held as a reference to the decoded frame: cut once the face is confirmed,
                    # with the crop box in force then (the tile may have moved meanwhile)
                    clip.hold.append((t, planes))
            clip.writer.submit()

    # ------------------------------------------------------------------ analysis
    def _layout_of(self, y: np.ndarray) -> Layout:
        # plain subsampling (a view, no filtering) is enough to see tiles and gaps
        step = max(1, self.width // LAYOUT_WIDTH)
        return find_tiles(y[::step, ::step], scale=step)

    def _set_mode(self, mode: str, t: int) -> None:
        if self._mode != mode:
            for track in self.tracks:
                self._close_clip(track, end=t - 1)
                track.last_tile = track.tile or track.last_tile
                track.tile = None
            self._mode = mode

    def _analyse(self, t0: int, window: list[tuple[int, Any, Any]]) -> None:
        if not self.cfg.layout:
            self._set_mode("users", t0)
            self._user_frames(t0, window)
            return
        y = window[0][2][0]
        layout = self._layout_of(y)
        if layout.gallery:
            self._gallery_seen = True
            self._end_share(t0)
            self._set_mode("tiles", t0)
            self._tiles(t0, window, layout)
            return
        if layout.background is not None:
            # an empty gallery (nobody on screen): every feed has gone
            self._end_share(t0)
            self._set_mode("tiles", t0)
            self._tiles(t0, window, layout)
            return
        if self.cfg.screen_share and self._gallery_seen:
            # the gallery was there and is gone: a shared screen replaced it
            self._start_share(t0)
            return
        self._end_share(t0)
        self._set_mode("users", t0)
        self._user_frames(t0, window)

    def _start_share(self, t0: int) -> None:
        if not self._in_share:
            self._in_share = True
            self.share.append([t0, t0])
            for track in self.tracks:
                self._close_clip(track, end=t0 - 1)
                track.last_tile = track.tile or track.last_tile
                track.tile = None
        self.share[-1][1] = t0 + self.cfg.detect_every - 1

    def _end_share(self, t0: int) -> None:
        if self._in_share:
            self._in_share = False
            self.share[-1][1] = t0 - 1

    def _new_track(self) -> _Track:
        track = _Track(len(self.tracks) + 1)
        self.tracks.append(track)
        return track

    def _update_evidence(
        self,
        track: _Track,
        *,
        found: bool,
        n_faces: int,
        face: np.ndarray | None,
        t: int,
        method: str = "detector",
        score: float = float("nan"),
    ) -> None:
        clip = track.clip
        if clip is None:
            return
        height = float(face[3]) if found and face is not None else float("nan")
        clip.checks.append([t, found, n_faces, height, method if found else "", score, float("nan"), float("nan")])
        ev = clip.evidence
        ev.checks += 1
        ev.found += int(found)
        ev.multi += int(n_faces > 1)
        if found and face is not None:
            ev.face_heights.append(float(face[3]))

    def _pose(self, track: _Track, y: np.ndarray, face: np.ndarray) -> None:
        if not self.cfg.pose or track.clip is None:
            return
        import cv2

        from mextk.faces.landmarks import landmarks_68

        x, yy, w, h = (int(v) for v in face)
        m = int(0.3 * w)
        x0, y0 = max(0, x - m), max(0, yy - m)
        crop = y[y0 : min(self.height, yy + h + m), x0 : min(self.width, x + w + m)]
        s = min(1.0, 160.0 / max(1, w))
        if s < 1:
            crop = cv2.resize(crop, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
        try:
            lm = landmarks_68(
                np.ascontiguousarray(crop), (int((x - x0) * s), int((yy - y0) * s), int(w * s), int(h * s))
            )
        except (ImportError, FileNotFoundError) as exc:
            self.cfg = _replace(self.cfg, pose=False)  # no dlib: skip pose from now on
            _warn_no_pose(exc)
            return
        yaw, pitch, _ = head_pose(lm, (crop.shape[1], crop.shape[0]))
        if np.isfinite(yaw):
            track.clip.evidence.yaws.append(yaw)
            track.clip.evidence.pitches.append(pitch)
            if track.clip.checks:  # the check this pose belongs to
                track.clip.checks[-1][6:8] = [round(float(yaw), 1), round(float(pitch), 1)]

    def _user_frames(self, t0: int, window: list[tuple[int, Any, Any]]) -> None:
        """CMED Algorithm 1: faces open and feed user frames."""
        cfg = self.cfg
        best: _Faces | None = None
        best_planes = window[0][2]
        for t, _, planes in window:
            boxes = self._detect(planes[0], (0, 0, self.width, self.height), min_face=0.0, max_face=None)
            if best is None or len(boxes) > len(best.boxes):
                best, best_planes = _Faces(t, boxes), planes
        assert best is not None
        frame_box = (0, 0, self.width, self.height)
        seen: dict[int, list[np.ndarray]] = {}
        for face in best.boxes:
            cx, cy = face[0] + face[2] / 2, face[1] + face[3] / 2
            track = None
            if cfg.crop == "fixed":
                track = next((tr for tr in self.tracks if tr.region and _contains(tr.region, cx, cy)), None)
            else:
                cands = [
                    tr
                    for tr in self.tracks
                    if tr.face is not None
                    and np.hypot(tr.face[0] + tr.face[2] / 2 - cx, tr.face[1] + tr.face[3] / 2 - cy) < 0.6 * tr.face[2]
                    and 0.6 < face[2] / tr.face[2] < 1.6
                ]
                track = min(
                    cands,
                    key=lambda tr: np.hypot(tr.face[0] + tr.face[2] / 2 - cx, tr.face[1] + tr.face[3] / 2 - cy),
                    default=None,
                )
            if track is None:
                track = self._new_track()
                track.region = self._crop_box(face, frame_box)
            seen.setdefault(track.track_id, []).append(face)
        for track in self.tracks:
            faces = seen.get(track.track_id)
            if faces:
                face = max(faces, key=lambda f: f[2] * f[3])
                track.face = face
                track.last_seen = best.t
                if track.clip is not None and cfg.crop == "face" and not self._face_fits(track.clip, face):
                    self._close_clip(track)
                if track.clip is None:
                    start = t0 if cfg.clip_start == "step" else best.t
                    region = track.region if cfg.crop == "fixed" else None
                    self._open_clip(track, start, face, frame_box, best_planes, box=region)
                self._confirm(track, best.t)
                self._update_evidence(track, found=True, n_faces=len(faces), face=face, t=best.t)
                if track.clip is not None and len(track.clip.evidence.yaws) < 8:
                    self._pose(track, best_planes[0], face)
            elif track.clip is not None:
                self._update_evidence(track, found=False, n_faces=0, face=None, t=t0)
                if t0 - track.last_seen > cfg.max_gap:
                    self._close_clip(track, end=None if cfg.trim_gaps else t0 - 1)

    #: Side of the face template used between full detections, in pixels.
    TEMPLATE = 32

    def _remember_face(self, track: _Track, y: np.ndarray) -> None:
        """Keep a small gray template of the face just detected."""
        import cv2

        x, yy, w, h = track.face
        s = self.TEMPLATE / max(w, 1)
        patch = y[max(0, yy) : yy + h, max(0, x) : x + w]
        if patch.size == 0:
            track.template = None
            return
        track.template = cv2.resize(patch, (self.TEMPLATE, self.TEMPLATE), interpolation=cv2.INTER_AREA)
        track.template_scale = s

    def _follow_face(self, track: _Track, y: np.ndarray, tile: Box) -> tuple[int, int, int, int] | None:
        """Find the known face near its last place by template matching (normalised correlation).

        Between full detections this is how a face is re-checked: some 50 times
        cheaper than the cascade, and a covered face, an empty chair or another
        person scores low and triggers a full detection.
        """
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
        if roi.shape[0] * s < self.TEMPLATE or roi.shape[1] * s < self.TEMPLATE:
            return None
        small = cv2.resize(roi, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
        if small.shape[0] < self.TEMPLATE or small.shape[1] < self.TEMPLATE:
            return None
        res = cv2.matchTemplate(small, track.template, cv2.TM_CCOEFF_NORMED)
        _, score, _, loc = cv2.minMaxLoc(res)
        track.template_score = float(score)
        if score < self.cfg.follow_min_score:
            return None
        return (int(x0 + loc[0] / s), int(y0 + loc[1] / s), int(fw), int(fh))

    def _follow_tile(self, track: _Track, tile: Box, t0: int) -> None:
        """The gallery was laid out again and this feed's tile moved: the clip goes on in the new tile.

        The crop box moves and scales with the tile (the feed is the same video,
        so the face keeps its place in the crop).  The frame where the layout
        changed is found among the frames held since the last check.
        """
        clip = track.clip
        assert clip is not None and track.tile is not None
        ox, oy, ow, oh = track.tile
        nx, ny, nw, nh = tile
        bx, by, bw, bh = clip.box
        ratio = min(nw / ow, nh / oh)
        side = max(4, int(bw * ratio) // 4 * 4)
        side = min(side, nw // 4 * 4, nh // 4 * 4)
        x = _even(np.clip(nx + (bx - ox) * nw / ow, nx, nx + nw - side))
        y = _even(np.clip(ny + (by - oy) * nh / oh, ny, ny + nh - side))
        new_box = (max(x, nx + nx % 2), max(y, ny + ny % 2), side, side)
        change = t0
        if track.descriptor is not None:
            for t, planes in clip.hold:  # the first held frame whose new tile already shows this feed
                if descriptor_similarity(tile_descriptor(*planes, tile), track.descriptor) >= SAME_FEED:
                    change = t
                    break
        clip.boxes.append((change, new_box))
        clip.box, clip.tile = new_box, tile
        clip.face_h0 *= ratio
        if clip.evidence.tile_height:
            clip.evidence.tile_height = float(nh)

    def _face_fits(self, clip: _Clip, face: np.ndarray) -> bool:
        x, y, w, h = clip.box
        cx, cy = face[0] + face[2] / 2, face[1] + face[3] / 2
        inner = (x + 0.15 * w, y + 0.15 * h, 0.7 * w, 0.7 * h)
        return _contains(inner, cx, cy) and 0.6 < face[3] / clip.face_h0 < 1.6

    def _tiles(self, t0: int, window: list[tuple[int, Any, Any]], layout: Layout) -> None:
        """Default mode: one track per participant feed (tile)."""
        planes = window[0][2]
        # A tile found a few pixels off (a dark wall at its edge can look like the gallery's
        # background) is the same slot: keep the box the feed already has, so that crops and
        # content comparisons stay steady.
        known = [tr.tile for tr in self.tracks if tr.tile is not None]
        layout = Layout(
            tuple(next((k for k in known if iou(k, tile) > SAME_BOX), tile) for tile in layout.tiles),
            layout.background,
        )
        descs = [tile_descriptor(*planes, tile) for tile in layout.tiles]
        same_layout = (
            self._last_tiles is not None
            and len(self._last_tiles) == len(layout.tiles)
            and all(iou(a, b) > SAME_BOX for a, b in zip(self._last_tiles, layout.tiles, strict=True))
        )
        self._last_tiles = layout.tiles
        if same_layout and self._tiles_unchanged(t0, window, layout, descs):
            return
        assigned = self._assign_tiles(layout.tiles, descs)
        moved = set()
        for i, track in assigned.items():
            if track.tile is None or iou(track.tile, layout.tiles[i]) <= SAME_BOX:
                moved.add(track.track_id)
            elif track.tile != layout.tiles[i]:
                track.tile = layout.tiles[i]  # the same slot, measured a pixel or two differently
        for track in self.tracks:
            if track not in assigned.values():
                if track.clip is not None:
                    self._close_clip(track, end=t0 - 1)
                track.last_tile = track.tile or track.last_tile
                track.tile = None
        for i in range(len(layout.tiles)):
            if i not in assigned:
                assigned[i] = self._new_track()
                moved.add(assigned[i].track_id)
        for i, track in assigned.items():
            tile = layout.tiles[i]
            if track.track_id in moved:
                if track.clip is not None and track.tile is not None:
                    self._follow_tile(track, tile, t0)
                elif track.clip is not None:
                    self._close_clip(track, end=t0 - 1)
                track.tile = tile
                track.face = None
            track.descriptor = descs[i]
        self._order = [assigned[i].track_id for i in sorted(assigned)]
        self._faces_in_tiles(t0, window, [(layout.tiles[i], tr) for i, tr in sorted(assigned.items())])

    def _assign_tiles(self, tiles: tuple[Box, ...], descs: list[np.ndarray]) -> dict[int, _Track]:
        """Which known feed each tile shows, after the gallery was laid out again.

        Video-call galleries keep their participants in the same order when
        they re-lay out (someone joining is added, someone leaving is taken
        out), so the previous order of feeds is aligned with the new tiles in
        reading order (a Needleman-Wunsch alignment whose match score is the
        content similarity): a feed can move and shrink, but two feeds cannot
        swap.  Tiles left over are compared with feeds seen earlier in the
        call (someone back after leaving) and otherwise are new feeds.
        """
        from scipy.optimize import linear_sum_assignment

        by_id = {tr.track_id: tr for tr in self.tracks}
        old = [by_id[i] for i in self._order if by_id[i].descriptor is not None]
        m, n = len(old), len(tiles)
        sim = np.zeros((m, n))
        ok = np.zeros((m, n), bool)
        for a, tr in enumerate(old):
            for b, (tile, desc) in enumerate(zip(tiles, descs, strict=True)):
                sim[a, b] = descriptor_similarity(desc, tr.descriptor)
                slot_before = tr.tile if tr.tile is not None else tr.last_tile
                same_slot = slot_before is not None and iou(slot_before, tile) > SAME_BOX
                ok[a, b] = sim[a, b] >= (SAME_SLOT if same_slot else SAME_ORDERED)
        score = np.zeros((m + 1, n + 1))
        for a in range(1, m + 1):
            for b in range(1, n + 1):
                best = max(score[a - 1, b], score[a, b - 1])
                if ok[a - 1, b - 1]:
                    best = max(best, score[a - 1, b - 1] + sim[a - 1, b - 1])
                score[a, b] = best
        assigned: dict[int, _Track] = {}
        a, b = m, n
        while a > 0 and b > 0:
            if ok[a - 1, b - 1] and score[a, b] == score[a - 1, b - 1] + sim[a - 1, b - 1]:
                assigned[b - 1] = old[a - 1]
                a, b = a - 1, b - 1
            elif score[a, b] == score[a - 1, b]:
                a -= 1
            else:
                b -= 1
        rest = [b for b in range(n) if b not in assigned]
        earlier = [tr for tr in self.tracks if tr not in assigned.values() and tr.descriptor is not None]
        if rest and earlier:
            back = np.array([[descriptor_similarity(descs[b], tr.descriptor) for tr in earlier] for b in rest])
            for r, c in zip(*linear_sum_assignment(-back), strict=True):
                if back[r, c] >= SAME_FEED:
                    assigned[rest[r]] = earlier[c]
        return assigned

    def _tiles_unchanged(
        self, t0: int, window: list[tuple[int, Any, Any]], layout: Layout, descs: list[np.ndarray]
    ) -> bool:
        """The tiles did not move: each keeps its feed, if its content still matches (else ``False``)."""
        pairs = []
        for tile, desc in zip(layout.tiles, descs, strict=True):
            track = next((tr for tr in self.tracks if tr.tile is not None and iou(tr.tile, tile) > SAME_BOX), None)
            if track is None or (
                track.descriptor is not None and descriptor_similarity(desc, track.descriptor) < SAME_SLOT
            ):
                return False  # feeds were reordered: do the full assignment
            pairs.append((tile, track))
        for (tile, track), desc in zip(pairs, descs, strict=True):
            track.tile, track.descriptor = tile, desc
        self._faces_in_tiles(t0, window, pairs)
        return True

    def _faces_in_tiles(self, t0: int, window: list[tuple[int, Any, Any]], pairs: list[tuple[Box, _Track]]) -> None:
        """Look for each feed's face in its tile and open, continue or close its clip."""
        cfg = self.cfg
        planes = window[0][2]
        t_seen = window[0][0]
        for tile, track in pairs:
            min_face = cfg.min_face_frac * tile[3]
            faces = np.zeros((0, 4), np.int64)
            # 1. the known face, by template matching near its last place (also after a missed
            #    check: the cascade misses faces now and then that are plainly still there)
            n_faces = 0
            hit = None
            if track.face is not None and t0 - track.last_full < cfg.full_detect_every:
                hit = self._follow_face(track, planes[0], tile)
            if hit is not None:
                faces = np.array([hit], np.int64)
                n_faces = track.n_faces
            # 2. otherwise the detector over the tile; a tile with no face is re-scanned at half the
            #    step rate (camera off, person away)
            elif track.face is not None or t0 - track.last_full >= 2 * cfg.detect_every:
                faces = self._detect(planes[0], tile, min_face=min_face, max_face=0.95 * tile[3])
                track.last_full = t0
                n_faces = track.n_faces = len(faces)
            full = hit is None and track.last_full == t0
            if len(faces):
                if track.face is not None:
                    prev = np.array(track.face, float)
                    face = min(faces, key=lambda f: np.hypot(*(f[:2] + f[2:] / 2 - prev[:2] - prev[2:] / 2)))
                else:
                    face = max(faces, key=lambda f: f[2] * f[3])
                track.face = tuple(int(v) for v in face)
                track.last_seen = t_seen
                if full:
                    self._remember_face(track, planes[0])
                if track.clip is not None and not self._face_fits(track.clip, face):
                    self._close_clip(track)
                if track.clip is None:
                    self._open_clip(track, t_seen, face, tile, planes)
                self._confirm(track, t_seen)
                self._update_evidence(
                    track,
                    found=True,
                    n_faces=n_faces,
                    face=face,
                    t=t_seen,
                    method="template" if hit is not None else "detector",
                    score=round(track.template_score, 3) if hit is not None else float("nan"),
                )
                if full and track.clip is not None and len(track.clip.evidence.yaws) < 8:
                    self._pose(track, planes[0], face)
            else:
                if t0 - track.last_seen > cfg.max_gap:
                    track.face = None  # gone: look for it afresh
                if track.clip is not None:
                    self._update_evidence(track, found=False, n_faces=0, face=None, t=t_seen)
                    if t0 - track.last_seen > cfg.max_gap:
                        self._close_clip(track)

    # ------------------------------------------------------------------ main loop
    def run(self, progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
        """Process the recording; return its summary (rows in ``self.rows``).

        Raises
        ------
        VideoError
            When the recording cannot be opened at all.  Damage later in the
            file ends the run early instead: the clips before it are kept.
        """
        t_start = time.perf_counter()
        reader = CfrReader(self.path, fps=self.cfg.fps)
        self.fps = reader.stats.fps
        self.width, self.height = reader.width, reader.height
        st = reader.stats
        known = st.declared_frames > 0 and np.isfinite(st.source_fps) and st.source_fps > 0
        total = int(round(st.declared_frames * self.fps / st.source_fps)) if known else 0
        period, look = self.cfg.detect_every, self.cfg.lookahead
        buffer: list[tuple[int, Any, Any]] = []
        error = None
        last_t = -1
        try:
            for t, frame in reader:
                buffer.append((t, frame, yuv_planes(frame)))
                last_t = t
                offset = t % period
                if offset == look - 1:
                    step = t - offset
                    self._analyse(step, [b for b in buffer if b[0] >= step])
                    self._dispatch(buffer)
                    buffer.clear()
                elif offset >= look:
                    self._dispatch(buffer)
                    buffer.clear()
                if progress is not None and t % 50 == 0:
                    progress(t, total)
            if buffer:
                step = buffer[0][0] - buffer[0][0] % period
                window = [b for b in buffer if b[0] >= step]
                if window and window[0][0] == step:
                    self._analyse(step, window)
                self._dispatch(buffer)
                buffer.clear()
        except VideoError as exc:
            error = str(exc)
            for track in self.tracks:
                if track.clip is not None:
                    track.clip.cut_by_damage = True
        n_frames = last_t + 1
        if self._in_share:
            self.share[-1][1] = min(self.share[-1][1], n_frames - 1)
        for track in self.tracks:
            clip = track.clip
            if (
                clip is not None
                and error is None
                and self.cfg.trim_gaps
                and n_frames - 1 - clip.confirmed_until < period
            ):
                # seen at the last check, and no later check could have missed it: the clip runs to the last frame
                self._confirm(track, n_frames - 1)
            self._close_clip(track)
        truncated = error is not None or reader.truncated
        for row in self.rows:
            row["source_truncated"] = truncated
            if truncated:  # the recording is damaged: say so on every clip, not only in a column
                row["flags"] = "+".join([f for f in str(row["flags"]).split("+") if f] + ["source_truncated"])
                row["kept"] = False
        if progress is not None:
            progress(n_frames, n_frames)
        elapsed = time.perf_counter() - t_start
        kept = sum(1 for r in self.rows if r["kept"])
        return {
            "recording": str(self.path),
            "name": self.name,
            "status": "truncated" if truncated else "ok",
            "error": error or ("fewer frames decoded than the file declares" if truncated else None),
            "n_frames": n_frames,
            "fps": self.fps,
            "source_fps": reader.stats.source_fps,
            "variable_frame_rate": reader.stats.variable,
            "frames_duplicated": reader.stats.duplicated,
            "frames_dropped": reader.stats.dropped,
            "width": self.width,
            "height": self.height,
            "duration_s": round(n_frames / self.fps, 3),
            "clips": len(self.rows),
            "clips_kept": kept,
            "clips_flagged": len(self.rows) - kept,
            "clips_too_short_deleted": self.dropped_short,
            "tracks": [
                {
                    "track_id": tr.track_id,
                    "clips": sum(1 for r in self.rows if r["track_id"] == tr.track_id),
                    # the frames its clips span; none when every clip was too short and deleted
                    "first_frame": tr.first_frame if tr.last_frame >= 0 else None,
                    "last_frame": tr.last_frame if tr.last_frame >= 0 else None,
                }
                for tr in self.tracks
            ],
            "dropped_segments": [
                {
                    "start_frame": a,
                    "end_frame": b,
                    "start_time": round(a / self.fps, 3),
                    "end_time": round((b + 1) / self.fps, 3),
                    "reason": "screen share: the gallery was replaced by a shared screen",
                }
                for a, b in self.share
            ],
            "seconds": round(elapsed, 2),
            "frames_per_second": round(n_frames / elapsed, 1) if elapsed > 0 else None,
        }


_POSE_WARNED: list[bool] = []


def _warn_no_pose(exc: BaseException) -> None:
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


def _replace(cfg: PrepareConfig, **kw: Any) -> PrepareConfig:
    from dataclasses import replace

    return replace(cfg, **kw)
