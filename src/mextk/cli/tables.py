"""Tables the commands print (rich)."""

from __future__ import annotations

from typing import Any


def metrics_table(metrics: dict, title: str) -> Any:  # type: ignore[type-arg]
    """ACC, UF1 and UAR of a scoring result, overall and per dataset, as a rich table."""
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for col in ("set", "n", "ACC", "UF1", "UAR"):
        table.add_column(col, justify="left" if col == "set" else "right")
    table.add_row("all", str(metrics["n"]), f"{metrics['acc']:.4f}", f"{metrics['uf1']:.4f}", f"{metrics['uar']:.4f}")
    for name, m in metrics.get("per_dataset", {}).items():
        table.add_row(name, str(m["n"]), f"{m['acc']:.4f}", f"{m['uf1']:.4f}", f"{m['uar']:.4f}")
    return table
