"""``mextk demo``: the whole path on the embedded synthetic data.

1. synthesise a small, fully labelled micro-expression dataset (:mod:`mextk.synth`);
2. print and write its CMED-style statistics tables (:mod:`mextk.datasets.stats`);
3. extract onset-to-apex motion features, cached per sample (:mod:`mextk.features.motion`);
4. run leave-one-subject-out cross-validation of a linear SVM
   (:func:`mextk.models.baselines.motion_svm`), checking every fold for
   subject leakage;
5. print ACC/UF1/UAR and write a run folder (predictions, metrics, confusion
   matrix, a Table VI-style row).

Every step resumes: re-running the demo with the same folder reuses the clips
and features already made.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mextk.labels import get_taxonomy


@dataclass(frozen=True)
class DemoConfig:
    """Settings of the demo.

    Attributes
    ----------
    n_subjects, clips_per_subject : int
        Size of the synthetic dataset.
    size : int
        Clip frame size.
    task : str
        Taxonomy to recognise.
    proportions : str
        Class proportions of the synthetic data (``balanced`` or ``cmed``).
    grid : int
        Motion feature block grid.
    seed : int
        Master seed.
    jobs : int
        Worker processes for synthesis.
    """

    n_subjects: int = 6
    clips_per_subject: int = 14
    size: int = 128
    task: str = "cmed7"
    proportions: str = "balanced"
    grid: int = 6
    seed: int = 0
    jobs: int = 2


def motion_features(
    manifest_path: str | os.PathLike[str],
    manifest: pd.DataFrame,
    cache_root: str | os.PathLike[str],
    *,
    grid: int,
    seed: int,
    progress: bool = True,
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Block-flow features of the manifest's samples, in its row order (via ``mextk features motion``).

    Returns
    -------
    X : numpy.ndarray
        ``(n_ok, 2 * grid * grid)`` features of the samples that worked.
    ok : numpy.ndarray
        Boolean mask over ``manifest``'s rows.
    errors : list of str
        One line per failed sample.
    """
    from mextk.features.batch import KINDS, extract_features
    from mextk.features.cache import FeatureCache

    params = {"grid": grid, "seed": seed}
    result = extract_features(manifest_path, "motion", cache_root, params=params, progress=progress)
    cache = FeatureCache(cache_root, "motion", {**KINDS["motion"][1], **params})
    ids = [str(s) for s in manifest["sample_id"]]
    ok = np.array([cache.has(s) for s in ids], dtype=bool)
    X = (
        np.stack([cache.load(s)["x"] for s, k in zip(ids, ok, strict=True) if k])
        if ok.any()
        else np.zeros((0, 2 * grid * grid))
    )
    return X, ok, list(result["failed"].values())


def run_demo(
    out_dir: str | os.PathLike[str], config: DemoConfig = DemoConfig(), *, console: Any = None
) -> dict[str, Any]:
    """Run the demo and return its metrics.

    Parameters
    ----------
    out_dir : path-like
        Report folder (``data/``, ``stats/``, ``features/``, ``run/``).
    config : DemoConfig
        Settings.
    console : rich.console.Console, optional
        Where to print.

    Returns
    -------
    dict
        ``metrics.json`` of the run.
    """
    from rich.console import Console
    from rich.table import Table

    from mextk.datasets.stats import compute_tables
    from mextk.evaluate.crossval import cross_val_predictions
    from mextk.evaluate.report import write_run_report
    from mextk.evaluate.splits import LeaveOneSubjectOut
    from mextk.models.baselines import motion_svm
    from mextk.synth.clips import SynthConfig, synthesize_dataset

    console = console or Console()
    out = Path(out_dir)
    t0 = time.perf_counter()
    tax = get_taxonomy(config.task)

    console.rule("[bold]1. synthetic micro-expression dataset")
    synth_cfg = SynthConfig(
        n_subjects=config.n_subjects,
        clips_per_subject=config.clips_per_subject,
        size=config.size,
        proportions=config.proportions,
        seed=config.seed,
    )
    manifest = synthesize_dataset(out / "data", synth_cfg, jobs=config.jobs, progress=True)
    console.print(
        f"{len(manifest)} clips of {manifest['subject'].nunique()} subjects -> {out / 'data' / 'manifest.csv'}"
    )

    console.rule("[bold]2. dataset tables (CMED Tables II-V)")
    tables = compute_tables(manifest, task="cmed7")
    tables.write(out / "stats")
    for name, table in tables.tables().items():
        if name == "subject_counts":
            continue
        print_table(console, table, tables.TITLES[name])
    print_table(console, tables.subject_counts, tables.TITLES["subject_counts"])
    from mextk.datasets.stats import imbalance_sentence

    console.print(imbalance_sentence(tables.imbalance))

    console.rule("[bold]3. onset-to-apex motion features")
    enc = tax.encode(manifest["emotion"].tolist(), excluded="drop")
    if enc.dropped:
        console.print(enc.describe_dropped())
    used = manifest.loc[enc.keep].reset_index(drop=True)
    used.attrs = manifest.attrs
    X, ok, errors = motion_features(
        out / "data" / "manifest.csv", used, out / "features", grid=config.grid, seed=config.seed
    )
    for line in errors:
        console.print(f"[yellow]skipped[/] {line}")
    y = enc.y[ok]
    used = used.loc[ok].reset_index(drop=True)
    console.print(f"{X.shape[0]} samples x {X.shape[1]} features")

    console.rule("[bold]4. leave-one-subject-out evaluation")
    preds = cross_val_predictions(
        motion_svm(),
        X,
        y,
        subjects=used["subject"].tolist(),
        splitter=LeaveOneSubjectOut(),
        sample_ids=used["sample_id"].tolist(),
        datasets=used["dataset"].tolist(),
        progress=True,
    )
    metrics = write_run_report(
        out / "run",
        preds,
        classes=tax.classes,
        display=[tax.display(c) for c in tax.classes],
        method="Block flow + linear SVM",
        variant=f"{tax.name} LOSO",
        config={"demo": asdict(config), "synth": synth_cfg.to_dict(), "protocol": "loso", "task": tax.name},
    )
    chance = 1.0 / tax.n_classes

    console.rule("[bold]5. results")
    title = f"LOSO on {len(y)} synthetic clips, {tax.name} ({tax.n_classes} classes, chance UAR {chance:.3f})"
    result = Table(title=title, title_justify="left", min_width=len(title) + 4)
    for col in ("ACC", "UF1", "UAR"):
        result.add_column(col, justify="right")
    result.add_row(f"{metrics['acc']:.4f}", f"{metrics['uf1']:.4f}", f"{metrics['uar']:.4f}")
    console.print(result)
    console.print(
        f"report: {out / 'run'} (predictions.csv, metrics.json, confusion.png, table.md); "
        f"tables: {out / 'stats'}; took {time.perf_counter() - t0:.1f} s"
    )
    return metrics


def print_table(console: Any, df: pd.DataFrame, title: str) -> None:
    """Print a DataFrame as a rich table."""
    from rich.table import Table

    table = Table(title=title, title_justify="left", min_width=min(100, len(title) + 4))
    for col in df.columns:
        numeric = pd.api.types.is_numeric_dtype(df[col])
        table.add_column(str(col), justify="right" if numeric else "left")
    for row in df.itertuples(index=False):
        table.add_row(*[f"{v:.2f}" if isinstance(v, float) else str(v) for v in row])
    console.print(table)
