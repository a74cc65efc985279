"""Logging a finished run to MLflow (``mextk evaluate --mlflow URI``; the ``mlflow`` extra)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mextk.evaluate.runconfig import (
    RunConfig,
)


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
