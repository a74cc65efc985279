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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mextk.features.cache import FeatureCache
from mextk.workers import balanced_plan, worker_pool


def video_key(row: Any) -> str:
    """The cache id of a video: ``DATASET/VIDEO_ID``."""
    return f"{row['dataset']}/{row['video_id']}"


def fingerprint(path: Path) -> str:
    """What a video's signals were computed from: its size (a file) or its frame list (a folder)."""
    from mextk.io.frame_folder import list_frame_files

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


@dataclass(frozen=True)
class Piece:
    """Part of one video's features: a whole video, or a stretch of a virtual clip (:func:`plan_tasks`).

    ``stop`` is ``-1`` for a whole video computed alone (``compute_video``); otherwise clip frames
    ``[start, stop)`` are decoded and the features of ``[keep, stop)`` are kept (the frames before
    ``keep`` warm up the alignment and give every scale its earlier frame).
    """

    key: str
    path: str
    fps: float
    start: int = 0
    stop: int = -1
    keep: int = 0


def _run_task(root: str, pieces: list[Piece], settings: Any) -> dict[str, Any]:
    """A task: a whole video (computed and stored: ``None`` or its error), or stretches of virtual clips of
    one recording decoded in one pass (per piece, its kept arrays or its error, merged by the caller)."""
    if len(pieces) == 1 and pieces[0].stop < 0:
        p = pieces[0]
        return {p.key: _compute(root, p.key, p.path, p.fps, settings)}
    try:
        results: list[Any] = settings.compute_clips([(p.path, p.start, p.stop) for p in pieces], pieces[0].fps)
    except Exception as exc:  # the shared pass failed (e.g. the recording is unreadable): every piece fails
        results = [exc] * len(pieces)
    out: dict[str, Any] = {}
    for p, res in zip(pieces, results, strict=True):
        if isinstance(res, Exception):
            out[p.key] = _error(res)
            _cache(root, settings, p.fps).record_error(p.key, out[p.key])
        else:
            cut = p.keep - p.start
            out[p.key] = (p.keep, {**res, "motion": res["motion"][cut:], "face": res["face"][cut:]})
    return out


def plan_tasks(todo: list[tuple[str, str, float]], settings: Any, jobs: int) -> list[list[Piece]]:
    """Tasks for ``jobs`` workers: each recording's virtual clips cut into ``jobs`` stretches of its time.

    A gallery's clips share one recording.  Each task decodes one stretch of it once for every
    clip that shows it, with ``max(k)`` frames plus one second before the stretch to warm up
    (the alignment, and the frames ``k`` before the stretch's first); so ``jobs`` workers
    decode the recording about once in all, not once per clip.  The stretches are cut for equal
    work, warm-up included (:func:`stretch_cost`).  Other videos, and every video when
    ``settings`` has no ``compute_clips``, are tasks of their own.
    """
    from mextk.io.clipref import is_clip_ref, read_clip_ref

    tasks: list[list[Piece]] = []
    groups: dict[tuple[str, float], list[tuple[str, str, float, int, int]]] = {}
    for key, path, fps in todo:
        ref = None
        if hasattr(settings, "compute_clips") and is_clip_ref(Path(path)):
            try:
                ref = read_clip_ref(path)
            except Exception:  # noqa: BLE001  (its task reports why)
                ref = None
        if ref is None:
            tasks.append([Piece(key, path, fps)])
        else:
            groups.setdefault((str(ref.recording.resolve()), fps), []).append(
                (key, path, fps, ref.start_frame, ref.n_frames)
            )
    for (_, fps), clips in groups.items():
        warm = max(settings.frame_scales(fps)) + int(round(fps))
        first = min(c[3] for c in clips)
        last = max(c[3] + c[4] for c in clips)
        parts = max(1, min(jobs, (last - first) // (4 * warm)))
        bounds = _balanced_bounds([(c[3], c[3] + c[4]) for c in clips], warm, parts)
        for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
            task = []
            for key, path, _, start, n in clips:
                keep, stop = max(0, lo - start), min(n, hi - start)
                if keep < stop:
                    task.append(Piece(key, path, fps, start=max(0, keep - warm), stop=stop, keep=keep))
            if task:
                tasks.append(task)
    return tasks


#: The cost of decoding one recording frame, in clip frames (a clip frame: its alignment and flow), measured
#: on a 720p gallery with 300 px clips (2.3 ms against about 3.5 ms).
DECODE_COST = 0.75


def stretch_cost(spans: list[tuple[int, int]], warm: int, lo: int, hi: int) -> float:
    """The work of one stretch ``[lo, hi)`` of a recording, in clip frames (see :func:`plan_tasks`).

    ``spans`` are the clips' ``[start, end)`` recording frames.  A clip shown in the stretch
    costs its frames in it plus its warm-up frames before ``lo`` (up to ``warm``, back to its
    own start); the recording is decoded from the earliest warm-up frame to ``hi``
    (:data:`DECODE_COST` each).
    """
    frames, begin = 0, lo
    for a, b in spans:
        keep, stop = max(a, lo), min(b, hi)
        if keep < stop:
            start = max(a, keep - warm)
            frames += stop - start
            begin = min(begin, start)
    return frames + DECODE_COST * (hi - begin) if frames else 0.0


def _balanced_bounds(spans: list[tuple[int, int]], warm: int, parts: int) -> list[int]:
    """Cut points splitting the recording frames the clips cover into ``parts`` stretches of
    about equal :func:`stretch_cost`, warm-up included: the smallest largest cost that
    ``parts`` stretches reach, found by bisection, each stretch taken as long as it fits.

    Balancing the clip frames alone left the later stretch of a 4-person 720p gallery with
    its warm-up frames extra: 16.0 s of work against 11.9 s on one core.
    """
    first, last = min(a for a, _ in spans), max(b for _, b in spans)
    if parts <= 1:
        return [first, last]

    def greedy(limit: float) -> list[int] | None:
        bounds = [first]
        while bounds[-1] < last and len(bounds) <= parts:
            lo = bounds[-1]
            ok, bad = lo + 1, last + 1  # the longest stretch from lo within the limit (at least one frame)
            while bad - ok > 1:
                mid = (ok + bad) // 2
                ok, bad = (mid, bad) if stretch_cost(spans, warm, lo, mid) <= limit else (ok, mid)
            bounds.append(ok)
        return bounds if bounds[-1] == last and len(bounds) <= parts + 1 else None

    return balanced_plan(greedy, stretch_cost(spans, warm, first, last), steps=40) or [first, last]


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
    expected = {}
    for task in tasks:
        for piece in task:
            expected[piece.key] = expected.get(piece.key, 0) + 1
    parts: dict[str, list[Any]] = {}
    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"))
    with Progress(*columns, TimeRemainingColumn(), disable=not progress or not todo) as bar:
        what = settings.feature_kind.replace("_", " ")
        task = bar.add_task(f"{what} ({len(videos) - len(todo)} cached)", total=sum(expected.values()))

        def record(done: dict[str, Any]) -> None:
            for key, res in done.items():
                bar.advance(task)
                if res is None or isinstance(res, str):  # stored, or failed (and recorded)
                    if res and key not in failures:
                        failures[key] = res
                    continue
                parts.setdefault(key, []).append(res)
                if len(parts[key]) == expected[key]:
                    _store_parts(str(root), key, dict(todo_paths[key]), parts.pop(key), settings, failures)

        todo_paths = {key: {"path": path, "fps": fps} for key, path, fps in todo}
        if jobs <= 1 or len(tasks) <= 1:
            for pieces in tasks:
                record(_run_task(str(root), pieces, settings))
        else:
            with worker_pool(jobs) as pool:
                futures = [pool.submit(_run_task, str(root), pieces, settings) for pieces in tasks]
                for fut in as_completed(futures):
                    record(fut.result())
        for key in parts:  # a piece of it failed
            failures.setdefault(key, "a part of it failed")
    return failures


def _store_parts(
    root: str, key: str, video: dict[str, Any], parts: list[tuple[int, dict[str, np.ndarray]]], settings: Any,
    failures: dict[str, str],
) -> None:  # fmt: skip
    """Join a clip's stretches in order, check them and store them (or record why not)."""
    from mextk.io.clipref import read_clip_ref

    cache = _cache(root, settings, video["fps"])
    parts = sorted(parts, key=lambda p: p[0])
    face = np.concatenate([p[1]["face"] for p in parts])
    try:
        n = read_clip_ref(video["path"]).n_frames
        if len(face) != n or [p[0] for p in parts] != [0, *np.cumsum([len(p[1]["face"]) for p in parts])[:-1]]:
            raise ValueError(f"{video['path']}: its stretches do not join up ({len(face)} of {n} frames)")
        if not face.any():
            raise ValueError(f"{video['path']}: no face found in any of its {n} frames")
        arrays = {**parts[0][1], "motion": np.concatenate([p[1]["motion"] for p in parts]), "face": face}
        cache.save(key, fingerprint(Path(video["path"])), **arrays)
    except Exception as exc:
        cache.record_error(key, _error(exc))
        failures[key] = _error(exc)
