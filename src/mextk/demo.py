"""``mextk demo``: the whole path on the embedded synthetic data.

1. synthesise a small, fully labelled micro-expression dataset (:mod:`mextk.synth`);
2. print and write its CMED-style statistics tables (:mod:`mextk.datasets.stats`);
3. extract features into a shared cache: LBP-TOP histograms of the onset, apex
   and offset frames, and landmark graphs of the same key frames (:mod:`mextk.features`);
4. evaluate LBP-TOP + SVM and the DGCNN under leave-one-subject-out
   (:func:`mextk.evaluate.runner.evaluate_run`), for recognition (``task``,
   CMED's 6 emotions by default) and for spotting (ME vs No-ME);
5. print and write the comparison table (CMED Table VI form); every run folder
   holds its predictions, metrics and confusion matrix.

Every step resumes: re-running the demo with the same folder reuses the clips,
features and finished folds.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from mextk.labels import get_taxonomy

if TYPE_CHECKING:
    from mextk.evaluate.runner import EvaluationResult


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
        Recognition taxonomy (spotting runs as well).
    proportions : str
        Class proportions of the synthetic data (``balanced`` or ``cmed``).
    dgcnn_epochs : int
        DGCNN training epochs (the registry's 50 are meant for thousands of samples;
        the demo's few dozen need more passes).
    seed : int
        Master seed.
    jobs : int
        Worker processes for synthesis, features and folds.
    """

    n_subjects: int = 6
    clips_per_subject: int = 14
    size: int = 128
    task: str = "cmed6"
    proportions: str = "balanced"
    dgcnn_epochs: int = 150
    seed: int = 0
    jobs: int = 2


@dataclass(frozen=True)
class DemoResult:
    """What the demo wrote.

    Attributes
    ----------
    out : Path
        The demo's folder.
    table : DataFrame
        The comparison table (``compare.md``), one row per run.
    runs : dict of str to EvaluationResult
        Each run's scores, by run name (``lbptop_svm-cmed6``, ...).
    """

    out: Path
    table: pd.DataFrame
    runs: dict[str, EvaluationResult]


#: (model, training overrides) the demo compares
def _demo_models(config: DemoConfig) -> list[tuple[str, dict[str, Any]]]:
    return [("lbptop_svm", {}), ("dgcnn", {"epochs": config.dgcnn_epochs})]


def run_demo(out_dir: str | os.PathLike[str], config: DemoConfig = DemoConfig(), *, console: Any = None) -> DemoResult:
    """Run the demo and return the comparison table and each run's metrics.

    Parameters
    ----------
    out_dir : path-like
        Report folder (``data/``, ``stats/``, ``features/``, ``runs/``, ``compare.md``).
    config : DemoConfig
        Settings.
    console : rich.console.Console, optional
        Where to print.

    Returns
    -------
    DemoResult
        The comparison table and each run's scores.
    """
    from rich.console import Console

    from mextk.datasets.stats import compute_tables, imbalance_sentence
    from mextk.evaluate.compare import compare_runs
    from mextk.evaluate.runconfig import RunConfig
    from mextk.evaluate.runner import evaluate_run
    from mextk.io.tables import write_table
    from mextk.synth.clips import SynthConfig, synthesize_dataset

    console = console or Console()
    out = Path(out_dir)
    t0 = time.perf_counter()
    tax = get_taxonomy(config.task)
    if tax.name == "spotting":
        raise ValueError("the demo runs spotting anyway; give a recognition task (cmed6, cmed7, megc3 ...)")

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
    console.print(imbalance_sentence(tables.imbalance))

    console.rule("[bold]3-4. features and leave-one-subject-out evaluation")
    runs: dict[str, EvaluationResult] = {}
    folders = []
    for task in (tax.name, "spotting"):
        for model, train in _demo_models(config):
            name = f"{model}-{task}"
            console.print(f"[bold]{name}[/]")
            run_cfg = RunConfig(
                manifest=str((out / "data" / "manifest.csv").resolve()),
                model=model,
                protocol="loso",
                task=task,
                seed=config.seed,
                features_dir=str((out / "features").resolve()),
                train=train,
            )
            executor = "process" if config.jobs > 1 and model != "lbptop_svm" else "local"
            runs[name] = evaluate_run(run_cfg, out / "runs" / name, executor=executor, jobs=config.jobs)
            m = runs[name]
            console.print(f"  UF1 {m.uf1:.4f}  UAR {m.uar:.4f}  ACC {m.acc:.4f}  ({m.n} samples)")
            folders.append(out / "runs" / name)

    console.rule("[bold]5. comparison (CMED Table VI form)")
    table = compare_runs(folders)
    write_table(table.drop(columns=["Run"]), out, "compare")
    shown = table.drop(columns=["Run", "Settings"])
    print_table(console, shown, f"LOSO on {config.n_subjects} synthetic subjects", floatfmt=".4f")
    console.print(
        f"chance UAR: {tax.name} {1.0 / tax.n_classes:.3f}, spotting 0.500.  "
        f"Runs: {out / 'runs'} (predictions.csv, metrics.json, confusion.png, table.md); "
        f"table: {out / 'compare.md'}; took {time.perf_counter() - t0:.1f} s"
    )
    return DemoResult(out=out, table=table, runs=runs)


def print_table(console: Any, df: pd.DataFrame, title: str, *, floatfmt: str = ".2f") -> None:
    """Print a DataFrame as a rich table."""
    from rich.table import Table

    table = Table(title=title, title_justify="left", min_width=min(100, len(title) + 4))
    for col in df.columns:
        numeric = pd.api.types.is_numeric_dtype(df[col])
        table.add_column(str(col), justify="right" if numeric else "left")
    for row in df.itertuples(index=False):
        table.add_row(*[format(v, floatfmt) if isinstance(v, float) else str(v) for v in row])
    console.print(table)
