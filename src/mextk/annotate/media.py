"""Frames served by index: the labeller sees exactly frame k when they ask for frame k.

A browser's ``<video>`` seeks to the nearest key frame or a time, not to a
frame, so the player asks the server for frame ``k`` itself.  Frames are
decoded in strips of :data:`STRIP` (one decode serves the frames around the one
asked for) and kept as lossless PNG files under ``PROJECT/cache/frames/CLIP/``,
written atomically.  Only clips registered in the project are ever read: a
request names a task and a frame number, never a path.
"""

from __future__ import annotations

import threading
from pathlib import Path

from mextk.io.atomic import atomic_path

STRIP = 32
_locks: dict[tuple[str, int], threading.Lock] = {}
_guard = threading.Lock()


def _lock(folder: Path, clip_id: int, strip: int) -> threading.Lock:
    with _guard:
        return _locks.setdefault((f"{folder}/{clip_id}", strip), threading.Lock())


def frame_png(project_folder: Path, clip_id: int, clip_path: str, n_frames: int, k: int) -> bytes:
    """The PNG of frame ``k`` (0-based) of a registered clip, decoding and caching its strip when needed."""
    import cv2

    from mextk.io.video import read_frames

    if not 0 <= k < n_frames:
        raise IndexError(f"frame {k} is outside the clip's {n_frames} frames")
    folder = Path(project_folder) / "cache" / "frames" / str(int(clip_id))
    target = folder / f"{k:06d}.png"
    if target.is_file():
        return target.read_bytes()
    strip = k // STRIP
    with _lock(Path(project_folder), clip_id, strip):
        if not target.is_file():
            start = strip * STRIP
            frames = read_frames(clip_path, start=start, stop=min(n_frames, start + STRIP))
            folder.mkdir(parents=True, exist_ok=True)
            for i, frame in enumerate(frames):
                bgr = cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)
                ok, data = cv2.imencode(".png", bgr, [cv2.IMWRITE_PNG_COMPRESSION, 1])
                if not ok:
                    raise ValueError(f"cannot encode frame {start + i}")
                with atomic_path(folder / f"{start + i:06d}.png") as tmp:
                    tmp.write_bytes(data.tobytes())
    return target.read_bytes()
