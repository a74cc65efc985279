"""MkDocs hook: the benchmark tables, rendered from ``benchmarks/results/*.json`` when the site is built.

A page that holds the line ``<!-- benchmarks -->`` gets, in its place, one section per results file: its
tables, the date, the machine and the command that produced them.  The figures are never typed by hand:
re-run a benchmark script and rebuild the site.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parents[1] / "benchmarks" / "results"
MARKER = "<!-- benchmarks -->"


def _cell(value: Any) -> str:
    return str(value).replace("|", "\\|")


def render(payload: dict[str, Any]) -> str:
    """One benchmark's results as Markdown."""
    lines = [
        f"## {payload['benchmark']}",
        "",
        f"`{payload['command']}`, {payload['date']}, on {payload['machine']}.",
    ]
    if any("date" in t for t in payload["tables"]):  # a file whose parts run separately: that was its last run
        lines[-1] = f"Last run: {lines[-1]} Each table below names the run that measured it."
    if payload.get("notes"):
        lines += ["", payload["notes"]]
    for table in payload["tables"]:
        lines += ["", f"**{table['title']}**", "", "| " + " | ".join(map(_cell, table["columns"])) + " |"]
        lines.append("|" + "---|" * len(table["columns"]))
        lines += ["| " + " | ".join(map(_cell, row)) + " |" for row in table["rows"]]
        if table.get("notes"):
            lines += ["", table["notes"]]
        if "date" in table:  # a table measured by its own run of the script (see benchmarks/results_json.py)
            where = f", on {table['machine']}" if table.get("machine") else ""
            lines += ["", f"`{table['command']}`, {table['date']}{where}."]
    return "\n".join(lines) + "\n"


def on_page_markdown(markdown: str, **_: Any) -> str:
    """Replace the marker with every results file's tables (by name)."""
    if MARKER not in markdown:
        return markdown
    files = sorted(RESULTS.glob("*.json"))
    body = "\n".join(render(json.loads(f.read_text())) for f in files) or "No benchmark has been run yet."
    return markdown.replace(MARKER, body)
