"""Synthetic long videos with known micro- and macro-expression intervals (for interval spotting).

Each video shows one synthetic subject (:mod:`mextk.synth.face`) for
``seconds`` seconds.  Expressions are placed at random, at least
``min_gap_s`` apart and away from the ends:

* a **micro-expression** rises from onset to apex and falls back by the offset
  along raised-cosine ramps (:func:`~mextk.synth.clips.expression_profile`);
  onset to offset lasts 200-450 ms, and the largest landmark displacement at
  the apex is ``micro_amplitude_px`` output pixels;
* a **macro-expression** rises over 300-600 ms, holds for 0.5-2 s and falls
  over 400-800 ms (1.2-3.4 s in all), at ``macro_amplitude_px``; its apex is
  the end of the rise.

Every video also has what a real recording has, so a spotter cannot just look
for any change: blinks (110-160 ms closures, about ``blinks_per_minute``, away
from the expressions, as the datasets leave blinks unlabelled), head jitter
and a slow drift of the head, lighting flicker, sensor noise and H.264
compression.  The ground truth is a long-video manifest
(:mod:`mextk.spotting.long_manifest`): one row per interval with its type,
emotion and action units; the blinks go to the ``blinks`` column of the
video's first row as ``+``-separated start frames.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mextk.io.atomic import read_json, write_json_atomic
from mextk.io.writer import write_video
from mextk.synth.clips import cached_subject, expression_profile, smooth_noise
from mextk.synth.face import AU_CODES, EMOTION_AUS, FaceRenderer, au_field, blink_field


@dataclass(frozen=True)
class LongVideoSpec:
    """Everything that determines one synthetic long video (deterministic given these fields).

    Attributes
    ----------
    subject_seed, seed : int
        Identity of the subject; the video's own randomness.
    seconds, fps : float
        Length and frame rate.
    size : int
        Frame width and height in pixels (even).
    n_micro, n_macro : int
        Expressions of each type.
    micro_amplitude_px, macro_amplitude_px : float
        Largest landmark displacement at the apex, in output pixels.
    blinks_per_minute : float
        Mean blink rate.
    min_gap_s : float
        Least time between two events (expressions and blinks), and from the ends.
    noise_std : float
        Sensor noise, in 8-bit levels.
    crf : int
        H.264 quality.
    warp_sigma_iod : float
        Reach of the landmark warp, in inter-ocular distances.  Narrower than the clips'
        0.28: with nothing pinned above the brows, a wide warp drags the whole forehead
        3 pixels in a blink (measured), which no real blink does.
    """

    subject_seed: int
    seed: int
    seconds: float = 20.0
    fps: float = 30.0
    size: int = 160
    n_micro: int = 3
    n_macro: int = 2
    micro_amplitude_px: float = 3.0
    macro_amplitude_px: float = 8.0
    blinks_per_minute: float = 12.0
    min_gap_s: float = 1.0
    noise_std: float = 1.5
    crf: int = 23
    warp_sigma_iod: float = 0.18


def plateau_profile(n_frames: int, onset: int, apex: int, release: int, offset: int) -> np.ndarray:
    """Intensity per frame: raised-cosine rise onset -> apex, 1 until ``release``, raised-cosine fall to offset.

    Examples
    --------
    >>> plateau_profile(9, 1, 3, 5, 7).round(2).tolist()
    [0.0, 0.0, 0.5, 1.0, 1.0, 1.0, 0.5, 0.0, 0.0]
    """
    if not 0 <= onset < apex <= release < offset < n_frames:
        raise ValueError(f"need onset < apex <= release < offset < n_frames, got {onset, apex, release, offset}")
    prof = np.zeros(n_frames)
    prof[onset : apex + 1] = expression_profile(n_frames, onset, apex, apex + 1)[onset : apex + 1]
    prof[apex : release + 1] = 1.0
    t = np.arange(release, offset + 1, dtype=np.float64)
    prof[release : offset + 1] = 0.5 * (1 + np.cos(np.pi * (t - release) / (offset - release)))
    return prof


def _place(lengths: list[int], n_frames: int, gap: int, rng: np.random.Generator) -> list[int] | None:
    """Start frames for events of ``lengths``, in random order, ``gap`` apart and from the ends (None: no room)."""
    free = n_frames - 2 * gap - sum(lengths) - gap * (len(lengths) - 1)
    if free < 0:
        return None
    order = rng.permutation(len(lengths))
    cuts = np.sort(rng.integers(0, free + 1, len(lengths)))
    starts: list[int] = [0] * len(lengths)
    pos = gap
    prev_cut = 0
    for k, idx in enumerate(order):
        pos += int(cuts[k] - prev_cut)
        prev_cut = int(cuts[k])
        starts[idx] = pos
        pos += lengths[idx] + gap
    return starts


def render_long_video(spec: LongVideoSpec) -> tuple[np.ndarray, list[dict[str, Any]], list[int]]:
    """Render one long video.

    Returns
    -------
    frames : numpy.ndarray
        ``(T, H, W, 3)`` ``uint8``.
    intervals : list of dict
        ``onset``, ``apex``, ``offset``, ``type`` (``micro``/``macro``), ``emotion``, ``aus``; by onset.
    blinks : list of int
        First frame of each blink.
    """
    if spec.size % 2 or spec.size < 64:
        raise ValueError(f"video size must be even and >= 64, got {spec.size}")
    fps = float(spec.fps)
    n_frames = int(round(spec.seconds * fps))
    rng = np.random.default_rng(np.random.SeedSequence([spec.subject_seed, spec.seed, 0x10C]))
    subject = cached_subject(spec.subject_seed)

    def frames_of(ms: float) -> int:
        return max(1, int(round(ms * fps / 1000.0)))

    events: list[dict[str, Any]] = []
    emotions = list(EMOTION_AUS)
    for _ in range(spec.n_micro):
        span = int(rng.integers(max(4, frames_of(200)), max(5, min(frames_of(450), int(0.5 * fps - 1e-9))) + 1))
        events.append({"type": "micro", "length": span + 1, "span": span, "emotion": str(rng.choice(emotions))})
    for _ in range(spec.n_macro):
        rise = int(rng.integers(frames_of(300), frames_of(600) + 1))
        hold = int(rng.integers(frames_of(500), frames_of(2000) + 1))
        fall = int(rng.integers(frames_of(400), frames_of(800) + 1))
        events.append(
            {
                "type": "macro",
                "length": rise + hold + fall + 1,
                "rise": rise,
                "hold": hold,
                "fall": fall,
                "emotion": str(rng.choice(emotions)),
            }
        )
    n_blinks = int(rng.poisson(spec.blinks_per_minute * spec.seconds / 60.0))
    blink_len = 4 if fps < 60 else frames_of(140)
    for _ in range(n_blinks):
        events.append({"type": "blink", "length": blink_len})
    gap = frames_of(1000 * spec.min_gap_s)
    starts = _place([e["length"] for e in events], n_frames, gap, rng)
    while starts is None and any(e["type"] == "blink" for e in events):  # drop blinks until everything fits
        events.pop(next(i for i in range(len(events) - 1, -1, -1) if events[i]["type"] == "blink"))
        starts = _place([e["length"] for e in events], n_frames, gap, rng)
    if starts is None:
        raise ValueError(
            f"{spec.n_micro} micro- and {spec.n_macro} macro-expressions do not fit {spec.seconds} s "
            f"with {spec.min_gap_s} s between them; make the video longer"
        )

    lm = subject.landmarks
    crop_factor = rng.uniform(1.7, 2.0) * subject.distance
    scale = spec.size / (subject.face_width * crop_factor)
    centre = subject.face_centre + rng.normal(0, 0.03, 2) * subject.face_width
    renderer = FaceRenderer(
        subject, out_size=(spec.size, spec.size), centre=centre, scale=scale, sigma_iod=spec.warp_sigma_iod
    )
    disp = np.zeros((n_frames, 68, 2))
    intervals: list[dict[str, Any]] = []
    blinks: list[int] = []
    blink_disp = blink_field(lm, closure=float(rng.uniform(0.75, 0.95)))
    blink_shape = np.interp(np.linspace(0, 3, blink_len), [0, 1, 2, 3], [0.5, 1.0, 0.7, 0.3])
    for event, start in zip(events, starts, strict=True):
        if event["type"] == "blink":
            disp[start : start + blink_len] += blink_shape[:, None, None] * blink_disp
            blinks.append(start)
            continue
        names = EMOTION_AUS[event["emotion"]]
        field_ = au_field(lm, {au: float(rng.uniform(0.6, 1.0)) for au in names})
        peak = float(np.max(np.hypot(field_[:, 0], field_[:, 1])))
        amplitude = spec.micro_amplitude_px if event["type"] == "micro" else spec.macro_amplitude_px
        unit = field_ / peak * (amplitude / scale)
        onset = start
        if event["type"] == "micro":
            offset = onset + event["span"]
            apex = onset + int(np.clip(round(event["span"] * rng.uniform(0.35, 0.65)), 1, event["span"] - 1))
            profile = expression_profile(n_frames, onset, apex, offset)
        else:
            apex = onset + event["rise"]
            release = apex + event["hold"]
            offset = release + event["fall"]
            profile = plateau_profile(n_frames, onset, apex, release, offset)
        disp += profile[:, None, None] * unit
        intervals.append(
            {
                "onset": onset,
                "apex": apex,
                "offset": offset,
                "type": event["type"],
                "emotion": event["emotion"],
                "aus": "+".join(AU_CODES[a] for a in names),
            }
        )
    intervals.sort(key=lambda iv: iv["onset"])

    jitter_px = rng.uniform(0.3, 0.7)
    shifts = smooth_noise(rng, n_frames, jitter_px / scale, dims=2)
    drift = smooth_noise(rng, n_frames, 3.0 / scale, corr=1 - 1 / (2 * fps), dims=2)  # slow: seconds
    angles = smooth_noise(rng, n_frames, np.deg2rad(0.4)) + smooth_noise(
        rng, n_frames, np.deg2rad(1.0), corr=1 - 1 / (2 * fps)
    )
    zooms = 1 + smooth_noise(rng, n_frames, 0.003)
    gains = 1 + smooth_noise(rng, n_frames, 0.01, corr=0.7)
    frames = np.empty((n_frames, spec.size, spec.size, 3), np.uint8)
    for t in range(n_frames):
        frame, _ = renderer.render(disp[t], shift=shifts[t] + drift[t], angle=angles[t], zoom=zooms[t], gain=gains[t])
        frame += rng.normal(0, spec.noise_std, frame.shape).astype(np.float32)
        frames[t] = np.clip(np.rint(frame), 0, 255).astype(np.uint8)
    return frames, intervals, sorted(blinks)


def _render_video(out: str, video_id: str, subject: str, spec: LongVideoSpec) -> list[dict[str, Any]]:
    """Render one video to ``out/videos/VIDEO_ID.mp4`` (+ its ground truth ``.json``, written last) unless done."""
    folder = Path(out) / "videos"
    folder.mkdir(parents=True, exist_ok=True)
    video, truth = folder / f"{video_id}.mp4", folder / f"{video_id}.json"
    if truth.exists() and video.exists():
        saved = read_json(truth, what="synthetic video record")
        if saved.get("spec") == asdict(spec):
            return list(saved["rows"])
    frames, intervals, blinks = render_long_video(spec)
    write_video(video, frames, fps=spec.fps, crf=spec.crf)  # atomic
    base = {
        "dataset": "synth-long",
        "subject": subject,
        "video_id": video_id,
        "path": f"videos/{video_id}.mp4",
        "fps": spec.fps,
        "n_frames": len(frames),
    }
    rows = [{**base, **iv} for iv in intervals] or [{**base, "onset": None, "apex": None, "offset": None, "type": ""}]
    rows[0]["blinks"] = "+".join(str(b) for b in blinks)
    write_json_atomic(truth, {"spec": asdict(spec), "rows": rows})
    return rows


def synthesize_long_videos(
    out_dir: str | os.PathLike[str],
    *,
    n_subjects: int = 4,
    videos_per_subject: int = 1,
    jobs: int = 1,
    seed: int = 0,
    progress: bool = True,
    **settings: Any,
) -> pd.DataFrame:
    """Render synthetic long videos and their ground truth ``OUT/long.csv`` (a long-video manifest).

    Resumable: videos finished earlier with the same settings are kept.  ``settings`` are
    :class:`LongVideoSpec` fields (``seconds``, ``fps``, ``size``, ``n_micro``, ...).
    """
    from rich.progress import Progress

    from mextk.spotting.long_manifest import coerce_long, save_long_manifest

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    plan = []
    for s in range(n_subjects):
        for v in range(videos_per_subject):
            subject = f"L{s + 1:02d}"
            spec = LongVideoSpec(subject_seed=seed * 1000 + 500 + s, seed=seed * 1000 + v, **settings)
            plan.append((f"{subject}_v{v + 1}", subject, spec))
    results: list[list[dict[str, Any]]] = [[] for _ in plan]
    with Progress(disable=not progress) as bar:
        task = bar.add_task("synthesising long videos", total=len(plan))
        if jobs <= 1:
            for i, (vid, subject, spec) in enumerate(plan):
                results[i] = _render_video(str(out), vid, subject, spec)
                bar.advance(task)
        else:
            from concurrent.futures import as_completed

            from mextk.workers import worker_pool

            with worker_pool(jobs) as pool:
                futures = {pool.submit(_render_video, str(out), v, s, sp): i for i, (v, s, sp) in enumerate(plan)}
                for fut in as_completed(futures):
                    results[futures[fut]] = fut.result()
                    bar.advance(task)
    df = pd.DataFrame([row for rows in results for row in rows])
    df = coerce_long(df, source=str(out / "long.csv"))
    save_long_manifest(df, out / "long.csv")
    df.attrs["root"] = str(out.resolve())
    return df
