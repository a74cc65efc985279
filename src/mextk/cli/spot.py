"""``mextk spot`` and ``mextk spot-eval``: interval spotting in long videos (MEGC's task), thin over
:mod:`mextk.spotting.run` and :mod:`mextk.spotting.scoring`.

(CMED's clip-level ME vs No-ME task is ``mextk evaluate --task spotting``; see :mod:`mextk.spotting`.)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from mextk.cli.base import EXIT_PARTIAL, fail, out_folder

#: The calibration options of ``spot`` and ``analyze`` (the values' defaults are the spotter settings').
FalseAlarmsOption = Annotated[
    Optional[float],
    typer.Option(
        help="Calm-face false alarms a minute that the calibrated thresholds allow (default 1; micro-expressions "
        "unless --set calibrated_types=micro,macro; lower: quieter, fewer expressions found)."
    ),
]
CalibrationOption = Annotated[
    Optional[str],
    typer.Option(
        help="'packaged' (mextk's calm reference footage, the default), a file from 'mextk spot-calibrate', "
        "or '' for the z threshold alone."
    ),
]


def spot(
    manifest: Annotated[Path, typer.Argument(help="Long-video manifest (one row per interval or video).")],
    out: Annotated[Path, typer.Option(help="Output folder (intervals.csv, spotter.json; resumable).")] = Path("spot"),
    spotter: Annotated[
        str, typer.Option(help="motion (training-free) or learned (trained leave-one-subject-out).")
    ] = "motion",
    set_: Annotated[
        Optional[list[str]],
        typer.Option("--set", metavar="KEY=VALUE", help="Change a spotter setting (repeatable; motion.crop=112)."),
    ] = None,
    features: Annotated[Optional[Path], typer.Option(help="Feature cache folder (default: OUT/features).")] = None,
    jobs: Annotated[int, typer.Option(help="Videos processed in parallel.")] = 1,
    seed: Annotated[int, typer.Option(help="Seed (the learned spotter's training).")] = 0,
    false_alarms_per_minute: FalseAlarmsOption = None,
    calibration: CalibrationOption = None,
) -> None:
    """Find the intervals of micro- and macro-expressions in long videos (MEGC's interval spotting).

    Writes OUT/intervals.csv (a long-video manifest with a score per interval; score it with 'mextk spot-eval').
    A video that cannot be read is listed in OUT/failed.csv and the rest go on.
    """
    from mextk.spotting.run import SPOTTERS, spot_manifest

    if spotter not in SPOTTERS:
        fail(f"unknown spotter {spotter!r}; choose one of {', '.join(SPOTTERS)}")
    settings = spotter_settings(spotter, set_, false_alarms_per_minute, calibration)
    result = spot_manifest(
        manifest, out_folder(out), spotter=spotter, settings=settings, features=features, jobs=jobs, seed=seed
    )
    df = result.intervals
    n = int(df["onset"].notna().sum())
    videos = len(df.drop_duplicates(["dataset", "video_id"]))
    for video, reason in result.failed.items():
        typer.echo(f"failed: {video}: {reason}", err=True)
    typer.echo(f"{n} intervals in {videos} videos ({len(result.failed)} failed) -> {out / 'intervals.csv'}")
    if result.failed:
        raise typer.Exit(EXIT_PARTIAL)


def spotter_settings(
    spotter: str, set_: list[str] | None, false_alarms_per_minute: float | None, calibration: str | None
) -> Any:
    """The spotter's settings: its defaults, ``--set`` changes, then the calibration options where given."""
    from mextk.features.batch import parse_params
    from mextk.spotting.run import default_settings
    from mextk.spotting.settings import with_settings

    changes = parse_params(set_ or [])
    if spotter != "motion" and (false_alarms_per_minute is not None or calibration is not None):
        fail(f"--false-alarms-per-minute and --calibration calibrate the 'motion' spotter, not {spotter!r}")
    if false_alarms_per_minute is not None:
        if false_alarms_per_minute < 0:
            fail(f"--false-alarms-per-minute must be at least 0, got {false_alarms_per_minute}")
        changes["false_alarms_per_minute"] = false_alarms_per_minute
    if calibration is not None:
        changes["calibration"] = calibration
    return with_settings(default_settings(spotter), changes)


def spot_calibrate(
    manifest: Annotated[Path, typer.Argument(help="Long-video manifest of calm footage (no expression in it).")],
    out: Annotated[Path, typer.Option(help="Calibration file to write (JSON).")] = Path("calibration.json"),
    set_: Annotated[
        Optional[list[str]],
        typer.Option("--set", metavar="KEY=VALUE", help="Change a spotter setting (repeatable; motion.crop=112)."),
    ] = None,
    floor: Annotated[
        float, typer.Option(help="The z threshold candidates are listed at (the lowest calibrated).")
    ] = 1.0,
    features: Annotated[
        Optional[Path], typer.Option(help="Feature cache folder (default: OUT.candidates/features).")
    ] = None,
    jobs: Annotated[int, typer.Option(help="Videos processed in parallel.")] = 1,
) -> None:
    """Calibrate the training-free spotter on calm footage: every event there is a false alarm.

    Writes OUT, for 'mextk spot --calibration OUT' and 'mextk analyze --calibration OUT' with the same --set
    changes, and OUT.candidates/ (the candidates it was made from).
    """
    from mextk.spotting.run import calibrate_manifest

    settings = spotter_settings("motion", set_, None, None)
    cal = calibrate_manifest(manifest, out, settings=settings, floor=floor, features=features, jobs=jobs)
    counts = ", ".join(f"{len(v)} {k}" for k, v in cal.scores.items())
    typer.echo(f"{cal.minutes:.2f} minutes of calm footage, candidates at z >= {floor:g}: {counts} -> {out}")
    for per_minute in (0.5, 1.0, 2.0, 5.0):
        t = ", ".join(f"{k} {cal.threshold(per_minute, k):.2f}" for k in cal.scores)
        honest = cal.held_out.get(f"{per_minute:g}")
        held = f"; one person left out at a time: {honest[0]:.1f} micro a minute ({honest[1]:.1f}-{honest[2]:.1f})"
        typer.echo(f"  thresholds for {per_minute:g} a minute: {t}{held if honest else ''}")


def _rows(block: dict[str, Any], name: str) -> list[list[str]]:
    rows = []
    for scope in ("micro", "macro", "overall"):
        m = block[scope]
        row = [name, scope, str(m["tp"]), str(m["fp"]), str(m["fn"])]
        row += [f"{m[k]:.4f}" for k in ("precision", "recall", "f1")]
        if "strs" in m:
            row += [f"{m['analysis']['f1']:.4f}", f"{m['strs']:.4f}"]
        rows.append(row)
    return rows


def spot_eval(
    spotted: Annotated[Path, typer.Argument(help="Spotted intervals (mextk spot's intervals.csv).")],
    truth: Annotated[Path, typer.Argument(help="Ground truth (a long-video manifest).")],
    iou: Annotated[float, typer.Option(help="IoU a true positive needs.")] = 0.5,
    task: Annotated[
        Optional[str],
        typer.Option(help="Taxonomy both sides' classes are mapped to for the spot-then-recognise score."),
    ] = None,
    out: Annotated[Optional[Path], typer.Option(help="Folder for spot_eval.json and matches.csv.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the scores as JSON.")] = False,
) -> None:
    """Score spotted intervals the way MEGC does: TP at IoU >= 0.5, F1 over all videos, micro / macro / overall."""
    from mextk.spotting.long_manifest import load_long_manifest
    from mextk.spotting.scoring import spotting_scores

    if not 0 < iou <= 1:
        fail(f"--iou must be in (0, 1], got {iou}")
    res = spotting_scores(load_long_manifest(spotted), load_long_manifest(truth), iou=iou, task=task)
    matches = res.pop("matches")
    if out is not None:
        from mextk.io.atomic import atomic_path, write_json_atomic

        out_folder(out).mkdir(parents=True, exist_ok=True)
        write_json_atomic(out / "spot_eval.json", res)
        with atomic_path(out / "matches.csv") as tmp:
            matches.to_csv(tmp, index=False)
    if as_json:
        typer.echo(json.dumps(res, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    strs = any("strs" in res["all"][s] for s in ("overall",))
    table = Table(title=f"interval spotting, IoU >= {iou} ({res['videos']} videos)", title_justify="left")
    for col in [
        "set",
        "type",
        "TP",
        "FP",
        "FN",
        "precision",
        "recall",
        "F1",
        *(["analysis F1", "STRS"] if strs else []),
    ]:
        table.add_column(col, justify="left" if col in ("set", "type") else "right")
    for name, block in res["per_dataset"].items():
        for row in _rows(block, name):
            table.add_row(*row)
    if len(res["per_dataset"]) > 1:
        for row in _rows(res["all"], "all"):
            table.add_row(*row)
    Console().print(table)
    if res["videos_without_spotting"]:
        shown = ", ".join(res["videos_without_spotting"][:5])
        more = len(res["videos_without_spotting"]) - 5
        typer.echo(
            f"note: {len(res['videos_without_spotting'])} ground-truth video(s) absent from {spotted} "
            f"(their intervals count as missed): {shown}{f' and {more} more' if more > 0 else ''}",
            err=True,
        )


def analyze(
    recordings: Annotated[list[Path], typer.Argument(help="Recordings (group calls or single-person videos).")],
    model: Annotated[Path, typer.Option(help="Model folder (mextk train's output or a fold of a run).")],
    out: Annotated[Path, typer.Option(help="Output folder (one sub-folder per recording; resumable).")] = Path(
        "analysis"
    ),
    spotter: Annotated[
        str, typer.Option(help="motion (training-free, calibrated) or learned (with --spotter-model).")
    ] = "motion",
    spotter_model: Annotated[
        Optional[Path],
        typer.Option(
            help="A learned spotter: the model folder that 'mextk spot --spotter learned --out DIR' "
            "writes to DIR/model."
        ),
    ] = None,
    set_: Annotated[
        Optional[list[str]],
        typer.Option("--set", metavar="KEY=VALUE", help="Change a spotter setting (repeatable; threshold=4)."),
    ] = None,
    include_excluded: Annotated[
        bool, typer.Option("--include-excluded", help="Also analyse the clips that prepare's review flags.")
    ] = False,
    jobs: Annotated[
        int,
        typer.Option(help="Worker processes; the clips of a recording are spread over them, each decoding it once."),
    ] = 1,
    false_alarms_per_minute: FalseAlarmsOption = None,
    calibration: CalibrationOption = None,
) -> None:
    """Analyse new recordings: prepare, spot intervals, recognise them, and write a per-person timeline, an HTML
    report and proposals for mextk annotate."""
    if jobs > 1:  # the workers' fork server loads its imports and models on the idle core while this one imports
        from mextk.workers import start_server

        start_server()
    from mextk.analyze.chain import analyze_recordings

    if spotter not in ("motion", "learned"):
        fail(f"unknown spotter {spotter!r}; choose motion or learned")
    if (spotter == "learned") != (spotter_model is not None):
        fail("--spotter learned needs --spotter-model DIR (a learned spotter trained on labelled long videos by "
             "'mextk spot --spotter learned'), and --spotter-model needs --spotter learned")  # fmt: skip
    if spotter == "learned" and (set_ or false_alarms_per_minute is not None or calibration is not None):
        fail("--set, --false-alarms-per-minute and --calibration change the 'motion' spotter, not a learned one")
    settings = spotter_settings("motion", set_, false_alarms_per_minute, calibration)
    batch = analyze_recordings(
        recordings, model, out_folder(out), spotter=settings, spotter_model=spotter_model,
        include_excluded=include_excluded, jobs=jobs,
    )  # fmt: skip
    for rec, r in batch.results.items():
        t = r.timeline
        note = " (done before)" if r.cached else ""
        people = t["person"].nunique() if len(t) else 0
        typer.echo(f"{rec}: {len(t)} event(s) of {people} person(s){note} -> {r.folder / 'report.html'}")
        for clip, reason in r.failed_clips.items():  # the others' events are kept
            typer.echo(f"{rec}: clip {clip.split('/', 1)[-1]} not analysed: {reason}", err=True)
    for rec, reason in batch.failed.items():
        typer.echo(f"failed: {rec}: {reason}", err=True)
    if batch.failed:
        raise typer.Exit(EXIT_PARTIAL if batch.results else 2)
