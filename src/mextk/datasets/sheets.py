"""Reading the official coding sheets of micro-expression datasets, quirks included.

The released sheets are hand-made workbooks: a title block above the header
row (SAMM), numbers stored as floats (``46.0``), subject ids that lost their
leading zeros (``1`` for ``01``), trailing spaces and mixed case in headers and
labels, empty rows, blank ``Unnamed`` columns and stray extra sheets.
:func:`read_coding_sheet` finds the header row by the column names it must
hold, on the named sheet or else on the first sheet that has them, and keeps
each row's line number in the workbook for messages (``sheet.xlsx:14``).
The value parsers turn a cell into what the manifest needs, or say why not.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

#: The column holding each record's 1-based line number in the sheet.
LINE = "_line"


def _norm(text: object) -> str:
    """A header as compared: lower case, no spaces, underscores or punctuation (``Onset Frame`` == ``onsetframe``)."""
    return re.sub(r"[^a-z0-9]", "", str(text).lower())


@dataclass(frozen=True)
class SheetTable:
    """A coding sheet's records with canonical column names.

    Attributes
    ----------
    records : list of dict
        One dict per non-empty data row: canonical name -> cell value, plus
        :data:`LINE` (the row's line in the sheet, 1-based) and every other
        column under its own (stripped) header.
    where : str
        ``file`` or ``file[sheet]`` for messages.
    """

    records: list[dict[str, object]]
    where: str

    def at(self, record: Mapping[str, object]) -> str:
        """``file[sheet]:LINE`` of one record."""
        return f"{self.where}:{record[LINE]}"


def _read_raw(path: Path) -> dict[str, pd.DataFrame]:
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm", ".xls"):
        try:
            return pd.read_excel(path, sheet_name=None, header=None, dtype=object)
        except Exception as exc:  # openpyxl raises several types for a damaged workbook
            raise ValueError(f"{path}: cannot read the workbook ({exc.__class__.__name__}: {exc})") from exc
    if suffix in (".csv", ".txt"):
        try:
            return {"": pd.read_csv(path, header=None, dtype=object, keep_default_na=False, encoding="utf-8-sig")}
        except Exception as exc:
            raise ValueError(f"{path}: cannot read the CSV file ({exc})") from exc
    raise ValueError(f"{path}: a coding sheet must be .xlsx, .xls or .csv, got {suffix!r}")


def read_coding_sheet(
    path: str | os.PathLike[str],
    columns: Mapping[str, Iterable[str]],
    *,
    required: Iterable[str],
    sheet: str | None = None,
    search_rows: int = 40,
) -> SheetTable:
    """Read a coding sheet into records keyed by canonical column names.

    Parameters
    ----------
    path : path-like
        ``.xlsx``/``.xls`` workbook or ``.csv`` file.
    columns : mapping
        Canonical name -> the header spellings it may have (compared without
        case, spaces or punctuation: ``Onset Frame``, ``OnsetFrame``, ``onset_frame``).
    required : iterable of str
        Canonical names the header row must hold.
    sheet : str, optional
        The worksheet to read (case and spaces ignored).  When it is absent or
        not given, the first worksheet whose first ``search_rows`` rows hold a
        header with every required column is read.
    search_rows : int
        How many rows from the top may precede the header (a title block).

    Returns
    -------
    SheetTable

    Raises
    ------
    FileNotFoundError
        The file is missing.
    ValueError
        The file cannot be read, or no sheet has a header with the required columns
        (the message names the missing ones).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: coding sheet not found")
    sheets = _read_raw(path)
    required = list(required)
    spellings = {canon: {_norm(s) for s in (canon, *names)} for canon, names in columns.items()}
    order = list(sheets)
    if sheet is not None:
        wanted = [name for name in order if _norm(name) == _norm(sheet)]
        order = wanted + [name for name in order if name not in wanted]
    best_missing: list[str] | None = None
    for name in order:
        raw = sheets[name]
        for r in range(min(search_rows, len(raw))):
            header = {j: _norm(v) for j, v in raw.iloc[r].items() if not _blank(v)}
            found = {}
            for canon, names in spellings.items():
                hits = [j for j, h in header.items() if h in names]
                if hits:
                    found[canon] = hits[0]
            missing = [c for c in required if c not in found]
            if not missing:
                return _records(raw, r, found, path, name, len(sheets) > 1)
            if best_missing is None or len(missing) < len(best_missing):
                best_missing = missing if len(missing) < len(required) else best_missing
    wanted_text = ", ".join(f"'{c}'" for c in (best_missing or required))
    raise ValueError(f"{path}: no sheet has a header row with the column(s) {wanted_text}")


def _records(
    raw: pd.DataFrame, header_row: int, found: dict[str, int], path: Path, sheet: str, several: bool
) -> SheetTable:
    used = set(found.values())
    others = {
        j: str(v).strip()
        for j, v in raw.iloc[header_row].items()
        if j not in used and not _blank(v) and not str(v).strip().lower().startswith("unnamed")
    }
    records = []
    for r in range(header_row + 1, len(raw)):
        row = raw.iloc[r]
        if all(_blank(row[j]) for j in found.values()):
            continue  # an empty row (or one with only notes in other columns)
        rec: dict[str, object] = {canon: row[j] for canon, j in found.items()}
        rec.update({name: row[j] for j, name in others.items() if name not in rec})
        rec[LINE] = r + 1
        records.append(rec)
    where = f"{path}[{sheet}]" if several and sheet else str(path)
    return SheetTable(records, where)


def _blank(value: object) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and value.strip() == ""


def cell_text(value: object) -> str:
    """A cell as stripped text; whole floats lose their ``.0`` (``46.0`` -> ``"46"``), blanks give ``""``.

    Examples
    --------
    >>> cell_text(46.0), cell_text(" EP02_01f "), cell_text(float("nan"))
    ('46', 'EP02_01f', '')
    """
    if _blank(value):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def frame_number(value: object) -> int | None:
    """A frame number from a cell: ``46``, ``46.0``, ``" 46 "``; ``None`` for a blank or ``/`` (not coded).

    Raises
    ------
    ValueError
        For anything else (``"4a"``, ``46.5``, a negative number).

    Examples
    --------
    >>> frame_number(46.0), frame_number("59 "), frame_number("/")
    (46, 59, None)
    """
    text = cell_text(value)
    if text in ("", "/", "-", "--", "?", "n/a", "N/A", "NA", "nan"):
        return None
    try:
        number = float(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a frame number") from None
    if not number.is_integer() or number < 0:
        raise ValueError(f"{text!r} is not a frame number")
    return int(number)


def subject_id(value: object, width: int = 0) -> str:
    """A subject id as text, with the leading zeros a numeric cell lost put back (``1`` -> ``"01"`` for width 2).

    Ids that are not plain numbers (``spNO.1``, ``sub0003``, ``s1``) are kept as they are.

    Examples
    --------
    >>> subject_id(1.0, 2), subject_id("6", 3), subject_id(" spNO.1 ", 0)
    ('01', '006', 'spNO.1')
    """
    text = cell_text(value)
    if width and text.isdigit():
        return text.zfill(width)
    return text
