"""Interval spotting on synthetic long videos and on real footage (prints figures; not a test).

    python benchmarks/spotting.py [--parts synthetic,real] [--seeds 7,11,12,13] [--keep DIR]

**Synthetic** (``--parts synthetic``).
Each seed makes one set like ``tests/spotting/test_spotters.py``'s (6 people, one 16 s video each at
25 fps, 128 px, with blinks and head drift; 18 micro- and 12 macro-expressions), and both spotters
(training-free ``motion``; ``learned``, trained leave-one-subject-out with seed 3 as in the test) are
scored with MEGC's measure (IoU >= 0.5).  Printed: each set's overall F1 per spotter, then the F1
pooled over the sets (TP, FP and FN summed), overall, micro and macro.

The default seeds are the *untouched* ones: the spotters' thresholds and margins were chosen while
looking at seeds 3, 4 and 5, so figures pooled over those would flatter them.  Seed 7 was first
used as a held-out check; 11, 12 and 13 were never used before this benchmark.

**Real footage** (``--parts real``; needs ``../shared/data/videos``).  The calm clips (people talking calmly
to a camera, no expression elicited: :data:`CALM`) are spotted as they are (condition ``speaking``), with the
whole image swaying (``head moving``) and with the light dimmed to half (``lighting change``), both derived
by :mod:`mextk.synth.footage` from the same real frames.  Every event there is a false alarm: printed per clip
and pooled per condition, as events per minute with a 95% exact Poisson interval
(:mod:`mextk.spotting.false_alarms`).  The expressive clips (:data:`EXPRESSIVE`: posed strong expressions)
must each get at least one event, so that silence does not pass.  Then a calibration: the training-free
spotter run at a low threshold lists every candidate on the calm clips, and the threshold for at most one
micro-expression a minute is set leaving one clip out (each clip judged by the threshold that the others
set), and also on all calm clips together, to count what the expressive clips keep at that threshold.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from results_json import save  # noqa: E402

#: Seeds whose sets were looked at while the spotters were tuned: never reported as a result.
TUNING_SEEDS = (3, 4, 5)
#: Real footage (see ../shared/data/README.md): calm clips, where every event is a false alarm.
CALM = ("webcam_calm_d13", "speech_calm_1", "speech_calm_2", "speech_calm_3", "speech_frontal_1")
#: Real clips of posed, strong expressions: each must get at least one event.
EXPRESSIVE = ("talking_head_d0", "talking_head_d3", "talking_head_d6", "talking_head_d9", "child_expressive_d11")
SHARED_VIDEOS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "videos"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--parts", default="synthetic,real", help="synthetic, real, or both (comma-separated)")
    ap.add_argument("--seeds", default="7,11,12,13")
    ap.add_argument("--keep", type=Path, default=None)
    args = ap.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="mextk-spotting-"))
    parts = {p.strip() for p in args.parts.split(",") if p.strip()}
    tables: list[dict] = []
    notes = []
    if "synthetic" in parts:
        tables += synthetic(args.seeds, work)
        notes.append("Synthetic long videos: 6 people x 16 s at 25 fps, 128 px, with blinks and head drift, per seed.")
    if "real" in parts:
        if SHARED_VIDEOS.is_dir():
            tables += real_footage(work / "real")
            notes.append("Real footage: ../shared/data/videos; head moving and lighting change derived from the calm "
                         "clips by mextk.synth.footage.")  # fmt: skip
        else:
            print(f"real footage skipped: {SHARED_VIDEOS} not found")
    print(f"wrote {save('spotting', tables, notes=' '.join(notes))}")


def synthetic(seed_text: str, work: Path) -> list[dict]:
    """The synthetic part (see the module docstring); returns its tables."""
    import pandas as pd

    from mextk.spotting.long_manifest import load_long_manifest
    from mextk.spotting.run import spot_manifest
    from mextk.spotting.scoring import spotting_scores
    from mextk.synth.long import synthesize_long_videos

    seeds = [int(s) for s in seed_text.split(",")]
    tuned = sorted(set(seeds) & set(TUNING_SEEDS))
    if tuned:
        print(f"note: seeds {tuned} tuned the spotters; their figures are not held-out results")
    spotted: dict[str, list[pd.DataFrame]] = {"motion": [], "learned": []}
    truths: list[pd.DataFrame] = []
    per_set: list[list] = []
    for seed in seeds:
        folder = work / f"seed_{seed}"
        synthesize_long_videos(folder, n_subjects=6, seconds=16, fps=25, size=128, seed=seed, progress=False)
        truth = load_long_manifest(folder / "long.csv")
        truth["dataset"] = f"seed{seed}"  # pooled sets stay apart as datasets
        truths.append(truth)
        line = [f"seed {seed:>3}"]
        row = [seed]
        for spotter in spotted:
            t0 = time.perf_counter()
            shutil.rmtree(folder / spotter, ignore_errors=True)  # a fresh measurement (the features stay cached)
            res = spot_manifest(
                folder / "long.csv", folder / spotter, spotter=spotter, features=folder / "features",
                seed=3, progress=False,
            )  # fmt: skip
            intervals = res.intervals.copy()
            intervals["dataset"] = f"seed{seed}"
            spotted[spotter].append(intervals)
            f1 = spotting_scores(intervals, truth)["all"]["overall"]["f1"]
            line.append(f"{spotter} F1 {f1:.3f} ({time.perf_counter() - t0:.0f} s)")
            row += [f"{f1:.3f}", f"{time.perf_counter() - t0:.0f}"]
        print(", ".join(line), flush=True)
        per_set.append(row)
    truth_all = pd.concat(truths, ignore_index=True)
    pooled_rows = []
    for spotter, parts in spotted.items():
        pooled = spotting_scores(pd.concat(parts, ignore_index=True), truth_all)["all"]
        print(
            f"pooled over seeds {','.join(map(str, seeds))} ({len(truth_all[truth_all['onset'].notna()])} intervals): "
            f"{spotter} F1 {pooled['overall']['f1']:.3f} (micro {pooled['micro']['f1']:.3f}, "
            f"macro {pooled['macro']['f1']:.3f})"
        )
        pooled_rows.append([spotter, *(f"{pooled[k]['f1']:.3f}" for k in ("overall", "micro", "macro"))])
    n = len(truth_all[truth_all["onset"].notna()])
    tables = [
        {"title": f"F1 at IoU >= 0.5, pooled over seeds {','.join(map(str, seeds))} ({n} intervals)",
         "columns": ["spotter", "overall F1", "micro F1", "macro F1"], "rows": pooled_rows},
        {"title": "Each set", "columns": ["seed", "motion F1", "motion s", "learned F1", "learned s"], "rows": per_set},
        ends_table(seeds, work, truth_all),
    ]  # fmt: skip
    return tables


def ends_table(seeds: list[int], work: Path, truth_all) -> dict:  # type: ignore[no-untyped-def]
    """Measured ends against the scale's window, on the same candidates: the motion spotter uncalibrated (z 3.5,
    as a calibration holds for one choice of ends), F1 and the mean IoU of the intervals matched at IoU >= 0.5."""
    from dataclasses import replace

    import pandas as pd

    from mextk.spotting.baseline import SpotterSettings
    from mextk.spotting.run import spot_manifest
    from mextk.spotting.scoring import match_table, spotting_scores

    rows = []
    print("\nonsets and offsets (motion spotter, z 3.5): F1, matches, mean IoU of the matches (micro, macro)")
    for ends in ("measured", "window"):
        parts = []
        for seed in seeds:
            folder = work / f"seed_{seed}"
            shutil.rmtree(folder / f"ends_{ends}", ignore_errors=True)
            settings = replace(SpotterSettings(), ends=ends, calibration="")
            res = spot_manifest(folder / "long.csv", folder / f"ends_{ends}", settings=settings,
                                features=folder / "features", progress=False)  # fmt: skip
            parts.append(res.intervals.assign(dataset=f"seed{seed}"))
        spotted = pd.concat(parts, ignore_index=True)
        f1 = spotting_scores(spotted, truth_all)["all"]["overall"]["f1"]
        table = match_table(spotted, truth_all)
        tp = table[(table["outcome"] == "TP") & table["spotted_onset"].notna()]
        mean = {t: tp.loc[tp["type"] == t, "iou"].mean() for t in ("micro", "macro")}
        rows.append([ends, f"{f1:.3f}", len(tp), f"{mean['micro']:.2f}", f"{mean['macro']:.2f}"])
        print("  " + "  ".join(map(str, rows[-1])))
    which = ",".join(map(str, seeds))
    return {"title": f"Onsets and offsets: the motion spotter at z 3.5 (uncalibrated), seeds {which}",
            "columns": ["ends", "overall F1", "matches", "mean IoU of micro matches", "mean IoU of macro matches"],
            "rows": rows}  # fmt: skip


def _real_manifest(folder: Path) -> tuple[Path, dict[str, str]]:
    """The real clips and their derived versions as a long-video manifest (no intervals); conditions by video."""
    import av
    import pandas as pd

    from mextk.io.video import read_frames
    from mextk.io.writer import write_video
    from mextk.synth.footage import light_change, sway

    folder.mkdir(parents=True, exist_ok=True)
    rows, conditions = [], {}

    def add(video_id: str, path: Path, fps: float, n: int, condition: str) -> None:
        rows.append({"dataset": "real", "subject": video_id.split("__")[0], "video_id": video_id, "path": str(path),
                     "fps": fps, "n_frames": n, "onset": "", "offset": "", "type": ""})  # fmt: skip
        conditions[video_id] = condition

    for name in (*CALM, *EXPRESSIVE):
        source = SHARED_VIDEOS / f"{name}.mp4"
        with av.open(str(source)) as container:
            fps = float(container.streams.video[0].average_rate)
        frames = read_frames(source)
        add(name, source, fps, len(frames), "speaking" if name in CALM else "expressive")
        if name in CALM:
            for condition, derive in (("head moving", sway), ("lighting change", light_change)):
                video_id = f"{name}__{condition.split()[0]}"
                path = folder / f"{video_id}.mp4"
                if not path.exists():
                    write_video(path, derive(frames, fps), fps=fps)
                add(video_id, path, fps, len(frames), condition)
    manifest = folder / "long.csv"
    pd.DataFrame(rows).to_csv(manifest, index=False)
    return manifest, conditions


def real_footage(folder: Path) -> list[dict]:
    """The real-footage part (see the module docstring); returns its tables."""
    import pandas as pd

    from mextk.spotting.false_alarms import calibrate_threshold, false_alarm_rates, leave_one_group_out, video_minutes
    from mextk.spotting.run import default_settings, spot_manifest
    from mextk.spotting.settings import with_settings

    manifest, conditions = _real_manifest(folder)
    videos = pd.read_csv(manifest)
    calm = videos[videos["video_id"].map(conditions) != "expressive"]
    for run in ("motion", "candidates"):  # fresh measurements (the features stay cached)
        shutil.rmtree(folder / run, ignore_errors=True)
    spotted = spot_manifest(manifest, folder / "motion", spotter="motion", features=folder / "features",
                            progress=False).intervals  # fmt: skip
    rates = false_alarm_rates(spotted, calm, conditions=conditions)
    print(
        "\nreal footage, motion spotter (default settings, calibrated on these calm clips: not held out): events "
        "per minute, 95% exact interval"
    )
    rows = []
    for r in rates.itertuples():
        line = [r.name, f"{60 * r.minutes:.1f}", r.micro, f"{r.micro_per_min:.1f} ({r.micro_lo:.1f}-{r.micro_hi:.1f})",
                r.macro, f"{r.macro_per_min:.1f} ({r.macro_lo:.1f}-{r.macro_hi:.1f})"]  # fmt: skip
        rows.append(line)
        print("  " + "  ".join(map(str, line)))
    tables = [{"title": "Real footage without expressions: the motion spotter's events per minute (95% exact interval)",
               "columns": ["clip or condition", "seconds", "micro", "micro per minute", "macro", "macro per minute"],
               "rows": rows}]  # fmt: skip
    events = spotted[spotted["onset"].notna()]
    expressive = []
    for name in EXPRESSIVE:
        mine = events[events["video_id"] == name]
        expressive.append([name, int((mine["type"] == "micro").sum()), int((mine["type"] == "macro").sum())])
    print("  expressive clips (micro, macro): " + ", ".join(f"{n} {a}/{b}" for n, a, b in expressive))

    # the honest rate of the calibration: candidates at a low threshold (the packaged calibration's floor, no
    # calibration), each calm clip and its swaying and dimmed versions judged by the threshold the other clips set
    low = with_settings(default_settings("motion"), {"threshold": 1.0, "calibration": ""})
    candidates = spot_manifest(manifest, folder / "candidates", spotter="motion", settings=low,
                               features=folder / "features", progress=False).intervals  # fmt: skip
    candidates = candidates[candidates["onset"].notna()]
    source = {str(v): str(v).split("__")[0] for v in calm["video_id"]}
    loo = leave_one_group_out(candidates, calm, source, per_minute=1.0)
    rate, lo, hi = loo.attrs["rate"]
    print(f"  calibrated to 1 micro a minute, leaving one calm clip (with its derived versions) out: {rate:.1f} a "
          f"minute ({lo:.1f}-{hi:.1f}); thresholds " + ", ".join(f"{t:.1f}" for t in loo["threshold"]))  # fmt: skip
    micro = candidates[candidates["type"] == "micro"]
    t_all = calibrate_threshold(micro[micro["video_id"].isin(list(source))]["score"], loo["minutes"].sum(), 1.0)
    for row in expressive:
        mine = micro[micro["video_id"] == row[0]]
        row.append(int((mine["score"] >= t_all).sum()))
    for condition in ("head moving", "lighting change"):
        ids = [v for v, c in conditions.items() if c == condition]
        mins = sum(float(m) for (_, v), m in video_minutes(calm[calm["video_id"].isin(ids)]).items())
        n = int((micro[micro["video_id"].isin(ids)]["score"] >= t_all).sum())
        print(f"  {condition} at the calm clips' threshold {t_all:.1f}: {n / mins:.1f} micro a minute")
    tables.append({"title": "Expressive real clips: events (at least one each, so that silence does not pass)",
                   "columns": ["clip", "micro", "macro", f"micro at the calibrated threshold (z {t_all:.1f})"],
                   "rows": expressive})  # fmt: skip
    loo_rows = [[r.video_id, f"{60 * r.minutes:.1f}", f"{r.threshold:.2f}", r.events] for r in loo.itertuples()]
    loo_rows.append(
        ["all (pooled)", f"{60 * loo['minutes'].sum():.1f}", "", f"{rate:.1f} a minute ({lo:.1f}-{hi:.1f})"]
    )
    title = ("Threshold for 1 micro-expression a minute, each calm clip (with its swaying and dimmed versions) judged "
             "by the others' threshold")  # fmt: skip
    columns = ["clip", "seconds", "threshold (robust z)", "micro events"]
    tables.append({"title": title, "columns": columns, "rows": loo_rows})
    tables.append(rendered_recall(folder, videos, conditions))
    return tables


#: Spotter settings compared on expressions rendered into real faces (the default first).
RENDERED_VARIANTS = {
    "default (1 calm false alarm a minute)": {},
    "false_alarms_per_minute=5": {"false_alarms_per_minute": 5.0},
    "uncalibrated (z 3.5)": {"calibration": ""},
    "before issue 29 (nose shift, no speech discount, window ends, z 3.5)": {
        "calibration": "",
        "speech_discount": 0.0,
        "motion.rigid": "nose",
        "ends": "window",
    },
}


def rendered_recall(folder: Path, videos, conditions: dict[str, str]) -> dict:  # type: ignore[no-untyped-def]
    """Expressions rendered into the calm clips, their derived versions and the child (mextk synth --render-into):
    recall, precision and F1 at IoU >= 0.5 per spotter setting."""
    from mextk.spotting.long_manifest import load_long_manifest
    from mextk.spotting.run import default_settings, spot_manifest
    from mextk.spotting.scoring import spotting_scores
    from mextk.spotting.settings import with_settings
    from mextk.synth.render_into import RenderSettings, render_into_videos

    chosen = [row.path for row in videos.itertuples() if conditions[row.video_id] != "expressive"]
    chosen.append(str(SHARED_VIDEOS / "child_expressive_d11.mp4"))
    out = folder / "rendered"
    if not (out / "long.csv").exists():
        render_into_videos(chosen, out, RenderSettings(seed=11), progress=False)
    truth = load_long_manifest(out / "long.csv")
    rows = []
    print("\nexpressions rendered into real faces (seed 11), IoU >= 0.5:")
    for i, (name, changes) in enumerate(RENDERED_VARIANTS.items()):
        settings = with_settings(default_settings("motion"), changes)
        shutil.rmtree(out / f"spot_{i}", ignore_errors=True)  # a fresh measurement (the features stay cached)
        spotted = spot_manifest(out / "long.csv", out / f"spot_{i}", spotter="motion", settings=settings,
                                features=out / "features", progress=False).intervals  # fmt: skip
        m = spotting_scores(spotted, truth)["all"]
        rows.append([name, f"{m['micro']['recall']:.2f}", f"{m['micro']['precision']:.2f}", f"{m['micro']['f1']:.3f}",
                     f"{m['macro']['recall']:.2f}", f"{m['overall']['f1']:.3f}"])  # fmt: skip
        print("  " + "  ".join(rows[-1]))
    n = truth[truth["onset"].notna()]
    title = (f"Expressions rendered into real faces ({len(n)}: {int((n['type'] == 'micro').sum())} micro, on the calm "
             "clips, their swaying and dimmed versions and the child), IoU >= 0.5")  # fmt: skip
    columns = ["settings", "micro recall", "micro precision", "micro F1", "macro recall", "overall F1"]
    return {"title": title, "columns": columns, "rows": rows}


if __name__ == "__main__":
    main()
