"""Micro- and macro-expressions rendered into real faces, with their intervals (``mextk synth --render-into``).

A spotter's recall on real faces needs real faces whose expressions are known to the frame.  This module takes
real videos (a calm speaker, a child, a turned head, a dim room) and renders expressions into them:

* **Local, landmark-driven deformation.**  On each frame of an expression, dlib's 68 landmarks of that frame,
  the chosen action units' landmark displacements (:func:`mextk.synth.face.au_field`), scaled so that the most
  moving landmark moves the expression's amount at the apex, and a radial-basis warp of the image around the
  landmarks (:func:`mextk.synth.face.warp_image`, width 0.18 inter-ocular distances).  Only the action
  unit's landmarks move; the warp fades within a few tenths of the eye distance of them.
* **Action units** (:data:`AU_SETS`): AU1+2 (brow raise), AU4 (brow lowerer), AU6+12 (smile), AU14, AU15, AU9,
  AU10, AU17 and AU20, one set per expression.
* **Sizes and lengths.**  Micro-expressions last 0.2-0.5 s and move the most moving landmark 1-4 px on a 128 px
  face at the apex (CASME II's range: its aligned faces are about 128 px wide); in mextk's aligned face the
  eye centres are 0.4 of the width apart, so 1-4 px on 128 is 0.020-0.078 inter-ocular distances, and that
  share of each frame's own eye distance is rendered.  Macro-expressions last 0.5-4 s (no longer than a third
  of the video) and move 6-12 px on 128.
* **Profile.**  The strength rises from the onset to the apex and falls to the offset as raised cosines; the
  apex lies 30-60% of the way through.
* **Placement.**  Random, at least ``min_gap_s`` from each other and from the video's ends, from ``seed`` and
  the video's position in the list (so one video's expressions do not depend on the others').  Whether an
  expression falls during speech, on a turned head or in dim light is the video's own condition: render into
  such videos (:mod:`mextk.synth.footage` derives the last two from calm clips).

Output: ``DIR/<video>.mp4`` (H.264) and ``DIR/long.csv``, a long-video manifest
(:mod:`mextk.spotting.long_manifest`) with one row per rendered expression (``aus`` and ``amount_px128`` are
extra columns) that ``mextk spot-eval`` scores a spotter against.  A frame where no face is found is left as
it is, and its expression's row says how many frames were missed (``frames_without_face``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

#: The action-unit sets rendered, by name (one set per expression).
AU_SETS: dict[str, tuple[str, ...]] = {
    "AU1+2": ("AU1", "AU2"),
    "AU4": ("AU4",),
    "AU6+12": ("AU6", "AU12"),
    "AU14": ("AU14",),
    "AU15": ("AU15",),
    "AU9": ("AU9",),
    "AU10": ("AU10",),
    "AU17": ("AU17",),
    "AU20": ("AU20",),
}
#: Inter-ocular distance of a 128 px aligned face (eye centres 0.4 of the width apart), in pixels.
IOD_128 = 0.4 * 128


@dataclass(frozen=True)
class RenderSettings:
    """What is rendered into each video (see the module docstring).

    Attributes
    ----------
    micro_per_video, macro_per_video : int
        Expressions of each type per video (fewer where the video is too short to hold them apart).
    micro_s, macro_s : (float, float)
        Ranges of the lengths, onset to offset, seconds.
    micro_px128, macro_px128 : (float, float)
        Ranges of the apex movement of the most moving landmark, in pixels on a 128 px face.
    min_gap_s : float
        Least time between two expressions, and from the video's ends, seconds.
    seed : int
        Master seed.
    """

    micro_per_video: int = 2
    macro_per_video: int = 1
    micro_s: tuple[float, float] = (0.2, 0.5)
    macro_s: tuple[float, float] = (0.5, 4.0)
    micro_px128: tuple[float, float] = (1.0, 4.0)
    macro_px128: tuple[float, float] = (6.0, 12.0)
    min_gap_s: float = 0.6
    seed: int = 0


def plan_expressions(n_frames: int, fps: float, settings: RenderSettings, rng: np.random.Generator) -> list[dict]:
    """Non-overlapping expressions for a video of ``n_frames`` at ``fps``, by onset.

    Each: ``onset``, ``apex``, ``offset`` (frames, both ends inside), ``type``, ``aus`` (a key of
    :data:`AU_SETS`) and ``amount_px128``.  Macro-expressions are placed first (they need the room); one that
    cannot be placed after 200 draws is left out.
    """
    gap = int(round(settings.min_gap_s * fps))
    taken: list[tuple[int, int]] = []
    out = []
    wanted = [("macro", settings.macro_per_video), ("micro", settings.micro_per_video)]
    for kind, count in wanted:
        lengths_s = settings.macro_s if kind == "macro" else settings.micro_s
        sizes = settings.macro_px128 if kind == "macro" else settings.micro_px128
        for _ in range(count):
            longest = lengths_s[1] if kind == "micro" else min(lengths_s[1], n_frames / fps / 3)
            if longest < lengths_s[0]:
                continue
            length = max(3, int(round(rng.uniform(lengths_s[0], longest) * fps)))
            for _ in range(200):
                onset = int(rng.integers(gap, max(gap + 1, n_frames - gap - length)))
                offset = onset + length - 1
                if offset >= n_frames - gap:
                    continue
                if all(offset + gap < a or onset > b + gap for a, b in taken):
                    break
            else:
                continue
            taken.append((onset, offset))
            apex = onset + int(round(rng.uniform(0.3, 0.6) * (offset - onset)))
            out.append({
                "onset": onset, "apex": apex, "offset": offset, "type": kind,
                "aus": str(rng.choice(list(AU_SETS))), "amount_px128": float(rng.uniform(*sizes)),
            })  # fmt: skip
    return sorted(out, key=lambda e: e["onset"])


def strength(t: int, onset: int, apex: int, offset: int) -> float:
    """0 outside ``[onset, offset]``, 1 at the apex, raised cosines between."""
    if t < onset or t > offset:
        return 0.0
    if t <= apex:
        return 1.0 if apex == onset else 0.5 * (1 - np.cos(np.pi * (t - onset) / (apex - onset)))
    return 1.0 if offset == apex else 0.5 * (1 + np.cos(np.pi * (t - apex) / (offset - apex)))


def render_frame(rgb: np.ndarray, aus: Sequence[str], amount_iod: float) -> np.ndarray | None:
    """``rgb`` (``uint8``) with ``aus`` moved so that the most moving landmark moves ``amount_iod`` eye distances.

    Returns None where no face is found (the caller keeps the frame as it is);
    :func:`mextk.synth.face.move_action_units` does the work.
    """
    from mextk.synth.face import move_action_units

    out = move_action_units(rgb, tuple(aus), amount_iod)
    return None if out is None else np.clip(np.round(out), 0, 255).astype(np.uint8)


def render_into(
    video: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    settings: RenderSettings,
    rng: np.random.Generator,
    *,
    fps: float,
) -> tuple[int, list[dict]]:
    """Write ``video`` (at ``fps``) with expressions planned by :func:`plan_expressions` rendered in, to
    ``out_path`` (H.264).

    Returns the frame count and the expressions, each with ``frames_without_face``.
    """
    from mextk.io.video import read_frames
    from mextk.io.writer import write_video

    frames = read_frames(video)
    expressions = plan_expressions(len(frames), fps, settings, rng)
    for e in expressions:
        lost = 0
        for t in range(e["onset"], min(e["offset"], len(frames) - 1) + 1):
            s = strength(t, e["onset"], e["apex"], e["offset"])
            if s <= 0:
                continue
            done = render_frame(frames[t], AU_SETS[e["aus"]], s * e["amount_px128"] / IOD_128)
            if done is None:
                lost += 1
            else:
                frames[t] = done
        e["frames_without_face"] = lost
    write_video(out_path, frames, fps=fps)
    return len(frames), expressions


def render_into_videos(
    videos: Sequence[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    settings: RenderSettings = RenderSettings(),
    *,
    progress: bool = True,
) -> pd.DataFrame:
    """Render expressions into each video (see the module docstring); write the videos and ``long.csv``.

    Returns the long-video manifest.  A video that cannot be read raises, naming it, before anything is
    written; the same names in two folders are refused (their outputs would collide).
    """
    from rich.progress import track

    from mextk.io.video import probe_video
    from mextk.spotting.long_manifest import coerce_long, save_long_manifest

    paths = [Path(v) for v in videos]
    stems = [p.stem for p in paths]
    if len(set(stems)) != len(stems):
        raise ValueError(f"--render-into: two videos share a name ({', '.join(stems)}); their outputs would collide")
    rates = {p: float(probe_video(p).fps) for p in paths}  # every input is read before anything is written
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    for index, path in enumerate(track(paths, description="render into", disable=not progress)):
        rng = np.random.default_rng([settings.seed, index])
        fps = rates[path]
        n, planned = render_into(path, out / f"{path.stem}.mp4", settings, rng, fps=fps)
        base = {"dataset": "rendered", "subject": path.stem, "video_id": path.stem, "path": f"{path.stem}.mp4",
                "fps": fps, "n_frames": n}  # fmt: skip
        if not planned:
            rows.append({**base, "onset": None, "apex": None, "offset": None, "type": None})
        rows += [{**base, **e, "emotion": ""} for e in planned]
    manifest = coerce_long(pd.DataFrame(rows), source=str(out / "long.csv"))
    save_long_manifest(manifest, out / "long.csv")
    return manifest
