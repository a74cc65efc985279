"""Speed of ``mextk analyze`` on a 25 fps 720p gallery of 4 people (prints figures; not a test).

    python benchmarks/analyze.py [--seconds 60] [--jobs 2] [--repeat 3] [--fresh 3] [--keep DIR]

Renders a synthetic 1280x720 call (4 people, one joining late, one leaving
early, a screen share, micro-expressions), trains a small model (the linear
SVM on motion features, on synthetic clips), then runs the chain once and
prints, from the run's own ``done.json``, the seconds of each stage (prepare,
region motion, spotting, recognition, report), the total, and the real-time
factor (the recording's length over the total time).  The issue's bar is at
least 2x real time on 2 cores (goal 5x).  With ``--repeat N`` the analysis runs
N times from scratch and the median and range are printed too (on this
shared 2-core machine one run's total varied by a fifth between runs).  The
peak memory (resident set) of the process is printed too.  With ``--fresh N``
the command itself (``python -m mextk analyze``) also runs N times, each in a new
process as a user runs it (imports, the workers' fork server and the models
loading every time), timed from outside; mextk's modules are byte-compiled
first, as ``pip install`` leaves them.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from results_json import save  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--keep", type=Path, default=None)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--fresh", type=int, default=0)
    args = ap.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="mextk-analyze-"))
    work.mkdir(parents=True, exist_ok=True)

    from mextk.analyze.chain import analyze_recording
    from mextk.evaluate.final import train_model
    from mextk.evaluate.runconfig import RunConfig
    from mextk.synth.call import CallConfig, make_call_recording
    from mextk.synth.clips import SynthConfig, synthesize_dataset

    call = work / "call_720p.mp4"
    if not call.exists():
        t = time.perf_counter()
        cfg = CallConfig(n_participants=4, duration_s=args.seconds, width=1280, height=720, fps=25.0, seed=7)
        make_call_recording(call, cfg, progress=False)
        print(f"rendered the {args.seconds:.0f} s call in {time.perf_counter() - t:.1f} s (not part of the figures)")
    clips = work / "clips"
    if not (clips / "manifest.csv").exists():
        synthesize_dataset(clips, SynthConfig(n_subjects=6, clips_per_subject=8, size=96, seed=2), progress=False)
    model = work / "model"
    config = RunConfig(
        manifest=str(clips / "manifest.csv"), model="motion_svm", task="cmed7", features_dir=str(work / "features")
    )
    train_model(config, model, progress=False)

    totals = []
    for run in range(args.repeat):
        out = work / f"analysis_{run}"
        shutil.rmtree(out, ignore_errors=True)
        t = time.perf_counter()
        res = analyze_recording(call, model, out, jobs=args.jobs, progress=False)
        total = time.perf_counter() - t
        totals.append(total)
        times = json.loads((res.folder / "done.json").read_text())["times"]
        print(f"mextk analyze, {args.seconds:.0f} s of 1280x720 25 fps, 4 people, --jobs {args.jobs} (run {run + 1}):")
        for stage, seconds in times.items():
            print(f"  {stage:12s} {seconds:7.1f} s  ({args.seconds / max(seconds, 1e-9):6.1f}x real time alone)")
        print(f"  {'total':12s} {total:7.1f} s  -> real-time factor {args.seconds / total:.2f}x")
        last_times = times
    if len(totals) > 1:
        med, lo, hi = statistics.median(totals), min(totals), max(totals)
        print(
            f"{len(totals)} runs: median {med:.1f} s ({args.seconds / med:.2f}x real time), range {lo:.1f}-{hi:.1f} s"
        )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"  events: {len(res.timeline)}; peak memory {peak:.0f} MB")
    print(f"  outputs in {res.folder}")
    fresh = []
    if args.fresh:
        # byte-compile mextk's modules first, as `pip install` does: an editable install under
        # PYTHONDONTWRITEBYTECODE (this machine's setting) compiles them again in every new process
        import compileall

        import mextk

        compileall.compile_dir(Path(mextk.__file__).parent, quiet=1)
    for run in range(args.fresh):
        out = work / f"fresh_{run}"
        shutil.rmtree(out, ignore_errors=True)
        command = [sys.executable, "-m", "mextk", "analyze", str(call), "--model", str(model), "--out", str(out)]
        t = time.perf_counter()
        subprocess.run([*command, "--jobs", str(args.jobs)], check=True, capture_output=True)
        fresh.append(time.perf_counter() - t)
        times = json.loads((out / call.stem / "done.json").read_text())["times"]
        stages = ", ".join(f"{stage} {seconds:.1f}" for stage, seconds in times.items())
        print(f"fresh process {run + 1}: {fresh[-1]:.1f} s ({args.seconds / fresh[-1]:.2f}x real time; {stages})")
    if fresh:
        med = statistics.median(fresh)
        print(f"{len(fresh)} fresh processes: median {med:.1f} s ({args.seconds / med:.2f}x), range "
              f"{min(fresh):.1f}-{max(fresh):.1f} s")  # fmt: skip
    stages = [[stage, f"{sec:.1f}", f"{args.seconds / max(sec, 1e-9):.1f}x"] for stage, sec in last_times.items()]
    med = statistics.median(totals)
    runs = [
        [
            "in this process",
            len(totals),
            f"{med:.1f}",
            f"{min(totals):.1f}-{max(totals):.1f}",
            f"{args.seconds / med:.2f}x",
        ]
    ]
    if fresh:
        med = statistics.median(fresh)
        runs.append(["a fresh `mextk analyze` process", len(fresh), f"{med:.1f}", f"{min(fresh):.1f}-{max(fresh):.1f}",
                     f"{args.seconds / med:.2f}x"])  # fmt: skip
    tables = [
        {"title": "Real-time factor (recording length over analysis time)",
         "columns": ["run", "runs", "median s", "range s", "real-time factor"], "rows": runs},
        {"title": "Stages of the last run", "columns": ["stage", "seconds", "real time alone"], "rows": stages},
    ]  # fmt: skip
    notes = (f"A synthetic {args.seconds:.0f} s 1280x720 25 fps call of 4 people, --jobs {args.jobs}; "
             f"{len(res.timeline)} events; peak memory {peak:.0f} MB.")  # fmt: skip
    print(f"wrote {save('analyze', tables, notes=notes)}")


if __name__ == "__main__":
    main()
