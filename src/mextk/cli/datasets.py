"""``mextk datasets``: import the public datasets from their official sheets, list them, build composites.

Thin like the rest of the command line: each command parses options and calls
:mod:`mextk.datasets.official`, :mod:`mextk.datasets.cmed` or :mod:`mextk.datasets.composite`.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Annotated

import typer

from mextk.cli.base import EXIT_PARTIAL, MextkGroup, out_file

datasets_app = typer.Typer(
    name="datasets",
    cls=MextkGroup,
    help="The public micro-expression datasets: import one from its official sheet and frame folders, list the "
    "supported ones, build the MEGC composites.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@datasets_app.command("list")
def list_() -> None:
    """Print each supported dataset with the sheet and the folder layout it expects."""
    from mextk.datasets.composite import composite_names
    from mextk.datasets.specs import describe_datasets

    typer.echo("mextk datasets import NAME ROOT --out M.csv [--sheet FILE] [--layout PATTERN]\n")
    for row in describe_datasets():
        typer.echo(f"{row['name']:9s} {row['title']}, fps {row['fps']}")
        for key in ("sheet", "layout", "frames"):
            typer.echo(f"          {key + ':':8s}{row[key]}")
    typer.echo(f"\ncomposites (mextk datasets compose NAME): {', '.join(composite_names())}")
    from mextk.datasets.longvideos import LONG_DATASETS

    typer.echo("\nlong videos (interval spotting: mextk datasets import NAME ROOT --out long.csv, then mextk spot):")
    for spec in LONG_DATASETS.values():
        typer.echo(f"{spec.name:9s} {spec.title}, fps {spec.fps:g}")
        for key in ("sheets", "layout", "frames"):
            typer.echo(f"          {key + ':':8s}{getattr(spec, key)}")


@datasets_app.command("import")
def import_(
    name: Annotated[
        str,
        typer.Argument(
            help="casme2, samm, smic, smic-vis, smic-nir, casme3, dfme, mmew or cmed; long videos for mextk spot: "
            "casme-sq (CAS(ME)^2), samm-lv, casme3-lv."
        ),
    ],
    root: Annotated[Path, typer.Argument(help="The dataset's folder as released.")],
    out: Annotated[Path, typer.Option(help="Manifest to write (.csv or .parquet).")],
    sheet: Annotated[
        list[Path] | None,
        typer.Option(help="Coding sheet(s) (default: the official file names in ROOT); repeat for DFME's three."),
    ] = None,
    layout: Annotated[
        str | None,
        typer.Option(
            help="Folder pattern relative to ROOT for a copy laid out differently, with {subject}, {filename}, "
            "{emotion}, {onset}, {split} (see 'mextk datasets list')."
        ),
    ] = None,
) -> None:
    """Write the standard manifest of a public dataset; rows that cannot be loaded are listed and skipped."""
    from mextk.datasets.official import import_dataset, relocate
    from mextk.io.manifest import save_manifest

    out_file(out)
    from mextk.datasets.longvideos import long_dataset_name

    if long_dataset_name(name) is not None:
        _import_long(name, root, out, sheet)
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if name.strip().lower() == "cmed":
            from mextk.datasets.cmed import load_cmed

            df = load_cmed(root, progress=True)
        else:
            df = import_dataset(name, root, sheets=sheet, layout=layout, progress=True)
    skipped = df.attrs.get("skipped", [])
    for line in df.attrs.get("notes", []):
        typer.echo(f"note: {line}", err=True)
    for line in skipped:
        typer.echo(f"skipped: {line}", err=True)
    df = relocate(df, out)
    save_manifest(df, out)
    labels = ", ".join(f"{k} {v}" for k, v in df["emotion"].value_counts().sort_index().items())
    typer.echo(
        f"wrote {out}: {len(df)} samples of {df['subject'].nunique()} subjects ({labels}); {len(skipped)} skipped"
    )
    if skipped:
        raise typer.Exit(EXIT_PARTIAL)


def _import_long(name: str, root: Path, out: Path, sheet: list[Path] | None) -> None:
    """A long-video dataset: a long-video manifest (one row per interval, an empty row per video without one)."""
    import os

    from mextk.datasets.longvideos import import_long_dataset
    from mextk.spotting.long_manifest import save_long_manifest

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        df = import_long_dataset(name, root, sheets=sheet)
    for line in df.attrs.get("notes", []):
        typer.echo(f"note: {line}", err=True)
    for line in df.attrs.get("skipped", []):
        typer.echo(f"skipped: {line}", err=True)
    root_abs = Path(df.attrs["root"])
    base = out.resolve().parent
    df["path"] = [os.path.relpath(root_abs / p, base) for p in df["path"]]
    save_long_manifest(df, out)
    ivs = df[df["onset"].notna()]
    videos = df.drop_duplicates(["dataset", "video_id"])
    typer.echo(
        f"wrote {out}: {len(videos)} videos of {videos['subject'].nunique()} subjects, "
        f"{int((ivs['type'] == 'micro').sum())} micro- and {int((ivs['type'] == 'macro').sum())} macro-expressions; "
        f"{len(df.attrs.get('skipped', []))} skipped"
    )
    if df.attrs.get("skipped"):
        raise typer.Exit(EXIT_PARTIAL)


@datasets_app.command("compose")
def compose_(
    name: Annotated[str, typer.Argument(help="megc2019 (SMIC + CASME II + SAMM) or megc2022 (+ CAS(ME)^3).")],
    out: Annotated[Path, typer.Option(help="Composite manifest to write (.csv or .parquet).")],
    smic: Annotated[Path | None, typer.Option(help="Manifest of SMIC-HS (mextk datasets import smic).")] = None,
    casme2: Annotated[Path | None, typer.Option(help="Manifest of CASME II.")] = None,
    samm: Annotated[Path | None, typer.Option(help="Manifest of SAMM.")] = None,
    casme3: Annotated[Path | None, typer.Option(help="Manifest of CAS(ME)^3 Part A (megc2022).")] = None,
) -> None:
    """Build a MEGC composite 3-class set from per-dataset manifests; counts are checked against the published ones."""
    from mextk.datasets.composite import compose, write_counts_table
    from mextk.datasets.official import relocate
    from mextk.io.manifest import load_manifest, save_manifest

    out_file(out)
    given = {"smic": smic, "casme2": casme2, "samm": samm, "casme3": casme3}
    manifests = {k: load_manifest(p, check_files=False) for k, p in given.items() if p is not None}
    composite = compose(name, manifests)
    save_manifest(relocate(composite, out), out)
    counts_path = write_counts_table(composite, out.with_name(out.stem + "_counts.csv"))
    for dataset, counts in composite.attrs["counts"].items():
        left = composite.attrs["left_out"].get(dataset, {})
        left_text = ", ".join(f"{k} {v}" for k, v in left.items() if v)
        typer.echo(
            f"{dataset}: {sum(counts.values())} ({', '.join(f'{k} {v}' for k, v in counts.items())})"
            + (f"; left out: {left_text}" if left_text else "")
        )
    for line in composite.attrs["mismatches"]:
        typer.echo(f"warning: {line}", err=True)
    typer.echo(f"wrote {out}: {len(composite)} samples; counts in {counts_path}")
