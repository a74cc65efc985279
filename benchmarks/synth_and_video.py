"""Speed of the synthetic-data generator and of video I/O (prints figures; not a test).

    python benchmarks/synth_and_video.py

Reports frames per second for rendering micro-expression clips at 112 and
300 px, for rendering a 960x540 call recording, and for decoding H.264 with
PyAV, plus the encode cost relative to rendering (a ratio measured in the same
process, so it is comparable across machines).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from mextk.io.video import read_frames
from mextk.io.writer import write_video
from mextk.synth.call import CallConfig, make_call_recording
from mextk.synth.clips import ClipSpec, render_clip
from mextk.synth.face import make_subject

sys.path.insert(0, str(Path(__file__).resolve().parent))
from results_json import save  # noqa: E402


def main() -> None:
    make_subject(1)  # warm the identity cache
    tmp = Path(tempfile.mkdtemp())
    rows: list[list] = []
    for size in (112, 300):
        t0 = time.perf_counter()
        n = 0
        clips = []
        for seed in range(5):
            clip = render_clip(ClipSpec(subject_seed=1, seed=seed, emotion="happiness", size=size))
            n += len(clip.frames)
            clips.append(clip)
        render_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        for k, clip in enumerate(clips):
            write_video(tmp / f"c{size}_{k}.mp4", clip.frames, fps=25)
        encode_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        m = sum(len(read_frames(tmp / f"c{size}_{k}.mp4")) for k in range(len(clips)))
        decode_s = time.perf_counter() - t0
        print(
            f"clips {size}px: render {n / render_s:7.1f} fps, encode {n / encode_s:7.1f} fps, "
            f"decode {m / decode_s:7.1f} fps, encode/render time ratio {encode_s / render_s:.2f}"
        )
        rows.append(
            [
                f"clips {size} px",
                f"{n / render_s:.1f}",
                f"{n / encode_s:.1f}",
                f"{m / decode_s:.1f}",
                f"{encode_s / render_s:.2f}",
            ]
        )
    t0 = time.perf_counter()
    call = CallConfig(duration_s=10, seed=0, min_event_gap_s=2.0)
    truth = make_call_recording(tmp / "call.mp4", call, progress=False)
    dt = time.perf_counter() - t0
    print(
        f"call 960x540, 4 people: {truth['n_frames'] / dt:.1f} fps rendered+encoded "
        f"({dt / (truth['n_frames'] / truth['fps']):.2f} s of compute per second of video)"
    )
    rows.append(["call 960x540, 4 people (render + encode)", f"{truth['n_frames'] / dt:.1f}", "", "", ""])
    columns = ["what", "render fps", "encode fps", "decode fps", "encode/render time"]
    table = {"title": "Synthetic data and H.264 I/O", "columns": columns, "rows": rows}
    print(f"wrote {save('synth_and_video', [table])}")


if __name__ == "__main__":
    main()
