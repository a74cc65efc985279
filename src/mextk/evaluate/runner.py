"""``mextk evaluate``: train and score a registered model under a subject-independent protocol.

The run folder (``DESIGN.md``)::

    OUT/config.json          everything needed to re-run (and to refuse a run with other settings)
    OUT/samples.csv          the samples used: sample_id, subject, dataset, y, source
    OUT/skipped.csv          samples left out, with the reason (excluded label, failed feature)
    OUT/folds.json           the test subjects of every fold
    OUT/folds/K/             model.pt or model.joblib, predictions.csv, history.json, done.json
    OUT/predictions.csv      all folds pooled, with p_<class> probabilities
    OUT/metrics.json         acc, uf1, uar, per_dataset, per_class
    OUT/confusion.png        confusion matrix
    OUT/table.md, table.csv  the CMED Table VI row

Each fold is written when it finishes (``done.json`` last), so a run that was
killed resumes with the same command and redoes only the unfinished folds;
folds are seeded by the run's seed and their number, so the resumed run's
metrics equal an uninterrupted run's.  Folds run one after another
(``local``), in worker processes (``process``, torch threads split between
them so cores are not oversubscribed), or as Ray tasks (``ray``, on a local
instance or a cluster; the run folder must then be on a file system every
node sees).

Nothing is selected on a test fold: the epoch count is fixed or picked on a
validation split of the *training* subjects (:mod:`mextk.evaluate.training`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mextk.evaluate.protocols import PROTOCOLS, plan_folds
from mextk.io.atomic import atomic_path, read_json, write_json_atomic

EXECUTORS = ("local", "process", "ray")
_ID_TYPES = {"sample_id": str, "subject": str, "dataset": str}

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
        Training settings (:class:`~mextk.evaluate.training.TrainConfig` fields).
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


def _fold_seed(seed: int, fold: int) -> int:
    return int(np.random.SeedSequence([seed, fold, 0x5EED]).generate_state(1)[0])


def _config_differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    return sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))


# --------------------------------------------------------------------------- preparation


def prepare_run(config: RunConfig, out: Path, *, jobs: int = 1, progress: bool = True) -> dict[str, Any]:
    """Write ``config.json``, ``samples.csv``, ``skipped.csv`` and ``folds.json`` (or check them on resume).

    The cheap checks (manifest, labels, folds of the protocol) run before
    anything is written and before features are extracted, so a run that fails
    them leaves nothing behind that would block the corrected rerun.

    Returns
    -------
    dict
        ``{"samples": DataFrame, "folds": list of test-subject lists, "classes": tuple, "skipped": DataFrame}``.
    """
    from mextk.evaluate.training import TrainConfig
    from mextk.features.batch import KINDS, extract_features
    from mextk.features.cache import FeatureCache
    from mextk.io.manifest import load_manifest, require_labels, sample_path, subject_keys
    from mextk.io.review import apply_review, exclusion_summary
    from mextk.labels import get_taxonomy
    from mextk.models.registry import get_model

    spec = get_model(config.model)
    tax = get_taxonomy(config.task)
    if config.protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {', '.join(PROTOCOLS)}, got {config.protocol!r}")
    if config.input not in ("features", "precomputed"):
        raise ValueError(f"input must be 'features' or 'precomputed', got {config.input!r}")
    TrainConfig.from_dict({**spec.train, **config.train})  # reject bad settings before any work
    # the manifest is checked before anything is written, so a bad one leaves no run behind to block the rerun
    df = load_manifest(config.manifest, check_files=True)
    df, excluded = apply_review(df, include_excluded=config.include_excluded)
    if excluded and progress:
        from rich.console import Console

        Console(stderr=True).print(exclusion_summary(excluded), highlight=False, markup=False, soft_wrap=True)
    require_labels(df, purpose="evaluate")
    enc = tax.encode(df["emotion"].tolist(), excluded="drop")
    skipped = [{"sample_id": sid, "reason": reason} for sid, reason in excluded.items()]
    skipped += [
        {"sample_id": str(s), "reason": f"label {lab!r} not used by task {tax.name}"}
        for s, lab, k in zip(df["sample_id"], df["emotion"], enc.keep, strict=True)
        if not k
    ]
    used = df.loc[enc.keep].reset_index(drop=True)
    used.attrs = df.attrs
    table = _sample_table(used, enc.y, config, subject_keys)
    # the protocol's folds, checked before config.json is written and before any feature is computed
    plan = _checked_plan(table, config)
    skipped += [
        {"sample_id": sid, "reason": f"not in the train or test part of protocol {config.protocol}"}
        for sid in table.loc[~plan.keep, "sample_id"]
    ]
    used, table = used.loc[plan.keep].reset_index(drop=True), table.loc[plan.keep].reset_index(drop=True)
    used.attrs = df.attrs
    _write_config(out, config)

    if config.input == "features":
        params = {**spec.feature_params, **config.feature_params}
        res = extract_features(
            used,
            spec.feature,
            config.features_dir,
            params=params,
            jobs=jobs,
            include_excluded=True,  # the review has been applied above
            progress=progress,
        )
        cache = FeatureCache(config.features_dir, spec.feature, {**KINDS[spec.feature][1], **params})
        sources = [str(cache.path(str(s))) for s in used["sample_id"]]
        ok = np.array([str(s) not in res["failed"] for s in used["sample_id"]])
        skipped += [{"sample_id": s, "reason": m} for s, m in res["failed"].items()]
    else:
        sources = [str(sample_path(used, p)) for p in used["path"]]
        ok = np.ones(len(used), dtype=bool)
    samples = table.assign(source=sources).loc[ok].reset_index(drop=True)
    if samples.empty:
        raise ValueError("no sample left to evaluate (see skipped.csv)")
    with atomic_path(out / "skipped.csv") as tmp:
        pd.DataFrame(skipped, columns=["sample_id", "reason"]).to_csv(tmp, index=False)
    samples_path = out / "samples.csv"
    if samples_path.exists():
        old = pd.read_csv(samples_path, dtype=_ID_TYPES)
        if not old[["sample_id", "subject", "y"]].equals(samples[["sample_id", "subject", "y"]]):
            raise FileExistsError(f"{out}: the samples differ from the interrupted run's; use another --out")
    with atomic_path(samples_path) as tmp:
        samples.to_csv(tmp, index=False)

    plan = _checked_plan(samples, config)  # again: samples whose features failed are gone
    subjects = samples["subject"].to_numpy()
    folds = [sorted(set(subjects[test].tolist())) for _, test in plan.splits]
    _check_finished_folds(out, folds)
    coverage = check_fold_classes(plan.splits, samples["y"].to_numpy(), tax.classes)
    write_json_atomic(
        out / "folds.json",
        {"protocol": config.protocol, "names": plan.names, "test_subjects": folds, "class_warnings": coverage},
    )
    return {
        "samples": samples,
        "folds": folds,
        "classes": tax.classes,
        "skipped": pd.DataFrame(skipped),
        "class_warnings": coverage,
    }


def _sample_table(used: pd.DataFrame, y: np.ndarray, config: RunConfig, subject_keys: Any) -> pd.DataFrame:
    """The run's sample table: ids, the person (dataset, subject), dataset, class and the split column."""
    table = pd.DataFrame(
        {
            "sample_id": used["sample_id"].astype(str),
            # a person is the pair (dataset, subject): subject "01" of two datasets is two people
            "subject": subject_keys(used),
            "dataset": used["dataset"].astype(str),
            "y": y,
        }
    )
    if config.protocol == "split" and config.split_column in used.columns:
        table[config.split_column] = used[config.split_column].fillna("").astype(str).to_numpy()
    return table


def _checked_plan(table: pd.DataFrame, config: RunConfig) -> Any:
    """The protocol's folds over ``table``, refused when a fold is empty or shares a person between its parts."""
    from mextk.evaluate.splits import check_folds_not_empty, check_subject_independence

    plan = plan_folds(
        table,
        config.protocol,
        n_splits=config.n_splits,
        seed=config.seed,
        train=config.train_on,
        test=config.test_on,
        split_column=config.split_column,
    )
    check_folds_not_empty(plan.splits)
    check_subject_independence(plan.splits, table["subject"].to_numpy()[plan.keep])
    return plan


def _write_config(out: Path, config: RunConfig) -> None:
    """Write ``config.json``, or check it against the run already in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    cfg_path = out / "config.json"
    if cfg_path.exists():
        # through RunConfig, so that a setting added since the run was made counts at its default
        old = RunConfig(**json.loads(cfg_path.read_text())).to_dict()
        diff = _config_differences(old, config.to_dict())
        if diff and any((out / "folds").glob("*/done.json")):
            raise FileExistsError(
                f"{out} holds a run with other settings (differs in: {', '.join(diff)}); use another --out or delete it"
            )
        if diff:  # an attempt that finished no fold: nothing worth keeping, start again with these settings
            for stale in ("samples.csv", "folds.json", "skipped.csv"):
                (out / stale).unlink(missing_ok=True)
            write_json_atomic(cfg_path, config.to_dict())
    else:
        write_json_atomic(cfg_path, config.to_dict())


def _check_finished_folds(out: Path, folds: list[list[str]]) -> None:
    """On resume, the folds must be those the finished folds were trained on."""
    path = out / "folds.json"
    if not path.exists() or not any((out / "folds").glob("*/done.json")):
        return
    old = read_json(path, what="folds file")
    if old.get("test_subjects") != folds:
        changed = [
            k
            for k in range(max(len(folds), len(old.get("test_subjects", []))))
            if k >= len(folds) or k >= len(old["test_subjects"]) or old["test_subjects"][k] != folds[k]
        ]
        raise FileExistsError(
            f"{out}: the folds differ from those of the finished folds in folds.json (fold(s) "
            f"{', '.join(map(str, changed[:10]))}); use another --out or delete it"
        )


def check_fold_classes(
    splits: Sequence[tuple[np.ndarray, np.ndarray]], y: np.ndarray, classes: Sequence[str]
) -> list[str]:
    """Refuse folds that cannot train a classifier; list folds whose training lacks a tested class.

    A fold whose training part holds fewer than two classes has nothing to
    learn: its predictions are one class, whatever the model.  Such an
    evaluation reports a score (often 0) that measures nothing, so it is
    refused.  A fold whose training part lacks a class that its test part
    holds cannot predict that class correctly; this happens with rare
    classes under leave-one-subject-out (one subject holds them all), and the
    runner goes on but warns, and the warnings are saved in ``folds.json``
    and ``metrics.json``.

    Parameters
    ----------
    splits : sequence of (train, test) index arrays
    y : numpy.ndarray
        Class index of every sample.
    classes : sequence of str
        Class names, by index.

    Returns
    -------
    list of str
        One line per fold whose training part lacks a class its test part holds.

    Raises
    ------
    ValueError
        When a fold's training part holds fewer than two classes (naming the folds).

    Examples
    --------
    >>> y = np.array([0, 0, 1, 1, 2])
    >>> check_fold_classes([(np.array([0, 1, 2, 3]), np.array([4]))], y, ["a", "b", "c"])
    ['fold 0: training has no c, which its test part holds (1 sample(s))']
    """
    degenerate, warnings_ = [], []
    for k, (train, test) in enumerate(splits):
        train_classes = set(np.unique(y[train]).tolist())
        if len(train_classes) < 2:
            names = ", ".join(classes[c] for c in sorted(train_classes)) or "nothing"
            degenerate.append(f"fold {k} ({len(train)} training sample(s), all {names})")
            continue
        test_counts = np.bincount(y[test], minlength=len(classes))
        lacking = [c for c in range(len(classes)) if test_counts[c] and c not in train_classes]
        if lacking:
            parts = ", ".join(f"{classes[c]}" for c in lacking)
            n = int(sum(test_counts[c] for c in lacking))
            warnings_.append(f"fold {k}: training has no {parts}, which its test part holds ({n} sample(s))")
    if degenerate:
        shown = "; ".join(degenerate[:3]) + (f"; and {len(degenerate) - 3} more" if len(degenerate) > 3 else "")
        raise ValueError(
            f"{len(degenerate)} of {len(splits)} folds train on fewer than 2 classes, so their models could only "
            f"predict one class: {shown}; use more subjects or samples, or a task with fewer classes"
        )
    return warnings_


# --------------------------------------------------------------------------- one fold


def _read_run(out: Path) -> tuple[RunConfig, pd.DataFrame, list[list[str]]]:
    config = RunConfig(**json.loads((out / "config.json").read_text()))
    samples = pd.read_csv(out / "samples.csv", dtype=_ID_TYPES)
    folds = json.loads((out / "folds.json").read_text())["test_subjects"]
    return config, samples, folds


class LazyInputs(Sequence[Any]):
    """Model inputs read from their files on access (large inputs) or all at once (small ones)."""

    def __init__(self, sources: Sequence[str], input_type: str, *, precomputed: bool, preload: bool) -> None:
        self.sources = list(sources)
        self.input_type = input_type
        self.precomputed = precomputed
        self._cache = [self._load(i) for i in range(len(self.sources))] if preload else None

    def _load(self, i: int) -> Any:
        from mextk.datasets.inputs import read_precomputed, to_model_input

        src = self.sources[i]
        if self.precomputed:
            arrays = read_precomputed(src)
        else:
            with np.load(src) as data:
                arrays = {k: data[k] for k in data.files}
        try:
            return to_model_input(arrays, self.input_type, precomputed=self.precomputed)
        except ValueError as exc:
            raise ValueError(f"{src}: {exc}") from None

    def __len__(self) -> int:
        return len(self.sources)

    def __getitem__(self, i: Any) -> Any:  # type: ignore[override]
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        return self._cache[i] if self._cache is not None else self._load(int(i))


def fold_dir(out: Path, fold: int) -> Path:
    """The folder of fold ``fold``."""
    return out / "folds" / f"{fold:03d}"


def run_fold(out_dir: str, fold: int, *, threads: int | None = None, epoch_callback: Any = None) -> int:
    """Train fold ``fold`` of a prepared run and write its folder (``done.json`` last).

    Safe to call in another process or on another machine that sees ``out_dir``.
    """
    from mextk.evaluate.training import TrainConfig, predict_torch
    from mextk.models.registry import get_model

    if threads:
        import torch

        torch.set_num_threads(threads)
    out = Path(out_dir)
    config, samples, folds = _read_run(out)
    spec = get_model(config.model)
    from mextk.labels import get_taxonomy

    n_classes = get_taxonomy(config.task).n_classes
    test_mask = samples["subject"].isin(folds[fold]).to_numpy()
    train_idx, test_idx = np.flatnonzero(~test_mask), np.flatnonzero(test_mask)
    y = samples["y"].to_numpy().astype(np.int64)
    seed = _fold_seed(config.seed, fold)
    precomputed = config.input == "precomputed"
    preload = spec.input_type in ("vector", "flow", "graph")
    inputs = LazyInputs(samples["source"].tolist(), spec.input_type, precomputed=precomputed, preload=preload)
    folder = fold_dir(out, fold)
    folder.mkdir(parents=True, exist_ok=True)
    history: dict[str, Any] = {}
    if spec.family == "sklearn":
        import joblib

        X = np.stack([inputs[i] for i in range(len(inputs))])
        train_classes = np.unique(y[train_idx])
        if len(train_classes) == 1:  # nothing to learn: predict the only class seen
            probs = np.zeros((len(test_idx), n_classes))
            probs[:, train_classes[0]] = 1.0
            model = {"constant": int(train_classes[0])}
        else:
            import warnings

            from sklearn.exceptions import ConvergenceWarning

            model = spec.build(num_classes=n_classes, **config.model_options)
            with warnings.catch_warnings(record=True) as caught:  # recorded in history.json, not printed per fold
                warnings.simplefilter("always", ConvergenceWarning)
                model.fit(X[train_idx], y[train_idx])
            history["converged"] = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
            for w in caught:
                if not issubclass(w.category, ConvergenceWarning):
                    warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
            probs = _sklearn_probabilities(model, X[test_idx], n_classes)
        with atomic_path(folder / "model.joblib") as tmp:
            joblib.dump(model, tmp)
    else:
        import torch

        train_cfg = TrainConfig.from_dict({**spec.train, **config.train, "seed": seed})
        model, history = spec.fit_function()(
            lambda: spec.build(num_classes=n_classes, **config.model_options),
            [inputs[i] for i in train_idx] if preload else _Subset(inputs, train_idx),
            y[train_idx],
            n_classes=n_classes,
            input_type=spec.input_type,
            config=train_cfg,
            subjects=samples["subject"].to_numpy()[train_idx],
            progress=epoch_callback,
        )
        probs = predict_torch(
            model, [inputs[i] for i in test_idx], input_type=spec.input_type, batch_size=train_cfg.batch_size or 64
        )
        with atomic_path(folder / "model.pt") as tmp:
            torch.save({"model": model.state_dict(), "model_name": config.model, "n_classes": n_classes}, tmp)
    _write_fold_predictions(folder, samples.iloc[test_idx], fold, probs)
    write_json_atomic(folder / "history.json", history)
    write_json_atomic(folder / "done.json", {"fold": fold, "n_train": len(train_idx), "n_test": len(test_idx)})
    return fold


def _write_fold_predictions(folder: Path, tested: pd.DataFrame, fold: int, probs: np.ndarray) -> None:
    """A fold's ``predictions.csv``: ids, fold, true and predicted class index, ``p_<k>`` probabilities."""
    preds = tested[["sample_id", "subject", "dataset"]].copy()
    preds["fold"] = fold
    preds["y_true"] = tested["y"].to_numpy()
    preds["y_pred"] = probs.argmax(axis=1)
    for k in range(probs.shape[1]):
        preds[f"p_{k}"] = probs[:, k]
    with atomic_path(folder / "predictions.csv") as tmp:
        preds.to_csv(tmp, index=False)


class _Subset(Sequence[Any]):
    def __init__(self, base: Sequence[Any], idx: np.ndarray) -> None:
        self.base, self.idx = base, idx

    def __len__(self) -> int:
        return len(self.idx)

    def __getitem__(self, i: Any) -> Any:  # type: ignore[override]
        return self.base[int(self.idx[i])]


def _sklearn_probabilities(model: Any, X: np.ndarray, n_classes: int) -> np.ndarray:
    """Class probabilities; for models without ``predict_proba``, a softmax of decision scores."""
    classes = np.asarray(model.classes_)
    out = np.zeros((len(X), n_classes))
    if hasattr(model, "predict_proba"):
        out[:, classes] = model.predict_proba(X)
        return out
    scores = np.asarray(model.decision_function(X), dtype=np.float64)
    if scores.ndim == 1:  # binary: one score for classes_[1]
        scores = np.stack([-scores, scores], axis=1)
    scores -= scores.max(axis=1, keepdims=True)
    e = np.exp(scores)
    out[:, classes] = e / e.sum(axis=1, keepdims=True)
    return out


# --------------------------------------------------------------------------- the whole run


def _run_folds(
    out: Path,
    todo: list[int],
    *,
    executor: str,
    jobs: int,
    ray_address: str | None,
    progress: bool,
    n_cached: int = 0,
) -> None:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    if not todo:
        if progress and n_cached:
            from rich.console import Console

            Console(stderr=True).print(f"folds: {n_cached} cached (finished in an earlier run)", highlight=False)
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, disable=not progress) as bar:
        folds_task = bar.add_task("folds" + (f" ({n_cached} cached)" if n_cached else ""), total=len(todo))
        if executor == "local":
            epochs_task = bar.add_task("epochs", total=None, visible=False)
            for fold in todo:
                bar.update(epochs_task, completed=0, description=f"fold {fold} epochs")

                def tick(epoch: int, epochs: int, loss: float, fold: int = fold) -> None:
                    bar.update(
                        epochs_task,
                        total=epochs,
                        completed=epoch,
                        visible=True,
                        description=f"fold {fold} loss {loss:.3f}",
                    )

                run_fold(str(out), fold, epoch_callback=tick)
                bar.advance(folds_task)
            return
        cores = os.cpu_count() or 1
        threads = max(1, cores // max(1, jobs))
        if executor == "process":
            from concurrent.futures import ProcessPoolExecutor, as_completed

            with ProcessPoolExecutor(max_workers=jobs) as pool:
                futures = [pool.submit(run_fold, str(out), fold, threads=threads) for fold in todo]
                for fut in as_completed(futures):
                    fut.result()
                    bar.advance(folds_task)
            return
        from mextk.raysession import ray_session

        with ray_session(ray_address, num_cpus=jobs * threads) as ray:
            remote = ray.remote(num_cpus=threads)(run_fold)
            pending = [remote.remote(str(out.resolve()), fold, threads=threads) for fold in todo]
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                ray.get(done)
                bar.advance(folds_task)


def evaluate_run(
    config: RunConfig,
    out_dir: str | os.PathLike[str],
    *,
    executor: str = "local",
    jobs: int = 1,
    ray_address: str | None = None,
    mlflow_uri: str | None = None,
    progress: bool = True,
) -> dict[str, Any]:
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
    dict
        The metrics (``metrics.json``), plus ``"resumed_folds"`` (folds found done) and ``"skipped"`` (count).
    """
    if executor not in EXECUTORS:
        raise ValueError(f"executor must be one of {', '.join(EXECUTORS)}, got {executor!r}")
    out = Path(out_dir)
    prep = prepare_run(config, out, jobs=jobs, progress=progress)
    _warn_about_classes(prep["class_warnings"], len(prep["folds"]), progress=progress)
    n_folds = len(prep["folds"])
    done = [k for k in range(n_folds) if (fold_dir(out, k) / "done.json").exists()]
    todo = [k for k in range(n_folds) if k not in done]
    _run_folds(out, todo, executor=executor, jobs=jobs, ray_address=ray_address, progress=progress, n_cached=len(done))
    metrics = write_report(out, prep["classes"], config)
    metrics["resumed_folds"] = len(done)
    metrics["skipped"] = len(prep["skipped"])
    if mlflow_uri:
        log_to_mlflow(out, config, metrics, mlflow_uri)
    return metrics


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


def write_report(out: Path, classes: Sequence[str], config: RunConfig) -> dict[str, Any]:
    """Pool the folds' predictions and write predictions, metrics, confusion matrix and the table row."""
    from mextk.evaluate.report import write_run_report
    from mextk.labels import get_taxonomy

    tax = get_taxonomy(config.task)
    parts = []
    for folder in sorted((out / "folds").iterdir()):
        if (folder / "done.json").exists():
            parts.append(pd.read_csv(folder / "predictions.csv", dtype=_ID_TYPES))
    preds = pd.concat(parts, ignore_index=True)
    rename = {f"p_{k}": f"p_{c}" for k, c in enumerate(classes)}
    preds = preds.rename(columns=rename)
    metrics = write_run_report(
        out,
        preds,
        classes=list(classes),
        display=[tax.display(c) for c in classes],
        method=METHOD_NAMES.get(config.model, config.model),
        variant=variant_name(config.task, len(classes)),
        extra={
            "protocol": config.protocol,
            "protocol_detail": describe_protocol(config),
            "model": config.model,
            "task": config.task,
            "n_folds": int(preds["fold"].nunique()),
            "class_warnings": (
                json.loads((out / "folds.json").read_text()).get("class_warnings", [])
                if (out / "folds.json").exists()
                else []
            ),
        },
    )
    return metrics


def log_to_mlflow(out: Path, config: RunConfig, metrics: dict[str, Any], uri: str) -> None:
    """Log a finished run to MLflow: parameters, ACC/UF1/UAR (overall and per dataset), and the run files."""
    try:
        import mlflow
    except ImportError:
        raise ValueError("--mlflow needs MLflow: pip install 'mextk[mlflow]'") from None
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("mextk")
    flat = {k: v for k, v in config.to_dict().items() if not isinstance(v, dict)}
    for group in ("feature_params", "model_options", "train"):
        flat.update({f"{group}.{k}": v for k, v in getattr(config, group).items()})
    with mlflow.start_run(run_name=f"{config.model}-{config.task}-{config.protocol}"):
        mlflow.log_params({k: str(v)[:500] for k, v in flat.items()})
        mlflow.log_metrics({k: float(metrics[k]) for k in ("acc", "uf1", "uar")})
        for name, m in metrics.get("per_dataset", {}).items():
            mlflow.log_metrics({f"{name}.{k}": float(m[k]) for k in ("acc", "uf1", "uar")})
        for name in ("metrics.json", "predictions.csv", "confusion.png", "table.md", "config.json"):
            if (out / name).exists():
                mlflow.log_artifact(str(out / name))


# --------------------------------------------------------------------------- scoring saved models


def score_checkpoints(
    checkpoint_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    manifest: str | os.PathLike[str] | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Score a run's saved per-fold models without training.

    Each sample is predicted by the model of the fold whose test subjects
    include its subject, so the scores stay subject-independent.  By default
    the samples are the checkpoint run's own (``samples.csv``); with
    ``manifest``, inputs are recomputed (or read, for precomputed runs) for
    that manifest's samples, and samples whose subject no fold tested are
    listed in ``skipped.csv`` rather than scored by a model that saw them.
    """
    import shutil

    src = Path(checkpoint_dir)
    out = Path(out_dir)
    if not (src / "config.json").exists() or not (src / "folds.json").exists():
        raise FileNotFoundError(f"{src} is not a mextk run folder (no config.json / folds.json)")
    config, samples, folds = _read_run(src)
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
        _write_fold_predictions(folder, samples.iloc[idx], k, probs)
        write_json_atomic(folder / "done.json", {"fold": k, "scored_from": str(fold_dir(src, k))})
    return write_report(out, tax.classes, config)


def predict_saved(run: Path, fold: int, config: RunConfig, samples: pd.DataFrame, n_classes: int) -> np.ndarray:
    """Probabilities of a saved fold model for ``samples`` (rows of ``samples.csv`` form)."""
    from mextk.evaluate.training import predict_torch
    from mextk.models.registry import get_model

    spec = get_model(config.model)
    inputs = LazyInputs(
        samples["source"].tolist(), spec.input_type, precomputed=config.input == "precomputed", preload=False
    )
    folder = fold_dir(run, fold)
    if spec.family == "sklearn":
        import joblib

        model = joblib.load(folder / "model.joblib")
        X = np.stack([inputs[i] for i in range(len(inputs))])
        if isinstance(model, dict):
            probs = np.zeros((len(X), n_classes))
            probs[:, model["constant"]] = 1.0
            return probs
        return _sklearn_probabilities(model, X, n_classes)
    import torch

    state = torch.load(folder / "model.pt", map_location="cpu", weights_only=True)
    options = {k: v for k, v in config.model_options.items() if k != "weights"}
    model = spec.build(num_classes=n_classes, **options)
    model.load_state_dict(state["model"])
    return predict_torch(model, [inputs[i] for i in range(len(inputs))], input_type=spec.input_type)


# --------------------------------------------------------------------------- comparing runs


def compare_runs(run_dirs: Sequence[str | os.PathLike[str]]) -> pd.DataFrame:
    """One table over several runs (CMED Table VI, DFME Tables VIII-XI): method, variant, protocol, scores.

    Runs are listed in the order given; a run's imbalance and sampling settings
    appear when they differ from the defaults, so rows of an ablation can be
    told apart.  When a run scores several datasets, ``UF1 (NAME)`` and
    ``UAR (NAME)`` columns give each dataset's scores (empty for runs without it).
    """
    rows = []
    for d in run_dirs:
        d = Path(d)
        mpath = d / "metrics.json"
        if not d.exists():
            raise FileNotFoundError(f"{d}: run folder not found")
        if not mpath.exists():
            raise FileNotFoundError(f"{d} has no metrics.json (not a finished run)")
        m = read_json(mpath, what="metrics file")
        missing = [k for k in ("uf1", "uar", "acc") if not isinstance(m, dict) or k not in m]
        if missing:
            raise ValueError(f"{mpath}: lacks {', '.join(missing)} (not a mextk metrics file)")
        cfg = read_json(d / "config.json", what="run configuration") if (d / "config.json").exists() else {}
        settings = []
        train = cfg.get("train", {})
        if train.get("resample", "none") != "none":
            settings.append(f"resample={train['resample']}")
        if train.get("loss", "ce") != "ce":
            settings.append(f"loss={train['loss']}")
        for k, v in cfg.get("feature_params", {}).items():
            settings.append(f"{k}={v}")
        rows.append(
            {
                "Method": m.get("method", d.name),
                "Variant": m.get("variant", ""),
                "Protocol": m.get("protocol_detail") or PROTOCOL_NAMES.get(m.get("protocol"), m.get("protocol", "")),
                "Settings": ", ".join(settings),
                "UF1": m["uf1"],
                "UAR": m["uar"],
                "Accuracy": m["acc"],
                "N": m.get("n", ""),
                "Run": str(d),
                **_per_dataset_columns(m),
            }
        )
    table = pd.DataFrame(rows)
    per_dataset = [c for c in table.columns if c.endswith(")")]
    if per_dataset:  # base columns first, then each dataset's UF1 and UAR side by side
        base = [c for c in table.columns if c not in per_dataset]
        names = sorted({c.split("(", 1)[1][:-1] for c in per_dataset})
        table = table[base + [f"{k} ({n})" for n in names for k in ("UF1", "UAR")]].fillna("")
    return table


def _per_dataset_columns(metrics: dict[str, Any]) -> dict[str, float]:
    """``UF1 (NAME)``, ``UAR (NAME)`` of each dataset of a run that scores more than one."""
    per = metrics.get("per_dataset") or {}
    if len(per) < 2:
        return {}
    out: dict[str, float] = {}
    for name, m in per.items():
        out[f"UF1 ({name})"] = m["uf1"]
        out[f"UAR ({name})"] = m["uar"]
    return out
