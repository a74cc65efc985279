"""Commands on data: ``demo``, ``synth``, ``validate``, ``stats``, ``score``, ``tasks`` (and ``cmed-manifest``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from mextk.cli.base import EXIT_PARTIAL, fail, out_folder
from mextk.cli.options import DESCRIPTION_TASK, RECOGNITION_TASK, TASK_HELP
from mextk.cli.tables import metrics_table


def demo(
    out: Annotated[Path, typer.Option(help="Report folder.")] = Path("mextk-demo"),
    subjects: Annotated[int, typer.Option(help="Synthetic subjects.")] = 6,
    clips_per_subject: Annotated[int, typer.Option(help="Clips per subject.")] = 14,
    size: Annotated[int, typer.Option(help="Clip frame size in pixels.")] = 128,
    task: Annotated[
        str, typer.Option(help="Recognition taxonomy (spotting runs too). " + TASK_HELP)
    ] = RECOGNITION_TASK,
    dgcnn_epochs: Annotated[
        int,
        typer.Option(
            help="DGCNN training epochs.  The registry's 50 (mextk models) suit CMED-sized data, about 340 "
            "batches an epoch; the demo's ~70 training clips make 3 batches an epoch, so it trains 150 epochs "
            "(450 steps)."
        ),
    ] = 150,
    seed: Annotated[int, typer.Option(help="Master seed.")] = 0,
    jobs: Annotated[
        int,
        typer.Option(
            help="Worker processes (synthesis, features, folds).  2 by default: the demo is sized for a 2-core "
            "machine (the other commands default to 1)."
        ),
    ] = 2,
) -> None:
    """Run the whole path on embedded synthetic data: synthesise, tabulate, extract features, and evaluate
    LBP-TOP + SVM and the DGCNN under LOSO for recognition and spotting."""
    from mextk.demo import DemoConfig, run_demo

    run_demo(
        out_folder(out),
        DemoConfig(
            n_subjects=subjects,
            clips_per_subject=clips_per_subject,
            size=size,
            task=task,
            dgcnn_epochs=dgcnn_epochs,
            seed=seed,
            jobs=jobs,
        ),
    )


def synth(
    out: Annotated[Path, typer.Option(help="Output folder (clips/, manifest.csv, calls/).")],
    subjects: Annotated[int, typer.Option(help="Number of subjects.")] = 8,
    clips_per_subject: Annotated[int, typer.Option(help="Clips per subject (0: no clips).")] = 14,
    size: Annotated[int, typer.Option(help="Frame size in pixels (even; 112-300 is typical).")] = 160,
    fps: Annotated[float, typer.Option(help="Frame rate.")] = 25.0,
    classes: Annotated[str, typer.Option(help="Comma-separated classes to generate.")] = (
        "anger,disgust,fear,sadness,happiness,surprise,no_me"
    ),
    proportions: Annotated[str, typer.Option(help="'balanced', 'cmed' or 'class=weight,...'.")] = "balanced",
    amplitude: Annotated[str, typer.Option(help="Apex displacement range in pixels, 'lo,hi'.")] = "2.0,4.0",
    crf: Annotated[int, typer.Option(help="H.264 quality (higher: more compression).")] = 23,
    seed: Annotated[int, typer.Option(help="Master seed.")] = 0,
    jobs: Annotated[int, typer.Option(help="Worker processes.")] = 1,
    calls: Annotated[int, typer.Option(help="Also render this many group-call recordings.")] = 0,
    call_duration: Annotated[float, typer.Option(help="Call length in seconds.")] = 30.0,
    call_event_gap: Annotated[
        float, typer.Option(help="Shortest time between joins, leaves and the screen share, seconds.")
    ] = 4.0,
    call_participants: Annotated[int, typer.Option(help="People per call.")] = 4,
    call_size: Annotated[str, typer.Option(help="Call frame size, WIDTHxHEIGHT.")] = "960x540",
    long_videos: Annotated[
        int,
        typer.Option(help="Also render this many long videos with micro- and macro-expressions (OUT/long/long.csv)."),
    ] = 0,
    long_seconds: Annotated[float, typer.Option(help="Length of each long video, seconds.")] = 20.0,
    render_into: Annotated[
        Optional[list[Path]],
        typer.Option(
            help="Render micro- and macro-expressions into this real video instead (repeatable): OUT/<video>.mp4 "
            "and OUT/long.csv, the intervals for mextk spot-eval (--seed draws them).",
            metavar="VIDEO",
        ),
    ] = None,
) -> None:
    """Generate synthetic micro-expression clips (+ manifest), group-call recordings (+ ground truth) and long
    videos with known micro- and macro-expression intervals (+ a long-video manifest, for mextk spot)."""
    from mextk.synth.call import CallConfig, make_call_recording
    from mextk.synth.clips import SynthConfig, synthesize_dataset

    out_folder(out)
    if render_into:
        from mextk.synth.render_into import RenderSettings, render_into_videos

        missing = [str(v) for v in render_into if not v.exists()]
        if missing:
            fail(f"{', '.join(missing)}: video not found")
        manifest = render_into_videos(render_into, out, RenderSettings(seed=seed))
        spotted = manifest[manifest["onset"].notna()]
        typer.echo(f"{len(spotted)} expressions ({int((spotted['type'] == 'micro').sum())} micro) rendered into "
                   f"{len(render_into)} video(s) -> {out / 'long.csv'}")  # fmt: skip
        return
    if "=" in proportions:
        try:
            props: str | dict[str, float] = {
                k.strip(): float(v) for k, v in (item.split("=", 1) for item in proportions.split(","))
            }
        except ValueError:
            fail(f"--proportions {proportions!r}: expected 'balanced', 'cmed' or 'class=weight,...'")
    else:
        props = proportions
    try:
        lo, hi = (float(v) for v in amplitude.split(","))
    except ValueError:
        fail(f"--amplitude {amplitude!r}: expected two numbers 'lo,hi'")
    try:
        width, height = (int(v) for v in call_size.lower().split("x"))
    except ValueError:
        fail(f"--call-size {call_size!r}: expected WIDTHxHEIGHT, e.g. 960x540")
    if clips_per_subject > 0:
        cfg = SynthConfig(
            n_subjects=subjects,
            clips_per_subject=clips_per_subject,
            classes=tuple(c.strip() for c in classes.split(",") if c.strip()),
            proportions=props,
            size=size,
            fps=fps,
            amplitude_px=(lo, hi),
            crf=crf,
            seed=seed,
        )
        df = synthesize_dataset(out, cfg, jobs=jobs)
        typer.echo(f"wrote {len(df)} clips and {out / 'manifest.csv'}")
    for k in range(calls):
        path = out / "calls" / f"call_{k + 1:02d}.mp4"
        if path.exists() and path.with_suffix(".json").exists():
            typer.echo(f"{path} exists (cached), skipped")
            continue
        make_call_recording(
            path,
            CallConfig(
                n_participants=call_participants,
                duration_s=call_duration,
                width=width,
                height=height,
                fps=fps,
                # one person joins late (if three or more), one leaves early; the rest stay throughout
                n_late=1 if call_participants >= 3 else 0,
                n_early_leave=1,
                min_event_gap_s=call_event_gap,
                seed=seed * 1000 + k,
            ),
        )
        typer.echo(f"wrote {path} and {path.with_suffix('.json')}")
    if long_videos > 0:
        from mextk.synth.long import synthesize_long_videos

        long_df = synthesize_long_videos(
            out / "long",
            n_subjects=long_videos,
            seconds=long_seconds,
            fps=fps,
            size=size,
            crf=crf,
            seed=seed,
            jobs=jobs,
        )
        typer.echo(f"wrote {long_videos} long videos ({int(long_df['onset'].notna().sum())} intervals) and "
                   f"{out / 'long' / 'long.csv'}")  # fmt: skip


def validate(
    manifest: Annotated[Path, typer.Argument(help="Manifest (.csv or .parquet).")],
    task: Annotated[Optional[str], typer.Option(help=TASK_HELP)] = None,
    excluded: Annotated[
        str, typer.Option(help="Labels the task excludes: 'drop' (fine) or 'error'.", metavar="[drop|error]")
    ] = "drop",
    check_files: Annotated[bool, typer.Option(help="Check that every clip exists.")] = True,
) -> None:
    """Check a manifest: one line per problem (exit 1 if any); say whether it is labelled."""
    from mextk.io.manifest import label_summary, read_manifest_table, validate_manifest

    df = read_manifest_table(manifest)
    problems = validate_manifest(df, taxonomy=task, excluded=excluded, check_files=check_files)
    for p in problems:
        typer.echo(str(p))
    status = label_summary(df) if "emotion" in df.columns else "no emotion column"
    if problems:
        typer.echo(f"{manifest}: {len(problems)} problem(s) in {len(df)} rows; {status}", err=True)
        raise typer.Exit(EXIT_PARTIAL)
    typer.echo(f"{manifest}: {len(df)} rows, no problems; {status}")


def stats(
    manifest: Annotated[Path, typer.Argument(help="Manifest (.csv or .parquet).")],
    task: Annotated[
        str,
        typer.Option(
            help=TASK_HELP + " Default cmed7: a dataset's tables count every label, No-ME included (CMED's Table "
            "II), while evaluate and train default to cmed6, the six emotions CMED's baselines recognise."
        ),
    ] = DESCRIPTION_TASK,
    out: Annotated[Optional[Path], typer.Option(help="Write the tables here as CSV and Markdown.")] = None,
) -> None:
    """Print the clips' summary, CMED-style dataset tables (II-V) and the imbalance ratio, from the manifest alone.

    An unlabelled manifest (fresh from prepare) gets the summary (clips, subjects, durations) and a note that
    its labels are missing.
    """
    from rich.console import Console

    from mextk.datasets.stats import (
        clip_summary,
        compute_tables,
        excluded_sentence,
        imbalance_sentence,
        unlabelled_sentence,
    )
    from mextk.demo import print_table
    from mextk.io.manifest import load_manifest, unlabelled_rows
    from mextk.io.tables import write_table

    if out is not None:
        out_folder(out)
    console = Console()
    df = load_manifest(manifest, check_files=False)
    summary = clip_summary(df)
    print_table(console, summary, f"{manifest}: clips")
    written = list(write_table(summary, out, "clips", title="Clips")) if out is not None else []
    n_unlabelled = len(unlabelled_rows(df))
    if n_unlabelled == len(df):
        console.print(f"Labels are missing: all {len(df)} clips are unlabelled, so there are no class tables.")
    else:
        tables = compute_tables(df, task=task)
        for name, table in tables.tables().items():
            print_table(console, table, tables.TITLES[name])
        console.print(imbalance_sentence(tables.imbalance))
        if tables.excluded:
            console.print(excluded_sentence(tables.excluded, tables.task))
        if tables.unlabelled:
            console.print(unlabelled_sentence(tables.unlabelled))
        if out is not None:
            written += tables.write(out)
    if out is not None:
        console.print(f"wrote {len(written)} files to {out}")


def score(
    predictions: Annotated[Path, typer.Argument(help="CSV with subject, y_true, y_pred (and optionally dataset).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Score predictions pooled over folds: ACC, UF1, UAR, overall and per dataset."""
    from mextk.evaluate.run_results import score_file

    result = score_file(predictions)
    if as_json:
        payload = {k: result[k] for k in ("acc", "uf1", "uar", "n")}
        if "per_dataset" in result:
            payload["per_dataset"] = result["per_dataset"]
        payload["per_class"] = result["per_class"]
        typer.echo(json.dumps(payload, indent=2))
        return
    from rich.console import Console

    Console().print(metrics_table(result, f"{predictions.name}: {result['n']} predictions"))


def cmed_manifest(
    root: Annotated[Path, typer.Argument(help="CMED folder (video_emotion_metadata.csv, FinalFullVideos_subjects/).")],
    out: Annotated[Path, typer.Option(help="Manifest to write (.csv or .parquet).")],
) -> None:
    """Old name of 'mextk datasets import cmed ROOT --out M' (kept so that existing scripts run)."""
    from mextk.cli.datasets import import_

    import_("cmed", root, out)


def tasks() -> None:
    """List the label taxonomies and their classes."""
    from mextk.labels import TAXONOMIES

    for name, tax in TAXONOMIES.items():
        typer.echo(f"{name:9s} {', '.join(tax.classes):70s} {tax.description}")
