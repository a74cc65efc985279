"""Reports: scoring a predictions file, confusion-matrix figures, result rows."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mextk.io.atomic import atomic_path
from mextk.models.metrics import confusion_matrix, score_predictions

PREDICTION_COLUMNS = ("subject", "y_true", "y_pred")


def read_predictions(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a predictions CSV (``subject, y_true, y_pred`` and optionally ``dataset``).

    Raises
    ------
    FileNotFoundError, ValueError
        For a missing file, missing columns, or empty labels (naming the line).
    """
    from mextk.io.tables import read_csv_text
    from mextk.labels import label_key

    path = Path(path)
    df = read_csv_text(path, what="predictions")
    missing = [c for c in PREDICTION_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {', '.join(missing)} (need subject, y_true, y_pred)")
    if df.empty:
        raise ValueError(f"{path}: no predictions")
    for col in ("y_true", "y_pred"):
        empty = np.flatnonzero(df[col].str.strip() == "")
        if empty.size:
            raise ValueError(f"{path}:{empty[0] + 2}: column '{col}' is empty")
        df[col] = df[col].map(label_key)  # "Others" and "others" are one class
    return df


def score_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Score a predictions CSV: ACC, UF1, UAR pooled, per class and per dataset."""
    df = read_predictions(path)
    datasets = df["dataset"].tolist() if "dataset" in df.columns else None
    return score_predictions(df["y_true"].tolist(), df["y_pred"].tolist(), datasets=datasets)


def plot_confusion(
    y_true: Sequence[Any],
    y_pred: Sequence[Any],
    path: str | os.PathLike[str],
    *,
    labels: Sequence[Any] | None = None,
    display: Sequence[str] | None = None,
    title: str = "",
) -> Path:
    """Save a two-panel PNG: counts and row-normalised confusion matrices.

    Parameters
    ----------
    y_true, y_pred : sequence
        Pooled labels.
    path : path-like
        Output ``.png`` (written atomically).
    labels : sequence, optional
        Class order.
    display : sequence of str, optional
        Printed class names, one per label.
    title : str
        Figure title.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    counts, order = confusion_matrix(y_true, y_pred, labels=labels)
    norm, _ = confusion_matrix(y_true, y_pred, labels=order, normalize=True)
    names = list(display) if display is not None else [str(c) for c in order]
    k = len(order)
    size = max(4.0, 0.6 * k + 2.5)
    fig, axes = plt.subplots(1, 2, figsize=(2 * size, size), constrained_layout=True)
    for ax, mat, fmt, name in ((axes[0], counts, "d", "counts"), (axes[1], norm, ".2f", "row-normalised")):
        im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
        ax.set_xticks(range(k), names, rotation=45, ha="right")
        ax.set_yticks(range(k), names)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(name)
        for i in range(k):
            for j in range(k):
                ax.text(
                    j,
                    i,
                    format(mat[i, j], fmt),
                    ha="center",
                    va="center",
                    color="white" if norm[i, j] > 0.5 else "black",
                    fontsize=8,
                )
    fig.colorbar(im, ax=axes, shrink=0.7, label="recall (row share)")
    if title:
        fig.suptitle(title)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)
    return Path(path)


def write_run_report(
    out_dir: str | os.PathLike[str],
    predictions: pd.DataFrame,
    *,
    classes: Sequence[str],
    display: Sequence[str] | None = None,
    method: str,
    variant: str,
    config: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write a run folder: ``predictions.csv``, ``metrics.json``, ``confusion.png``, ``table.md``/``table.csv``.

    ``predictions`` holds integer ``y_true``/``y_pred`` indexing ``classes``;
    the CSV also gets the class names (``true_label``, ``pred_label``).
    ``extra`` keys (protocol, model, ...) are added to ``metrics.json``.

    Returns
    -------
    dict
        The metrics (as in ``metrics.json``).
    """
    from mextk.io.atomic import write_json_atomic
    from mextk.io.tables import write_table

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    names = list(classes)
    preds = predictions.copy()
    preds["true_label"] = [names[i] for i in preds["y_true"]]
    preds["pred_label"] = [names[i] for i in preds["y_pred"]]
    with atomic_path(out / "predictions.csv") as tmp:
        preds.to_csv(tmp, index=False)
    datasets = preds["dataset"].tolist() if "dataset" in preds.columns else None
    metrics = score_predictions(preds["true_label"].tolist(), preds["pred_label"].tolist(), datasets=datasets)
    metrics["method"], metrics["variant"], metrics["classes"] = method, variant, names
    metrics.update(extra or {})
    write_json_atomic(out / "metrics.json", metrics)
    plot_confusion(
        preds["true_label"].tolist(),
        preds["pred_label"].tolist(),
        out / "confusion.png",
        labels=names,
        display=display,
        title=f"{method} ({variant})",
    )
    row = pd.DataFrame(
        [
            {
                "Method": method,
                "Variant": variant,
                "UF1": metrics["uf1"],
                "UAR": metrics["uar"],
                "Accuracy": metrics["acc"],
            }
        ]
    )
    write_table(row, out, "table")
    if config is not None:
        write_json_atomic(out / "config.json", config)
    return metrics
