"""``mextk train``: a final model on every subject, with the settings ``evaluate`` uses, as a model folder.

The samples, their inputs and the fitting are exactly those of an evaluation
fold (:func:`mextk.evaluate.preparation.select_samples`,
:func:`~mextk.evaluate.preparation.compute_inputs`,
:func:`mextk.evaluate.fitting.fit_model`), with every subject in training.
The epoch count is the fixed one, or picked on a validation split of the
training subjects when ``val_subjects`` is set, as in evaluation.

Output folder: a model folder (:mod:`mextk.evaluate.modelfolder`: the weights and
``model.json``, written last), ``samples.csv`` (the training samples),
``skipped.csv`` and ``history.json``.  Run again with the same settings, it
says the model is there; with other settings, it refuses.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mextk.evaluate.fitting import fit_model, run_inputs
from mextk.evaluate.modelfolder import save_model
from mextk.evaluate.preparation import compute_inputs, select_samples
from mextk.evaluate.runconfig import RunConfig, fold_seed
from mextk.io.atomic import atomic_path, read_json, write_json_atomic
from mextk.io.runfolder import RunFolder

#: The "fold" number whose seed a final model uses (evaluation folds are numbered from 0).
FINAL = 999_999


@dataclass(frozen=True)
class TrainedModel:
    """A model folder that :func:`train_model` wrote, or found already trained with the same settings.

    Attributes
    ----------
    out : Path
        The model folder.
    model, task : str
        The registered model and the taxonomy.
    classes : tuple of str
        The class order of its probabilities.
    trained_on : tuple of str
        The subjects it was trained on.
    datasets : dict of str to int
        Its training samples per dataset (empty for a model folder written before mextk recorded them).
    synthetic_only : bool
        Every training dataset is one of mextk's synthetic ones: its classes mean nothing on real faces.
    n_samples, skipped : int or None
        Training samples, and samples left out (``skipped.csv``); None when the model was found trained.
    cached : bool
        The model was there already (nothing was trained).
    meta : Mapping
        The whole ``model.json`` (feature settings, the run's settings, mextk's version).
    """

    out: Path
    model: str
    task: str
    classes: tuple[str, ...]
    trained_on: tuple[str, ...]
    datasets: dict[str, int]
    synthetic_only: bool
    n_samples: int | None
    skipped: int | None
    cached: bool
    meta: Mapping[str, Any]

    @classmethod
    def from_meta(
        cls, out: Path, meta: Mapping[str, Any], *, n_samples: int | None, skipped: int | None, cached: bool
    ) -> TrainedModel:
        """The result for a model folder whose ``model.json`` holds ``meta``."""
        return cls(
            out=out,
            model=str(meta["model"]),
            task=str(meta["task"]),
            classes=tuple(meta["classes"]),
            trained_on=tuple(meta["trained_on"]),
            datasets=dict(meta.get("datasets", {})),
            synthetic_only=bool(meta.get("synthetic_only", False)),
            n_samples=n_samples,
            skipped=skipped,
            cached=cached,
            meta=dict(meta),
        )


def train_model(
    config: RunConfig, out_dir: str | os.PathLike[str], *, jobs: int = 1, progress: bool = True
) -> TrainedModel:
    """Train ``config.model`` on every usable sample of ``config.manifest`` and write a model folder.

    Returns
    -------
    TrainedModel
        The model folder's description, the sample counts, and whether it was found trained.
    """
    out = Path(out_dir)
    meta_path = out / "model.json"
    # the model's description is its record, written last: the settings sit under "config"
    if RunFolder(out, "model.json", what="model trained", key="config").claim(config.to_dict(), write=False):
        meta = read_json(meta_path, what="model description")
        return TrainedModel.from_meta(out, meta, n_samples=None, skipped=None, cached=True)
    sel = select_samples(config, progress=progress)
    samples, failed = compute_inputs(config, sel["used"], sel["table"], jobs=jobs, progress=progress)
    skipped = sel["skipped"] + failed
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / "skipped.csv") as tmp:
        pd.DataFrame(skipped, columns=["sample_id", "reason"]).to_csv(tmp, index=False)
    with atomic_path(out / "samples.csv") as tmp:
        samples.to_csv(tmp, index=False)
    y = samples["y"].to_numpy().astype(np.int64)
    if len(np.unique(y)) < 2:
        raise ValueError(f"{config.manifest}: the samples hold one class only; a classifier needs two or more")
    model, history = _fit_all(config, samples, y, progress=progress)
    write_json_atomic(out / "history.json", history)
    meta = save_model(
        out,
        model,
        config,
        trained_on=sorted(set(samples["subject"])),
        datasets=samples["dataset"].value_counts().to_dict(),
    )
    return TrainedModel.from_meta(out, meta, n_samples=len(samples), skipped=len(skipped), cached=False)


def _fit_all(config: RunConfig, samples: pd.DataFrame, y: np.ndarray, *, progress: bool) -> tuple[Any, dict]:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, disable=not progress) as bar:
        task = bar.add_task(f"training {config.model} on {len(samples)} samples", total=None)

        def tick(epoch: int, epochs: int, loss: float) -> None:
            bar.update(task, total=epochs, completed=epoch, description=f"training {config.model}, loss {loss:.3f}")

        return fit_model(
            config,
            run_inputs(config, samples),
            y,
            np.arange(len(samples)),
            seed=fold_seed(config.seed, FINAL),
            subjects=samples["subject"].to_numpy(),
            epoch_callback=tick,
        )
