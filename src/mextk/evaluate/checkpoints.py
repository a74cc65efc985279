"""Scoring a run's saved fold models without training (``mextk evaluate --checkpoints RUN_DIR``)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from mextk.evaluate.fitting import predict_saved, write_fold_predictions
from mextk.evaluate.pooling import write_report
from mextk.evaluate.preparation import prepare_run
from mextk.evaluate.runconfig import (
    RunConfig,
    fold_dir,
    read_run,
)
from mextk.evaluate.runner import EvaluationResult
from mextk.io.atomic import atomic_path, write_json_atomic


def score_checkpoints(
    checkpoint_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    manifest: str | os.PathLike[str] | None = None,
    progress: bool = True,
) -> EvaluationResult:
    """Score a run's saved per-fold models without training.

    Each sample is predicted by the model of the fold whose test subjects
    include its subject, so the scores stay subject-independent.  By default
    the samples are the checkpoint run's own (``samples.csv``); with
    ``manifest``, inputs are recomputed (or read, for precomputed runs) for
    that manifest's samples, and samples whose subject no fold tested are
    listed in ``skipped.csv`` rather than scored by a model that saw them.

    Returns
    -------
    EvaluationResult
        The scores of the new run folder ``out_dir``.
    """
    import shutil

    src = Path(checkpoint_dir)
    out = Path(out_dir)
    if not (src / "config.json").exists() or not (src / "folds.json").exists():
        raise FileNotFoundError(f"{src} is not a mextk run folder (no config.json / folds.json)")
    config, samples, folds = read_run(src)
    out.mkdir(parents=True, exist_ok=True)
    if manifest is not None:
        config = RunConfig(**{**config.to_dict(), "manifest": str(Path(manifest).resolve())})
        scratch = out / "_inputs"
        prep = prepare_run(config, scratch, progress=progress)
        samples = prep["samples"]
        shutil.rmtree(scratch / "folds", ignore_errors=True)
    from mextk.labels import get_taxonomy

    tax = get_taxonomy(config.task)
    missing = [k for k in range(len(folds)) if not (fold_dir(src, k) / "done.json").exists()]
    if missing:
        raise FileNotFoundError(f"{src}: folds {missing} have no saved model")
    subject_fold = {s: k for k, subs in enumerate(folds) for s in subs}
    fold_of = samples["subject"].map(subject_fold)
    skipped = samples.loc[fold_of.isna(), ["sample_id"]].assign(reason="subject tested by no fold")
    samples = samples.loc[fold_of.notna()].reset_index(drop=True)
    fold_of = fold_of.dropna().astype(int).reset_index(drop=True)
    with atomic_path(out / "skipped.csv") as tmp:
        skipped.to_csv(tmp, index=False)
    write_json_atomic(out / "config.json", {**config.to_dict(), "scored_from": str(src.resolve())})
    for k in sorted(set(fold_of.tolist())):
        idx = np.flatnonzero(fold_of.to_numpy() == k)
        probs = predict_saved(src, k, config, samples.iloc[idx], len(tax.classes))
        folder = fold_dir(out, k)
        folder.mkdir(parents=True, exist_ok=True)
        write_fold_predictions(folder, samples.iloc[idx], k, probs)
        write_json_atomic(folder / "done.json", {"fold": k, "scored_from": str(fold_dir(src, k))})
    metrics = write_report(out, tax.classes, config)
    return EvaluationResult.from_metrics(out, metrics, skipped=len(skipped))
