"""Repeated runs over seeds: each seed's run in its own folder, the spread of every metric, and the seed ensemble.

One leave-one-subject-out run on a micro-expression dataset says little on
its own: with the same settings and only the seed changed, STSTNet's UF1 on
the MEGC-2019 composite ranged from 0.666 to 0.711 (issue 16).  So
``mextk evaluate --seeds 0-4`` runs the whole protocol once per seed, each
in ``OUT/seed_<s>/`` (a run folder like any other, resumable fold by fold),
then writes into ``OUT``:

* ``metrics.json``: ``seeds``; ``per_seed`` (each seed's ACC, UF1 and UAR,
  overall and per dataset); ``summary``, per metric the mean, the standard
  deviation (the sample's, ``ddof=1``, as papers report it; 0 for one seed),
  the minimum, the maximum and each seed's value; and ``ensemble``;
* ``ensemble/``: the **seed ensemble**, a run folder whose class
  probabilities are, per sample, the mean of every seed's probabilities for
  it.  Each seed's fold models were trained without that sample's subject,
  so the ensemble is as leak-free as each run.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mextk.io.atomic import read_json, write_json_atomic

METRICS = ("acc", "uf1", "uar")


def parse_seeds(text: str) -> list[int]:
    """Seeds from ``"0-4"``, ``"0,3,7"`` or a mix (``"0-2,9"``), in the order given, without repeats.

    Raises
    ------
    ValueError
        Naming the part that is not a seed or a range.
    """
    seeds: list[int] = []
    for part in (p.strip() for p in str(text).split(",")):
        m = re.fullmatch(r"(\d+)(?:\s*-\s*(\d+))?", part)
        if not m:
            raise ValueError(f"--seeds: {part!r} is not a seed or a range like 0-4")
        a, b = int(m.group(1)), int(m.group(2) or m.group(1))
        if b < a:
            raise ValueError(f"--seeds: range {part!r} runs backwards")
        seeds += [s for s in range(a, b + 1) if s not in seeds]
    return seeds


def seed_folder(out: str | Path, seed: int) -> Path:
    """The run folder of one seed."""
    return Path(out) / f"seed_{seed}"


@dataclass(frozen=True)
class Spread:
    """One metric over seeds: mean, sample standard deviation (``ddof=1``; 0 for one seed), min, max, values."""

    mean: float
    sd: float
    min: float
    max: float
    values: tuple[float, ...]


def spread(values: Sequence[float]) -> Spread:
    """The :class:`Spread` of ``values``."""
    v = np.asarray(values, dtype=float)
    return Spread(
        mean=float(v.mean()),
        sd=float(v.std(ddof=1)) if len(v) > 1 else 0.0,
        min=float(v.min()),
        max=float(v.max()),
        values=tuple(float(x) for x in v),
    )


@dataclass(frozen=True)
class SeedsResult:
    """A repeated run's figures, as written to ``OUT/metrics.json`` (see the module docstring).

    Attributes
    ----------
    out : Path
        The folder holding ``seed_<s>/``, ``ensemble/`` and ``metrics.json``.
    seeds : tuple of int
        The seeds, in order.
    per_seed : dict
        Each seed's ACC, UF1 and UAR, overall (``uf1``) and per dataset (``CASME2/uf1``), by seed.
    summary : dict of str to Spread
        Each of those metrics over the seeds.
    ensemble : dict of str to float
        The seed ensemble's metrics, with the same keys.
    method, variant : str
        The table row's method and variant.
    classes : tuple of str
        The class order.
    """

    out: Path
    seeds: tuple[int, ...]
    per_seed: dict[str, dict[str, float]]
    summary: dict[str, Spread]
    ensemble: dict[str, float]
    method: str
    variant: str
    classes: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        """The ``metrics.json`` record."""
        record = asdict(self)  # the spreads become dicts; tuples are written as JSON lists
        record.pop("out")
        return record


def _scores(metrics: dict[str, Any]) -> dict[str, float]:
    """A run's ACC, UF1 and UAR overall (``uf1``) and per dataset (``CASME2/uf1``)."""
    out = {k: float(metrics[k]) for k in METRICS}
    for name, m in (metrics.get("per_dataset") or {}).items():
        out.update({f"{name}/{k}": float(m[k]) for k in METRICS})
    return out


def combine_seeds(out: str | Path, seeds: Sequence[int]) -> SeedsResult:
    """Write ``OUT/metrics.json`` and ``OUT/ensemble/`` from finished seed runs (see the module docstring)."""
    from mextk.evaluate.run_results import write_run_report
    from mextk.evaluate.runconfig import ID_TYPES

    out = Path(out)
    runs = {s: read_json(seed_folder(out, s) / "metrics.json", what="seed run metrics") for s in seeds}
    per_seed = {str(s): _scores(m) for s, m in runs.items()}
    keys = [k for k in per_seed[str(seeds[0])] if all(k in p for p in per_seed.values())]
    summary = {k: spread([per_seed[str(s)][k] for s in seeds]) for k in keys}
    tables = [pd.read_csv(seed_folder(out, s) / "predictions.csv", dtype=ID_TYPES) for s in seeds]
    ids = sorted(tables[0]["sample_id"])
    for s, t in zip(seeds, tables, strict=True):
        if sorted(t["sample_id"]) != ids:
            raise ValueError(f"{seed_folder(out, s)}: its predictions cover other samples than seed {seeds[0]}'s")
    prob_cols = [c for c in tables[0].columns if c.startswith("p_")]
    aligned = [t.set_index("sample_id").loc[ids] for t in tables]
    ensemble = aligned[0][["subject", "dataset", "y_true"]].copy()
    mean_probs = np.mean([a[prob_cols].to_numpy(dtype=float) for a in aligned], axis=0)
    for k, c in enumerate(prob_cols):
        ensemble[c] = mean_probs[:, k]
    ensemble["y_pred"] = mean_probs.argmax(axis=1)
    ensemble = ensemble.reset_index()
    first = runs[seeds[0]]
    ens = write_run_report(
        out / "ensemble", ensemble, classes=first["classes"], method=first.get("method", ""),
        variant=first.get("variant", ""), extra={"seeds": list(seeds), "kind": "seed ensemble"},
    )  # fmt: skip
    result = SeedsResult(
        out=out,
        seeds=tuple(seeds),
        per_seed=per_seed,
        summary=summary,
        ensemble=_scores(ens),
        method=str(first.get("method", "")),
        variant=str(first.get("variant", "")),
        classes=tuple(first["classes"]),
    )
    write_json_atomic(out / "metrics.json", result.to_json())
    return result


def evaluate_seeds(config: Any, out: str | Path, seeds: Sequence[int], **options: Any) -> SeedsResult:
    """Run the protocol once per seed, then :func:`combine_seeds`; resumable (seed, fold) pair by pair.

    Every seed's folder is prepared first (features are computed once: the
    seeds share the feature cache), then all unfinished (seed, fold) pairs
    go to one executor (:func:`mextk.evaluate.runner.evaluate_runs`), so
    ``process`` and ``ray`` keep ``jobs`` workers busy across seeds instead of
    waiting for each seed's slowest fold.  ``options`` are those of
    :func:`mextk.evaluate.runner.evaluate_run` (``executor``, ``jobs``,
    ``ray_address``, ``mlflow_uri``, ``progress``).
    """
    from mextk.evaluate.runner import evaluate_runs

    if not seeds:
        raise ValueError("--seeds: no seed given")
    evaluate_runs([(replace(config, seed=int(s)), seed_folder(out, s)) for s in seeds], **options)
    return combine_seeds(out, list(seeds))
