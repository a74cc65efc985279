"""Write a benchmark's figures as JSON (``benchmarks/results/NAME.json``), for the documentation's tables.

Every benchmark that the documentation quotes calls :func:`save` with its tables; ``docs/hooks.py``
renders each file as Markdown tables, with the date, machine and command that produced it, when the site
is built.  No figure in those pages is typed by hand.
"""

from __future__ import annotations

import json
import os
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> str:
    """``CPU model, N cores, RAM, OS, Python`` of this machine."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 0
    try:
        ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
        memory = f", {ram:.0f} GiB"
    except (ValueError, OSError, AttributeError):
        memory = ""
    return f"{cpu}, {cores} cores{memory}, {platform.system()}, Python {platform.python_version()}"


def save(name: str, tables: list[dict], *, notes: str = "", merge: bool = False) -> Path:
    """Write ``RESULTS/name.json``: ``tables`` is a list of ``{"title", "columns", "rows"}``.

    With ``merge`` (a script whose parts run separately, ``--only N``), the file's other tables are kept: each
    table then carries its own ``date``, ``command`` and ``machine``, which the documentation prints under it
    (tables kept from before the machine was recorded per table print none).
    """
    RESULTS.mkdir(parents=True, exist_ok=True)
    command = "python " + " ".join([f"benchmarks/{Path(sys.argv[0]).name}", *sys.argv[1:]])
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    if merge:
        tables = [{**t, "date": now, "command": command, "machine": machine()} for t in tables]
        path = RESULTS / f"{name}.json"
        if path.exists():
            titles = {t["title"] for t in tables}
            kept = [t for t in json.loads(path.read_text())["tables"] if t["title"] not in titles]
            tables = kept + tables
    payload = {
        "benchmark": name,
        "command": command,
        "date": now,
        "machine": machine(),
        "notes": notes,
        "tables": tables,
    }
    path = RESULTS / f"{name}.json"
    tmp = path.with_suffix(".json.part")
    tmp.write_text(json.dumps(payload, indent=1) + "\n")
    tmp.replace(path)
    return path
