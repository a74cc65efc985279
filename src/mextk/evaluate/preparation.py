"""Preparing a run: the manifest checked, labels encoded, the protocol's folds planned, features computed.

The cheap checks run before anything is written, so a run that fails them
leaves nothing behind that would block the corrected rerun.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mextk.evaluate.protocols import PROTOCOLS, plan_folds
from mextk.evaluate.runconfig import ID_TYPES, RunConfig, write_config
from mextk.io.atomic import atomic_path, read_json, write_json_atomic


def select_samples(config: RunConfig, *, progress: bool = True) -> dict[str, Any]:
    """The manifest checked, review decisions applied, labels encoded: the samples a run or a final model uses.

    Nothing is written.  Returns ``used`` (manifest rows), ``table`` (sample_id, subject, dataset, y, ...),
    ``skipped`` (list of ``{"sample_id", "reason"}``) and ``classes``.
    """
    from mextk.io.manifest import load_manifest, require_labels, subject_keys
    from mextk.io.review import apply_review, exclusion_summary
    from mextk.labels import get_taxonomy
    from mextk.models.registry import get_model
    from mextk.models.training import TrainConfig

    spec = get_model(config.model)
    tax = get_taxonomy(config.task)
    if config.protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {', '.join(PROTOCOLS)}, got {config.protocol!r}")
    if config.input not in ("features", "precomputed"):
        raise ValueError(f"input must be 'features' or 'precomputed', got {config.input!r}")
    TrainConfig.from_dict({**spec.train, **config.train})  # reject bad settings before any work
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
    return {"used": used, "table": table, "skipped": skipped, "classes": tax.classes}


def compute_inputs(
    config: RunConfig, used: pd.DataFrame, table: pd.DataFrame, *, jobs: int = 1, progress: bool = True
) -> tuple[pd.DataFrame, list[dict[str, str]]]:
    """The samples with their model input's file (``source``), features computed where needed; and the failures."""
    from mextk.features.batch import KINDS, extract_features
    from mextk.features.cache import FeatureCache
    from mextk.io.manifest import sample_path
    from mextk.models.registry import get_model

    spec = get_model(config.model)
    skipped: list[dict[str, str]] = []
    if config.input == "features":
        params = {**spec.feature_params, **config.feature_params}
        res = extract_features(
            used,
            spec.feature,
            config.features_dir,
            params=params,
            jobs=jobs,
            include_excluded=True,  # the review has been applied
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
        raise ValueError("no sample left (see skipped.csv)")
    return samples, skipped


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
    from mextk.labels import get_taxonomy

    tax = get_taxonomy(config.task)
    sel = select_samples(config, progress=progress)
    used, table, skipped = sel["used"], sel["table"], sel["skipped"]
    # the protocol's folds, checked before config.json is written and before any feature is computed
    plan = _checked_plan(table, config)
    skipped += [
        {"sample_id": sid, "reason": f"not in the train or test part of protocol {config.protocol}"}
        for sid in table.loc[~plan.keep, "sample_id"]
    ]
    attrs = used.attrs
    used, table = used.loc[plan.keep].reset_index(drop=True), table.loc[plan.keep].reset_index(drop=True)
    used.attrs = attrs
    write_config(out, config)
    samples, failed = compute_inputs(config, used, table, jobs=jobs, progress=progress)
    skipped += failed
    with atomic_path(out / "skipped.csv") as tmp:
        pd.DataFrame(skipped, columns=["sample_id", "reason"]).to_csv(tmp, index=False)
    samples_path = out / "samples.csv"
    if samples_path.exists():
        old = pd.read_csv(samples_path, dtype=ID_TYPES)
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
