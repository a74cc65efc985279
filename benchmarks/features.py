"""Speed of every features stage, per sample and in frames per second (prints figures; not a test).

    python benchmarks/features.py

Twelve synthetic clips (160 px, 19-31 frames each, H.264) are written to a
temporary folder; each stage runs over all of them in this process, in the
order a pipeline runs them.  Figures are single-core wall times (OpenCV may
use a second thread); they vary by about 20% between runs on the project's
2-core machines.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from mextk.faces.crop import align_crop_clip, aligned_crop_matrix
from mextk.faces.landmarks import image_landmarks, track_landmarks
from mextk.features.batch import KINDS, _flow, _frames, _graphs, _lbp_top
from mextk.features.flow import megc_flow_input, tvl1_flow
from mextk.features.lbp_top import lbp_top
from mextk.features.sampling import adaptive_positions, sample_frames
from mextk.io.video import read_frames
from mextk.io.writer import write_video
from mextk.synth.clips import DEFAULT_CLASSES, ClipSpec, render_clip

sys.path.insert(0, str(Path(__file__).resolve().parent))
from results_json import save  # noqa: E402

TABLES: list[dict] = []


def _section(title: str) -> None:
    print(title)
    TABLES.append({"title": title, "columns": ["stage", "ms per sample", "frames/s"], "rows": []})


def _time(label: str, fn, items, frames: int) -> None:  # type: ignore[no-untyped-def]
    t = time.perf_counter()
    for item in items:
        fn(item)
    dt = time.perf_counter() - t
    print(f"{label:58s} {1000 * dt / len(items):8.1f} ms/sample {frames / dt:9.1f} frames/s")
    TABLES[-1]["rows"].append([label, f"{1000 * dt / len(items):.1f}", f"{frames / dt:.1f}"])


def main() -> None:
    tmp = Path(tempfile.mkdtemp())
    rows, clips = [], []
    for i in range(12):
        emotion = DEFAULT_CLASSES[i % len(DEFAULT_CLASSES)]
        clip = render_clip(ClipSpec(subject_seed=i % 4, seed=i, emotion=emotion, size=160))
        path = tmp / f"c{i}.mp4"
        write_video(path, clip.frames, fps=25)
        clips.append(clip)
        rows.append(
            {
                "sample_id": f"c{i}",
                "path": path,
                "n_frames": len(clip.frames),
                "onset": clip.onset,
                "apex": clip.apex,
                "offset": clip.offset,
            }
        )
    n = sum(len(c.frames) for c in clips)
    print(f"{len(clips)} clips, {n} frames of 160x160\n")
    gray = [read_frames(r["path"], gray=True) for r in rows]
    image_landmarks(gray[0][0])  # load dlib's models outside the timings

    _section("stages (pure functions on decoded arrays)")
    _time("decode H.264 (PyAV, RGB)", lambda r: read_frames(r["path"]), rows, n)
    _time("landmarks: track through the clip (HOG + 68-point ERT)", track_landmarks, gray, n)
    onset_lm = [image_landmarks(g[c.onset]) for g, c in zip(gray, clips, strict=True)]
    mats = [aligned_crop_matrix(lm, size=112) for lm in onset_lm]
    _time(
        "align + crop every frame to 112 (one affine warp)",
        lambda i: align_crop_clip(clips[i].frames, mats[i], size=112),
        range(12),
        n,
    )
    mats28 = [aligned_crop_matrix(lm, size=28) for lm in onset_lm]
    _time(
        "align + crop every frame to 28 (warp + area average)",
        lambda i: align_crop_clip(clips[i].frames, mats28[i], size=28),
        range(12),
        n,
    )
    pos = [adaptive_positions(c.onset, c.apex or (c.onset + c.offset) // 2, c.offset) for c in clips]
    _time(
        "adaptive sampling to 16 frames (interpolated)", lambda i: sample_frames(clips[i].frames, pos[i]), range(12), n
    )
    pairs = [(g[c.onset], g[c.apex or c.offset]) for g, c in zip(gray, clips, strict=True)]
    _time("TV-L1 flow onset->apex at 160 px (per pair: 2 frames)", lambda p: tvl1_flow(*p), pairs, 2 * len(pairs))
    _time("MEGC input (flow + strain + min-max + 28x28)", lambda p: megc_flow_input(*p), pairs, 2 * len(pairs))
    vols = [g[[c.onset, c.apex or c.offset, c.offset]] for g, c in zip(gray, clips, strict=True)]
    _time("LBP-TOP, onset/apex/offset (5x5 blocks, u2)", lambda v: lbp_top(v, time_length=1), vols, 3 * len(vols))
    _time("LBP-TOP, whole clip (5x5 blocks, u2)", lambda g: lbp_top(g), gray, n)

    print()
    _section("batch kinds end to end (decode + landmarks + the stage), per sample")
    for name, fn in (
        ("frames (16 adaptive, 112 px)", _frames),
        ("flow (aligned 128 -> 28)", _flow),
        ("lbp_top (key frames)", _lbp_top),
        ("graphs (key-frame landmarks)", _graphs),
    ):
        kind = name.split()[0]
        _time(name, lambda r, fn=fn, kind=kind: fn(r["path"], r, KINDS[kind][1]), rows, n)
    notes = f"{len(clips)} synthetic clips, {n} frames of 160x160 (H.264); single-core wall times."
    print(f"\nwrote {save('features', TABLES, notes=notes)}")


if __name__ == "__main__":
    main()
