"""Where the training-free spotter was blind or weak in a video: the share of its time a report should warn about.

A spotter that is silent is only informative where it could have seen something.  Per video, from the region
motion it was run on (:class:`mextk.spotting.motion.MotionSignals`):

* ``no_face``: frames without an aligned face (not found, turned away, occluded, or out of the picture for
  longer than the alignment holds it): blind;
* ``lower_face_weak``: frames with a face where the speech discount lowers the lower face's transient scores by
  at least :data:`WEAK_PX` crop pixels (``speech_discount`` x :func:`mextk.spotting.baseline.speech_level` at the
  micro scale): the mouth is busy, mostly speaking, so a small movement of the mouth, the cheeks or the upper
  lip cannot count there, while the brows and glabella still can;
* ``head_turned``: frames with a face turned by :data:`mextk.faces.pose.TURNED_DEG` (30 degrees) or more
  (:func:`mextk.faces.pose.head_yaw`, read every ``landmark_every_s``): the far half of the face is
  foreshortened and partly hidden, so its movements are under-measured: weak;
* ``other_faces``: frames where the face detector saw another face near the tracked one (in the crop the
  spotter looks at, or beside it): the alignment may follow, or the regions take in, the wrong person: weak.

The last two need the per-frame ``yaw`` and ``crowded`` that :meth:`mextk.spotting.baseline.SpotterSettings.
compute_video` stores; without them (``None``) they are left out of the result.  The shares overlap (a
speaking, turned face counts in both).
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: Least discount (aligned-crop pixels, the spotter's 96 px face) from which the lower face counts as weak: a
#: micro-expression moves 1-4 px on a 128 px face, 0.75-3 px here.
WEAK_PX = 1.0


def spot_coverage(
    motion: Any, settings: Any, *, yaw: np.ndarray | None = None, crowded: np.ndarray | None = None
) -> dict[str, float]:
    """``seconds``, ``no_face``, ``lower_face_weak``, and with ``yaw`` and ``crowded`` (per frame)
    ``head_turned`` and ``other_faces``, in seconds, of one video (see the module docstring)."""
    from mextk.faces.pose import TURNED_DEG
    from mextk.spotting.baseline import speech_level

    face = np.asarray(motion.face, dtype=bool)
    fps = float(motion.fps)
    weak = np.zeros(len(face), dtype=bool)
    if settings.speech_discount > 0 and len(face):
        k = settings.half_widths(fps)[0][1]
        if k in motion.scales:
            weak = settings.speech_discount * speech_level(motion, k, settings.speech_window_s) >= WEAK_PX

    def seconds(mask: np.ndarray) -> float:
        """Seconds of the frames with a face where ``mask`` holds."""
        return float((np.asarray(mask, dtype=bool) & face).sum()) / fps

    out = {"seconds": len(face) / fps, "no_face": float((~face).sum()) / fps, "lower_face_weak": seconds(weak)}
    if yaw is not None:
        with np.errstate(invalid="ignore"):
            out["head_turned"] = seconds(np.abs(np.asarray(yaw, dtype=np.float64)) >= TURNED_DEG)
    if crowded is not None:
        out["other_faces"] = seconds(crowded)
    return out


def add_coverage(total: dict[str, float], part: dict[str, float]) -> dict[str, float]:
    """Add one video's :func:`spot_coverage` into a person's ``total`` (in place; returned)."""
    for key, value in part.items():
        total[key] = total.get(key, 0.0) + float(value)
    return total
