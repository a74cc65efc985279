"""The ``mextk`` command line.  Thin: each command parses options and calls one public function.

Heavy libraries (numpy, pandas, OpenCV, PyAV, scikit-learn) are imported
inside the commands, so ``mextk --help`` starts instantly.  Errors, exit codes
and the help's rendering are shared by every command (:mod:`mextk.commandline`):
0 all done, 1 some items failed and the rest finished, 2 bad usage or input,
3 an internal error.
"""

from __future__ import annotations

import inspect
import json
import sys
import typing
from pathlib import Path
from typing import Annotated, Optional

import click
import typer

from mextk.commandline import EXIT_PARTIAL, MextkGroup, fail, version_string
from mextk.commandline import out_folder as _out_folder
from mextk.features.kinds import ANALYSES, KIND_DEFAULTS, describe_kinds
from mextk.prepare.config import CMED_PRESET, PrepareConfig, setting_help

app = typer.Typer(
    name="mextk",
    cls=MextkGroup,
    help="Facial micro-expression toolkit: prepare group-call recordings, extract features, train and evaluate "
    "models leak-free.  Exit codes: 0 all done, 1 some items failed (the rest finished), 2 bad usage or input, "
    "3 internal error.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

_TASK_HELP = "Taxonomy: cmed6, cmed7, megc3, spotting, dfme7, casme2, samm."
#: What a model learns by default (evaluate, train, the demo): CMED's six emotions, as its baselines (Table VI).
RECOGNITION_TASK = "cmed6"
#: What a dataset's tables count by default (stats): every CMED label, No-ME included, as CMED's Table II does.
DESCRIPTION_TASK = "cmed7"


def _version(value: bool) -> None:
    if value:
        typer.echo(version_string())
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Facial micro-expression toolkit."""


def _preset_help(field: str, text: str) -> str:
    """An option's help with its default under both presets (from :mod:`mextk.prepare.config`)."""

    def show(value: object) -> str:
        if value is None:
            return "the input's"
        if isinstance(value, bool):
            return "on" if value else "off"
        return str(value)

    default, cmed = getattr(PrepareConfig(), field), getattr(CMED_PRESET, field)
    if default == cmed:
        return f"{text} (default: {show(default)}, under both presets)"
    return f"{text} (default: {show(default)}; with --preset cmed: {show(cmed)})"


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="Report folder.")] = Path("mextk-demo"),
    subjects: Annotated[int, typer.Option(help="Synthetic subjects.")] = 6,
    clips_per_subject: Annotated[int, typer.Option(help="Clips per subject.")] = 14,
    size: Annotated[int, typer.Option(help="Clip frame size in pixels.")] = 128,
    task: Annotated[
        str, typer.Option(help="Recognition taxonomy (spotting runs too). " + _TASK_HELP)
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
    jobs: Annotated[int, typer.Option(help="Worker processes (synthesis, features, folds).")] = 2,
) -> None:
    """Run the whole path on embedded synthetic data: synthesise, tabulate, extract features, and evaluate
    LBP-TOP + SVM and the DGCNN under LOSO for recognition and spotting."""
    from mextk.demo import DemoConfig, run_demo

    run_demo(
        _out_folder(out),
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


@app.command()
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
) -> None:
    """Generate synthetic micro-expression clips (+ manifest), group-call recordings (+ ground truth) and long
    videos with known micro- and macro-expression intervals (+ a long-video manifest, for mextk spot)."""
    from mextk.synth.call import CallConfig, make_call_recording
    from mextk.synth.clips import SynthConfig, synthesize_dataset

    _out_folder(out)
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


@app.command()
def validate(
    manifest: Annotated[Path, typer.Argument(help="Manifest (.csv or .parquet).")],
    task: Annotated[Optional[str], typer.Option(help=_TASK_HELP)] = None,
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


@app.command()
def stats(
    manifest: Annotated[Path, typer.Argument(help="Manifest (.csv or .parquet).")],
    task: Annotated[
        str,
        typer.Option(
            help=_TASK_HELP + " Default cmed7: a dataset's tables count every label, No-ME included (CMED's Table "
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
        _out_folder(out)
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


@app.command()
def score(
    predictions: Annotated[Path, typer.Argument(help="CSV with subject, y_true, y_pred (and optionally dataset).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Score predictions pooled over folds: ACC, UF1, UAR, overall and per dataset."""
    from mextk.evaluate.report import score_file

    result = score_file(predictions)
    if as_json:
        payload = {k: result[k] for k in ("acc", "uf1", "uar", "n")}
        if "per_dataset" in result:
            payload["per_dataset"] = result["per_dataset"]
        payload["per_class"] = result["per_class"]
        typer.echo(json.dumps(payload, indent=2))
        return
    from rich.console import Console

    Console().print(_metrics_table(result, f"{predictions.name}: {result['n']} predictions"))


def _help_all(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    """``--help-all``: the help with every option, the rare settings included."""
    if not value or ctx.resilient_parsing:
        return
    for p in ctx.command.params:
        p.hidden = False
    typer.echo(ctx.get_help())
    ctx.exit()


def prepare(
    recordings: Annotated[
        Optional[list[Path]], typer.Argument(help="Recordings, or folders searched for them.")
    ] = None,
    out: Annotated[Path, typer.Option(help="Output folder (clips, manifest.csv, review.csv).")] = Path("prepared"),
    preset_name: Annotated[
        str,
        typer.Option(
            "--preset",
            metavar="[default|cmed]",
            help="'default' (layout-aware) or 'cmed' (Algorithm 1 as written); every setting below says its "
            "default under both.",
        ),
    ] = "default",
    jobs: Annotated[int, typer.Option(help="Recordings processed in parallel.")] = 1,
    executor: Annotated[
        Optional[str],
        typer.Option(
            help="Where recordings run (default: process with --jobs > 1, else local); ray spreads them over a "
            "Ray cluster with the same outputs.",
            metavar="[local|process|ray]",
        ),
    ] = None,
    ray_address: Annotated[Optional[str], typer.Option(help="Ray cluster address (default: a local Ray).")] = None,
    subjects: Annotated[Optional[Path], typer.Option(help="CSV: source_recording, track_id, subject.")] = None,
    dataset: Annotated[str, typer.Option(help="Manifest 'dataset' column.")] = "prepared",
    rebuild_manifest: Annotated[
        bool,
        typer.Option(
            "--rebuild-manifest",
            help="Only rebuild OUT/manifest.csv and review.csv from the recordings already prepared there "
            "(e.g. after editing the --subjects map); give no recordings.",
        ),
    ] = False,
    help_all: Annotated[
        bool,
        typer.Option(
            "--help-all",
            help="Show every setting, the rare ones grouped, and exit.",
            is_eager=True,
            expose_value=False,
            callback=_help_all,
        ),
    ] = False,
    **settings: object,
) -> None:
    """Split group video-call recordings into per-person face clips (CMED Algorithm 1, or the better default).

    Writes OUT/manifest.csv (one row per clip), OUT/review.csv (flags for the manual check) and
    OUT/RECORDING/summary.json.  Finished recordings are skipped when run again.  Every setting of
    mextk.prepare.config.PrepareConfig is an option: --help shows the common ones, --help-all every one.
    """
    from rich.console import Console

    from mextk.prepare.batch import prepare_recordings
    from mextk.prepare.config import preset

    if rebuild_manifest and recordings:
        fail("--rebuild-manifest takes no recordings: it rebuilds the manifest of those already in --out")
    if not rebuild_manifest and not recordings:
        fail("give the recordings (files or folders) to prepare, or --rebuild-manifest (see 'mextk prepare --help')")
    if rebuild_manifest and not (out / "manifest.csv").exists() and not any(out.glob("*/summary.json")):
        fail(f"{out}: no prepared recording to rebuild the manifest from")
    console = Console(stderr=True)
    config = preset(preset_name, **{k: v for k, v in settings.items() if v is not None})
    result = prepare_recordings(
        recordings or [],
        _out_folder(out),
        config,
        jobs=jobs,
        dataset=dataset,
        subjects=subjects,
        console=console,
        executor=executor,
        ray_address=ray_address,
    )
    m = result["manifest"]
    kept = int(m["kept"].sum()) if len(m) else 0
    typer.echo(
        f"{len(result['done'])} recording(s) done, {len(result['skipped'])} already done, "
        f"{len(result['failed'])} failed; {len(m)} clips ({kept} kept, {len(m) - kept} flagged) "
        f"-> {out / 'manifest.csv'}"
    )
    if result["failed"] or result["truncated"]:
        raise typer.Exit(EXIT_PARTIAL)


#: The settings ``mextk prepare --help`` shows; the others appear with ``--help-all``, grouped (all are options).
COMMON_PREPARE_SETTINGS = (
    "detector", "max_gap", "min_duration", "layout", "screen_share", "crop", "crop_size", "clip_format", "pose",
)  # fmt: skip
#: The groups of the other settings in ``--help-all`` (a setting not named here goes to "Other settings").
PREPARE_SETTING_PANELS = {
    "Detection and tracking": (
        "detect_every", "full_detect_every", "lookahead", "trim_gaps", "clip_start", "detect_width", "min_face_frac",
        "haar_scale_factor", "haar_min_neighbors", "follow_min_score", "recheck_detector", "recheck_threshold",
        "confirm_detector", "search_every", "pose_every", "card_min_flat", "card_max_change",
    ),
    "Clips and encoding": ("crop_scale", "fps", "x264_preset", "crf"),
    "Review flags": (
        "flag_min_face_px", "flag_min_face_frac", "flag_max_yaw", "flag_max_pitch", "flag_multi_face",
        "flag_min_visible", "flag_max_intrusion",
    ),
}  # fmt: skip


def _setting_options() -> list[inspect.Parameter]:
    """One ``--option`` per field of PrepareConfig (its docstring gives the help, both presets the defaults).

    The common ones are shown by ``--help`` under "Settings"; the rest are hidden there and shown, grouped,
    by ``--help-all`` (they work either way).
    """
    hints = typing.get_type_hints(PrepareConfig)
    panel_of = {name: panel for panel, names in PREPARE_SETTING_PANELS.items() for name in names}
    options = []
    for name, text in setting_help().items():
        hint = hints[name]
        base = next(t for t in (bool, int, float, str) if hint is t or t in typing.get_args(hint))
        common = name in COMMON_PREPARE_SETTINGS
        option = typer.Option(
            help=_preset_help(name, text),
            rich_help_panel="Settings" if common else panel_of.get(name, "Other settings"),
            hidden=not common,
        )
        annotation = Annotated[Optional[base], option]  # type: ignore[valid-type]
        options.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=annotation))
    return options


_signature = inspect.signature(prepare, eval_str=True)
prepare.__signature__ = _signature.replace(  # type: ignore[attr-defined]
    parameters=[p for p in _signature.parameters.values() if p.kind != p.VAR_KEYWORD] + _setting_options()
)
app.command()(prepare)


_KIND_NAMES = ", ".join([*KIND_DEFAULTS, *ANALYSES])


@app.command(epilog=describe_kinds())
def features(
    kind: Annotated[str, typer.Argument(help=f"One of {_KIND_NAMES} (each is described below).")],
    manifests: Annotated[list[Path], typer.Argument(help="Manifest(s); deflection takes one per dataset.")],
    out: Annotated[Path, typer.Option(help="Feature cache folder.")] = Path("features"),
    jobs: Annotated[int, typer.Option(help="Worker processes (or CPUs of a local Ray with --executor ray).")] = 1,
    executor: Annotated[
        str, typer.Option(help="Where samples are computed: here, or as Ray tasks.", metavar="[local|ray]")
    ] = "local",
    ray_address: Annotated[Optional[str], typer.Option(help="Ray cluster address (default: a local Ray).")] = None,
    retry_failed: Annotated[bool, typer.Option(help="Compute samples that failed before again.")] = False,
    include_excluded: Annotated[
        bool,
        typer.Option(
            "--include-excluded",
            help="Also compute the clips that review decisions leave out (kept=false, rejected in review.csv).",
        ),
    ] = False,
    exaggerate: Annotated[
        Optional[float],
        typer.Option(
            help="deflection: arrow lengthening in the figure (default: from the data, the same for every panel, "
            "so that the longest mean arrow spans a tenth of the face width; the legend gives the scale)."
        ),
    ] = None,
    set_: Annotated[
        Optional[list[str]],
        typer.Option(
            "--set",
            metavar="KEY=VALUE",
            help="Change a parameter of the kind (repeatable; VALUE as JSON, e.g. radius=[1,1,2]).",
        ),
    ] = None,
) -> None:
    """Compute per-sample features into a resumable cache (a failed sample is reported and the rest go on).

    Unlabelled clips are welcome: a clip without onset, apex and offset is taken as a whole (onset at its first
    frame, offset at its last, and a stand-in apex drawn between them, as for No-ME clips).  The cache folder's
    params.json records the parameters used.  The kinds and their parameters (--set KEY=VALUE) follow.
    """
    from mextk.features.batch import deflection_from_manifests, extract_features, parse_params

    _out_folder(out)
    if kind in ANALYSES:
        res = deflection_from_manifests(manifests, out, jobs=jobs, exaggerate=exaggerate)
        typer.echo(
            f"deflection of {res['samples']} samples ({res['skipped']} skipped) -> "
            f"{out / 'deflection.csv'}, {res['figure']}"
        )
        return
    if kind not in KIND_DEFAULTS:
        fail(f"unknown feature kind {kind!r}; choose one of {_KIND_NAMES}")
    if len(manifests) != 1:
        fail(f"{kind} takes one manifest, got {len(manifests)}")
    params = parse_params(set_ or [])
    res = extract_features(
        manifests[0],
        kind,
        out,
        jobs=jobs,
        retry_failed=retry_failed,
        include_excluded=include_excluded,
        params=params,
        executor=executor,
        ray_address=ray_address,
    )
    for msg in res["failed"].values():
        typer.echo(f"failed: {msg}", err=True)
    counts = f"{len(res['done'])} computed, {len(res['cached'])} cached, {len(res['failed'])} failed"
    if res["excluded"]:
        counts += f", {len(res['excluded'])} left out by review decisions"
    typer.echo(f"{kind}: {counts} -> {res['folder']}")
    if res["failed"]:
        raise typer.Exit(EXIT_PARTIAL)


def _metrics_table(metrics: dict, title: str):  # type: ignore[no-untyped-def, type-arg]
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for col in ("set", "n", "ACC", "UF1", "UAR"):
        table.add_column(col, justify="left" if col == "set" else "right")
    table.add_row("all", str(metrics["n"]), f"{metrics['acc']:.4f}", f"{metrics['uf1']:.4f}", f"{metrics['uar']:.4f}")
    for name, m in metrics.get("per_dataset", {}).items():
        table.add_row(name, str(m["n"]), f"{m['acc']:.4f}", f"{m['uf1']:.4f}", f"{m['uar']:.4f}")
    return table


# Options that evaluate and train share: defined once, so the two commands cannot drift apart.
_ModelOpt = Annotated[Optional[str], typer.Option(help="Registered model (mextk models lists them).")]
_TaskOpt = Annotated[str, typer.Option(help=_TASK_HELP)]
_SeedOpt = Annotated[int, typer.Option(help="Master seed.")]
_InputOpt = Annotated[
    str,
    typer.Option(
        "--input",
        help="features (computed and cached) or precomputed (the manifest's path).",
        metavar="[features|precomputed]",
    ),
]
_FeaturesOpt = Annotated[
    Optional[Path], typer.Option(help="Feature cache (default: 'features' beside the output folder, shared by runs).")
]
_SetOpt = Annotated[
    Optional[list[str]], typer.Option("--set", help="Feature parameter KEY=VALUE (repeatable).", metavar="KEY=VALUE")
]
_TrainOpt = Annotated[
    Optional[list[str]],
    typer.Option(
        help="Training setting KEY=VALUE (repeatable): epochs, batch_size, optimizer, lr, ...; a value without "
        "'=' names training datasets (holdout) or split values (split), comma-separated.",
        metavar="KEY=VALUE|NAMES",
    ),
]
_OptionOpt = Annotated[
    Optional[list[str]], typer.Option(help="Model option KEY=VALUE (repeatable).", metavar="KEY=VALUE")
]
_WeightsOpt = Annotated[
    Optional[str], typer.Option(help="Starting weights: a torchvision name (IMAGENET1K_V1) or a file.")
]
_SizeOpt = Annotated[
    Optional[int], typer.Option(help="Input size in pixels (default: the model's, listed by mextk models).")
]
_EpochsOpt = Annotated[
    Optional[int], typer.Option(help="Training epochs (default: the model's, listed by mextk models).")
]
_ResampleOpt = Annotated[
    Optional[str], typer.Option(help="Class resampling (default: none).", metavar="[none|uniform]")
]
_LossOpt = Annotated[Optional[str], typer.Option(help="Loss (default: ce).", metavar="[ce|cb|focal|cb_focal]")]
_ValOpt = Annotated[
    Optional[float], typer.Option(help="Share of training subjects held out to pick the epoch (0: fixed).")
]
_JobsOpt = Annotated[int, typer.Option(help="Parallel folds (process, ray) and feature workers.")]
_ExcludedOpt = Annotated[
    bool,
    typer.Option(
        "--include-excluded",
        help="Also use the clips that review decisions leave out (kept=false, rejected in review.csv).",
    ),
]


@app.command()
def evaluate(
    manifest: Annotated[
        Optional[Path], typer.Argument(help="Manifest of the samples (optional with --checkpoints).")
    ] = None,
    model: _ModelOpt = None,
    protocol: Annotated[
        str,
        typer.Option(
            help="loso (one fold per person), kfold (subject-stratified), lodo (leave one dataset out), holdout "
            "(--train DATASETS --test DATASETS) or split (--split-column COL --test VALUE [--train VALUE]).",
            metavar="[loso|kfold|lodo|holdout|split]",
        ),
    ] = "loso",
    test: Annotated[
        Optional[list[str]],
        typer.Option(help="Test datasets (holdout) or split values (split); repeatable or comma-separated."),
    ] = None,
    split_column: Annotated[
        Optional[str], typer.Option(help="Manifest column holding the split (protocol split; DFME: split).")
    ] = None,
    task: _TaskOpt = RECOGNITION_TASK,
    out: Annotated[Path, typer.Option(help="Run folder (re-running resumes it).")] = Path("run"),
    n_splits: Annotated[int, typer.Option(help="Folds of kfold.")] = 10,
    seed: _SeedOpt = 0,
    seeds: Annotated[
        Optional[str],
        typer.Option(
            help="Run the whole protocol once per seed (0-4 or 0,3,7), each in OUT/seed_<s>; report "
            "mean, sd and the seed ensemble."
        ),
    ] = None,  # fmt: skip
    input_: _InputOpt = "features",
    features: _FeaturesOpt = None,
    set_: _SetOpt = None,
    train: _TrainOpt = None,
    option: _OptionOpt = None,
    weights: _WeightsOpt = None,
    size: _SizeOpt = None,
    epochs: _EpochsOpt = None,
    resample: _ResampleOpt = None,
    loss: _LossOpt = None,
    val_subjects: _ValOpt = None,
    executor: Annotated[str, typer.Option(help="Where folds run.", metavar="[local|process|ray]")] = "local",
    jobs: _JobsOpt = 1,
    ray_address: Annotated[Optional[str], typer.Option(help="Ray cluster address (default: a local Ray).")] = None,
    mlflow: Annotated[Optional[str], typer.Option(help="MLflow tracking URI to log the run to.")] = None,
    checkpoints: Annotated[
        Optional[Path], typer.Option(help="Score this run folder's saved fold models instead of training.")
    ] = None,
    include_excluded: _ExcludedOpt = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print metrics.json to stdout.")] = False,
) -> None:
    """Train and score a model under a subject-independent protocol (LOSO, k-fold, LODO, holdout, split); resumable."""
    _out_folder(out)
    if checkpoints is not None:
        from mextk.evaluate.runner import score_checkpoints

        metrics = score_checkpoints(checkpoints, out, manifest=manifest, progress=not as_json)
    else:
        from mextk.evaluate.runfolder import build_config
        from mextk.evaluate.runner import evaluate_run

        if manifest is None or model is None:
            fail("evaluate needs a MANIFEST and --model (or --checkpoints RUN_DIR)")
        config = build_config(
            manifest=manifest, model=model, task=task, protocol=protocol, n_splits=n_splits, seed=seed, input=input_,
            features_dir=features or out.resolve().parent / "features", set_=set_, train=train, option=option,
            test=test, split_column=split_column, weights=weights, size=size, epochs=epochs, resample=resample,
            loss=loss, val_subjects=val_subjects, include_excluded=include_excluded,
        )  # fmt: skip
        run_options = {"executor": executor, "jobs": jobs, "ray_address": ray_address, "mlflow_uri": mlflow}
        if seeds is not None:
            from mextk.evaluate.seeds import evaluate_seeds, parse_seeds

            try:
                seed_list = parse_seeds(seeds)
            except ValueError as exc:
                fail(str(exc))
            summary = evaluate_seeds(config, out, seed_list, progress=not as_json, **run_options)
            if as_json:
                typer.echo((out / "metrics.json").read_text())
                return
            for key in ("acc", "uf1", "uar"):
                m = summary["summary"][key]
                ens = summary["ensemble"][key]
                typer.echo(f"{key.upper():4s} {m['mean']:.3f} ± {m['sd']:.3f} over seeds {seeds} "
                           f"(min {m['min']:.3f}, max {m['max']:.3f}); seed ensemble {ens:.3f}")  # fmt: skip
            typer.echo(f"run folder: {out} (seed_<s>/ per seed, ensemble/, metrics.json)")
            return
        metrics = evaluate_run(config, out, progress=not as_json, **run_options)
    if as_json:
        typer.echo((out / "metrics.json").read_text())
        return
    from rich.console import Console

    protocol_text = metrics.get("protocol_detail") or metrics["protocol"]
    Console().print(_metrics_table(metrics, f"{metrics['method']} ({metrics['variant']}), {protocol_text}"))
    typer.echo(f"run folder: {out} (predictions.csv, metrics.json, confusion.png, table.md)")


@app.command()
def train(
    manifest: Annotated[Path, typer.Argument(help="Manifest of the training samples (every subject is used).")],
    out: Annotated[Path, typer.Option(help="Model folder to write (model.json, weights).")],
    model: _ModelOpt = None,
    task: _TaskOpt = RECOGNITION_TASK,
    seed: _SeedOpt = 0,
    input_: _InputOpt = "features",
    features: _FeaturesOpt = None,
    set_: _SetOpt = None,
    train: _TrainOpt = None,
    option: _OptionOpt = None,
    weights: _WeightsOpt = None,
    size: _SizeOpt = None,
    epochs: _EpochsOpt = None,
    resample: _ResampleOpt = None,
    loss: _LossOpt = None,
    val_subjects: _ValOpt = None,
    jobs: _JobsOpt = 1,
    include_excluded: _ExcludedOpt = False,
) -> None:
    """Train a final model on all subjects with the settings evaluate uses; writes a model folder for mextk predict."""
    from mextk.evaluate.final import train_model
    from mextk.evaluate.runfolder import build_config

    if model is None:
        fail("train needs --model (mextk models lists them)")
    _out_folder(out)
    config = build_config(
        manifest=manifest, model=model, task=task, seed=seed, input=input_,
        features_dir=features or out.resolve().parent / "features", set_=set_, train=train, option=option,
        weights=weights, size=size, epochs=epochs, resample=resample, loss=loss, val_subjects=val_subjects,
        include_excluded=include_excluded,
    )  # fmt: skip
    res = train_model(config, out, jobs=jobs)
    meta = res["meta"]
    if res["cached"]:
        typer.echo(f"{out}: already holds this model (same settings); nothing to do")
        return
    typer.echo(
        f"trained {meta['model']} ({meta['task']}: {', '.join(meta['classes'])}) on {res['n_samples']} samples of "
        f"{len(meta['trained_on'])} subjects ({res['skipped']} skipped, see {out / 'skipped.csv'}) -> {out}"
    )


@app.command()
def predict(
    model_dir: Annotated[Path, typer.Argument(help="Model folder: mextk train's output or a fold of a run.")],
    items: Annotated[list[Path], typer.Argument(help="A manifest (.csv/.parquet), or clip files and frame folders.")],
    out: Annotated[
        Path,
        typer.Option(
            help="Output folder: OUT/predictions.csv and the feature cache OUT/features. A path ending in .csv "
            "is the predictions file itself, its cache beside it (NAME.features)."
        ),
    ] = Path("predictions"),
    features: Annotated[Optional[Path], typer.Option(help="Feature cache (default: under --out, see there).")] = None,
    jobs: Annotated[int, typer.Option(help="Feature workers.")] = 1,
    include_excluded: _ExcludedOpt = False,
) -> None:
    """Class probabilities of a trained model for new clips (the model's own feature settings are used)."""
    from mextk.commandline import out_file
    from mextk.evaluate.predict import predict_clips, prediction_outputs

    csv, cache = prediction_outputs(out)
    res = predict_clips(
        model_dir, items, out_file(csv), features_dir=features or cache, include_excluded=include_excluded, jobs=jobs
    )
    out = csv
    for sid, reason in res["failed"].items():
        typer.echo(f"failed: {sid}: {reason}", err=True)
    table = res["predictions"]
    counts = ", ".join(f"{k} {v}" for k, v in table["predicted"].value_counts().sort_index().items())
    typer.echo(f"{len(table)} clips predicted ({counts or 'none'}); {len(res['failed'])} failed -> {out}")
    if res["failed"]:
        raise typer.Exit(EXIT_PARTIAL)


@app.command()
def compare(
    runs: Annotated[list[Path], typer.Argument(help="Run folders of mextk evaluate.")],
    out: Annotated[Optional[Path], typer.Option(help="Folder for compare.md / compare.csv.")] = None,
) -> None:
    """One table over several runs (CMED Table VI, DFME Tables VIII-XI)."""
    from rich.console import Console
    from rich.table import Table

    from mextk.evaluate.runner import compare_runs

    if out is not None:
        _out_folder(out)
    df = compare_runs(runs)
    table = Table(title=f"{len(df)} runs", title_justify="left")
    cols = ["Method", "Variant", "Protocol", "Settings", "UF1", "UAR", "Accuracy", "N"]
    if any(not isinstance(v, str) for v in df["Seeds"]):  # some run has several seeds: say how many each has
        cols.append("Seeds")
    cols += [c for c in df.columns if c.startswith(("UF1 (", "UAR ("))]  # per dataset, when runs score several
    for col in cols:
        table.add_column(col, justify="left" if col in ("Method", "Variant", "Protocol", "Settings") else "right")
    for row in df.itertuples(index=False):
        r = row._asdict()
        table.add_row(*[f"{r[c]:.4f}" if isinstance(r[c], float) else str(r[c]) for c in cols])
    Console().print(table)
    if out is not None:
        from mextk.io.tables import write_table

        write_table(df, out, "compare")
        typer.echo(f"-> {out / 'compare.md'}, {out / 'compare.csv'}")


@app.command()
def models() -> None:
    """List the registered models, their inputs and training defaults."""
    from rich.console import Console
    from rich.table import Table

    from mextk.models.registry import MODELS

    table = Table(title="models (--model)", title_justify="left")
    for col in ("name", "input", "feature", "training", "description"):
        table.add_column(col)
    for spec in MODELS.values():
        params = ", ".join(f"{k}={v}" for k, v in spec.feature_params.items())
        train = ", ".join(f"{k}={v}" for k, v in spec.training_settings().items())
        table.add_row(spec.name, spec.input_type, f"{spec.feature} {params}".strip(), train, spec.description)
    Console().print(table)


@app.command("cmed-manifest", hidden=True)
def cmed_manifest(
    root: Annotated[Path, typer.Argument(help="CMED folder (video_emotion_metadata.csv, FinalFullVideos_subjects/).")],
    out: Annotated[Path, typer.Option(help="Manifest to write (.csv or .parquet).")],
) -> None:
    """Old name of 'mextk datasets import cmed ROOT --out M' (kept so that existing scripts run)."""
    from mextk.cli_datasets import import_

    import_("cmed", root, out)


@app.command()
def tasks() -> None:
    """List the label taxonomies and their classes."""
    from mextk.labels import TAXONOMIES

    for name, tax in TAXONOMIES.items():
        typer.echo(f"{name:9s} {', '.join(tax.classes):70s} {tax.description}")


from mextk.cli_datasets import datasets_app  # noqa: E402  (registered after the commands above)

app.add_typer(datasets_app, name="datasets")

from mextk.cli_annotate import annotate_app  # noqa: E402

app.add_typer(annotate_app, name="annotate")

from mextk.cli_spot import register as _register_spot  # noqa: E402

_register_spot(app)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
