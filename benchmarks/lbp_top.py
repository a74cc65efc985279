"""LBP-TOP speed: the vectorised version against the plain per-pixel reference (prints figures).

    python benchmarks/lbp_top.py

Both compute the same histogram (tests check it bit for bit); the ratio is measured in one run.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from mextk.features.lbp_top import lbp_top, lbp_top_reference

sys.path.insert(0, str(Path(__file__).resolve().parent))
from results_json import save  # noqa: E402


def main() -> None:
    v = np.random.default_rng(0).integers(0, 256, (30, 128, 128)).astype(np.uint8)
    params = {"radius": (1, 1, 1), "rows": 5, "cols": 5}
    lbp_top(v, **params)  # warm-up
    t = time.perf_counter()
    for _ in range(10):
        fast = lbp_top(v, **params)
    t_fast = (time.perf_counter() - t) / 10
    t = time.perf_counter()
    ref = lbp_top_reference(v, **params)
    t_ref = time.perf_counter() - t
    assert np.array_equal(fast, ref)
    print(
        f"LBP-TOP on a 30x128x128 clip (R=1, P=8, 5x5 blocks, u2): vectorised {t_fast * 1000:.1f} ms, "
        f"reference {t_ref:.1f} s, speed-up {t_ref / t_fast:.0f}x, identical histograms"
    )

    table = {
        "title": "LBP-TOP on a 30x128x128 clip (R=1, P=8, 5x5 blocks, u2), identical histograms",
        "columns": ["implementation", "time", "speed-up"],
        "rows": [
            ["vectorised", f"{t_fast * 1000:.1f} ms", f"{t_ref / t_fast:.0f}x"],
            ["per-pixel reference", f"{t_ref:.1f} s", "1x"],
        ],
    }
    print(f"wrote {save('lbp_top', [table])}")


if __name__ == "__main__":
    main()
