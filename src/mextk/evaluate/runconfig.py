"""The run folder and the model folder: what ``evaluate`` and ``train`` write, and how it is read back.

Run folder (``DESIGN.md``)::

    OUT/config.json          everything needed to re-run (and to refuse a run with other settings)
    OUT/samples.csv          the samples used: sample_id, subject, dataset, y, source
    OUT/skipped.csv          samples left out, with the reason (excluded label, failed feature)
    OUT/folds.json           the test subjects of every fold
    OUT/vectors-<digest>.npy vector inputs (histograms) of every sample as one float32 matrix, read by
                             every fold (a cache: deleting it costs one re-read of the features)
    OUT/folds/K/             a model folder (below), plus predictions.csv, history.json, done.json
    OUT/predictions.csv      all folds pooled, with p_<class> probabilities
    OUT/metrics.json         acc, uf1, uar, per_dataset, per_class
    OUT/confusion.png        confusion matrix
    OUT/table.md, table.csv  the CMED Table VI row

Model folder (``mextk train``'s output, and every fold of a run)::

    model.pt or model.joblib the weights (a torch state dict) or the fitted scikit-learn estimator
    model.json               the full run configuration, the class list, the feature kind and its exact
                             parameters (with the kind's version), the model's input type, the mextk version

so any fold model can predict (:mod:`mextk.evaluate.predict`).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mextk.io.runfolder import RunFolder, settings_differences

ID_TYPES = {"sample_id": str, "subject": str, "dataset": str}

#: Printed names of the models (CMED Table VI's "Method" column).
METHOD_NAMES = {
    "lbptop_svm": "LBP-TOP",
    "motion_svm": "Motion SVM",
    "vgg16_apex": "VGG-16",
    "dgcnn": "DGCNN",
    "r3d": "R3D",
    "p3d": "P3D",
    "d3d": "D3D",
    "i3d": "I3D",
    "ststnet": "STSTNet",
    "offapexnet": "OFF-ApexNet",
}


@dataclass(frozen=True)
class RunConfig:
    """Everything that determines a run's results (saved as ``config.json``).

    Attributes
    ----------
    manifest : str
        Manifest path (absolute).
    model : str
        Registry name.
    protocol : {"loso", "kfold", "lodo", "holdout", "split"}
        Leave-one-subject-out, subject-stratified k-fold, leave one dataset out, MEGC's
        holdout-database evaluation, or a fixed split in a manifest column
        (:mod:`mextk.evaluate.protocols`).
    task : str
        Taxonomy (:mod:`mextk.labels`).
    n_splits : int
        Folds of ``kfold``.
    seed : int
        Master seed (folds, training).
    input : {"features", "precomputed"}
        Compute inputs into the feature cache, or read the manifest's ``path`` as the input itself.
    features_dir : str
        Feature cache root.
    feature_params : dict
        Overrides of the model's feature parameters.
    model_options : dict
        Keyword options of the model builder (``weights`` ...).
    train : dict
        Training settings (:class:`~mextk.models.training.TrainConfig` fields).
    include_excluded : bool
        Also use the clips that review decisions leave out (``kept`` false, rejected in
        ``review.csv``: :mod:`mextk.io.review`); by default they are listed in ``skipped.csv``.
    train_on, test_on : list of str
        Datasets (``holdout``) or values of ``split_column`` (``split``) to train and test on.
    split_column : str
        The manifest column of the ``split`` protocol (DFME: ``split``).
    """

    manifest: str
    model: str
    protocol: str = "loso"
    task: str = "cmed6"
    n_splits: int = 10
    seed: int = 0
    input: str = "features"
    features_dir: str = ""
    feature_params: dict[str, Any] = field(default_factory=dict)
    model_options: dict[str, Any] = field(default_factory=dict)
    train: dict[str, Any] = field(default_factory=dict)
    include_excluded: bool = False
    train_on: list[str] = field(default_factory=list)
    test_on: list[str] = field(default_factory=list)
    split_column: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (JSON-serialisable)."""
        return asdict(self)


def fold_seed(seed: int, fold: int) -> int:
    return int(np.random.SeedSequence([seed, fold, 0x5EED]).generate_state(1)[0])


def write_config(out: Path, config: RunConfig) -> None:
    """Write ``config.json``, or check it against the run already in ``out`` (:class:`mextk.io.runfolder.RunFolder`).

    A run with other settings is refused once a fold is done; an attempt that finished no fold holds
    nothing worth keeping, and starts again with the new settings.
    """
    folder = RunFolder(out, "config.json", what="run")
    recorded = folder.recorded()
    if recorded is None:
        folder.write(config.to_dict())
        return
    # through RunConfig, so that a setting added since the run was made counts at its default
    diff = settings_differences(RunConfig(**recorded).to_dict(), config.to_dict())
    if diff and any((out / "folds").glob("*/done.json")):
        raise folder.refusal(diff)
    if diff:
        for stale in ("samples.csv", "folds.json", "skipped.csv"):
            (out / stale).unlink(missing_ok=True)
        folder.write(config.to_dict())


def read_run(out: Path) -> tuple[RunConfig, pd.DataFrame, list[list[str]]]:
    config = RunConfig(**json.loads((out / "config.json").read_text()))
    samples = pd.read_csv(out / "samples.csv", dtype=ID_TYPES)
    folds = json.loads((out / "folds.json").read_text())["test_subjects"]
    return config, samples, folds


def fold_dir(out: Path, fold: int) -> Path:
    """The folder of fold ``fold``."""
    return out / "folds" / f"{fold:03d}"


def variant_name(task: str, n_classes: int) -> str:
    """Table VI's "Variant": ``6-Class``, ``3-Class``, or ``ME vs No-ME`` for spotting."""
    return "ME vs No-ME" if task == "spotting" else f"{n_classes}-Class"


PROTOCOL_NAMES = {"loso": "LOSO", "kfold": "k-fold", "lodo": "LODO", "holdout": "Holdout", "split": "Split"}


def describe_protocol(config: RunConfig) -> str:
    """The protocol as a table shows it: ``LOSO``, ``10-fold``, ``Holdout casme2 -> samm``, ``Split testA``."""
    name = PROTOCOL_NAMES.get(config.protocol, config.protocol)
    if config.protocol == "kfold":
        return f"{config.n_splits}-fold"
    if config.protocol == "holdout":
        return f"{name} {'+'.join(config.train_on)} -> {'+'.join(config.test_on)}"
    if config.protocol == "split":
        train = "+".join(config.train_on) if config.train_on else "rest"
        return f"{name} {config.split_column}: {train} -> {'+'.join(config.test_on)}"
    return name


def build_config(
    *,
    manifest: str | Path,
    model: str,
    task: str = "cmed6",
    protocol: str = "loso",
    n_splits: int = 10,
    seed: int = 0,
    input: str = "features",
    features_dir: str | Path,
    feature: list[str] | None = None,
    train: list[str] | None = None,
    model_option: list[str] | None = None,
    train_datasets: list[str] | None = None,
    test: list[str] | None = None,
    split_column: str | None = None,
    weights: str | None = None,
    size: int | None = None,
    epochs: int | None = None,
    resample: str | None = None,
    loss: str | None = None,
    val_subjects: float | None = None,
    include_excluded: bool = False,
) -> RunConfig:
    """A :class:`RunConfig` from command-line style options (the one place ``evaluate`` and ``train`` merge them).

    ``feature`` are feature parameters ``KEY=VALUE``; ``train`` training settings ``KEY=VALUE``;
    ``train_datasets`` and ``test`` the datasets (holdout) or split values (split) of each side; ``model_option``
    the model builder's options; ``size`` the model's input size parameter; ``epochs``, ``resample``, ``loss`` and
    ``val_subjects`` training settings.

    Raises
    ------
    ValueError
        A ``train`` item without ``=`` (a dataset name given where a setting is expected: one meaning per
        option, so the message points at ``--train-datasets``).
    """
    from mextk.features.batch import parse_params
    from mextk.models.registry import get_model

    spec = get_model(model)
    feature_params = parse_params(feature or [])
    if size is not None:
        if spec.size_param is None:
            raise ValueError(f"{model} has no input size option")
        feature_params[spec.size_param] = size
    names = [t for t in train or [] if "=" not in t]
    if names:
        raise ValueError(
            f"--train {names[0]}: a training setting is KEY=VALUE (epochs=30); name the training datasets or "
            "split values with --train-datasets"
        )
    settings = list(train or [])
    train_on = [v.strip() for t in train_datasets or [] for v in t.split(",") if v.strip()]
    test_on = [v.strip() for t in test or [] for v in t.split(",") if v.strip()]
    train_cfg = parse_params(settings)
    for key, value in (("epochs", epochs), ("resample", resample), ("loss", loss), ("val_subjects", val_subjects)):
        if value is not None:
            train_cfg[key] = value
    options = parse_params(model_option or [])
    if weights is not None:
        options["weights"] = weights
    return RunConfig(
        manifest=str(Path(manifest).resolve()),
        model=model,
        protocol=protocol,
        task=task,
        n_splits=n_splits,
        seed=seed,
        input=input,
        features_dir=str(Path(features_dir).resolve()),
        feature_params=feature_params,
        model_options=options,
        train=train_cfg,
        include_excluded=include_excluded,
        train_on=train_on,
        test_on=test_on,
        split_column=split_column or "",
    )
