"""Comparing runs: one table over several run folders (``mextk compare``; CMED Table VI, DFME Tables VIII-XI)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from mextk.evaluate.runconfig import (
    PROTOCOL_NAMES,
)
from mextk.io.atomic import read_json


def compare_runs(run_dirs: Sequence[str | os.PathLike[str]]) -> pd.DataFrame:
    """One table over several runs (CMED Table VI, DFME Tables VIII-XI): method, variant, protocol, scores.

    Runs are listed in the order given; a run of several seeds (``evaluate --seeds``) shows each score
    as ``mean ± sd`` over its seeds, and ``Seeds`` says how many (``1 (single run)`` otherwise: one
    run's figure, which says less).  A run's imbalance and sampling settings
    appear when they differ from the defaults, so rows of an ablation can be
    told apart.  A leaky run (``--select-on-test``, or an ensemble with such a member) says so in its
    ``Protocol``.  When a run scores several datasets, ``UF1 (NAME)`` and
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
                "Protocol": (m.get("protocol_detail") or PROTOCOL_NAMES.get(m.get("protocol"), m.get("protocol", "")))
                + (" (LEAKY: epoch chosen on the test fold)" if m.get("leaky") else ""),
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
