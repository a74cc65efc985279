"""``mextk prepare``: its options are generated from :class:`mextk.prepare.config.PrepareConfig` (one per field;
its docstring gives the help, both presets the defaults)."""

from __future__ import annotations

import inspect
import typing
from pathlib import Path
from typing import Annotated, Optional

import click
import typer

from mextk.cli.base import EXIT_PARTIAL, fail, out_folder
from mextk.prepare.config import CMED_PRESET, PrepareConfig, setting_help


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
        out_folder(out),
        config,
        jobs=jobs,
        dataset=dataset,
        subjects=subjects,
        console=console,
        executor=executor,
        ray_address=ray_address,
    )
    m = result.manifest
    kept = int(m["kept"].sum()) if len(m) else 0
    typer.echo(
        f"{len(result.done)} recording(s) done, {len(result.skipped)} already done, "
        f"{len(result.failed)} failed; {len(m)} clips ({kept} kept, {len(m) - kept} flagged) "
        f"-> {out / 'manifest.csv'}"
    )
    if result.failed or result.truncated:
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
        "confirm_detector", "search_every", "pose_every", "pose_landmarks", "card_min_flat", "card_max_change",
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


def prepare_command() -> typing.Callable[..., None]:
    """:func:`prepare` with one keyword option per setting in its signature (what typer reads)."""
    signature = inspect.signature(prepare, eval_str=True)
    prepare.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[p for p in signature.parameters.values() if p.kind != p.VAR_KEYWORD] + _setting_options()
    )
    return prepare
