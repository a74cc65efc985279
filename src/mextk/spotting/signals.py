"""Region-motion signals of every video of a long-video manifest, cached and resumable.

Each video's :class:`~mextk.spotting.motion.MotionSignals` are computed once
(decoding streamed, memory flat in the video's length) and stored in a
feature cache (:class:`mextk.features.cache.FeatureCache`, kind
``region_motion``, keyed by the motion settings and the scales), so a second
spotter, other thresholds or a rerun after an interruption reuse them.  A
video that cannot be read is recorded with a one-line reason and skipped; the
others go on.
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mextk.features.cache import FeatureCache
from mextk.spotting.motion import MotionSettings, MotionSignals, aligned_faces, region_motion


def video_key(row: Any) -> str:
    """The cache id of a video: ``DATASET/VIDEO_ID``."""
    return f"{row['dataset']}/{row['video_id']}"


def fingerprint(path: Path) -> str:
    """What a video's signals were computed from: its size (a file) or its frame list (a folder)."""
    from mextk.io.video import list_frame_files

    if path.is_dir():
        files = list_frame_files(path)
        return f"dir:{len(files)}:{files[0].name if files else ''}:{files[-1].name if files else ''}"
    return f"file:{path.stat().st_size}"


def signals_of_video(
    path: str | os.PathLike[str], fps: float, scales: list[int], settings: MotionSettings = MotionSettings()
) -> MotionSignals:
    """Decode a video (file or frame folder) and measure its region motion (:mod:`mextk.spotting.motion`)."""
    from mextk.io.video import iter_frames

    frames = iter_frames(path, gray=True)
    return region_motion(aligned_faces(frames, fps, settings), scales, settings=settings, fps=fps)


def _cache(root: str | os.PathLike[str], scales: list[int], settings: MotionSettings) -> FeatureCache:
    return FeatureCache(root, "region_motion", {"scales": list(scales), **asdict(settings)})


def _compute(root: str, key: str, path: str, fps: float, scales: list[int], settings: MotionSettings) -> str | None:
    """Compute and store one video's signals; the one-line error, or None."""
    cache = _cache(root, scales, settings)
    p = Path(path)
    try:
        if not p.exists():
            raise FileNotFoundError(f"{p}: video not found")
        fp = fingerprint(p)
        if cache.has(key, fp):
            return None
        sig = signals_of_video(p, fps, scales, settings)
        if not sig.face.any():
            raise ValueError(f"{p}: no face found in any of its {len(sig.face)} frames")
        cache.save(key, fp, motion=sig.motion, face=sig.face, scales=np.array(scales), fps=np.array(fps))
        return None
    except Exception as exc:  # one bad video must not stop the batch
        message = " ".join(str(exc).split()) or exc.__class__.__name__
        cache.record_error(key, message)
        return message


def load_signals(root: str | os.PathLike[str], key: str, scales: list[int], settings: MotionSettings) -> MotionSignals:
    """A video's stored signals."""
    data = _cache(root, scales, settings).load(key)
    return MotionSignals([int(k) for k in data["scales"]], data["motion"], data["face"], float(data["fps"]))


def compute_signals(
    videos: pd.DataFrame,
    root: str | os.PathLike[str],
    scales_of: Any,
    settings: MotionSettings = MotionSettings(),
    *,
    jobs: int = 1,
    progress: bool = True,
) -> dict[str, str]:
    """Compute the signals of every video (one row each: dataset, video_id, path, fps) not cached yet.

    ``scales_of(fps)`` gives the scales at a frame rate.  Returns ``{video key: one-line error}`` of the failures.
    """
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from mextk.io.manifest import sample_path

    todo = []
    for _, row in videos.iterrows():
        key = video_key(row)
        path = sample_path(videos, row["path"])
        scales = list(scales_of(float(row["fps"])))
        cache = _cache(root, scales, settings)
        if path.exists() and cache.has(key, fingerprint(path)):
            continue
        todo.append((key, str(path), float(row["fps"]), scales))
    failures: dict[str, str] = {}
    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"))
    with Progress(*columns, TimeRemainingColumn(), disable=not progress or not todo) as bar:
        task = bar.add_task(f"region motion ({len(videos) - len(todo)} cached)", total=len(todo))
        if jobs <= 1:
            for key, path, fps, scales in todo:
                err = _compute(str(root), key, path, fps, scales, settings)
                if err:
                    failures[key] = err
                bar.advance(task)
        else:
            with ProcessPoolExecutor(max_workers=jobs) as pool:
                futures = {
                    pool.submit(_compute, str(root), key, path, fps, scales, settings): key
                    for key, path, fps, scales in todo
                }
                for fut in as_completed(futures):
                    err = fut.result()
                    if err:
                        failures[futures[fut]] = err
                    bar.advance(task)
    return failures
