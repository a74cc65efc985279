"""``mextk evaluate``: train and score a registered model under a subject-independent protocol.

The run is prepared (:mod:`mextk.evaluate.preparation`), its folds are fitted
(:mod:`mextk.evaluate.fitting`) where the executor puts them
(:mod:`mextk.evaluate.executors`), and the report is written
(:mod:`mextk.evaluate.pooling`); the run folder's format is in
:mod:`mextk.evaluate.runconfig`.  A killed run resumes with the same command.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mextk.evaluate.executors import EXECUTORS, run_folds
from mextk.evaluate.mlflow_log import log_to_mlflow
from mextk.evaluate.pooling import write_report
from mextk.evaluate.preparation import prepare_run
from mextk.evaluate.runconfig import RunConfig, fold_dir


@dataclass(frozen=True)
class EvaluationResult:
    """One evaluation run's scores, as written to its run folder's ``metrics.json``.

    Attributes
    ----------
    out : Path
        The run folder.
    method, variant : str
        The table row's method (``LBP-TOP``) and variant (``6-Class``).
    model, task, protocol : str
        The registered model, the taxonomy and the protocol (``loso``, ``lodo``, ...).
    classes : tuple of str
        The class order of the predictions' ``p_*`` columns.
    uf1, uar, acc : float
        Unweighted F1, unweighted average recall and accuracy over every fold's predictions at once.
    n : int
        Samples scored.
    n_folds : int
        Folds whose predictions were pooled.
    resumed_folds : int
        Folds found done (a resumed run); 0 for a run from scratch.
    skipped : int
        Samples left out before training (listed in ``skipped.csv``).
    metrics : Mapping
        The whole ``metrics.json``: per class, per dataset, the protocol's description and class warnings.
    """

    out: Path
    method: str
    variant: str
    model: str
    task: str
    protocol: str
    classes: tuple[str, ...]
    uf1: float
    uar: float
    acc: float
    n: int
    n_folds: int
    resumed_folds: int
    skipped: int
    metrics: Mapping[str, Any]

    @classmethod
    def from_metrics(
        cls, out: str | os.PathLike[str], metrics: Mapping[str, Any], *, resumed_folds: int = 0, skipped: int = 0
    ) -> EvaluationResult:
        """The result of a run folder whose ``metrics.json`` holds ``metrics``."""
        return cls(
            out=Path(out),
            method=str(metrics["method"]),
            variant=str(metrics["variant"]),
            model=str(metrics["model"]),
            task=str(metrics["task"]),
            protocol=str(metrics["protocol"]),
            classes=tuple(metrics["classes"]),
            uf1=float(metrics["uf1"]),
            uar=float(metrics["uar"]),
            acc=float(metrics["acc"]),
            n=int(metrics["n"]),
            n_folds=int(metrics["n_folds"]),
            resumed_folds=resumed_folds,
            skipped=skipped,
            metrics=dict(metrics),
        )


def evaluate_run(
    config: RunConfig,
    out_dir: str | os.PathLike[str],
    *,
    executor: str = "local",
    jobs: int = 1,
    ray_address: str | None = None,
    mlflow_uri: str | None = None,
    progress: bool = True,
) -> EvaluationResult:
    """Run (or resume) an evaluation and write the run folder.

    Parameters
    ----------
    config : RunConfig
        What to run.
    out_dir : path-like
        Run folder.
    executor : {"local", "process", "ray"}
        Where folds run.
    jobs : int
        Parallel folds (``process``, ``ray``) and feature workers.
    ray_address : str, optional
        Address of a Ray cluster (``ray://host:10001`` or ``auto``); a local instance when omitted.
    mlflow_uri : str, optional
        MLflow tracking URI: log parameters, metrics and the run folder's files.
    progress : bool
        Show progress bars.

    Returns
    -------
    EvaluationResult
        The scores (``metrics.json``), with the folds found done and the samples skipped.
    """
    options = {"executor": executor, "jobs": jobs, "ray_address": ray_address, "mlflow_uri": mlflow_uri}
    return evaluate_runs([(config, Path(out_dir))], progress=progress, **options)[0]


def evaluate_runs(
    runs: Sequence[tuple[RunConfig, Path]],
    *,
    executor: str = "local",
    jobs: int = 1,
    ray_address: str | None = None,
    mlflow_uri: str | None = None,
    progress: bool = True,
) -> list[EvaluationResult]:
    """Run (or resume) several runs, their unfinished (run folder, fold) pairs spread over one executor.

    Each run folder is prepared first, then every pair goes to the same pool (``process`` and ``ray`` keep
    ``jobs`` workers busy across runs), then each run is scored.  The arguments are those of
    :func:`evaluate_run`; returns each run's result, in order.
    """
    check_executor(executor)
    preps = [start_run(config, Path(out), jobs=jobs, progress=progress) for config, out in runs]
    todo = [pair for prep in preps for pair in prep["todo"]]
    n_cached = sum(prep["n_folds"] - len(prep["todo"]) for prep in preps)
    run_folds(todo, executor=executor, jobs=jobs, ray_address=ray_address, progress=progress, n_cached=n_cached)
    pairs = zip(runs, preps, strict=True)
    return [finish_run(config, Path(out), prep, mlflow_uri=mlflow_uri) for (config, out), prep in pairs]


def check_executor(executor: str) -> None:
    """Refuse an unknown executor before any work starts."""
    if executor not in EXECUTORS:
        raise ValueError(f"executor must be one of {', '.join(EXECUTORS)}, got {executor!r}")


def start_run(config: RunConfig, out: Path, *, jobs: int = 1, progress: bool = True) -> dict[str, Any]:
    """Prepare (or check, on resume) a run folder and list what is left to fit.

    Returns :func:`~mextk.evaluate.preparation.prepare_run`'s dict plus ``n_folds`` and ``todo``, the
    (run folder, fold) pairs whose ``done.json`` is missing, for :func:`~mextk.evaluate.executors.run_folds`.
    """
    prep = prepare_run(config, out, jobs=jobs, progress=progress)
    _warn_about_classes(prep["class_warnings"], len(prep["folds"]), progress=progress)
    n_folds = len(prep["folds"])
    todo = [(out, k) for k in range(n_folds) if not (fold_dir(out, k) / "done.json").exists()]
    return {**prep, "n_folds": n_folds, "todo": todo}


def finish_run(
    config: RunConfig, out: Path, prep: dict[str, Any], *, mlflow_uri: str | None = None
) -> EvaluationResult:
    """Score a run folder whose folds are all done: the report, ``metrics.json``, and MLflow when asked.

    ``prep`` is :func:`start_run`'s dict (it says which folds were found done and which samples were skipped).
    """
    metrics = write_report(out, prep["classes"], config)
    if mlflow_uri:
        log_to_mlflow(out, config, metrics, mlflow_uri)
    resumed = prep["n_folds"] - len(prep["todo"])
    return EvaluationResult.from_metrics(out, metrics, resumed_folds=resumed, skipped=len(prep["skipped"]))


def _warn_about_classes(lines: list[str], n_folds: int, *, progress: bool) -> None:
    """Say, before training, which folds cannot predict a class they are tested on."""
    if not lines:
        return
    head = (
        f"{len(lines)} of {n_folds} folds train without a class that their test part holds; those test samples "
        "cannot be classified correctly, and the scores are lower for it (listed in folds.json and metrics.json)"
    )
    if not progress:
        import warnings

        warnings.warn(f"{head}: {'; '.join(lines)}", UserWarning, stacklevel=3)
        return
    from rich.console import Console
    from rich.markup import escape

    console = Console(stderr=True)
    console.print(f"[bold yellow]warning:[/] {escape(head)}", soft_wrap=True)
    for line in lines[:10]:
        console.print(f"  {escape(line)}", soft_wrap=True)
    if len(lines) > 10:
        console.print(f"  and {len(lines) - 10} more", soft_wrap=True)
