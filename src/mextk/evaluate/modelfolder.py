"""The model folder: a trained model with everything needed to use it on new clips, and the checks on loading.

``model.pt`` (a torch state dict) or ``model.joblib`` (the fitted scikit-learn
estimator) holds the weights; ``model.json`` (written last: a folder without
it is unfinished) holds:

``format``          this layout's number (:data:`FORMAT`)
``mextk_version``   the version that trained it
``model``, ``family``, ``input_type``
                    the registered model, ``torch`` or ``sklearn``, its input
``task``, ``classes``
                    the taxonomy and its classes, in the order of the outputs
``feature``         ``{"kind": ..., "params": {...}}``: the feature kind and its exact
                    parameters, the kind's ``version`` included (``{"kind": "precomputed"}``
                    for a run on precomputed inputs)
``config``          the full :class:`~mextk.evaluate.runconfig.RunConfig`
``trained_on``      the persons (``DATASET/SUBJECT``) whose samples trained it

Loading refuses, with one line saying why, a folder that would silently
mispredict: another layout, a feature kind whose computation has changed
since (its ``version``) or whose parameters this mextk does not know, an
unknown model, or classes that the task no longer has.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mextk.evaluate.runconfig import RunConfig
from mextk.io.atomic import atomic_path, read_json, write_json_atomic

FORMAT = 1


def feature_record(config: RunConfig) -> dict[str, Any]:
    """The ``feature`` entry of ``model.json`` for a run's configuration."""
    from mextk.features.kinds import KIND_DEFAULTS
    from mextk.models.registry import get_model

    if config.input == "precomputed":
        return {"kind": "precomputed"}
    spec = get_model(config.model)
    return {
        "kind": spec.feature,
        "params": {**KIND_DEFAULTS[spec.feature], **spec.feature_params, **config.feature_params},
    }


#: The dataset names that mextk's own generators write (``mextk synth``: clips, long videos, expressions rendered
#: into real faces).
SYNTHETIC_DATASETS: tuple[str, ...] = ("synth", "synth-long", "rendered")


def _description(config: RunConfig) -> dict[str, Any]:
    """The part of ``model.json`` that the run's configuration alone determines."""
    from mextk.labels import get_taxonomy
    from mextk.models.registry import get_model

    spec = get_model(config.model)
    return {
        "format": FORMAT,
        "model": config.model,
        "family": spec.family,
        "input_type": spec.input_type,
        "task": config.task,
        "classes": list(get_taxonomy(config.task).classes),
        "feature": feature_record(config),
        "config": config.to_dict(),
    }


def model_record(
    config: RunConfig, *, trained_on: Sequence[str], datasets: Mapping[str, int] | None = None
) -> dict[str, Any]:
    """What ``model.json`` says of a model fitted with ``config`` (:func:`save_model`; also what
    :func:`predict_with` needs of a model that is used without being saved)."""
    from mextk import __version__

    return {
        **_description(config),
        "mextk_version": __version__,
        "trained_on": list(trained_on),
        "datasets": {str(k): int(v) for k, v in sorted((datasets or {}).items())},
        "synthetic_only": bool(datasets) and all(str(k) in SYNTHETIC_DATASETS for k in datasets),
    }


def save_model(
    folder: str | Path,
    model: Any,
    config: RunConfig,
    *,
    trained_on: Sequence[str],
    datasets: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """Write a model folder (weights, then ``model.json``); returns the ``model.json`` contents.

    ``trained_on`` are the subjects it was fitted on, ``datasets`` its training samples per dataset (``model.json``
    keeps both, and whether every dataset is one of mextk's synthetic ones, :data:`SYNTHETIC_DATASETS`: such a
    model's classes mean nothing on real faces, which ``mextk analyze``'s report says).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    meta = model_record(config, trained_on=trained_on, datasets=datasets)
    if meta["family"] == "sklearn":
        import joblib

        with atomic_path(folder / "model.joblib") as tmp:
            joblib.dump(model, tmp)
    else:
        import torch

        with atomic_path(folder / "model.pt") as tmp:
            state = {"model": model.state_dict(), "model_name": config.model, "n_classes": len(meta["classes"])}
            torch.save(state, tmp)
    write_json_atomic(folder / "model.json", meta)
    return meta


def check_model(meta: dict[str, Any], where: str) -> None:
    """Raise ``ValueError`` (one line, naming ``where``) when the model cannot be used by this mextk."""
    from mextk import __version__
    from mextk.features.kinds import KIND_DEFAULTS
    from mextk.labels import get_taxonomy
    from mextk.models.registry import MODELS

    if meta.get("format") != FORMAT:
        raise ValueError(f"{where}: model folder format {meta.get('format')!r}, this mextk reads format {FORMAT}")
    if meta.get("model") not in MODELS:
        raise ValueError(f"{where}: unknown model {meta.get('model')!r} (trained by mextk {meta.get('mextk_version')})")
    feature = meta.get("feature", {})
    kind = feature.get("kind")
    if kind != "precomputed":
        if kind not in KIND_DEFAULTS:
            raise ValueError(f"{where}: feature kind {kind!r} is unknown to mextk {__version__}")
        params = feature.get("params", {})
        now = KIND_DEFAULTS[kind].get("version")
        if params.get("version") != now:
            raise ValueError(
                f"{where}: trained on {kind} features of version {params.get('version')} (mextk "
                f"{meta.get('mextk_version')}); mextk {__version__} computes version {now}, so its inputs would not "
                "match: retrain (mextk train) or predict with the mextk that trained it"
            )
        unknown = sorted(set(params) - set(KIND_DEFAULTS[kind]))
        if unknown:
            raise ValueError(f"{where}: feature parameters {unknown} of {kind} are unknown to mextk {__version__}")
    classes = list(get_taxonomy(meta["task"]).classes)
    if classes != list(meta.get("classes", [])):
        raise ValueError(f"{where}: trained for classes {meta.get('classes')}, task {meta['task']} now has {classes}")


def model_meta(folder: str | Path, *, config: RunConfig | None = None) -> dict[str, Any]:
    """A model folder's ``model.json``, after :func:`check_model` (without loading the weights).

    ``config`` stands in for ``model.json`` in a fold folder of a run made before model folders existed.
    """
    folder = Path(folder)
    meta_path = folder / "model.json"
    if meta_path.exists():
        meta = read_json(meta_path, what="model description")
    elif config is not None:
        meta = _description(config)
    else:
        raise FileNotFoundError(f"{folder}: not a model folder (no model.json); give mextk train's output or a fold")
    check_model(meta, str(meta_path))
    return meta


def weights_path(folder: str | Path, meta: dict[str, Any]) -> Path:
    """Where a model folder keeps its weights: ``model.joblib`` (scikit-learn) or ``model.pt`` (torch)."""
    return Path(folder) / ("model.joblib" if meta["family"] == "sklearn" else "model.pt")


def load_model(folder: str | Path, *, config: RunConfig | None = None) -> tuple[Any, dict[str, Any]]:
    """A model folder's model (in eval mode) and ``model.json``, after :func:`check_model` (:func:`model_meta`)."""
    folder = Path(folder)
    meta = model_meta(folder, config=config)
    path = weights_path(folder, meta)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: the model's weights are missing")
    try:
        if meta["family"] == "sklearn":
            import joblib

            return joblib.load(path), meta
        import torch

        from mextk.models.registry import get_model

        state = torch.load(path, map_location="cpu", weights_only=True)
        cfg = meta["config"]
        options = {k: v for k, v in cfg.get("model_options", {}).items() if k != "weights"}  # the weights are in state
        model = get_model(meta["model"]).build(num_classes=len(meta["classes"]), **options)
        model.load_state_dict(state["model"])
    except Exception as exc:  # a truncated or foreign file: one line naming it
        raise ValueError(f"{path}: cannot load the model's weights: {' '.join(str(exc).split())[:200]}") from exc
    model.eval()
    return model, meta


def sklearn_probabilities(model: Any, X: np.ndarray, n_classes: int) -> np.ndarray:
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


def predict_with(model: Any, meta: dict[str, Any], inputs: Sequence[Any], *, batch_size: int = 64) -> np.ndarray:
    """``(N, classes)`` probabilities of a loaded model for model inputs."""
    n_classes = len(meta["classes"])
    if not len(inputs):
        return np.zeros((0, n_classes))
    if meta["family"] == "sklearn":
        X = np.stack(list(inputs))
        if isinstance(model, dict):
            probs = np.zeros((len(X), n_classes))
            probs[:, model["constant"]] = 1.0
            return probs
        return sklearn_probabilities(model, X, n_classes)
    from mextk.models.registry import get_model
    from mextk.models.training import predict_torch

    train = {**get_model(meta["model"]).train, **meta.get("config", {}).get("train", {})}
    return predict_torch(
        model, list(inputs), input_type=meta["input_type"], batch_size=batch_size,
        tta=bool(train.get("tta", False)), flow_values=train.get("flow_values", "minmax"),
    )  # fmt: skip
