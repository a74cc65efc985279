"""The statistics tables that micro-expression dataset papers publish.

From a manifest alone (no clip is opened) this module builds CMED's tables
(Matharaarachchi et al., CMED, section III-E):

* Table II: samples per class, with the emotion total, No-ME and the total;
* Table III: samples per class of the 3-class MEGC-2019 variant;
* Table IV: max/min/mean frame counts for the emotion classes, No-ME and overall;
* Table V: samples per subject by class, sorted by total (ties keep the natural
  subject order, ``sub_2`` before ``sub_10``, as the paper prints them);

plus the imbalance ratio (majority class count / minority class count), and a
summary of the clips themselves (:func:`clip_summary`: clips, subjects,
durations), which needs no label and so also describes a manifest fresh from
``mextk prepare``.  Unlabelled rows are left out of the class tables and
counted (``StatsTables.unlabelled``).

Labels are mapped with :mod:`mextk.labels`, so any dataset's labels can be
tabulated under any task; samples whose label the task excludes are counted
separately (``StatsTables.excluded``), never silently lost.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mextk.io.atomic import write_json_atomic
from mextk.io.manifest import subject_keys
from mextk.io.tables import markdown_table, write_table
from mextk.labels import Taxonomy, get_taxonomy
from mextk.naming import natural_key

#: CMED prints Table V's class columns in this order.
CMED_TABLE_V_ORDER = ("disgust", "happiness", "anger", "fear", "sadness", "surprise", "no_me")


@dataclass
class StatsTables:
    """All tables of one manifest.

    Attributes
    ----------
    class_counts, megc3_counts, frame_counts, subject_counts : pandas.DataFrame
        Tables II, III, IV and V.
    imbalance : dict
        ``majority``, ``minority`` (class names), their counts and ``ratio``,
        over the emotion classes (``with_no_me`` repeats it including No-ME).
    excluded : dict
        ``{label: count}`` of samples the task leaves out.
    task : str
        The taxonomy used.
    unlabelled : int
        Rows with an empty ``emotion``, left out of every class table.
    """

    class_counts: pd.DataFrame
    megc3_counts: pd.DataFrame
    frame_counts: pd.DataFrame
    subject_counts: pd.DataFrame
    imbalance: dict[str, Any]
    excluded: dict[str, int] = field(default_factory=dict)
    task: str = "cmed7"
    unlabelled: int = 0

    TITLES = {
        "class_counts": "Table II: number of samples for each class",
        "megc3_counts": "Table III: number of samples per class, 3-class (MEGC-2019) variant",
        "frame_counts": "Table IV: statistics of frame counts",
        "subject_counts": "Table V: number of samples for each subject by class",
    }

    def tables(self) -> dict[str, pd.DataFrame]:
        """The four tables by file name."""
        return {
            "class_counts": self.class_counts,
            "megc3_counts": self.megc3_counts,
            "frame_counts": self.frame_counts,
            "subject_counts": self.subject_counts,
        }

    def to_markdown(self) -> str:
        """All tables and the imbalance ratio as one Markdown document."""
        parts = []
        for name, table in self.tables().items():
            parts.append(f"**{self.TITLES[name]}**\n\n{markdown_table(table, floatfmt='.2f')}")
        parts.append(imbalance_sentence(self.imbalance))
        if self.excluded:
            parts.append(excluded_sentence(self.excluded, self.task))
        if self.unlabelled:
            parts.append(unlabelled_sentence(self.unlabelled))
        return "\n\n".join(parts) + "\n"

    def write(self, out_dir: str | os.PathLike[str]) -> list[Path]:
        """Write each table as CSV and Markdown, ``stats.md`` and ``imbalance.json``."""
        out = Path(out_dir)
        written: list[Path] = []
        for name, table in self.tables().items():
            written.extend(write_table(table, out, name, title=self.TITLES[name], floatfmt=".2f"))
        written.append(
            write_json_atomic(
                out / "imbalance.json",
                {**self.imbalance, "excluded": self.excluded, "unlabelled": self.unlabelled, "task": self.task},
            )
        )
        from mextk.io.atomic import write_text_atomic

        written.append(write_text_atomic(out / "stats.md", self.to_markdown()))
        return written


def _ratio_phrase(imb: dict[str, Any]) -> str:
    if imb["majority_count"] == imb["minority_count"]:
        return f"1.00 (balanced: every class has {imb['majority_count']} samples)"
    return f"{imb['majority']} {imb['majority_count']} / {imb['minority']} {imb['minority_count']} = {imb['ratio']:.2f}"


def imbalance_sentence(imb: dict[str, Any]) -> str:
    """One line describing the imbalance ratio.

    Examples
    --------
    >>> imbalance_sentence({"majority": "Anger", "minority": "Fear", "majority_count": 12,
    ...                     "minority_count": 3, "ratio": 4.0})
    'Imbalance ratio (majority/minority emotion class): Anger 12 / Fear 3 = 4.00.'
    >>> imbalance_sentence({"majority": "Anger", "minority": "Fear", "majority_count": 12,
    ...                     "minority_count": 12, "ratio": 1.0})
    'Imbalance ratio (majority/minority emotion class): 1.00 (balanced: every class has 12 samples).'
    """
    if not imb.get("ratio"):
        return "Imbalance ratio: undefined (no labelled sample in an emotion class)."
    line = f"Imbalance ratio (majority/minority emotion class): {_ratio_phrase(imb)}"
    other = imb.get("with_no_me")
    if other and other.get("ratio"):
        line += f"; including No-ME: {_ratio_phrase(other)}"
    return line + "."


def unlabelled_sentence(n: int) -> str:
    """One line saying that unlabelled rows were left out of the class tables."""
    return f"Labels are missing for {n} clip(s): they are left out of the class tables (label them with annotate)."


def clip_summary(manifest: pd.DataFrame) -> pd.DataFrame:
    """What a manifest holds, labelled or not: clips, subjects, frames and durations.

    Parameters
    ----------
    manifest : pandas.DataFrame
        Needs ``dataset``, ``subject``, ``fps`` and ``n_frames``; ``emotion`` is used when present.

    Returns
    -------
    pandas.DataFrame
        Two columns, ``Quantity`` and ``Value`` (text, so integers and seconds print as they are).

    Examples
    --------
    >>> df = pd.DataFrame({"dataset": ["a", "a"], "subject": ["1", "2"], "fps": [25.0, 25.0],
    ...                    "n_frames": [50, 100], "emotion": ["", "happiness"]})
    >>> clip_summary(df).set_index("Quantity")["Value"].to_dict()["Duration, total (s)"]
    '6.00'
    """
    from mextk.io.manifest import unlabelled_rows

    frames = pd.to_numeric(manifest["n_frames"], errors="coerce").astype(float)
    fps = pd.to_numeric(manifest["fps"], errors="coerce").astype(float)
    seconds = (frames / fps).dropna()
    subjects = manifest[["dataset", "subject"]].astype(str).drop_duplicates()
    rows: list[tuple[str, str]] = [
        ("Clips", str(len(manifest))),
        ("Datasets", str(manifest["dataset"].astype(str).nunique())),
        ("Subjects", str(len(subjects))),
        ("Labelled clips", str(len(manifest) - len(unlabelled_rows(manifest)))),
    ]
    if len(seconds):
        rows += [
            ("Duration, total (s)", f"{seconds.sum():.2f}"),
            ("Duration, min / mean / max (s)", f"{seconds.min():.2f} / {seconds.mean():.2f} / {seconds.max():.2f}"),
            (
                "Frames, min / mean / max",
                f"{int(frames.min())} / {frames.mean():.1f} / {int(frames.max())}",
            ),
            ("Frame rates (fps)", ", ".join(f"{f:g}" for f in sorted(fps.dropna().unique()))),
        ]
    return pd.DataFrame(rows, columns=["Quantity", "Value"])


def excluded_sentence(excluded: dict[str, int], task: str) -> str:
    """One line listing the samples a task leaves out."""
    parts = ", ".join(f"{k} ({v})" for k, v in sorted(excluded.items()))
    return f"Not counted (labels excluded by task {task}): {parts}."


def _ratio(counts: dict[str, int], tax: Taxonomy) -> dict[str, Any]:
    nonzero = {c: n for c, n in counts.items() if n > 0}
    if not nonzero:
        return {"majority": None, "minority": None, "majority_count": 0, "minority_count": 0, "ratio": None}
    majority = max(nonzero, key=lambda c: (nonzero[c], c))
    minority = min(nonzero, key=lambda c: (nonzero[c], c))
    return {
        "majority": tax.display(majority),
        "minority": tax.display(minority),
        "majority_count": int(nonzero[majority]),
        "minority_count": int(nonzero[minority]),
        "ratio": float(nonzero[majority] / nonzero[minority]),
    }


def compute_tables(manifest: pd.DataFrame, *, task: str | Taxonomy = "cmed7") -> StatsTables:
    """Compute CMED's Tables II-V and the imbalance ratio from a manifest.

    Parameters
    ----------
    manifest : pandas.DataFrame
        Needs ``subject``, ``emotion`` and ``n_frames`` (other columns ignored); rows with an
        empty ``emotion`` are left out and counted (``unlabelled``).
    task : str or Taxonomy
        Classes to count in (default ``cmed7``: six emotions and No-ME).

    Returns
    -------
    StatsTables

    Raises
    ------
    mextk.labels.LabelError
        For an unknown label, naming the sample's position.
    """
    from mextk.io.manifest import unlabelled_rows

    tax = get_taxonomy(task)
    for col in ("subject", "emotion", "n_frames"):
        if col not in manifest.columns:
            raise ValueError(f"manifest lacks column {col!r}")
    missing = unlabelled_rows(manifest)
    if missing:
        manifest = manifest.drop(index=manifest.index[missing])
    enc = tax.encode(manifest["emotion"].tolist(), excluded="drop")
    kept = manifest.loc[enc.keep].copy()
    kept["_class"] = [tax.classes[i] for i in enc.y]
    kept["_frames"] = pd.to_numeric(kept["n_frames"], errors="coerce")
    has_no_me = "no_me" in tax.classes
    emotion_classes = [c for c in tax.classes if c != "no_me"]
    counts = {c: int((kept["_class"] == c).sum()) for c in tax.classes}

    # Table II
    rows: list[tuple[str, int]] = [(tax.display(c), counts[c]) for c in emotion_classes]
    n_emotion = sum(counts[c] for c in emotion_classes)
    if has_no_me:
        rows.append(("Total Emotion Samples", n_emotion))
        rows.append(("No-ME", counts["no_me"]))
    rows.append(("Total", int(len(kept))))
    class_counts = pd.DataFrame(rows, columns=["Class", "Number of Samples"])

    # Table III: the MEGC-2019 3-class variant of the same samples
    megc = get_taxonomy("megc3")
    enc3 = megc.encode(manifest["emotion"].tolist(), excluded="drop")
    c3 = np.bincount(enc3.y, minlength=megc.n_classes)
    rows3 = [(megc.display(c), int(c3[i])) for i, c in enumerate(megc.classes)]
    rows3.append(("Total Emotion Samples", int(c3.sum())))
    megc3_counts = pd.DataFrame(rows3, columns=["Class", "Number of Samples"])

    # Table IV
    def frame_row(name: str, frames: pd.Series) -> tuple[str, Any, Any, Any]:
        frames = frames.dropna()
        if frames.empty:
            return (name, pd.NA, pd.NA, float("nan"))
        return (name, int(frames.max()), int(frames.min()), round(float(frames.mean()), 2))

    emo_mask = kept["_class"] != "no_me"
    rows4 = [frame_row(f"{len(emotion_classes)} Emotion Classes", kept.loc[emo_mask, "_frames"])]
    if has_no_me:
        rows4.append(frame_row("No-ME Class", kept.loc[~emo_mask, "_frames"]))
    rows4.append(frame_row("Overall", kept["_frames"]))
    frame_counts = pd.DataFrame(rows4, columns=["Condition", "Max Frames", "Min Frames", "Avg Frames"])
    for col in ("Max Frames", "Min Frames"):
        frame_counts[col] = frame_counts[col].astype("Int64")

    # Table V
    order = [c for c in CMED_TABLE_V_ORDER if c in tax.classes]
    if len(order) != tax.n_classes:
        order = list(tax.classes)
    # a person is (dataset, subject): with several datasets, subjects are named DATASET/SUBJECT
    several = "dataset" in kept.columns and kept["dataset"].astype(str).nunique() > 1
    who = subject_keys(kept) if several else kept["subject"].astype(str)
    subjects = sorted(who.unique(), key=natural_key)
    table5 = pd.crosstab(who, kept["_class"]).reindex(index=subjects, columns=order, fill_value=0).astype(int)
    table5["Total"] = table5.sum(axis=1)
    table5["_key"] = range(len(table5))
    table5 = table5.sort_values(["Total", "_key"], ascending=[False, True], kind="stable").drop(columns="_key")
    table5 = table5.rename(columns={c: tax.display(c) for c in order})
    table5.index.name = "Subject"
    subject_counts = table5.reset_index()
    subject_counts.columns.name = None

    imbalance = _ratio({c: counts[c] for c in emotion_classes}, tax)
    if has_no_me:
        imbalance["with_no_me"] = _ratio(counts, tax)
    return StatsTables(
        class_counts, megc3_counts, frame_counts, subject_counts, imbalance, enc.dropped, tax.name, len(missing)
    )
