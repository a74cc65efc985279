"""Head pose from dlib's 5 landmarks against the 68-landmark pose, on the real clips (prints figures; not a test).

    python benchmarks/pose.py [--every 3]

``mextk prepare`` estimates head pose (the ``turned_head`` flag) with
:func:`mextk.prepare.checks.head_pose_5`: the 5-point model loads in 0.06 s
against 0.46 s for the 68-point one.  Its three constants (the nose base's
depth in front of the outer eye corners, its drop below them, its lever for
pitch; in biocular widths) are fitted here by least squares to
:func:`mextk.prepare.checks.head_pose` (a perspective-n-point solve on six of
68 landmarks) on the faces of ``../shared/data/videos`` (every ``--every``-th
frame, the largest face found by dlib's HOG detector, cropped as ``prepare``
crops it).  The script prints:

* the constants fitted on all clips (what ``checks.py`` holds);
* for each clip, the agreement of the two estimators when that clip is left
  out of the fit (median and 90th percentile of the absolute differences),
  and the range of yaw and pitch the 68-point pose saw in it;
* the same over all faces, and the load time of each model in this process.

Neither estimator is ground truth (no clip here has measured head pose);
the 68-point one is the reference because it is the full 3-D solve that
mextk used before.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

VIDEOS = Path(__file__).resolve().parents[2] / "shared" / "data" / "videos"


def collect(every: int) -> dict[str, list[tuple[np.ndarray, np.ndarray, int, int]]]:
    """Per clip: (68 landmarks, 5 landmarks, crop width, crop height) of the largest face of every ``every``-th
    frame, in a crop made as ``FaceFinder.pose`` makes it (a 30% margin, the face scaled to at most 160 px)."""
    import av
    import cv2

    from mextk.faces.landmarks import detect_faces_hog, landmarks_5, landmarks_68

    out = {}
    for path in sorted(VIDEOS.glob("*.mp4")):
        if path.stem.startswith("crowd"):
            continue  # small faces walking: no pose to compare
        rows = []
        with av.open(str(path)) as c:
            for k, frame in enumerate(c.decode(video=0)):
                if k % every:
                    continue
                y = frame.to_ndarray(format="gray")
                faces = detect_faces_hog(y)
                if not faces:
                    continue
                x, yy, w, h = faces[0]
                m = int(0.3 * w)
                x0, y0 = max(0, x - m), max(0, yy - m)
                crop = y[y0 : min(y.shape[0], yy + h + m), x0 : min(y.shape[1], x + w + m)]
                s = min(1.0, 160.0 / max(1, w))
                if s < 1:
                    crop = cv2.resize(crop, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
                crop = np.ascontiguousarray(crop)
                box = (int((x - x0) * s), int((yy - y0) * s), int(w * s), int(h * s))
                rows.append((landmarks_68(crop, box), landmarks_5(crop, box), crop.shape[1], crop.shape[0]))
        out[path.stem] = rows
    return out


def features(p5: np.ndarray) -> tuple[float, float]:
    """The nose base from the outer corners' midpoint, roll undone, in units of the corners' distance."""
    d = p5[0] - p5[2]
    roll = np.arctan2(d[1], d[0])
    c, s = np.cos(roll), np.sin(roll)
    nx, ny = (p5[4] - (p5[0] + p5[2]) / 2) @ np.array([[c, -s], [s, c]])
    span = np.hypot(*d)
    return nx / span, ny / span


def fit(rows: list[tuple[np.ndarray, np.ndarray, int, int]]) -> tuple[float, float, float]:
    """``(depth, drop, pitch lever)``: yaw's slope by least squares of ``tan(yaw)`` on the nose's sideways
    offset; drop and lever by a grid search for the least mean absolute pitch error."""
    from mextk.prepare.checks import head_pose

    f = np.array([features(p5) for _, p5, _, _ in rows])
    ref = np.array([head_pose(lm, (w, h))[:2] for lm, _, w, h in rows])
    tan_yaw = np.tan(np.radians(ref[:, 0]))
    depth = -float(f[:, 0] @ f[:, 0]) / float(f[:, 0] @ tan_yaw)  # tan(yaw) = -x / depth
    yaw = -np.arctan(f[:, 0] / depth)
    q = f[:, 1] * np.cos(yaw)
    best = (np.inf, 0.0, 0.0)
    for drop in np.arange(0.35, 0.75, 0.005):
        for lever in np.arange(0.05, 0.9, 0.01):
            pitch = np.arctan2(lever, drop) - np.arccos(np.clip(q / np.hypot(drop, lever), -1, 1))
            err = float(np.mean(np.abs(np.degrees(pitch) - ref[:, 1])))
            if err < best[0]:
                best = (err, float(drop), float(lever))
    return depth, best[1], best[2]


def agreement(rows, constants) -> np.ndarray:  # noqa: ANN001
    """``(n, 4)``: yaw and pitch of the 68-point pose, then of the 5-point pose with ``constants``."""
    import mextk.prepare.checks as checks

    saved = checks.NOSE_DEPTH_5, checks.NOSE_DROP_5, checks.NOSE_PITCH_5
    checks.NOSE_DEPTH_5, checks.NOSE_DROP_5, checks.NOSE_PITCH_5 = constants
    try:
        return np.array([[*checks.head_pose(lm, (w, h))[:2], *checks.head_pose_5(p5)[:2]] for lm, p5, w, h in rows])
    finally:
        checks.NOSE_DEPTH_5, checks.NOSE_DROP_5, checks.NOSE_PITCH_5 = saved


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--every", type=int, default=3, help="use every n-th frame of each clip")
    args = ap.parse_args()
    if not VIDEOS.exists():
        raise SystemExit(f"{VIDEOS}: the real clips are not here (this benchmark needs ../shared/data)")
    import dlib

    from mextk.faces.models import face_models_dir

    loads = {"title": "loading dlib's landmark models", "columns": ["model", "seconds"], "rows": []}
    for n in (5, 68):
        t = time.perf_counter()
        dlib.shape_predictor(str(face_models_dir() / f"shape_predictor_{n}_face_landmarks.dat"))
        print(f"load the {n:2d}-point model: {time.perf_counter() - t:.2f} s")
        loads["rows"].append([f"{n} points", round(time.perf_counter() - t, 2)])
    data = collect(args.every)
    every = [r for rows in data.values() for r in rows]
    depth, drop, lever = fit(every)
    print(f"\nfitted on all {len(every)} faces: depth {depth:.3f}, drop {drop:.3f}, pitch lever {lever:.3f}")
    print("\nleaving each clip out of the fit (absolute differences, degrees):")
    print(f"  {'clip':22s} {'faces':>5s}  {'yaw med':>7s} {'p90':>5s}  {'pitch med':>9s} {'p90':>5s}  68-point range")
    pooled = []
    agree = {
        "title": "5-point against 68-point pose, each clip left out of the fit (absolute differences, degrees)",
        "columns": ["clip", "faces", "yaw median", "yaw p90", "pitch median", "pitch p90", "68-point yaw range"],
        "rows": [],
    }
    for name, rows in data.items():
        if not rows:
            continue
        rest = [r for other, rs in data.items() if other != name for r in rs]
        a = agreement(rows, fit(rest))
        dy, dp = np.abs(a[:, 0] - a[:, 2]), np.abs(a[:, 1] - a[:, 3])
        pooled.append(np.c_[dy, dp])
        print(
            f"  {name:22s} {len(rows):5d}  {np.median(dy):7.1f} {np.percentile(dy, 90):5.1f}  "
            f"{np.median(dp):9.1f} {np.percentile(dp, 90):5.1f}  yaw {a[:, 0].min():5.1f} to {a[:, 0].max():5.1f}, "
            f"pitch {a[:, 1].min():5.1f} to {a[:, 1].max():5.1f}"
        )
        figures = (np.median(dy), np.percentile(dy, 90), np.median(dp), np.percentile(dp, 90))
        yaw_range = f"{a[:, 0].min():.0f} to {a[:, 0].max():.0f}"
        agree["rows"].append([name, len(rows), *(round(float(v), 1) for v in figures), yaw_range])
    d = np.concatenate(pooled)
    print(
        f"  {'all':22s} {len(d):5d}  {np.median(d[:, 0]):7.1f} {np.percentile(d[:, 0], 90):5.1f}  "
        f"{np.median(d[:, 1]):9.1f} {np.percentile(d[:, 1], 90):5.1f}"
    )
    agree["rows"].append(["all", len(d), *(round(float(v), 1) for v in (np.median(d[:, 0]), np.percentile(d[:, 0], 90),
                          np.median(d[:, 1]), np.percentile(d[:, 1], 90))), ""])  # fmt: skip
    fitted = {"title": "the 5-point pose's constants, fitted on all faces", "columns": ["depth", "drop", "pitch lever"],
              "rows": [[round(depth, 3), round(drop, 3), round(lever, 3)]]}  # fmt: skip
    from results_json import save

    save("pose", [loads, fitted, agree], notes="Real clips of ../shared/data/videos, every third frame.")


if __name__ == "__main__":
    main()
