"""Tables for papers: Markdown rendering and atomic CSV + Markdown output."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from mextk.io.atomic import atomic_path, write_text_atomic


def read_csv_text(path: str | os.PathLike[str], *, what: str = "table") -> pd.DataFrame:
    """Read a CSV file every column as text; every failure names the file, in one line.

    Parameters
    ----------
    path : path-like
        The file.
    what : str
        What the file is (``"manifest"``, ``"predictions"``), for the messages.

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    ValueError
        The path is a folder, the file is empty (not even a header row), or not CSV text.
    PermissionError
        The file cannot be read.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: {what} not found")
    if path.is_dir():
        raise ValueError(f"{path}: is a folder; expected a {what} file (.csv)")
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:
        raise ValueError(f"{path}: the {what} file is empty (it needs at least a header row)") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        detail = " ".join(str(exc).split())
        raise ValueError(f"{path}: not a readable CSV {what} ({detail})") from None


def _cell(value: object, floatfmt: str) -> str:
    if isinstance(value, float):
        return format(value, floatfmt)
    return str(value).replace("|", "\\|")


def markdown_table(df: pd.DataFrame, *, floatfmt: str = ".4f", index: bool = False) -> str:
    """Render a DataFrame as a GitHub-flavoured Markdown table.

    Numbers are right-aligned, text left-aligned.

    Examples
    --------
    >>> print(markdown_table(pd.DataFrame({"Class": ["Anger"], "Samples": [114]})))
    | Class | Samples |
    | :--- | ---: |
    | Anger | 114 |
    """
    if index:
        df = df.reset_index()
    cols = [str(c) for c in df.columns]
    numeric = [pd.api.types.is_numeric_dtype(df[c]) for c in df.columns]
    lines = ["| " + " | ".join(cols) + " |"]
    lines.append("| " + " | ".join("---:" if n else ":---" for n in numeric) + " |")
    for row in df.itertuples(index=False):
        lines.append("| " + " | ".join(_cell(v, floatfmt) for v in row) + " |")
    return "\n".join(lines)


def write_table(
    df: pd.DataFrame,
    out_dir: str | os.PathLike[str],
    name: str,
    *,
    title: str | None = None,
    floatfmt: str = ".4f",
) -> tuple[Path, Path]:
    """Write ``name.csv`` and ``name.md`` into ``out_dir`` atomically.

    Returns
    -------
    tuple of pathlib.Path
        The CSV and Markdown paths.
    """
    out = Path(out_dir)
    csv_path, md_path = out / f"{name}.csv", out / f"{name}.md"
    with atomic_path(csv_path) as tmp:
        df.to_csv(tmp, index=False)
    md = markdown_table(df, floatfmt=floatfmt)
    if title:
        md = f"**{title}**\n\n{md}"
    write_text_atomic(md_path, md + "\n")
    return csv_path, md_path
