"""Review decisions on prepared clips, honoured by every later stage.

``mextk prepare`` marks each clip ``kept`` (``false`` when an automatic check
flagged it: a small face, a turned head, a second face ...) and writes
``review.csv`` beside the manifest, with an empty ``reviewer_decision`` column
for the person who looks at the flagged clips.  Later stages (``mextk
features``, ``mextk evaluate``) take the clips this module lets through and
say how many they left out and why; ``include_excluded=True``
(``--include-excluded``) takes every clip.

The decision of a clip:

1. the reviewer's, when ``review.csv`` gives one: ``keep`` (also ``accept``,
   ``yes``, ``include``, ``ok``) or ``reject`` (also ``drop``, ``exclude``,
   ``no``, ``discard``), in any case.  A reviewer may keep a flagged clip: the
   flags are suggestions, the review is the decision;
2. otherwise the manifest's ``kept`` column (``true``/``false``, ``1``/``0``);
3. otherwise (a manifest without ``kept``, e.g. a public dataset's) the clip is kept.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

KEEP_WORDS = frozenset({"keep", "kept", "accept", "accepted", "yes", "y", "include", "included", "ok", "true", "1"})
REJECT_WORDS = frozenset(
    {"reject", "rejected", "drop", "dropped", "exclude", "excluded", "no", "n", "discard", "false", "0"}
)
_TRUE = frozenset({"true", "1", "yes", "y"})
_FALSE = frozenset({"false", "0", "no", "n"})


def _text(value: Any) -> str:
    return "" if value is None or (isinstance(value, float) and pd.isna(value)) else str(value).strip().lower()


def read_review(path: str | Path) -> dict[str, tuple[bool, str]]:
    """The reviewer's decisions in ``review.csv``: ``{sample_id: (keep, "review.csv:LINE: note")}``.

    Rows with an empty decision are left out (the manifest's ``kept`` decides them).

    Raises
    ------
    ValueError
        For a decision that is neither a keep nor a reject word, naming the file and line.
    """
    from mextk.io.tables import read_csv_text

    path = Path(path)
    table = read_csv_text(path, what="review table")
    if "sample_id" not in table.columns or "reviewer_decision" not in table.columns:
        raise ValueError(f"{path}: needs the columns sample_id and reviewer_decision")
    decisions: dict[str, tuple[bool, str]] = {}
    for i, row in enumerate(table.to_dict("records")):
        word = _text(row["reviewer_decision"])
        if not word:
            continue
        if word not in KEEP_WORDS and word not in REJECT_WORDS:
            raise ValueError(
                f"{path}:{i + 2}: column 'reviewer_decision': {row['reviewer_decision']!r} is neither keep "
                "nor reject (keep, accept, yes / reject, drop, exclude, no)"
            )
        note = str(row.get("reviewer_note", "") or "").strip()
        where = f"{path.name}:{i + 2}" + (f" ({note})" if note else "")
        decisions[str(row["sample_id"])] = (word in KEEP_WORDS, where)
    return decisions


def review_exclusions(df: pd.DataFrame) -> dict[str, str]:
    """The clips that review decisions leave out: ``{sample_id: reason}``, in manifest order.

    ``review.csv`` is looked for in the manifest's folder (``df.attrs["root"]``).

    Raises
    ------
    ValueError
        For a ``kept`` value that is not true or false, or a malformed review table.
    """
    root = Path(df.attrs.get("root", "."))
    review_path = root / "review.csv"
    decisions = read_review(review_path) if review_path.exists() else {}
    has_kept = "kept" in df.columns
    excluded: dict[str, str] = {}
    for i, row in enumerate(df.to_dict("records")):
        sid = str(row["sample_id"])
        if sid in decisions:
            keep, where = decisions[sid]
            if not keep:
                excluded[sid] = f"rejected in {where}"
            continue
        if not has_kept:
            continue
        kept = _text(row["kept"])
        if kept in _FALSE:
            flags = _text(row.get("flags", "")).replace("+", ", ")
            excluded[sid] = "flagged by prepare" + (f" ({flags})" if flags else "") + ", not reviewed"
        elif kept not in _TRUE and kept != "":
            source = df.attrs.get("source", "manifest")
            raise ValueError(f"{source}:{i + 2}: column 'kept': {row['kept']!r} is not true or false")
    return excluded


def apply_review(df: pd.DataFrame, *, include_excluded: bool = False) -> tuple[pd.DataFrame, dict[str, str]]:
    """Drop the clips that review decisions leave out, unless ``include_excluded``.

    Returns
    -------
    kept : pandas.DataFrame
        The rows that stay (attributes kept).
    excluded : dict
        ``{sample_id: reason}`` of the rows left out (empty with ``include_excluded``).
    """
    if include_excluded:
        return df, {}
    excluded = review_exclusions(df)
    if not excluded:
        return df, {}
    out = df[~df["sample_id"].astype(str).isin(excluded)].reset_index(drop=True)
    out.attrs = dict(df.attrs)
    return out, excluded


def exclusion_summary(excluded: dict[str, str]) -> str:
    """One line: how many clips were left out, and why (grouped).

    Examples
    --------
    >>> line = exclusion_summary({"a": "flagged by prepare (small_face)", "b": "rejected in review.csv:3"})
    >>> line.split(": ", 1)[1]
    '1 flagged by prepare and not reviewed, 1 rejected in review.csv; --include-excluded keeps them'
    """
    flagged = sum(reason.startswith("flagged") for reason in excluded.values())
    rejected = len(excluded) - flagged
    parts = []
    if flagged:
        parts.append(f"{flagged} flagged by prepare and not reviewed")
    if rejected:
        parts.append(f"{rejected} rejected in review.csv")
    return f"left out {len(excluded)} clip(s) by review decisions: {', '.join(parts)}; --include-excluded keeps them"
