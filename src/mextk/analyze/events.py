"""The frames of each spotted event, cut from its clip in one decoding pass per stretch of the recording.

Recognition reads each event's frames (its model's features need the onset
and apex, or the whole interval) and the report shows its onset and apex.
Reading every event from its clip would decode the clip from its start (or
from the key frame before it) once per event: for a virtual clip of a 720p
recording that is milliseconds per frame, and events late in a long clip
would cost most of the clip each.  Instead, :func:`cut_all` splits the
events of a recording's virtual clips into ``jobs`` stretches of its time,
each decoded once for all its clips (:func:`cut_events` reads any other
clip once, from its first event's onset to its last event's offset), and
writes every event's frames as a frame folder (lossless BMP, numbered from
0), which every reader of :mod:`mextk.io.video` takes as a clip.  Memory holds
one frame at a time.  A folder is written under a temporary name and renamed
when complete, so an interrupted run never leaves a partial event.
"""

from __future__ import annotations

import math
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from mextk.workers import balanced_plan, worker_pool


def event_name(onset: int, offset: int) -> str:
    """The folder name of the event ``[onset, offset]`` of a clip."""
    return f"f{int(onset):06d}-{int(offset):06d}"


class _EventWriter:
    """Writes the frames of a clip's events as they stream past, then renames each folder into place."""

    def __init__(self, clip: str, spans: Sequence[tuple[int, int]], out: Path) -> None:
        self.clip, self.out = clip, out
        self.todo = sorted({(int(a), int(b)) for a, b in spans if not (out / event_name(a, b)).is_dir()})
        for a, b in self.todo:
            if a < 0 or b < a:
                raise ValueError(f"{clip}: bad event [{a}, {b}]")
        self.partial = {span: out / f".{event_name(*span)}.partial" for span in self.todo}
        if self.todo:
            out.mkdir(parents=True, exist_ok=True)
        for folder in self.partial.values():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
        self.window = (self.todo[0][0], max(b for _, b in self.todo) + 1) if self.todo else (0, 0)
        self.seen = self.window[0] - 1
        self.got: dict[tuple[int, int], int] = {}

    def push(self, t: int, rgb: np.ndarray) -> None:
        """Frame ``t`` of the clip, written into every event that holds it."""
        for span in self.partial:
            if span[0] <= t <= span[1]:
                self.write(span, t, rgb)

    def write(self, span: tuple[int, int], t: int, rgb: np.ndarray) -> None:
        """Frame ``t`` of the clip, written into the event ``span``."""
        import cv2

        self.seen = max(self.seen, t)
        self.got[span] = self.got.get(span, 0) + 1
        # BMP: lossless and written in a third of a millisecond (PNG took 13 ms a frame); the folders are temporary
        cv2.imwrite(str(self.partial[span] / f"{t - span[0]:06d}.bmp"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))

    def finish(self) -> None:
        from mextk.io.errors import VideoError

        last = self.window[1] - 1
        short = [span for span in self.todo if self.got.get(span, 0) < span[1] - span[0] + 1]
        if short:
            last = short[0][1]
            for folder in self.partial.values():
                shutil.rmtree(folder, ignore_errors=True)
            raise VideoError(f"{self.clip}: the clip ends at frame {self.seen}, before its event ending at {last}")
        for span, folder in self.partial.items():
            os.replace(folder, self.out / event_name(*span))


def cut_events(clip: str | os.PathLike[str], spans: Sequence[tuple[int, int]], out: str | os.PathLike[str]) -> Path:
    """Write the frames of each ``(onset, offset)`` of ``clip`` (inclusive) to ``out/<event_name>/``.

    Events already cut are kept.  Returns ``out``.

    Raises
    ------
    mextk.io.errors.VideoError
        The clip cannot be decoded, or ends before an event does.
    """
    from mextk.io.video import iter_frames

    writer = _EventWriter(str(clip), spans, Path(out))
    if writer.todo:
        first, stop = writer.window
        for t, frame in enumerate(iter_frames(clip, start=first, stop=stop), start=first):
            writer.push(t, frame)
        writer.finish()
    return Path(out)


def _cut_group(group: list[tuple[str, list[tuple[int, int]], str]]) -> dict[str, str]:
    """Cut the events of one clip, or of several virtual clips of one recording in one decoding pass."""
    from mextk.io.clipref import iter_shared_clip_frames

    failed: dict[str, str] = {}
    if len(group) == 1:
        clip, spans, out = group[0]
        try:
            cut_events(clip, spans, out)
        except Exception as exc:  # one unreadable clip must not stop the others
            failed[clip] = " ".join(str(exc).split()) or exc.__class__.__name__
        return failed
    writers = []
    for clip, spans, out in group:
        try:
            writers.append(_EventWriter(clip, spans, Path(out)))
        except Exception as exc:  # noqa: BLE001
            failed[clip] = " ".join(str(exc).split()) or exc.__class__.__name__
    writers = [w for w in writers if w.todo]
    # one window per event: frames between events are decoded (the codec needs them) but not cut out
    windows = [(w, span) for w in writers for span in w.todo]
    try:
        for i, t, frame in iter_shared_clip_frames([(w.clip, a, b + 1) for w, (a, b) in windows]):
            windows[i][0].write(windows[i][1], t, frame)
    except Exception as exc:  # the shared pass failed: every clip of it fails
        return {**failed, **{w.clip: " ".join(str(exc).split()) for w in writers}}
    for w in writers:
        try:
            w.finish()
        except Exception as exc:  # noqa: BLE001
            failed[w.clip] = " ".join(str(exc).split())
    return failed


#: The cost of a frame decoded between events (where the decoder skips the frames nothing refers to,
#: :func:`mextk.io.cfr.read_windows`), against one inside an event (decoded, cut out and written).
GAP_COST = 0.5


def key_frames(recording: str | os.PathLike[str], fps: float) -> list[int]:
    """The output frames (at ``fps``, as :class:`mextk.io.cfr.CfrReader` numbers them) of a video's key frames.

    Read from the container's packets without decoding (about 30 ms for a minute of 720p);
    ``[]`` when they cannot be read.
    """
    import av

    try:
        with av.open(str(recording)) as container:
            stream = container.streams.video[0]
            tb = float(stream.time_base)
            pts = [(p.pts, p.is_keyframe) for p in container.demux(stream) if p.pts is not None]
    except Exception:  # noqa: BLE001  (then every stretch is planned as decoded from the start)
        return []
    if not pts:
        return []
    t0 = min(p for p, _ in pts)
    return sorted({int(round((p - t0) * tb * fps)) for p, key in pts if key})


def _seek_start(first: int, keys: list[int], margin: int) -> int:
    """The frame a pass reading from ``first`` decodes from: the key frame ``margin`` frames before it or earlier
    (as :class:`~mextk.io.cfr.CfrReader` seeks), or the video's start; with no key frames known, the margin's
    start (as if every frame were one: the container's own seek may still find them)."""
    import bisect

    if not keys:
        return max(0, first - margin)
    i = bisect.bisect_right(keys, first - margin) - 1
    return keys[i] if i >= 0 else 0


def _chunk_cost(events: list[tuple[int, int]], keys: list[int], margin: int) -> float:
    """What decoding and cutting the sorted ``(first, last)`` recording frames of ``events`` in one pass costs:
    from :func:`_seek_start` to the last event, the frames between events at :data:`GAP_COST`."""
    start = _seek_start(events[0][0], keys, margin)
    covered, reach = 0, -1
    for a, b in events:
        covered += max(0, b - max(a, reach + 1) + 1)
        reach = max(reach, b)
    return covered + GAP_COST * (reach - start + 1 - covered)


def _split_balanced(events: list[tuple[int, int]], keys: list[int], margin: int, parts: int) -> list[int]:
    """Where to cut the sorted ``events`` into at most ``parts`` runs of about equal :func:`_chunk_cost`:
    the start index of each run after the first (the smallest largest cost, by bisection on it)."""

    def greedy(limit: float) -> list[int] | None:
        cuts, i = [], 0
        while i < len(events):
            start, covered, reach, j = _seek_start(events[i][0], keys, margin), 0, -1, i
            while j < len(events):  # extend the run while it stays within the limit (the cost of _chunk_cost)
                a, b = events[j]
                more, further = covered + max(0, b - max(a, reach + 1) + 1), max(reach, b)
                if j > i and more + GAP_COST * (further - start + 1 - more) > limit:
                    break
                covered, reach, j = more, further, j + 1
            if j < len(events):
                cuts.append(j)
            i = j
        return cuts if len(cuts) < parts else None

    return balanced_plan(greedy, _chunk_cost(events, keys, margin), steps=30) or []


def plan_chunks(
    items: Sequence[tuple[str, list[tuple[int, int]], str]], parts: int
) -> list[list[tuple[str, list[tuple[int, int]], str]]]:
    """Split the events of each recording's virtual clips into ``parts`` stretches of its time.

    Events need no state carried from one frame to the next, so the recording can be cut in
    time: each stretch (consecutive events of all its clips) is decoded once, from the key
    frame before its first event, by one worker.  The stretches cost about the same
    (:func:`_chunk_cost`: the frames decoded, those between events at :data:`GAP_COST`),
    so a stretch that starts just after a key frame decodes little that the one before it
    decoded too.  Anything else is a task of its own.
    """
    from mextk.io.cfr import SEEK_EARLY_S
    from mextk.io.clipref import is_clip_ref, read_clip_ref

    tasks: list[list[tuple[str, list[tuple[int, int]], str]]] = []
    by_recording: dict[tuple[str, float], list[tuple[int, int, int, int, int]]] = {}
    for i, (clip, spans, _) in enumerate(items):
        try:
            ref = read_clip_ref(clip) if is_clip_ref(Path(clip)) else None
        except Exception:  # noqa: BLE001  (its task reports why)
            ref = None
        if ref is None:
            tasks.append([items[i]])
            continue
        # (recording onset, recording offset, item, onset, offset)
        by_recording.setdefault((str(ref.recording.resolve()), ref.fps), []).extend(
            (ref.start_frame + a, ref.start_frame + b, i, a, b) for a, b in spans
        )
    for (recording, fps), events in by_recording.items():
        events.sort()
        keys = key_frames(recording, fps) if parts > 1 else []
        margin = int(math.ceil(SEEK_EARLY_S * fps))  # how far before its first event a pass seeks
        bounds = [0, *_split_balanced([(e[0], e[1]) for e in events], keys, margin, parts), len(events)]
        for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
            per_item: dict[int, list[tuple[int, int]]] = {}
            for _, _, i, a, b in events[lo:hi]:
                per_item.setdefault(i, []).append((a, b))
            if per_item:
                tasks.append([(items[i][0], spans, items[i][2]) for i, spans in sorted(per_item.items())])
    return tasks


def cut_all(items: Sequence[tuple[str, list[tuple[int, int]], str]], *, jobs: int = 1) -> dict[str, str]:
    """:func:`cut_events` for each ``(clip, spans, out)``; returns ``{clip: one-line error}`` of the failures.

    The events of a recording's virtual clips are cut in ``jobs`` stretches of its time
    (:func:`plan_chunks`), each decoded once, spread over ``jobs`` worker processes.
    """
    groups = plan_chunks(list(items), jobs)
    failed: dict[str, str] = {}
    if jobs <= 1 or len(groups) <= 1:
        for g in groups:
            failed.update(_cut_group(g))
    else:
        with worker_pool(jobs) as pool:
            for res in pool.map(_cut_group, groups):
                failed.update(res)
    return failed
