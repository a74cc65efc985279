"""Composite datasets: the MEGC challenges' 3-class sets built from per-dataset manifests.

A composite's definition is data (``mextk/datasets/data/NAME.json``): for each
dataset, the mapping of its (normalised) labels onto the composite's classes,
the labels it leaves out, the clips its official list leaves out, and the
per-class counts it published, with the source.  :func:`compose` applies it to
manifests written by ``mextk datasets import``:

* ``emotion`` becomes the composite class and the dataset's own label moves to
  ``source_emotion``;
* ``sample_id`` is prefixed by the dataset (``casme2/01/EP02_01f``) so that ids
  stay unique, and ``dataset``/``subject`` keep each person apart (subjects are
  namespaced by dataset in every split);
* the counts are compared with the published ones, and any difference is
  reported in ``attrs["mismatches"]`` (a partial copy of a dataset is allowed,
  but never silent).

A label that is neither mapped nor left out is an error naming the rows.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from pathlib import Path

import pandas as pd

from mextk.io.manifest import sample_path
from mextk.labels import LabelError, normalize_label

#: Other names of a composite: MEGC 2023's recognition task used MEGC 2022's composite.
COMPOSITE_ALIASES = {"megc2023": "megc2022"}


@lru_cache(maxsize=8)
def composite_definition(name: str) -> dict:  # type: ignore[type-arg]
    """A composite's definition (``megc2019``, ``megc2022``/``megc2023``) with the datasets of the one it extends."""
    key = COMPOSITE_ALIASES.get(name.strip().lower(), name.strip().lower())
    files = {p.name[: -len(".json")]: p for p in resources.files("mextk.datasets").joinpath("data").iterdir()}
    if key not in files:
        raise ValueError(f"unknown composite {name!r}; choose one of {', '.join(sorted(files))}")
    data = json.loads(files[key].read_text(encoding="utf-8"))
    if "extends" in data:
        base = composite_definition(data["extends"])
        data = {**data, "datasets": {**base["datasets"], **data["datasets"]}}
    return data


def composite_names() -> list[str]:
    """Names of the composites mextk defines (aliases included)."""
    files = [p.name[: -len(".json")] for p in resources.files("mextk.datasets").joinpath("data").iterdir()]
    return sorted([*files, *COMPOSITE_ALIASES])


def compose(name: str, manifests: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Build a composite from one manifest per dataset.

    Parameters
    ----------
    name : str
        The composite (``megc2019``; ``megc2022`` adds CAS(ME)^3).
    manifests : dict
        Dataset name (``smic``, ``casme2``, ``samm``, ``casme3``) -> its manifest,
        as read by :func:`mextk.io.manifest.load_manifest`.  Every dataset of the
        composite is needed, except those without published counts.

    Returns
    -------
    pandas.DataFrame
        The composite manifest with absolute paths; ``attrs["counts"]`` holds
        ``{dataset: {class: n}}``, ``attrs["left_out"]`` ``{dataset: {label: n}}``
        and ``attrs["mismatches"]`` one line per count that differs from the published one.

    Raises
    ------
    ValueError
        An unknown composite or dataset, a missing manifest, or labels the definition does not know.
    """
    spec = composite_definition(name)
    unknown = sorted(set(manifests) - set(spec["datasets"]))
    if unknown:
        raise ValueError(f"{name} has no dataset {', '.join(unknown)}; it takes {', '.join(spec['datasets'])}")
    missing = [d for d, part in spec["datasets"].items() if d not in manifests and part.get("expected")]
    if missing:
        raise ValueError(f"{name} needs a manifest of {', '.join(missing)}")
    parts, counts, left_out, mismatches = [], {}, {}, []
    for dataset, part in spec["datasets"].items():
        if dataset not in manifests:
            continue
        df = manifests[dataset]
        source = str(df.attrs.get("source", dataset))
        labels = []
        bad = []
        for i, label in enumerate(df["emotion"]):
            try:
                labels.append(normalize_label(label))
            except LabelError as exc:
                labels.append("")
                bad.append(f"{source}: row {i + 1}: {exc}")
        norm = pd.Series(labels, index=df.index)
        known = set(part["map"]) | set(part["left_out"])
        stray = sorted(set(norm) - known - {""})
        if stray or bad:
            lines = bad + [f"{source}: label {s!r} is neither mapped nor left out by {name}" for s in stray]
            raise ValueError("; ".join(lines))
        excluded = _excluded(df, part["exclude"])
        keep = norm.isin(set(part["map"])) & ~excluded
        mapped = norm.isin(set(part["map"]))
        left_out[dataset] = {k: int(v) for k, v in norm[~mapped].value_counts().sort_index().items()}
        if part["exclude"]:
            left_out[dataset]["excluded by the official list"] = int((excluded & mapped).sum())
        out = df[keep].copy()
        out["source_emotion"] = out["emotion"]
        out["emotion"] = norm[keep].map(part["map"])
        out["path"] = [str(sample_path(df, p).resolve()) for p in out["path"]]
        out["sample_id"] = dataset + "/" + out["sample_id"].astype(str)
        out["dataset"] = dataset
        counts[dataset] = {c: int((out["emotion"] == c).sum()) for c in spec["classes"]}
        if part.get("expected"):
            for cls, n in part["expected"].items():
                if counts[dataset][cls] != n:
                    mismatches.append(f"{dataset}: {counts[dataset][cls]} {cls} samples, {name} has {n}")
        parts.append(out)
    composite = pd.concat(parts, ignore_index=True)
    composite.attrs.update(
        source=name, root="/", counts=counts, left_out=left_out, mismatches=mismatches, reference=spec["source"]
    )
    return composite


def _excluded(df: pd.DataFrame, rules: list[dict[str, str]]) -> pd.Series:
    """Rows matching one of the official list's exclusions, by subject and the sheet's file name."""
    hit = pd.Series(False, index=df.index)
    if not rules:
        return hit
    names = df["filename"] if "filename" in df.columns else df["sample_id"].astype(str).str.rsplit("/", n=1).str[-1]
    subjects = df["subject"].astype(str).str.strip()
    for rule in rules:
        hit |= (subjects == rule["subject"]) & (names.astype(str).str.strip() == rule["filename"])
    return hit


def write_counts_table(composite: pd.DataFrame, path: str | Path) -> Path:
    """Write the per-dataset, per-class counts of a composite as CSV (with a total row)."""
    from mextk.io.atomic import atomic_path

    counts = pd.DataFrame(composite.attrs["counts"]).T
    counts["total"] = counts.sum(axis=1)
    counts.loc["total"] = counts.sum(axis=0)
    path = Path(path)
    with atomic_path(path) as tmp:
        counts.to_csv(tmp, index_label="dataset")
    return path
