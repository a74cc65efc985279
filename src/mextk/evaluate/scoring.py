"""Scoring runs: pooling the folds into the report, re-scoring saved fold models, comparing runs, MLflow."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mextk.evaluate.fitting import predict_saved, write_fold_predictions
from mextk.evaluate.preparation import prepare_run
from mextk.evaluate.runfolder import (
    ID_TYPES,
    METHOD_NAMES,
    PROTOCOL_NAMES,
    RunConfig,
    describe_protocol,
    fold_dir,
    read_run,
    variant_name,
)
from mextk.io.atomic import atomic_path, read_json, write_json_atomic


def write_report(out: Path, classes: Sequence[str], config: RunConfig) -> dict[str, Any]:
    """Pool the folds' predictions and write predictions, metrics, confusion matrix and the table row."""
    from mextk.evaluate.report import write_run_report
    from mextk.labels import get_taxonomy

    tax = get_taxonomy(config.task)
    parts = []
    for folder in sorted((out / "folds").iterdir()):
        if (folder / "done.json").exists():
            parts.append(pd.read_csv(folder / "predictions.csv", dtype=ID_TYPES))
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
    return write_report(out, tax.classes, config)


def compare_runs(run_dirs: Sequence[str | os.PathLike[str]]) -> pd.DataFrame:
    """One table over several runs (CMED Table VI, DFME Tables VIII-XI): method, variant, protocol, scores.

    Runs are listed in the order given; a run of several seeds (``evaluate --seeds``) shows each score
    as ``mean ± sd`` over its seeds, and ``Seeds`` says how many (``1 (single run)`` otherwise: one
    run's figure, which says less).  A run's imbalance and sampling settings
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
        seeds = m.get("seeds") if isinstance(m, dict) and "summary" in m else None
        if seeds:  # a multi-seed run (mextk.evaluate.seeds): mean ± sd, its configuration in the first seed's folder
            first = d / f"seed_{seeds[0]}"
            m = {**read_json(first / "metrics.json", what="metrics file"), **_seed_scores(m)}
            d_cfg = first
        else:
            d_cfg = d
        missing = [k for k in ("uf1", "uar", "acc") if not isinstance(m, dict) or k not in m]
        if missing:
            raise ValueError(f"{mpath}: lacks {', '.join(missing)} (not a mextk metrics file)")
        cfg = read_json(d_cfg / "config.json", what="run configuration") if (d_cfg / "config.json").exists() else {}
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
                "Seeds": len(seeds) if seeds else "1 (single run)",
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


def _seed_scores(metrics: dict[str, Any]) -> dict[str, Any]:
    """A multi-seed run's scores as ``"mean ± sd"`` texts, overall and per dataset, in a run's metrics shape."""

    def text(key: str) -> str:
        s = metrics["summary"][key]
        return f"{s['mean']:.3f} ± {s['sd']:.3f}"

    out: dict[str, Any] = {k: text(k) for k in ("uf1", "uar", "acc")}
    names = sorted({k.split("/")[0] for k in metrics["summary"] if "/" in k})
    out["per_dataset"] = {n: {k: text(f"{n}/{k}") for k in ("uf1", "uar", "acc")} for n in names}
    return out


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
