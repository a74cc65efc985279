"""Cut one group video-call recording into per-person face clips, streaming.

:class:`RecordingSplitter` reads a recording once, frame by frame, as a
constant-frame-rate stream (variable-frame-rate input is converted on the
fly).  Every ``detect_every`` frames an analysis step decides what each
person's clip does; frames in between are only decoded.  Memory is bounded:
the splitter keeps the frames of one step, never the recording.

At each step the frame's layout (:mod:`mextk.prepare.layout`) says which
follower runs:

* a **gallery** (``layout=True``, the default): one track per participant
  feed, present while its camera is live and its face plausibly there
  (:mod:`mextk.prepare.feeds`);
* the gallery **replaced by a shared screen** (``screen_share=True``): every
  clip ends and the segment is dropped and recorded;
* **no gallery** (or ``layout=False``, the ``cmed`` preset): CMED's
  Algorithm 1, faces opening user frames (:mod:`mextk.prepare.algorithm1`).

The followers decide frame ranges and crop boxes; :mod:`mextk.prepare.clips`
turns them into clips: virtual clips by default (recording + boxes + frame
range, decoded on demand by every later stage), or H.264 files
(``clip_format="mp4"``, :mod:`mextk.prepare.encode`, a second pass).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from mextk.io.cfr import CfrReader
from mextk.io.decode import prefetch, yuv_planes
from mextk.io.errors import VideoError
from mextk.prepare.algorithm1 import UserFrames
from mextk.prepare.checks import black_bar_fraction, outside_fraction
from mextk.prepare.clips import ClipBook
from mextk.prepare.config import PrepareConfig
from mextk.prepare.faces import FaceFinder
from mextk.prepare.feeds import GalleryFeeds
from mextk.prepare.geometry import Box, contains
from mextk.prepare.layout import Layout, find_tiles, layout_holds

#: Width of the frame copy the layout is analysed on.
LAYOUT_WIDTH = 320


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
        self.share: list[list[int]] = []
        self._in_share = False
        self._gallery_seen = False
        self._mode: str | None = None
        self.fps = 0.0
        self.width = self.height = 0
        self.book: ClipBook | None = None
        self._layout: Layout | None = None  # the last layout found

    @property
    def rows(self) -> list[dict[str, Any]]:
        """The manifest rows of the clips kept so far."""
        return self.book.rows if self.book is not None else []

    # ------------------------------------------------------------------ analysis
    def _layout_of(self, y: np.ndarray) -> Layout:
        # plain subsampling (a view, no filtering) is enough to see tiles and gaps
        step = max(1, self.width // LAYOUT_WIDTH)
        small = y[::step, ::step]
        if self._layout is not None and layout_holds(small, self._layout, scale=step):
            return self._layout  # the gallery did not change: no need to find its tiles again
        self._layout = find_tiles(small, scale=step)
        return self._layout

    def _intrusion(self, y: np.ndarray, box: Box, face: Any) -> float:
        """The share of a crop outside the face's gallery tile, or black bars inside it."""
        lay = self._layout_of(y)
        cx, cy = face[0] + face[2] / 2, face[1] + face[3] / 2
        tile = next((tl for tl in lay.tiles if contains(tl, cx, cy)), None)
        bars = black_bar_fraction(y[box[1] : box[1] + box[3], box[0] : box[0] + box[2]])
        outside = outside_fraction(box, tile) if lay.gallery and tile is not None else 0.0
        return max(outside, bars)

    def _set_mode(self, mode: str, t0: int) -> None:
        if self._mode != mode:
            self.feeds.lose_tiles(t0)
            self._mode = mode

    def _analyse(self, t0: int, window: list[tuple[int, Any, Any]], recent: list[tuple[int, Any]]) -> None:
        if not self.cfg.layout:
            self._set_mode("users", t0)
            self.users.step(t0, window)
            return
        layout = self._layout_of(window[0][2][0])
        if layout.background is not None:
            # a gallery, or an empty one (nobody on screen: every feed has gone)
            self._gallery_seen = self._gallery_seen or layout.gallery
            self._end_share(t0)
            self._set_mode("tiles", t0)
            self.feeds.step(t0, window, layout, recent)
            return
        if self.cfg.screen_share and self._gallery_seen:
            # the gallery was there and is gone: a shared screen replaced it
            self._start_share(t0)
            return
        self._end_share(t0)
        self._set_mode("users", t0)
        self.users.step(t0, window)

    def _start_share(self, t0: int) -> None:
        if not self._in_share:
            self._in_share = True
            self.share.append([t0, t0])
            self.feeds.lose_tiles(t0)
        self.share[-1][1] = t0 + self.cfg.detect_every - 1

    def _end_share(self, t0: int) -> None:
        if self._in_share:
            self._in_share = False
            self.share[-1][1] = t0 - 1

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
        cfg = self.cfg
        # only every detect_every-th frame is analysed: the frames between are decoded only where other
        # frames refer to them (they still date a tile's move, at the resolution there is)
        reader = CfrReader(self.path, fps=cfg.fps, sparse=(cfg.detect_every, cfg.lookahead))
        self.fps = reader.stats.fps
        self.width, self.height = reader.width, reader.height
        book = self.book = ClipBook(self.out, self.name, self.path, cfg, self.fps)
        finder = FaceFinder(cfg, self.width, self.height)
        self.users = UserFrames(book, finder, cfg, self._intrusion)
        self.feeds = GalleryFeeds(book, finder, cfg, self._intrusion)
        st = reader.stats
        known = st.declared_frames > 0 and np.isfinite(st.source_fps) and st.source_fps > 0
        total = int(round(st.declared_frames * self.fps / st.source_fps)) if known else 0
        period, look = cfg.detect_every, cfg.lookahead
        window: list[tuple[int, Any, Any]] = []
        recent: list[tuple[int, Any]] = []  # frames since the last step: where a tile's move happened
        error = None
        last_t = -1
        shown = -1
        try:
            for t, frame in prefetch(iter(reader)):
                last_t = t
                offset = t % period
                planes = yuv_planes(frame) if offset < look or cfg.layout else None
                if cfg.layout:
                    recent.append((t, planes))
                if offset < look:
                    window.append((t, frame, planes))
                if offset == look - 1:
                    book.frontier = t - offset - 1
                    self._analyse(t - offset, window, recent)
                    window, recent = [], []
                if progress is not None and t // 50 != shown:
                    shown = t // 50
                    progress(t, total)
            if window:  # the recording ended inside a look-ahead: analyse what there is
                book.frontier = window[0][0] - 1
                self._analyse(window[0][0], window, recent)
        except VideoError as exc:
            error = str(exc)
            for track in book.tracks:
                if track.clip is not None:
                    track.clip.cut_by_damage = True
        # the frames of the video: the last ones may have been left undecoded (the reader's sparse reading)
        n_frames = max(last_t + 1, reader.stats.emitted) if error is None else last_t + 1
        book.frontier = n_frames - 1
        if self._in_share:
            self.share[-1][1] = min(self.share[-1][1], n_frames - 1)
        for track in book.tracks:
            clip = track.clip
            if clip is not None and error is None and cfg.trim_gaps and n_frames - 1 - clip.confirmed_until < period:
                # seen at the last check, and no later check could have missed it: the clip runs to the last frame
                book.confirm(track, n_frames - 1)
            book.close(track)
        if cfg.clip_format == "mp4":
            from mextk.prepare.encode import render_clips

            render_clips(
                self.path, book.finished, fps=self.fps, size=cfg.crop_size, crf=cfg.crf, preset=cfg.x264_preset
            )
        book.flag_feeds_with_other_faces()
        truncated = error is not None or reader.truncated
        for row in book.rows:
            row["source_truncated"] = truncated
            if truncated:  # the recording is damaged: say so on every clip, not only in a column
                row["flags"] = "+".join([f for f in str(row["flags"]).split("+") if f] + ["source_truncated"])
                row["kept"] = False
        if progress is not None:
            progress(n_frames, n_frames)
        elapsed = time.perf_counter() - t_start
        kept = sum(1 for r in book.rows if r["kept"])
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
            "clips": len(book.rows),
            "clips_kept": kept,
            "clips_flagged": len(book.rows) - kept,
            "clips_too_short_deleted": book.dropped_short,
            "tracks": [
                {
                    "track_id": tr.track_id,
                    "clips": sum(1 for r in book.rows if r["track_id"] == tr.track_id),
                    # the frames its clips span; none when every clip was too short and deleted
                    "first_frame": tr.first_frame if tr.last_frame >= 0 else None,
                    "last_frame": tr.last_frame if tr.last_frame >= 0 else None,
                }
                for tr in book.tracks
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
