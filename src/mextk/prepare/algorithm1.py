"""CMED's Algorithm 1 as the paper writes it: faces open "user frames", and each writes until its face is gone.

(Matharaarachchi et al., CMED, section III-B.)  At every analysis step
(``detect_every`` frames) the ``lookahead`` frames from the step on are run
through the detector over the whole frame, and the frame with the most faces
supplies them.  A face whose centre lies in an existing user frame belongs to
it (``crop="fixed"``); otherwise it opens a new user frame, a ``crop_size``
square centred on it.  A user frame's clip goes on until its face has not been
seen for more than ``max_gap`` frames.  The choices where the paper is vague
are listed in :mod:`mextk.prepare.config`.

With ``crop="face"`` (used for recordings without a gallery under the default
settings) a face belongs to the track whose last face is nearest, within 60%
of its width and at a similar size, and the crop follows the face's size.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mextk.prepare.clips import Track
from mextk.prepare.follower import Follower
from mextk.prepare.geometry import Box, contains, face_fits

Window = list[tuple[int, Any, Any]]  # (frame, decoded frame, (Y, U, V) planes)


class UserFrames(Follower):
    """Algorithm 1's step (see the module docstring).

    Parameters: see :class:`~mextk.prepare.follower.Follower`.
    """

    def _track_of(self, face: np.ndarray, frame_box: Box) -> Track:
        book, cfg = self.book, self.cfg
        cx, cy = face[0] + face[2] / 2, face[1] + face[3] / 2
        track = None
        if cfg.crop == "fixed":
            track = next((tr for tr in book.tracks if tr.region and contains(tr.region, cx, cy)), None)
        else:

            def dist(tr: Track) -> float:
                assert tr.face is not None
                return float(np.hypot(tr.face[0] + tr.face[2] / 2 - cx, tr.face[1] + tr.face[3] / 2 - cy))

            cands = [
                tr
                for tr in book.tracks
                if tr.face is not None and dist(tr) < 0.6 * tr.face[2] and 0.6 < face[2] / tr.face[2] < 1.6
            ]
            track = min(cands, key=dist, default=None)
        if track is None:
            track = book.new_track()
            track.region = self.crop(face, frame_box)
        return track

    def step(self, t0: int, window: Window) -> None:
        """Analyse the step at frame ``t0`` (its look-ahead frames are ``window``)."""
        book, cfg, finder = self.book, self.cfg, self.finder
        frame_box = (0, 0, finder.width, finder.height)
        best_t, best_faces, best_planes = window[0][0], None, window[0][2]
        for t, _, planes in window:
            boxes = finder.detect(planes[0], frame_box, min_face=0.0, max_face=None)
            if best_faces is None or len(boxes) > len(best_faces):
                best_t, best_faces, best_planes = t, boxes, planes
        assert best_faces is not None
        seen: dict[int, list[np.ndarray]] = {}
        for face in best_faces:
            seen.setdefault(self._track_of(face, frame_box).track_id, []).append(face)
        for track in book.tracks:
            faces = seen.get(track.track_id)
            if faces:
                face = max(faces, key=lambda f: f[2] * f[3])
                track.face = tuple(int(v) for v in face)
                track.last_seen = best_t
                if (
                    track.clip is not None
                    and cfg.crop == "face"
                    and not face_fits(track.clip.box, face, track.clip.face_h0, min_inside=0.9)
                ):
                    book.close(track)
                if track.clip is None:
                    start = t0 if cfg.clip_start == "step" else best_t
                    box = track.region if cfg.crop == "fixed" and track.region else self.crop(face, frame_box)
                    book.open(track, start, face, frame_box, box, intrusion=self.intrusion(best_planes[0], box, face))
                book.confirm(track, best_t)
                # faces in the crop: this person's and anyone else's whose face centre lies in it
                in_crop = sum(1 for f in best_faces if contains(track.clip.box, f[0] + f[2] / 2, f[1] + f[3] / 2))
                book.check(track, t=best_t, found=True, n_faces=max(len(faces), in_crop), face=face, method="detector")
                if track.clip is not None and len(track.clip.evidence.yaws) < 8:
                    pose = finder.pose(best_planes[0], track.face)
                    if pose is not None:
                        book.pose(track, *pose)
            elif track.clip is not None:
                book.check(track, t=t0, found=False, n_faces=0)
                if t0 - track.last_seen > cfg.max_gap:
                    book.close(track, end=None if cfg.trim_gaps else t0 - 1)
