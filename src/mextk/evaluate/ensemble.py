"""Ensembles of finished runs: class probabilities averaged across models and seeds (``mextk ensemble``).

Seeds of one architecture barely help on real data (issue 30: STSTNet's
five-seed ensemble 0.694 UF1 against a seed mean of 0.696); diversity has to
come from other models.  :func:`ensemble_runs` averages, per sample, the
class probabilities that several runs gave it:

* **Members.**  Each argument is a run folder of ``mextk evaluate``, or a
  multi-seed folder (``evaluate --seeds``), whose seed runs are its members.
  The probabilities are averaged over each folder's seeds first, then over the
  folders, so a model run with five seeds weighs as much as one run once.
* **Only like with like.**  The runs must score the same samples with the same
  classes under the same protocol and the same test folds (``folds.json``); a
  run that differs is refused, named, with what differs.  Every member's
  prediction for a sample then comes from a model trained without that
  sample's subject, so the ensemble is as leak-free as its members, and
  nothing is chosen on a test fold: the weights are equal and fixed.
* **Leaky members** (a run marked ``leaky`` in its ``metrics.json``) make a
  leaky ensemble, marked the same way, so ``mextk compare`` shows it.
* **Output**: a run folder (``predictions.csv``, ``metrics.json``,
  ``confusion.png``, ``table.md``, the members' ``folds.json``, and
  ``ensemble.json`` naming the members) that ``mextk compare`` reads and that
  can itself be a member of a larger ensemble.

The probabilities of scikit-learn models (LBP-TOP + SVM) are what their
``predict`` path writes (:func:`mextk.evaluate.fitting.predict_with`); they are
averaged as they are, without recalibration.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mextk.io.atomic import read_json, write_json_atomic


@dataclass(frozen=True)
class Member:
    """One finished run: its folder, the folder given for it (a multi-seed folder for a seed), and its record."""

    folder: Path
    given: Path
    metrics: dict[str, Any]
    folds: dict[str, Any]


def _member(folder: Path, given: Path) -> Member:
    for name in ("metrics.json", "predictions.csv", "folds.json"):
        if not (folder / name).exists():
            raise FileNotFoundError(f"{folder}: no {name} (not a finished mextk evaluate run)")
    metrics = read_json(folder / "metrics.json", what="run metrics")
    folds = read_json(folder / "folds.json", what="run folds")
    return Member(folder, given, metrics, folds)


def members_of(run_dir: str | os.PathLike[str]) -> list[Member]:
    """The runs a folder holds: itself, or each seed run of a multi-seed folder."""
    d = Path(run_dir)
    if not d.is_dir():
        raise FileNotFoundError(f"{d}: run folder not found")
    metrics_path = d / "metrics.json"
    metrics = read_json(metrics_path, what="run metrics") if metrics_path.exists() else {}
    seeds = metrics.get("seeds") if isinstance(metrics, dict) and "summary" in metrics else None
    if seeds:
        return [_member(d / f"seed_{s}", d) for s in seeds]
    return [_member(d, d) for _ in (0,)]


def _check_alike(members: Sequence[Member]) -> None:
    """Refuse runs that do not score the same samples, classes, protocol and folds (naming the first that differs)."""
    first = members[0]
    for m in members[1:]:
        if list(m.metrics.get("classes", [])) != list(first.metrics.get("classes", [])):
            raise ValueError(
                f"{m.folder}: its classes ({', '.join(m.metrics.get('classes', []))}) differ from {first.folder}'s "
                f"({', '.join(first.metrics.get('classes', []))})"
            )
        if m.folds.get("protocol") != first.folds.get("protocol"):
            raise ValueError(
                f"{m.folder}: protocol {m.folds.get('protocol')!r} differs from {first.folder}'s "
                f"{first.folds.get('protocol')!r}"
            )
        ours = [sorted(map(str, f)) for f in m.folds.get("test_subjects", [])]
        theirs = [sorted(map(str, f)) for f in first.folds.get("test_subjects", [])]
        if ours != theirs:
            raise ValueError(
                f"{m.folder}: its test folds differ from {first.folder}'s ({len(ours)} against {len(theirs)} folds, "
                "or other subjects in them): an ensemble needs the same folds"
            )


def _probabilities(member: Member, ids: list[str] | None) -> tuple[pd.DataFrame, list[str]]:
    from mextk.evaluate.runconfig import ID_TYPES

    table = pd.read_csv(member.folder / "predictions.csv", dtype=ID_TYPES)
    cols = [c for c in table.columns if c.startswith("p_")]
    if table["sample_id"].duplicated().any():
        dup = table.loc[table["sample_id"].duplicated(), "sample_id"].iloc[0]
        raise ValueError(f"{member.folder / 'predictions.csv'}: sample {dup} is predicted twice")
    table = table.set_index("sample_id")
    if ids is not None:
        missing = sorted(set(ids) - set(table.index))
        extra = sorted(set(table.index) - set(ids))
        if missing or extra:
            what = f"lacks {missing[0]}" if missing else f"has {extra[0]}, which the first run lacks"
            raise ValueError(f"{member.folder / 'predictions.csv'}: {what} (the runs must score the same samples)")
        table = table.loc[ids]
    return table, cols


@dataclass(frozen=True)
class Pooled:
    """The members of an ensemble, checked alike, with their probabilities per member folder.

    Attributes
    ----------
    groups : list of list of Member
        One list per folder given: its runs (the seeds of a multi-seed folder).
    first : pandas.DataFrame
        The first run's predictions (index ``sample_id``): the sample order of every array here.
    columns : list of str
        The probability columns (``p_0``, ...).
    probs : numpy.ndarray
        ``(folders, samples, classes)``: each folder's probabilities, averaged over its seeds.
    """

    groups: list[list[Member]]
    first: pd.DataFrame
    columns: list[str]
    probs: np.ndarray

    @property
    def everyone(self) -> list[Member]:
        """Every run, seeds included."""
        return [m for g in self.groups for m in g]

    @property
    def leaky(self) -> bool:
        """Whether a member was marked leaky (selected on its test folds)."""
        return any(bool(m.metrics.get("leaky")) for m in self.everyone)

    @property
    def names(self) -> list[str]:
        """Each folder's method, with its number of seeds."""
        return [_name(g) for g in self.groups]


def pool_runs(run_dirs: Sequence[str | os.PathLike[str]]) -> Pooled:
    """Read and check the runs of an ensemble (see the module docstring); each folder's seeds are averaged.

    Raises
    ------
    ValueError
        Fewer than two runs, or runs that differ in classes, protocol, folds or samples (named).
    """
    if len(run_dirs) < 2:
        raise ValueError("an ensemble needs at least two runs")
    groups = [members_of(d) for d in run_dirs]
    everyone = [m for g in groups for m in g]
    if len({m.folder.resolve() for m in everyone}) != len(everyone):
        raise ValueError("a run is given twice (directly, or as a seed of a multi-seed folder)")
    _check_alike(everyone)
    first, cols = _probabilities(everyone[0], None)
    ids = list(first.index)
    truth = first["y_true"].to_numpy()
    per_group = []
    for g in groups:
        probs = []
        for m in g:
            table, their_cols = _probabilities(m, ids)
            if their_cols != cols:
                raise ValueError(f"{m.folder / 'predictions.csv'}: its probability columns differ from the first run's")
            if not np.array_equal(table["y_true"].to_numpy(), truth):
                raise ValueError(f"{m.folder / 'predictions.csv'}: its true classes differ from the first run's")
            probs.append(table[cols].to_numpy(dtype=float))
        per_group.append(np.mean(probs, axis=0))
    return Pooled(groups, first, cols, np.stack(per_group))


def write_ensemble(
    pooled: Pooled,
    probs: np.ndarray,
    out: str | os.PathLike[str],
    *,
    kind: str,
    method: str,
    record: dict[str, Any],
) -> dict[str, Any]:
    """Write an ensemble's run folder from its combined ``(samples, classes)`` probabilities; returns its metrics.

    ``kind`` (``model ensemble``) and ``method`` (the table's Method column) name it; ``record`` goes to
    ``ensemble.json`` beside ``kind`` and the members.
    """
    from mextk.evaluate.run_results import write_run_report

    first, groups = pooled.first, pooled.groups
    keep = [c for c in ("subject", "dataset", "fold", "y_true") if c in first.columns]
    preds = first[keep].copy()
    for k, c in enumerate(pooled.columns):
        preds[c] = probs[:, k]
    preds["y_pred"] = probs.argmax(axis=1)
    preds = preds.reset_index()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    members = [{"run": str(g[0].given), "method": _name(g), "seeds": len(g), "uf1": _uf1(g)} for g in groups]
    write_json_atomic(out / "folds.json", pooled.everyone[0].folds)
    write_json_atomic(out / "ensemble.json", {"kind": kind, **record, "members": members})
    lead = pooled.everyone[0].metrics
    extra = {
        "kind": kind,
        "members": [str(g[0].given) for g in groups],
        "protocol": lead.get("protocol", pooled.everyone[0].folds.get("protocol")),
        "protocol_detail": lead.get("protocol_detail", ""),
        "leaky": pooled.leaky,
    }
    return write_run_report(
        out, preds, classes=lead["classes"], method=method, variant=" + ".join(pooled.names), extra=extra
    )


def ensemble_runs(run_dirs: Sequence[str | os.PathLike[str]], out: str | os.PathLike[str]) -> dict[str, Any]:
    """Average the class probabilities of several runs (see the module docstring) into the run folder ``out``.

    Returns
    -------
    dict
        The ensemble's metrics (as written to ``out/metrics.json``).

    Raises
    ------
    ValueError
        Fewer than two runs, or runs that differ in classes, protocol, folds or samples (named).
    """
    pooled = pool_runs(run_dirs)
    record = {"combine": "mean of class probabilities (seeds first, then runs)"}
    mean = pooled.probs.mean(axis=0)
    return write_ensemble(pooled, mean, out, kind="model ensemble", method="ensemble", record=record)


def _name(group: Sequence[Member]) -> str:
    m = group[0].metrics
    name = str(m.get("method") or group[0].given.name)
    return f"{name} x{len(group)} seeds" if len(group) > 1 else name


def _uf1(group: Sequence[Member]) -> float:
    return float(np.mean([float(m.metrics["uf1"]) for m in group]))
