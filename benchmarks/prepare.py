"""Throughput of ``mextk prepare`` on a 720p gallery recording (prints figures; not a test).

    python benchmarks/prepare.py [--seconds 60] [--repeat 3] [--keep DIR]

For each recording it prints frames per second, in one run, for:

* pure decoding with PyAV (the physical floor: nothing can split a recording faster than it decodes),
  the faster of PyAV's default threading and mextk's (frame threads, one per CPU);
* ``mextk prepare`` with the default settings (virtual clips: nothing is re-encoded), once in a
  fresh process (its models load as the recording needs them: the Haar cascade, dlib's 5-point
  model, and the face descriptor at an ambiguous re-layout) and once more in the same process (what
  every further recording of a batch costs), and with ``--preset cmed``;
* a naive OpenCV implementation of CMED's Algorithm 1 as written (``cv2.VideoCapture``, the Haar
  cascade on full frames every 60 frames with a 3-frame look-ahead, one ``cv2.VideoWriter`` per user);
* ``mextk prepare`` writing H.264 files (``--clip-format mp4``), and decoding plus cutting and
  H.264-encoding five 300x300 clips with no analysis at all (what any splitter that writes video
  files must do for five people);
* the default before this version, as recorded (it encoded every clip during the pass);

with the ratio to pure decoding and the peak memory of each (every method runs in a fresh
process).  Two recordings are used: a synthetic gallery (5 people, joins, a leave, a screen
share) and, when ``../shared/data/videos`` is there, a gallery composed from real face videos.
The default preset is also run on a recording twice as long, to show that memory does not grow
with the length.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import shutil
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
REAL = REPO.parent / "shared" / "data" / "videos"


def _peak_mb() -> float:
    # VmHWM is this process's own peak (ru_maxrss would include what a spawned child inherited)
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def decode_only(path: str) -> tuple[int, float, float]:
    """The faster of PyAV's default threading and mextk's (frame threads, one per CPU): the floor."""
    import av

    from mextk.io.decode import decode_threads

    best = float("inf")
    for frame_threads in (False, True):
        t = time.perf_counter()
        with av.open(path) as c:
            s = c.streams.video[0]
            s.thread_type = "AUTO"
            if frame_threads:
                s.thread_type = "FRAME"
                s.codec_context.thread_count = decode_threads()
            n = sum(1 for _ in c.decode(s))
        best = min(best, time.perf_counter() - t)
    return n, best, _peak_mb()


def decode_and_encode(path: str, out: str, n_clips: int = 5) -> tuple[int, float, float]:
    """What a splitter writing video files cannot skip: decode, cut ``n_clips`` crops per frame, encode them."""
    from mextk.io.cfr import CfrReader
    from mextk.io.decode import yuv_planes
    from mextk.io.writer import VideoWriter
    from mextk.prepare.config import PrepareConfig
    from mextk.prepare.encode import _Encoder

    cfg = PrepareConfig()
    t = time.perf_counter()
    reader = CfrReader(path)
    side = min(reader.height // 2, 240) // 4 * 4
    boxes = [(_x, 0, side, side) for _x in range(0, n_clips * side, side)]
    Path(out).mkdir(parents=True, exist_ok=True)
    encoders = [
        _Encoder(VideoWriter(Path(out) / f"c{i}.mp4", fps=25, crf=cfg.crf, preset=cfg.x264_preset, threads=1), 300)
        for i in range(n_clips)
    ]
    n = 0
    for _, frame in reader:
        planes = yuv_planes(frame)
        for enc, box in zip(encoders, boxes, strict=True):
            enc.add(planes, box)
        n += 1
    for enc in encoders:
        enc.finish(keep=True)
    return n, time.perf_counter() - t, _peak_mb()


def naive_algorithm1(path: str, out: str) -> tuple[int, float, float]:
    """CMED Algorithm 1 as written, with OpenCV only (mp4v: OpenCV's wheels cannot write H.264)."""
    import cv2

    t = time.perf_counter()
    cap = cv2.VideoCapture(path)
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    casc = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    users: list[dict] = []
    Path(out).mkdir(parents=True, exist_ok=True)
    counter = 0

    def close(u: dict) -> None:
        u["writer"].release()
        u["open"] = False
        if u["frames"] < 3 * fps:
            Path(u["path"]).unlink(missing_ok=True)

    def write(frame) -> None:
        for u in users:
            if u["open"]:
                x, y = u["x"], u["y"]
                u["writer"].write(frame[y : y + 300, x : x + 300])
                u["frames"] += 1

    while True:
        ok, frame = cap.read()
        if not ok:
            break
        if counter % 60 == 0:
            frames = [frame]
            for _ in range(2):
                ok2, f2 = cap.read()
                if ok2:
                    frames.append(f2)
            found = [casc.detectMultiScale(cv2.cvtColor(f, cv2.COLOR_BGR2GRAY), 1.1, 5) for f in frames]
            faces = max(found, key=len)
            h, w = frame.shape[:2]
            for fx, fy, fw, fh in faces:
                cx, cy = fx + fw / 2, fy + fh / 2
                user = next((u for u in users if u["x"] <= cx < u["x"] + 300 and u["y"] <= cy < u["y"] + 300), None)
                if user is None:
                    x = int(min(max(cx - 150, 0), w - 300))
                    y = int(min(max(cy - 150, 0), h - 300))
                    user = {"x": x, "y": y, "open": False, "frames": 0}
                    users.append(user)
                if not user["open"]:
                    user["path"] = f"{out}/u{users.index(user)}_{counter}.mp4"
                    user["writer"] = cv2.VideoWriter(user["path"], cv2.VideoWriter_fourcc(*"mp4v"), fps, (300, 300))
                    user["open"] = True
                    user["frames"] = 0
                user["last"] = counter
            for u in users:
                if u["open"] and counter - u["last"] > 60:
                    close(u)
            for f in frames:
                write(f)
            counter += len(frames)
            continue
        write(frame)
        counter += 1
    for u in users:
        if u["open"]:
            close(u)
    cap.release()
    return counter, time.perf_counter() - t, _peak_mb()


def mextk_prepare(
    path: str, out: str, preset_name: str, warm: bool = False, **settings: object
) -> tuple[int, float, float]:
    """``mextk prepare`` on one recording in this (fresh) process; ``warm``: time a second run, after the first
    one loaded the libraries and models (what every recording after the first of a batch costs)."""
    from mextk.prepare.batch import prepare_recordings
    from mextk.prepare.config import preset

    shutil.rmtree(out, ignore_errors=True)  # a repeat must not find the last run's finished recording
    shutil.rmtree(out + "_first", ignore_errors=True)
    from io import StringIO

    from rich.console import Console

    quiet = Console(file=StringIO())  # the per-recording report would interleave with the figures
    if warm:
        prepare_recordings([path], out + "_first", preset(preset_name, **settings), progress=False, console=quiet)
    t = time.perf_counter()
    result = prepare_recordings([path], out, preset(preset_name, **settings), progress=False, console=quiet)
    if result.failed:
        raise RuntimeError(result.failed)
    import json

    summary = json.loads(next(Path(out).glob("*/summary.json")).read_text())
    return summary["n_frames"], time.perf_counter() - t, _peak_mb()


def _in_fresh_process(fn, *args, **kwargs):  # noqa: ANN001, ANN202
    ctx = mp.get_context("spawn")
    with ctx.Pool(1) as pool:
        return pool.apply(fn, args, kwargs)


#: mextk prepare's default before virtual clips and the feed-presence logic (commit 8ac75d2, this
#: script on this 2-core machine, 60 s recordings): it encoded every clip during the pass.
BEFORE = {"synthetic": (94.0, 0.14), "real": (113.0, 0.14)}


def _best(repeat: int, fn, *args, **kwargs):  # noqa: ANN001, ANN202
    """The fastest of ``repeat`` runs, each in a fresh process (a shared 2-core machine is noisy)."""
    runs = [_in_fresh_process(fn, *args, **kwargs) for _ in range(repeat)]
    return min(runs, key=lambda r: r[1])


def bench(recording: Path, label: str, work: Path, repeat: int) -> dict:
    """Print the rows for one recording; return them as a table for the documentation."""
    print(f"\n{label}: {recording.name} (best of {repeat} for decoding and the default)")
    n, dt, mem = _best(repeat, decode_only, str(recording))
    floor = n / dt
    print(f"  {'pure decoding (PyAV)':34s} {floor:7.1f} frames/s   1.00x   peak {mem:6.0f} MB")
    table = {
        "title": f"{label} ({n} frames)",
        "columns": ["method", "frames/s", "of pure decoding", "peak memory (MB)"],
        "rows": [["pure decoding (PyAV)", round(floor, 1), "1.00x", round(mem)]],
    }
    rec = str(recording)
    rows = [
        ("mextk prepare (default)", mextk_prepare, (rec, str(work / "default"), "default"), {}),
        ("  the same, models already loaded", mextk_prepare, (rec, str(work / "warm"), "default"), {"warm": True}),
        ("mextk prepare --preset cmed", mextk_prepare, (rec, str(work / "cmed"), "cmed"), {}),
        ("naive OpenCV Algorithm 1", naive_algorithm1, (rec, str(work / "naive")), {}),
        ("mextk default --clip-format mp4", mextk_prepare, (rec, str(work / "mp4"), "default"), {"clip_format": "mp4"}),
        ("decode + cut + encode 5 clips", decode_and_encode, (rec, str(work / "floor")), {}),
    ]
    for k, (name, fn, args, kwargs) in enumerate(rows):
        n, dt, mem = _best(repeat if k < 2 else 1, fn, *args, **kwargs)
        print(f"  {name:34s} {n / dt:7.1f} frames/s   {n / dt / floor:.2f}x   peak {mem:6.0f} MB")
        table["rows"].append([name.strip(), round(n / dt, 1), f"{n / dt / floor:.2f}x", round(mem)])
    fps, ratio = BEFORE["real" if "real" in recording.name else "synthetic"]
    print(f"  {'(default before this version)':34s} {fps:7.1f} frames/s   {ratio:.2f}x   (recorded, not rerun)")
    return table


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=60.0, help="length of the benchmark recordings")
    ap.add_argument("--keep", type=Path, help="keep the recordings and outputs here")
    ap.add_argument("--repeat", type=int, default=3, help="runs of decoding and the default; the fastest counts")
    args = ap.parse_args()
    from mextk.synth.call import CallConfig, compose_gallery, make_call_recording

    work = args.keep or Path(tempfile.mkdtemp(prefix="mextk-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    cfg = CallConfig(n_participants=5, duration_s=args.seconds, width=1280, height=720, seed=5)
    synth = work / "synthetic_720p.mp4"
    if not synth.exists():
        print("rendering the synthetic 720p gallery ...")
        make_call_recording(synth, cfg, progress=False)
    recordings = [(synth, "synthetic gallery, 1280x720, 5 people")]
    if REAL.exists():
        real = work / "real_720p.mp4"
        if not real.exists():
            print("composing the real-face 720p gallery ...")
            names = ["talking_head_d0", "talking_head_d3", "talking_head_d6", "talking_head_d9", "speech_frontal_1"]
            compose_gallery([REAL / f"{n}.mp4" for n in names], real, cfg, progress=False)
        recordings.append((real, "real faces composed into a gallery, 1280x720, 5 people"))
    tables = []
    for rec, label in recordings:
        out = work / f"out_{rec.stem}"
        shutil.rmtree(out, ignore_errors=True)
        tables.append(bench(rec, label, out, args.repeat))
    # memory does not grow with the length: the same gallery, twice as long
    long_cfg = CallConfig(n_participants=5, duration_s=2 * args.seconds, width=1280, height=720, seed=5)
    long = work / "synthetic_720p_long.mp4"
    if not long.exists():
        make_call_recording(long, long_cfg, progress=False)
    memory = {"title": "peak memory of the default preset", "columns": ["recording", "peak (MB)"], "rows": []}
    for rec in (synth, long):
        out = work / f"mem_{rec.stem}"
        shutil.rmtree(out, ignore_errors=True)
        n, dt, mem = _in_fresh_process(mextk_prepare, str(rec), str(out), "default")
        print(f"memory, default preset, {n / 25:5.0f} s recording: peak {mem:6.0f} MB")
        memory["rows"].append([f"{n / 25:.0f} s synthetic gallery", round(mem)])
    from results_json import save

    save("prepare", [*tables, memory], notes=f"{args.seconds:g} s 1280x720 galleries of 5 people; every method in a "
         f"fresh process, the best of {args.repeat} for decoding and the default.")  # fmt: skip
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
