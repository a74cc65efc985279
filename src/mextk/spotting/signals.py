"""A spotter's per-video features for every video of a long-video manifest, cached and resumable.

Each video's features (the training-free spotter's region motion, the learned
spotter's flow images) are computed once, decoding streamed so memory stays
flat in the video's length, and stored in a feature cache
(:class:`mextk.features.cache.FeatureCache`, keyed by the spotter's feature
kind and parameters), so other thresholds, a retrained model or a rerun after
an interruption reuse them.  A video that cannot be read is recorded with a
one-line reason and skipped; the others go on.
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mextk.features.cache import FeatureCache


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


def _cache(root: str | os.PathLike[str], settings: Any, fps: float) -> FeatureCache:
    return FeatureCache(root, settings.feature_kind, settings.feature_params(fps))


def _compute(root: str, key: str, path: str, fps: float, settings: Any) -> str | None:
    """Compute and store one video's features (``settings.compute_video``); the one-line error, or None."""
    cache = _cache(root, settings, fps)
    p = Path(path)
    try:
        if not p.exists():
            raise FileNotFoundError(f"{p}: video not found")
        fp = fingerprint(p)
        if cache.has(key, fp):
            return None
        cache.save(key, fp, **settings.compute_video(p, fps))
        return None
    except Exception as exc:  # one bad video must not stop the batch
        message = " ".join(str(exc).split()) or exc.__class__.__name__
        cache.record_error(key, message)
        return message


def load_features(root: str | os.PathLike[str], key: str, settings: Any, fps: float) -> dict[str, np.ndarray]:
    """A video's stored features."""
    return _cache(root, settings, fps).load(key)


def compute_features(
    videos: pd.DataFrame,
    root: str | os.PathLike[str],
    settings: Any,
    *,
    jobs: int = 1,
    progress: bool = True,
) -> dict[str, str]:
    """Compute a spotter's features for every video (one row each: dataset, video_id, path, fps) not cached yet.

    ``settings`` (a spotter's) names the feature kind (``feature_kind``), its
    parameters at a frame rate (``feature_params(fps)``) and computes one video
    (``compute_video(path, fps)``).  Returns ``{video key: one-line error}`` of the failures.
    """
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from mextk.io.manifest import sample_path

    todo = []
    for _, row in videos.iterrows():
        key = video_key(row)
        path = sample_path(videos, row["path"])
        if path.exists() and _cache(root, settings, float(row["fps"])).has(key, fingerprint(path)):
            continue
        todo.append((key, str(path), float(row["fps"])))
    failures: dict[str, str] = {}
    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"))
    with Progress(*columns, TimeRemainingColumn(), disable=not progress or not todo) as bar:
        what = settings.feature_kind.replace("_", " ")
        task = bar.add_task(f"{what} ({len(videos) - len(todo)} cached)", total=len(todo))
        if jobs <= 1:
            for key, path, fps in todo:
                err = _compute(str(root), key, path, fps, settings)
                if err:
                    failures[key] = err
                bar.advance(task)
        else:
            with ProcessPoolExecutor(max_workers=jobs) as pool:
                futures = {pool.submit(_compute, str(root), key, path, fps, settings): key for key, path, fps in todo}
                for fut in as_completed(futures):
                    err = fut.result()
                    if err:
                        failures[futures[fut]] = err
                    bar.advance(task)
    return failures
