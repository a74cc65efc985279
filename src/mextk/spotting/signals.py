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
from concurrent.futures import as_completed
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mextk.features.cache import FeatureCache
from mextk.workers import worker_pool


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


def _error(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or exc.__class__.__name__


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
        cache.record_error(key, _error(exc))
        return _error(exc)


def _compute_task(root: str, items: list[tuple[str, str, float, int]], settings: Any) -> dict[str, str | None]:
    """One task: a video alone, or virtual clips of one recording in one decoding pass (``compute_clips``)."""
    if len(items) == 1:
        key, path, fps, _ = items[0]
        return {key: _compute(root, key, path, fps, settings)}
    fps = items[0][2]
    cache = _cache(root, settings, fps)
    try:
        results: list[Any] = settings.compute_clips([(path, n) for _, path, _, n in items], fps)
    except Exception as exc:  # the shared pass failed (e.g. the recording is unreadable): every clip fails
        results = [exc] * len(items)
    out: dict[str, str | None] = {}
    for (key, path, _, _), res in zip(items, results, strict=True):
        if isinstance(res, Exception):
            cache.record_error(key, _error(res))
            out[key] = _error(res)
        else:
            cache.save(key, fingerprint(Path(path)), **res)
            out[key] = None
    return out


def plan_tasks(todo: list[tuple[str, str, float]], settings: Any, jobs: int) -> list[list[tuple[str, str, float, int]]]:
    """Tasks of ``(key, path, fps, n_frames)``: the virtual clips of a recording in at most ``jobs`` tasks.

    Each such task decodes its recording once for all its clips (a gallery's clips share a
    recording, :func:`mextk.io.clipref.shared_passes`).  Other videos, and every video when
    ``settings`` has no ``compute_clips``, are tasks of their own.
    """
    from mextk.io.clipref import is_clip_ref, read_clip_ref, shared_passes

    if not hasattr(settings, "compute_clips"):
        return [[(key, path, fps, 0)] for key, path, fps in todo]
    frames = []
    for _, path, _ in todo:
        try:
            frames.append(read_clip_ref(path).n_frames if is_clip_ref(Path(path)) else 0)
        except Exception:  # noqa: BLE001  (reported when its task runs it alone)
            frames.append(0)
    return [[(*todo[i], frames[i]) for i in group] for group in shared_passes([t[1] for t in todo], frames, jobs)]


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
    tasks = plan_tasks(todo, settings, jobs)
    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"))
    with Progress(*columns, TimeRemainingColumn(), disable=not progress or not todo) as bar:
        what = settings.feature_kind.replace("_", " ")
        task = bar.add_task(f"{what} ({len(videos) - len(todo)} cached)", total=len(todo))

        def record(done: dict[str, str | None]) -> None:
            failures.update({k: err for k, err in done.items() if err})
            bar.advance(task, len(done))

        if jobs <= 1 or len(tasks) <= 1:
            for items in tasks:
                record(_compute_task(str(root), items, settings))
        else:
            with worker_pool(jobs) as pool:
                futures = [pool.submit(_compute_task, str(root), items, settings) for items in tasks]
                for fut in as_completed(futures):
                    record(fut.result())
    return failures
