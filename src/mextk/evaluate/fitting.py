"""Fitting one fold (or a final model) and predicting with a saved one, for both model families.

Each fold is written when it finishes (``done.json`` last), so a run that was
killed resumes with the same command and redoes only the unfinished folds;
folds are seeded by the run's seed and their number, so the resumed run's
metrics equal an uninterrupted run's.  Nothing is selected on a test fold:
the epoch count is fixed or picked on a validation split of the *training*
subjects (:mod:`mextk.models.training`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mextk.evaluate.modelfolder import load_model, predict_with, save_model
from mextk.evaluate.runconfig import RunConfig, fold_dir, fold_seed, read_run
from mextk.io.atomic import atomic_path, write_json_atomic


class LazyInputs(Sequence[Any]):
    """Model inputs read from their files on access (large inputs) or all at once (small ones).

    Vector inputs (feature histograms) read at once can be kept as one float32 matrix in ``matrix_dir``
    (``vectors-<digest>.npy``, the digest naming the sources, their sizes and modification times): the
    first fold of a run writes it, atomically, and every fold memory-maps it instead of reading one file per
    sample (at CMED's scale, 10,924 files a fold).
    """

    def __init__(
        self,
        sources: Sequence[str],
        input_type: str,
        *,
        precomputed: bool,
        preload: bool,
        matrix_dir: str | Path | None = None,
    ) -> None:
        self.sources = list(sources)
        self.input_type = input_type
        self.precomputed = precomputed
        self._ratios: dict[int, float | None] = {}
        self.matrix: np.ndarray | None = None
        self._cache: list[Any] | None = None
        if preload and input_type == "vector" and matrix_dir is not None and self.sources:
            self.matrix = self._vector_matrix(Path(matrix_dir))
        elif preload:
            self._cache = [self._load(i) for i in range(len(self.sources))]

    def _vector_matrix(self, folder: Path) -> np.ndarray:
        import hashlib
        import json
        import os

        stats = [(s, os.stat(s).st_size, os.stat(s).st_mtime_ns) if os.path.exists(s) else (s, -1, -1)
                 for s in self.sources]  # fmt: skip
        digest = hashlib.sha256(json.dumps([self.input_type, self.precomputed, stats]).encode()).hexdigest()[:16]
        path = folder / f"vectors-{digest}.npy"
        if not path.exists():
            first = self._load(0)
            with atomic_path(path) as tmp:
                out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(len(self), first.size))
                for i in range(len(self)):
                    row = first if i == 0 else self._load(i)
                    if row.size != first.size:
                        first_source = self.sources[0]
                        raise ValueError(f"{self.sources[i]}: {row.size} values, but {first_source} has {first.size}")
                    out[i] = row
                out.flush()
                del out
        return np.load(path, mmap_mode="r")

    def take(self, idx: Sequence[int] | np.ndarray) -> np.ndarray:
        """The inputs ``idx`` stacked into one array (one copy out of the matrix when there is one)."""
        if self.matrix is not None:
            return np.asarray(self.matrix[np.asarray(idx, dtype=np.int64)])
        return np.stack([self[int(i)] for i in idx])

    def _arrays(self, i: int) -> dict[str, np.ndarray]:
        from mextk.models.inputs import read_precomputed

        if self.precomputed:
            return read_precomputed(self.sources[i])
        with np.load(self.sources[i]) as data:
            return {k: data[k] for k in data.files}

    def _load(self, i: int) -> Any:
        from mextk.models.inputs import to_model_input

        arrays = self._arrays(i)
        if self.input_type == "flow":
            from mextk.models.augment import uv_ratio

            self._ratios[i] = uv_ratio(arrays.get("flow_range"))
        try:
            return to_model_input(arrays, self.input_type, precomputed=self.precomputed)
        except ValueError as exc:
            raise ValueError(f"{self.sources[i]}: {exc}") from None

    def uv_ratio(self, i: int) -> float | None:
        """Sample ``i``'s raw flow v/u range ratio (:func:`mextk.models.augment.uv_ratio`; ``None`` if unknown)."""
        if i not in self._ratios:
            self._load(i)
        return self._ratios[i]

    def __len__(self) -> int:
        return len(self.sources)

    def __getitem__(self, i: Any) -> Any:  # type: ignore[override]
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if self.matrix is not None:
            return self.matrix[int(i)]
        return self._cache[i] if self._cache is not None else self._load(int(i))


class _Subset(Sequence[Any]):
    def __init__(self, base: Sequence[Any], idx: np.ndarray) -> None:
        self.base, self.idx = base, idx

    def __len__(self) -> int:
        return len(self.idx)

    def __getitem__(self, i: Any) -> Any:  # type: ignore[override]
        return self.base[int(self.idx[i])]


def fit_model(
    config: RunConfig,
    inputs: Sequence[Any],
    y: np.ndarray,
    train_idx: np.ndarray,
    *,
    seed: int,
    subjects: np.ndarray,
    epoch_callback: Any = None,
    test_idx: np.ndarray | None = None,
) -> tuple[Any, dict[str, Any]]:
    """Fit ``config.model`` on the samples ``train_idx`` of ``inputs``; returns the model and its history.

    A scikit-learn model whose training holds one class only becomes ``{"constant": k}`` (it predicts that class).
    ``test_idx``, the fold's test samples, is looked at only with the leaky training setting ``select_on_test``.
    """
    from mextk.labels import get_taxonomy
    from mextk.models.registry import get_model
    from mextk.models.training import TrainConfig

    spec = get_model(config.model)
    n_classes = get_taxonomy(config.task).n_classes
    history: dict[str, Any] = {}
    if spec.family == "sklearn":
        if config.train.get("select_on_test"):
            raise ValueError(f"select_on_test picks a training epoch; {config.model} trains no epochs")
        X = inputs.take(train_idx) if isinstance(inputs, LazyInputs) else np.stack([inputs[i] for i in train_idx])
        train_classes = np.unique(y[train_idx])
        if len(train_classes) == 1:  # nothing to learn: predict the only class seen
            return {"constant": int(train_classes[0])}, history
        import warnings

        from sklearn.exceptions import ConvergenceWarning

        model = spec.build(num_classes=n_classes, **config.model_options)
        with warnings.catch_warnings(record=True) as caught:  # recorded in history.json, not printed per fold
            warnings.simplefilter("always", ConvergenceWarning)
            model.fit(X, y[train_idx])
        history["converged"] = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
        for w in caught:
            if not issubclass(w.category, ConvergenceWarning):
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        return model, history
    train_cfg = TrainConfig.from_dict({**spec.train, **config.train, "seed": seed})
    train_cfg.check_input_type(spec.input_type, config.model)
    chooser: dict[str, Any] = {}
    if train_cfg.select_on_test:  # leaky by request: the fold's test samples pick the epoch
        if test_idx is None or not len(test_idx):
            raise ValueError("select_on_test needs a test fold: it applies to mextk evaluate, not to a final model")
        chooser = {"test_inputs": [inputs[i] for i in test_idx], "test_y": y[test_idx]}
    preload = isinstance(inputs, LazyInputs) and (inputs._cache is not None or inputs.matrix is not None)
    flow_meta: dict[str, Any] = {}
    if train_cfg.augment_rotate and isinstance(inputs, LazyInputs):  # what rotating normalised flow needs
        flow_meta = {
            "uv_ratios": [inputs.uv_ratio(int(i)) for i in train_idx],
            "names": [inputs.sources[int(i)] for i in train_idx],
        }
    return spec.fit_function()(
        lambda: spec.build(num_classes=n_classes, **config.model_options),
        [inputs[i] for i in train_idx] if preload else _Subset(inputs, train_idx),
        y[train_idx],
        n_classes=n_classes,
        input_type=spec.input_type,
        config=train_cfg,
        subjects=subjects[train_idx],
        progress=epoch_callback,
        **flow_meta,
        **chooser,
    )


def run_fold(out_dir: str, fold: int, *, threads: int | None = None, epoch_callback: Any = None) -> int:
    """Train fold ``fold`` of a prepared run and write its folder (a model folder; ``done.json`` last).

    Safe to call in another process or on another machine that sees ``out_dir``.  ``threads`` bounds both
    PyTorch's threads and the BLAS/OpenMP pools of NumPy and scikit-learn (two workers of two BLAS threads each
    on two cores made a CMED-scale LBP-TOP + SVM LOSO run take 15.3 instead of 11.9 minutes).
    """
    with thread_bound(threads):
        return _run_fold(out_dir, fold, epoch_callback=epoch_callback)


@contextmanager
def thread_bound(threads: int | None) -> Iterator[None]:
    """Bound PyTorch's threads and NumPy's BLAS/OpenMP pools to ``threads`` (no bound for ``None``)."""
    if not threads:
        yield
        return
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(threads)
    with threadpool_limits(limits=threads):
        yield


def _run_fold(out_dir: str, fold: int, *, epoch_callback: Any = None) -> int:
    out = Path(out_dir)
    config, samples, folds = read_run(out)
    test_mask = samples["subject"].isin(folds[fold]).to_numpy()
    train_idx, test_idx = np.flatnonzero(~test_mask), np.flatnonzero(test_mask)
    y = samples["y"].to_numpy().astype(np.int64)
    inputs = run_inputs(config, samples, matrix_dir=out)
    folder = fold_dir(out, fold)
    folder.mkdir(parents=True, exist_ok=True)
    model, history = fit_model(
        config,
        inputs,
        y,
        train_idx,
        seed=fold_seed(config.seed, fold),
        subjects=samples["subject"].to_numpy(),
        epoch_callback=epoch_callback,
        test_idx=test_idx,
    )
    meta = save_model(
        folder,
        model,
        config,
        trained_on=sorted(set(samples["subject"].iloc[train_idx])),
        datasets=samples["dataset"].iloc[train_idx].value_counts().to_dict(),
    )
    probs = predict_with(model, meta, [inputs[i] for i in test_idx])
    write_fold_predictions(folder, samples.iloc[test_idx], fold, probs)
    write_json_atomic(folder / "history.json", history)
    write_json_atomic(folder / "done.json", {"fold": fold, "n_train": len(train_idx), "n_test": len(test_idx)})
    return fold


def run_inputs(config: RunConfig, samples: pd.DataFrame, *, matrix_dir: str | Path | None = None) -> LazyInputs:
    """The model inputs of a run's samples (small inputs read at once, large ones on access; vector inputs kept
    as one matrix in ``matrix_dir`` when given, see :class:`LazyInputs`)."""
    from mextk.models.registry import get_model

    spec = get_model(config.model)
    preload = spec.input_type in ("vector", "flow", "flow_regions", "graph")
    precomputed = config.input == "precomputed"
    return LazyInputs(
        samples["source"].tolist(), spec.input_type, precomputed=precomputed, preload=preload, matrix_dir=matrix_dir
    )


def write_fold_predictions(folder: Path, tested: pd.DataFrame, fold: int, probs: np.ndarray) -> None:
    """A fold's ``predictions.csv``: ids, fold, true and predicted class index, ``p_<k>`` probabilities."""
    preds = tested[["sample_id", "subject", "dataset"]].copy()
    preds["fold"] = fold
    preds["y_true"] = tested["y"].to_numpy()
    preds["y_pred"] = probs.argmax(axis=1)
    for k in range(probs.shape[1]):
        preds[f"p_{k}"] = probs[:, k]
    with atomic_path(folder / "predictions.csv") as tmp:
        preds.to_csv(tmp, index=False)


def predict_saved(run: Path, fold: int, config: RunConfig, samples: pd.DataFrame, n_classes: int) -> np.ndarray:
    """Probabilities of a saved fold model for ``samples`` (rows of ``samples.csv`` form)."""
    from mextk.models.registry import get_model

    model, meta = load_model(fold_dir(run, fold), config=config)
    spec = get_model(config.model)
    inputs = LazyInputs(
        samples["source"].tolist(), spec.input_type, precomputed=config.input == "precomputed", preload=False
    )
    probs = predict_with(model, meta, [inputs[i] for i in range(len(inputs))])
    if probs.shape[1] != n_classes:
        raise ValueError(f"{fold_dir(run, fold)}: the model has {probs.shape[1]} classes, the run {n_classes}")
    return probs
