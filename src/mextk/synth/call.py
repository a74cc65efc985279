"""Synthetic group video-call recordings with ground truth, for the recording-splitting stage.

A recording imitates a Zoom-style gallery view at 25 fps: participants in a
grid of 16:9 tiles on a dark background, each with a name label; the speaking
participant's tile has a highlighted border; people join and leave, and the
grid is laid out again each time (tiles move and resize); for a while a
participant shares a screen (a slide with text and a chart, a moving mouse
pointer, and a filmstrip of small participant thumbnails at the right), which
replaces the gallery.

Participants are synthetic subjects (:mod:`mextk.synth.face`) who talk (jaw
and lip movement), blink, move their heads and now and then show a
micro-expression.

The ground truth (a JSON file beside the video) lists, in the recording's
frame numbering (0-based, inclusive ends):

* ``participants``: person id, subject seed, join and leave frames,
  ``presence`` (gallery intervals, screen share removed) and ``events``
  (micro-expressions with onset/apex/offset and emotion);
* ``layouts``: each interval with a fixed gallery layout and every tile box
  ``[x, y, w, h]`` in pixels;
* ``screen_share``: the intervals during which the shared screen is shown.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mextk.io.atomic import write_json_atomic
from mextk.io.writer import VideoWriter
from mextk.synth.clips import cached_subject, expression_profile, smooth_noise
from mextk.synth.face import EMOTION_AUS, FaceRenderer, au_field, blink_field
from mextk.synth.screen import gallery_layout, shared_slide

_NAMES = ["Alex", "Sam", "Robin", "Kim", "Jo", "Charlie", "Max", "Ari", "Noa", "Lee", "Mika", "Tao"]


@dataclass(frozen=True)
class CallConfig:
    """Settings of a synthetic call recording.

    Attributes
    ----------
    n_participants : int
        People who appear at some point (2-12).
    duration_s : float
        Length in seconds.
    width, height : int
        Frame size (even).
    fps : float
        Frame rate (Zoom records 25 fps).
    n_late : int
        How many participants join after the start.
    n_early_leave : int
        How many leave before the end.
    screen_share : bool
        Include one screen-share interval.
    filmstrip : bool
        Show small participant thumbnails during the screen share.
    me_rate : float
        Micro-expressions per participant per minute.
    min_event_gap_s : float
        Joins, leaves and the start and end of the screen share are at least this
        far apart (and from the ends of the call), as in real sessions.
    crf : int
        H.264 quality.
    seed : int
        Master seed.
    """

    n_participants: int = 4
    duration_s: float = 30.0
    width: int = 960
    height: int = 540
    fps: float = 25.0
    n_late: int = 1
    n_early_leave: int = 1
    screen_share: bool = True
    filmstrip: bool = True
    me_rate: float = 4.0
    min_event_gap_s: float = 4.0
    crf: int = 23
    seed: int = 0


def _event_times(n_events: int, n_frames: int, gap: int, rng: np.random.Generator, fps: float) -> list[int]:
    """``n_events`` sorted frame times at least ``gap`` apart and from both ends."""
    slack = n_frames - (n_events + 1) * gap
    if slack < 0:
        need = (n_events + 1) * gap / fps
        raise ValueError(
            f"a call of {n_frames / fps:g} s cannot hold {n_events} joins/leaves/screen-share changes "
            f"{gap / fps:g} s apart (and from both ends): it needs at least {need:g} s; make the call longer "
            f"(mextk synth --call-duration, CallConfig.duration_s) or the gap shorter "
            f"(--call-event-gap, CallConfig.min_event_gap_s)"
        )
    points = np.sort(rng.uniform(0, slack, n_events))
    return [int(p) + (i + 1) * gap for i, p in enumerate(points)]


def _schedule(
    cfg: CallConfig, rng: np.random.Generator, n: int | None = None
) -> tuple[list[dict[str, Any]], list[list[int]]]:
    """Who is there when: late joins first, then the screen share, then early leaves, all spaced apart."""
    n_frames = int(round(cfg.duration_s * cfg.fps))
    n = cfg.n_participants if n is None else n
    if not 2 <= n <= len(_NAMES):
        raise ValueError(f"n_participants must be 2-{len(_NAMES)}, got {n}")
    if cfg.n_late + cfg.n_early_leave > n - 1:
        raise ValueError("at least one participant must stay for the whole call")
    n_events = cfg.n_late + cfg.n_early_leave + (2 if cfg.screen_share else 0)
    times = _event_times(n_events, n_frames, int(round(cfg.min_event_gap_s * cfg.fps)), rng, cfg.fps)
    joins, times = times[: cfg.n_late], times[cfg.n_late :]
    share: list[list[int]] = []
    if cfg.screen_share:
        share = [[times[0], times[1] - 1]]
        times = times[2:]
    leaves = times
    order = rng.permutation(n)
    late = {int(i): joins[k] for k, i in enumerate(order[: cfg.n_late])}
    leave = {int(i): leaves[k] - 1 for k, i in enumerate(order[cfg.n_late : cfg.n_late + cfg.n_early_leave])}
    seeds = rng.choice(np.arange(1, 10_000), size=n, replace=False)
    people = []
    for i in range(n):
        people.append(
            {
                "person": f"p{i + 1}",
                "name": _NAMES[i],
                "subject_seed": int(seeds[i]),
                "join_frame": late.get(i, 0),
                "leave_frame": leave.get(i, n_frames - 1),
            }
        )
    return people, share


def _presence(join: int, leave: int, share: list[list[int]]) -> list[list[int]]:
    intervals = [[join, leave]]
    for s0, s1 in share:
        nxt = []
        for a, b in intervals:
            if s1 < a or s0 > b:
                nxt.append([a, b])
                continue
            if a < s0:
                nxt.append([a, s0 - 1])
            if b > s1:
                nxt.append([s1 + 1, b])
        intervals = nxt
    return intervals


def _presence_of(person: dict[str, Any], share: list[list[int]]) -> list[list[int]]:
    """On-camera intervals: the person's sessions in the call, less the screen share and camera-off time."""
    sessions = person.get("sessions", [[person["join_frame"], person["leave_frame"]]])
    out = [iv for a, b in sessions for iv in _presence(a, b, share)]
    return [iv for a, b in out for iv in _presence(a, b, person.get("camera_off", []))]


class _Participant:
    """Animation state of one participant (talking, blinking, head motion, micro-expressions)."""

    def __init__(self, info: dict[str, Any], n_frames: int, cfg: CallConfig, rng: np.random.Generator) -> None:
        self.info = info
        self.subject = cached_subject(info["subject_seed"])
        self.rng = rng
        fps = cfg.fps
        lm = self.subject.landmarks
        # talking: speech bursts with a syllable-rate jaw oscillation
        talk = np.zeros(n_frames)
        t = 0
        while t < n_frames:
            pause = int(rng.uniform(1.0, 6.0) * fps)
            burst = int(rng.uniform(1.0, 4.0) * fps)
            a = t + pause
            b = min(n_frames, a + burst)
            if a < n_frames:
                k = np.arange(b - a)
                syll = 0.5 * (1 - np.cos(2 * np.pi * k * rng.uniform(3.0, 5.0) / fps))
                talk[a:b] = syll * rng.uniform(0.5, 1.0)
            t = b
        self.talk = talk
        self.talk_disp = au_field(lm, {"AU26": 1.0}) * 0.12 * self.subject.iod
        # blinks every 2-6 s
        blink = np.zeros(n_frames)
        t = int(rng.uniform(0.5, 3) * fps)
        shape = np.array([0.5, 1.0, 0.7, 0.3])
        while t < n_frames - 4:
            blink[t : t + 4] = shape
            t += int(rng.uniform(2, 6) * fps)
        self.blink = blink
        self.blink_disp = blink_field(lm, 0.85)
        # micro-expressions
        self.expr = np.zeros((n_frames, 68, 2))
        self.events: list[dict[str, Any]] = []
        n_me = rng.poisson(cfg.me_rate * n_frames / fps / 60)
        emotions = list(EMOTION_AUS)
        for _ in range(n_me):
            emo = str(rng.choice(emotions))
            span = int(rng.integers(max(4, round(0.24 * fps)), max(5, int(0.5 * fps - 1e-9)) + 1))
            on = int(rng.integers(info["join_frame"], max(info["join_frame"] + 1, info["leave_frame"] - span)))
            if on + span >= n_frames:
                continue
            ap = on + max(1, int(round(span * rng.uniform(0.35, 0.65))))
            ap = min(ap, on + span - 1)
            prof = expression_profile(n_frames, on, ap, on + span)
            fld = au_field(lm, {au: float(rng.uniform(0.6, 1.0)) for au in EMOTION_AUS[emo]})
            peak = np.max(np.hypot(fld[:, 0], fld[:, 1]))
            self.expr += prof[:, None, None] * (fld / peak * 0.08 * self.subject.iod)[None]
            self.events.append({"emotion": emo, "onset": on, "apex": ap, "offset": on + span})
        self.shift = smooth_noise(rng, n_frames, 0.03 * self.subject.face_width, corr=0.98, dims=2)
        self.angle = smooth_noise(rng, n_frames, np.deg2rad(2.0), corr=0.97)
        self.zoom = 1 + smooth_noise(rng, n_frames, 0.03, corr=0.98)
        self._renderers: dict[tuple[int, int], FaceRenderer] = {}

    def renderer(self, w: int, h: int) -> FaceRenderer:
        key = (w, h)
        if key not in self._renderers:
            s = self.subject
            # head and shoulders: the face takes ~40% of the tile height
            scale = 0.4 * h / (s.face_width * 1.15 * s.distance)
            centre = s.face_centre + np.array([0.0, 0.18 * h / scale])
            self._renderers = {key: FaceRenderer(s, out_size=(w, h), centre=centre, scale=scale)}
        return self._renderers[key]

    def frame(self, t: int, w: int, h: int) -> np.ndarray:
        disp = self.talk[t] * self.talk_disp + self.blink[t] * self.blink_disp + self.expr[t]
        img, _ = self.renderer(w, h).render(disp, shift=self.shift[t], angle=self.angle[t], zoom=self.zoom[t])
        return img


def make_call_recording(
    path: str | os.PathLike[str],
    config: CallConfig = CallConfig(),
    *,
    progress: bool = True,
) -> dict[str, Any]:
    """Render a synthetic gallery-view call recording and its ground truth.

    Frames are rendered and encoded one at a time, so memory does not grow
    with the duration.  The video and ``<path>.json`` appear atomically.

    Parameters
    ----------
    path : path-like
        Output ``.mp4``; the ground truth goes to the same name with ``.json``.
    config : CallConfig
        What to render.
    progress : bool
        Show a progress bar.

    Returns
    -------
    dict
        The ground truth (also written to JSON).
    """
    if config.width % 2 or config.height % 2:
        raise ValueError("width and height must be even")
    rng = np.random.default_rng(np.random.SeedSequence([config.seed, 0xCA11]))
    n_frames = int(round(config.duration_s * config.fps))
    people, share = _schedule(config, rng)
    feeds = [_Participant(p, n_frames, config, np.random.default_rng(rng.integers(2**32))) for p in people]
    return _render_call(Path(path), config, people, share, feeds, rng, progress=progress)


class _VideoFeed:
    """A participant whose camera is a real video clip, looped, resampled to the call's frame rate."""

    def __init__(
        self, path: Path, fps: float, effects: list[Any] | None = None, seed: int = 0, wide: bool = False
    ) -> None:
        from mextk.io.video import probe_video

        self.path = path
        self.wide = wide
        self.effects = list(effects or [])
        self._rng = np.random.default_rng(seed)
        self._place: Any = None
        self._walkers: dict[str, np.ndarray] = {}
        info = probe_video(path)
        self.src_fps = info.fps
        self.fps = fps
        self.events: list[dict[str, Any]] = []
        self._iter: Any = None
        self._index = -1
        self._frame: np.ndarray | None = None

    def _widen(self, frame: np.ndarray) -> np.ndarray:
        """A wide (16:9) camera: the picture with room on both sides, its edge colours carried out like a wall."""
        if not self.wide:
            return frame
        import cv2

        h, w = frame.shape[:2]
        pad = max(0, (h * 16 // 9 - w) // 2)
        return cv2.copyMakeBorder(frame, 0, 0, pad, pad, cv2.BORDER_REPLICATE) if pad else frame

    def _next(self) -> np.ndarray:
        from mextk.io.video import iter_frames

        if self._iter is None:
            self._iter = iter_frames(self.path)
        try:
            return next(self._iter)
        except StopIteration:
            self._iter = iter_frames(self.path)
            return next(self._iter)

    def frame(self, t: int, w: int, h: int) -> np.ndarray:
        import cv2

        from mextk.io.video import iter_frames

        want = int(t * self.src_fps / self.fps)
        while self._index < want:
            self._frame = self._next()
            self._index += 1
        assert self._frame is not None
        camera = self._widen(self._frame)
        if any(e.strength(t) > 0 for e in self.effects):
            from mextk.synth.effects import apply_effects, find_face_place, load_walker

            if self._place is None:
                self._place = find_face_place(self._widen(next(iter_frames(self.path))))
            for e in self.effects:
                if e.kind == "walker" and e.video not in self._walkers:
                    self._walkers[e.video] = load_walker(e.video)
            camera = np.clip(
                apply_effects(camera.astype(np.float32), t, self.effects, self._place, self._rng, self._walkers), 0, 255
            ).astype(np.uint8)
        fh, fw = camera.shape[:2]
        # fit the whole camera image into the tile with black bars, as a video call shows a
        # camera whose aspect differs from the tile's (phones, square webcams)
        scale = min(w / fw, h / fh)
        nw, nh = int(round(fw * scale)) // 2 * 2, int(round(fh * scale)) // 2 * 2
        out = np.zeros((h, w, 3), np.float32)
        y0, x0 = (h - nh) // 2, (w - nw) // 2
        out[y0 : y0 + nh, x0 : x0 + nw] = cv2.resize(camera, (nw, nh), interpolation=cv2.INTER_AREA)
        return out


def compose_gallery(
    videos: list[str | os.PathLike[str]],
    path: str | os.PathLike[str],
    config: CallConfig = CallConfig(),
    *,
    effects: dict[int, list[Any]] | None = None,
    camera_off: dict[int, list[tuple[int, int]]] | None = None,
    rejoins: dict[int, tuple[int, int]] | None = None,
    wide: Sequence[int] = (),
    progress: bool = True,
) -> dict[str, Any]:
    """Compose real face videos into a gallery-view call recording with known ground truth.

    Each video is one participant's camera (looped when shorter than the call,
    resampled to the call's frame rate, fitted into the tile with black bars
    where its aspect differs, as video-call software shows it).  Joins,
    leaves and the screen share follow ``config`` as in
    :func:`make_call_recording`, and the ground truth has the same form
    (``events`` are empty: real videos carry no labels).

    Parameters
    ----------
    videos : list of path-like
        One video per participant (2-12).
    path : path-like
        Output ``.mp4`` (ground truth beside it as ``.json``).
    config : CallConfig
        Size, duration, schedule; ``n_participants`` is taken from ``videos``.
    effects : dict, optional
        ``{participant index: [Effect, ...]}``: hard moments on that camera
        (:mod:`mextk.synth.effects`), listed in the ground truth.
    camera_off : dict, optional
        ``{participant index: [(start, stop), ...]}``: call frames ``[start, stop)`` in which
        the camera is off (the tile shows a card with the name); not on-camera time.
    rejoins : dict, optional
        ``{participant index: (leave, back)}``: the participant leaves the call at frame
        ``leave`` and joins again at ``back`` (added last to the gallery, as video-call
        software does).
    wide : sequence of int
        Participants whose camera is widened to 16:9 (the picture's edge colours carried out on
        both sides, like a wall): a laptop's webcam, with room beside the participant for
        people behind (``walker`` effects).
    progress : bool
        Show a progress bar.
    """
    from dataclasses import replace

    config = replace(config, n_participants=len(videos))
    rng = np.random.default_rng(np.random.SeedSequence([config.seed, 0xCA12]))
    people, share = _schedule(config, rng)
    effects, camera_off, rejoins = effects or {}, camera_off or {}, rejoins or {}
    feeds = [
        _VideoFeed(Path(v), config.fps, effects.get(i), seed=config.seed + i, wide=i in wide)
        for i, v in enumerate(videos)
    ]
    for i, (person, v) in enumerate(zip(people, videos, strict=True)):
        person["video"] = str(v)
        person.pop("subject_seed", None)
        person["sessions"] = [[person["join_frame"], person["leave_frame"]]]
        if i in rejoins:
            leave, back = rejoins[i]
            if not person["join_frame"] < leave < back <= person["leave_frame"]:
                raise ValueError(f"participant {i}: rejoin {leave}->{back} must lie inside the call")
            person["sessions"] = [[person["join_frame"], leave - 1], [back, person["leave_frame"]]]
        person["camera_off"] = [[int(a), int(b) - 1] for a, b in camera_off.get(i, [])]
        person["effects"] = [
            {"kind": e.kind, "start_frame": e.start, "end_frame": e.stop - 1, "amount": e.amount}
            | ({"emotion": e.emotion} if e.emotion else {})
            for e in effects.get(i, [])
        ]
    return _render_call(Path(path), config, people, share, feeds, rng, progress=progress)


def _render_call(
    path: Path,
    config: CallConfig,
    people: list[dict[str, Any]],
    share: list[list[int]],
    parts: list[Any],
    rng: np.random.Generator,
    *,
    progress: bool,
) -> dict[str, Any]:
    import cv2

    if config.width % 2 or config.height % 2:
        raise ValueError("width and height must be even")
    n_frames = int(round(config.duration_s * config.fps))
    slide = shared_slide(config.width, config.height, rng)
    pointer = smooth_noise(rng, n_frames, 0.2, corr=0.995, dims=2)
    speaker_turns = smooth_noise(rng, n_frames, 1.0, corr=0.995, dims=len(parts))

    def session_start(p: dict[str, Any], t: int) -> int | None:
        for a, b in p.get("sessions", [[p["join_frame"], p["leave_frame"]]]):
            if a <= t <= b:
                return a
        return None

    def active_at(t: int) -> list[int]:
        # in the order they (last) joined: someone back after leaving is added last
        here = [(session_start(p, t), i) for i, p in enumerate(people)]
        return [i for _, i in sorted((s, i) for s, i in here if s is not None)]

    def camera_is_off(i: int, t: int) -> bool:
        return any(a <= t <= b for a, b in people[i].get("camera_off", []))

    def in_share(t: int) -> bool:
        return any(a <= t <= b for a, b in share)

    layouts: list[dict[str, Any]] = []
    bg = np.array([28, 28, 28], np.uint8)
    # camera noise: a few frames of it, drawn once and reused in a shifting order (drawing a frame's
    # worth of Gaussian noise every frame took most of the rendering time)
    noise_bank = rng.normal(0, 1.2, (5, config.height, config.width, 3)).astype(np.float32)
    font = cv2.FONT_HERSHEY_SIMPLEX
    from rich.progress import Progress

    with VideoWriter(path, fps=config.fps, crf=config.crf) as writer, Progress(disable=not progress) as bar:
        task = bar.add_task(f"rendering {path.name}", total=n_frames)
        for t in range(n_frames):
            active = active_at(t)
            canvas = np.empty((config.height, config.width, 3), np.uint8)
            canvas[:] = bg
            if in_share(t):
                strip_w = config.width // 6 if config.filmstrip else 0
                main_w = config.width - strip_w
                canvas[:, :main_w] = cv2.resize(slide, (main_w, config.height), interpolation=cv2.INTER_AREA)
                px = int(np.clip(0.5 + pointer[t, 0], 0.05, 0.95) * main_w)
                py = int(np.clip(0.5 + pointer[t, 1], 0.05, 0.95) * config.height)
                arrow = np.array([(px, py), (px, py + 18), (px + 5, py + 13), (px + 12, py + 13)])
                cv2.fillPoly(canvas, [arrow], (0, 0, 0))
                if strip_w:
                    tw = strip_w - 8
                    th = (tw * 9 // 16) // 2 * 2
                    tw = tw // 2 * 2
                    for k, i in enumerate(active[: config.height // (th + 6)]):
                        x, y = main_w + 4, 4 + k * (th + 6)
                        tile = parts[i].frame(t, tw, th)
                        canvas[y : y + th, x : x + tw] = np.clip(tile, 0, 255).astype(np.uint8)
                boxes: dict[str, list[int]] = {}
            else:
                boxes = {}
                speaker = max(active, key=lambda i: speaker_turns[t, i]) if active else None
                for i, (x, y, w, h) in zip(
                    active, gallery_layout(len(active), config.width, config.height), strict=True
                ):
                    if camera_is_off(i, t):
                        canvas[y : y + h, x : x + w] = 46  # the camera-off card: the name on plain gray
                        name = people[i]["name"]
                        scale = h / 120
                        (nw_, nh_), _ = cv2.getTextSize(name, font, scale, 2)
                        org = (x + (w - nw_) // 2, y + (h + nh_) // 2)
                        cv2.putText(canvas, name, org, font, scale, (235, 235, 235), 2, cv2.LINE_AA)
                    else:
                        canvas[y : y + h, x : x + w] = np.clip(parts[i].frame(t, w, h), 0, 255).astype(np.uint8)
                    if i == speaker and len(active) > 1:
                        cv2.rectangle(canvas, (x, y), (x + w - 1, y + h - 1), (80, 200, 60), 3)
                    label = people[i]["name"]
                    (lw, lh), _ = cv2.getTextSize(label, font, 0.45, 1)
                    cv2.rectangle(canvas, (x + 4, y + h - lh - 12), (x + lw + 12, y + h - 4), (20, 20, 20), -1)
                    cv2.putText(canvas, label, (x + 8, y + h - 8), font, 0.45, (255, 255, 255), 1, cv2.LINE_AA)
                    boxes[people[i]["person"]] = [int(x), int(y), int(w), int(h)]
            key = "share" if in_share(t) else boxes
            if not layouts or layouts[-1]["_key"] != key:
                layouts.append(
                    {"start_frame": t, "end_frame": t, "screen_share": in_share(t), "tiles": boxes, "_key": key}
                )
            else:
                layouts[-1]["end_frame"] = t
            noise = noise_bank[(t * 7 + t // len(noise_bank)) % len(noise_bank)]
            writer.write(np.clip(canvas + noise, 0, 255).astype(np.uint8))
            bar.advance(task)
    for lay in layouts:
        del lay["_key"]
    truth = {
        "video": path.name,
        "fps": config.fps,
        "width": config.width,
        "height": config.height,
        "n_frames": n_frames,
        "config": asdict(config),
        "screen_share": share,
        "participants": [
            {**p, "presence": _presence_of(p, share), "events": parts[i].events} for i, p in enumerate(people)
        ],
        "layouts": layouts,
    }
    write_json_atomic(path.with_suffix(".json"), truth)
    return truth
