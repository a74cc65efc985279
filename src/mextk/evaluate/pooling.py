"""Pooling a run's folds: every fold's predictions into the run's predictions, metrics, confusion matrix and
table row (MEGC's way: scores over all folds' predictions at once)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from mextk.evaluate.runconfig import (
    ID_TYPES,
    METHOD_NAMES,
    RunConfig,
    describe_protocol,
    variant_name,
)


def write_report(out: Path, classes: Sequence[str], config: RunConfig) -> dict[str, Any]:
    """Pool the folds' predictions and write predictions, metrics, confusion matrix and the table row."""
    from mextk.evaluate.run_results import write_run_report
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
            "leaky": bool(config.train.get("select_on_test", False)),
            "class_warnings": (
                json.loads((out / "folds.json").read_text()).get("class_warnings", [])
                if (out / "folds.json").exists()
                else []
            ),
        },
    )
    return metrics
