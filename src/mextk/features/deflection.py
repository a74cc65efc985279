"""Landmark normalisation and onset-to-apex deflection analysis (CMED section III-F, Fig. 5-6, eq. 1-3).

Landmarks are expressed relative to a centroid of five base landmarks
(eq. 1-3) and divided by the face width, so that faces of any size and
position compare.  The deflection of a landmark is its mean displacement from
the onset frame to the apex frame over the samples of one emotion (and
dataset); the spread in y is the standard deviation of the vertical
displacement, where CMED finds children's movements more varied than adults'.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

#: The five base landmarks of the centroid: the nose bridge (27, 28, 29) and the inner eye corners
#: (39, 42).  CMED's Fig. 5 marks five stable points without numbering them; these lie on bone or
#: tendon and no action unit of a micro-expression moves them (the nostrils move with AU9/AU10,
#: the outer eye corners with AU6, the brows, lids, mouth and jaw with most units).
BASE_LANDMARKS: tuple[int, ...] = (27, 28, 29, 39, 42)
#: Regions of interest (CMED Fig. 5): eyebrows, eyes and mouth.
ROI = {"eyebrows": tuple(range(17, 27)), "eyes": tuple(range(36, 48)), "mouth": tuple(range(48, 68))}
ROI_LANDMARKS: tuple[int, ...] = tuple(i for part in ROI.values() for i in part)


def normalise_landmarks(landmarks: np.ndarray) -> np.ndarray:
    """Landmarks relative to the base-landmark centroid, in units of face width (landmark 0 to 16).

    Parameters
    ----------
    landmarks : numpy.ndarray
        ``(..., 68, 2)`` landmarks (x, y) in pixels.

    Returns
    -------
    numpy.ndarray
        Same shape, ``float64``.

    Examples
    --------
    >>> from mextk.faces.reference import ASTRONAUT_LANDMARKS as lm
    >>> a = normalise_landmarks(lm)
    >>> b = normalise_landmarks(lm * 2.5 + [40, -7])  # moved and scaled: the same
    >>> bool(np.allclose(a, b))
    True
    """
    lm = np.asarray(landmarks, dtype=np.float64)
    if lm.shape[-2:] != (68, 2):
        raise ValueError(f"landmarks must be (..., 68, 2), got {lm.shape}")
    centroid = lm[..., list(BASE_LANDMARKS), :].mean(axis=-2, keepdims=True)
    width = np.linalg.norm(lm[..., 16, :] - lm[..., 0, :], axis=-1)[..., None, None]
    return (lm - centroid) / width


def deflection_table(
    onset: np.ndarray,
    apex: np.ndarray,
    emotions: Sequence[str],
    datasets: Sequence[str] | None = None,
    *,
    landmarks: Sequence[int] = ROI_LANDMARKS,
) -> pd.DataFrame:
    """Mean onset-to-apex displacement of each landmark, per dataset and emotion.

    Parameters
    ----------
    onset, apex : numpy.ndarray
        ``(N, 68, 2)`` landmarks of the onset and apex frames of ``N`` samples (pixels).
    emotions : sequence of str
        Emotion of each sample.
    datasets : sequence of str, optional
        Dataset of each sample (one group when omitted).
    landmarks : sequence of int
        Landmarks to report (default: the regions of interest).

    Returns
    -------
    pandas.DataFrame
        One row per (dataset, emotion, landmark): ``n``, mean normalised onset
        position ``x, y``, mean displacement ``dx, dy`` and the spread of the
        vertical displacement ``spread_y`` (standard deviation), in face widths.
    """
    on, ap = normalise_landmarks(onset), normalise_landmarks(apex)
    if on.shape != ap.shape or on.ndim != 3:
        raise ValueError(f"onset and apex must both be (N, 68, 2), got {on.shape} and {ap.shape}")
    n = len(on)
    emotions = np.asarray(emotions).astype(str)
    datasets = np.asarray(datasets if datasets is not None else [""] * n).astype(str)
    if len(emotions) != n or len(datasets) != n:
        raise ValueError("need one emotion (and dataset) per sample")
    rows = []
    disp = ap - on
    for ds in dict.fromkeys(datasets):  # datasets in the order given (first manifest first)
        for emo in sorted(set(emotions)):
            m = (datasets == ds) & (emotions == emo)
            if not m.any():
                continue
            for i in landmarks:
                rows.append(
                    {
                        "dataset": ds,
                        "emotion": emo,
                        "landmark": int(i),
                        "n": int(m.sum()),
                        "x": float(on[m, i, 0].mean()),
                        "y": float(on[m, i, 1].mean()),
                        "dx": float(disp[m, i, 0].mean()),
                        "dy": float(disp[m, i, 1].mean()),
                        "spread_y": float(disp[m, i, 1].std()),
                    }
                )
    return pd.DataFrame(rows)


def deflection_scale(table: pd.DataFrame, *, target: float = 0.1) -> tuple[float, float]:
    """The arrow lengthening for a deflection figure, and the length of its legend arrow.

    The mean onset-to-apex displacements of a micro-expression are a few
    hundredths of a face width, and on real recordings head motion left in
    them can be ten times larger; a fixed factor therefore draws invisible
    arrows for one dataset and arrows that leave the face for another.  The
    factor is chosen from the data instead: the longest mean arrow in the
    table is drawn ``target`` face widths long, with the factor rounded down
    to 1, 2 or 5 times a power of ten so that the legend reads cleanly.  One
    factor serves every panel, so the panels stay comparable.

    Parameters
    ----------
    table : pandas.DataFrame
        :func:`deflection_table` output (``dx``, ``dy`` in face widths).
    target : float
        Drawn length of the longest arrow, in face widths.

    Returns
    -------
    exaggerate : float
        Factor applied to every arrow.
    reference : float
        A round displacement (face widths) near the longest one, for the legend arrow.

    Examples
    --------
    >>> t = pd.DataFrame({"dx": [0.003, 0.0], "dy": [0.004, 0.001]})   # longest arrow 0.005
    >>> deflection_scale(t)
    (20.0, 0.005)
    """
    longest = float(np.hypot(table["dx"], table["dy"]).max()) if len(table) else 0.0
    if not np.isfinite(longest) or longest <= 0:
        return 1.0, 0.0
    return _nice_floor(target / longest), _nice_floor(longest)


def _nice_floor(value: float) -> float:
    """The largest of 1, 2, 5 x 10^k not above ``value`` (rounded to hide float noise)."""
    power = 10.0 ** np.floor(np.log10(value))
    for step in (5.0, 2.0, 1.0):
        if step * power <= value * (1 + 1e-9):
            return float(f"{step * power:.6g}")
    return float(f"{power:.6g}")


def draw_deflection(table: pd.DataFrame, *, exaggerate: float | None = None) -> Any:
    """CMED's Fig. 6 as a matplotlib figure: onset landmarks (dots), arrows to the apex, one panel per emotion.

    With two or more datasets in ``table`` they are drawn side by side (one
    column each).  Every panel has the same limits and the same arrow scale
    (:func:`deflection_scale` unless ``exaggerate`` is given), so panels and
    datasets compare at a glance; the limits hold every landmark and every
    arrow's tip, and a legend arrow gives the scale in face widths.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if table.empty:
        raise ValueError("nothing to plot: the deflection table is empty")
    factor, reference = deflection_scale(table)
    if exaggerate is not None:
        if not exaggerate > 0:
            raise ValueError(f"exaggerate must be positive, got {exaggerate}")
        factor = float(exaggerate)
        reference = reference or 0.01
    emotions = sorted(table["emotion"].unique())
    datasets = list(dict.fromkeys(table["dataset"]))
    panels = [(emo, ds) for emo in emotions for ds in datasets]
    # datasets side by side (CMED's layout); a single dataset in a grid of three columns
    ncols = len(datasets) if len(datasets) > 1 else min(3, len(emotions))
    nrows = -(-len(panels) // ncols)
    xs = np.concatenate([table["x"], table["x"] + table["dx"] * factor])
    ys = np.concatenate([table["y"], table["y"] + table["dy"] * factor])
    pad = 0.05 * max(float(np.ptp(xs)), float(np.ptp(ys)), 1e-6)
    xlim = (xs.min() - pad, xs.max() + pad)
    ylim = (ys.max() + pad, ys.min() - pad)  # image coordinates: y grows downwards
    fig, axes = plt.subplots(nrows, ncols, figsize=(max(3.4 * ncols, 4.6), 3.5 * nrows + 1.0), squeeze=False)
    for ax in axes.ravel()[len(panels) :]:
        ax.axis("off")
    arrows = None
    for k, (emo, ds) in enumerate(panels):
        ax = axes[k // ncols][k % ncols]
        part = table[(table["emotion"] == emo) & (table["dataset"] == ds)]
        if part.empty:  # this dataset has no sample of this emotion
            ax.set_title(f"{emo} {ds} (n=0)", fontsize=9)
            ax.axis("off")
            continue
        ax.scatter(part["x"], part["y"], s=6, c="red")
        arrows = ax.quiver(
            part["x"],
            part["y"],
            part["dx"] * factor,
            part["dy"] * factor,
            angles="xy",
            scale_units="xy",
            scale=1,
            color="blue",
            width=0.006,
        )
        ax.set_xlim(*xlim)
        ax.set_ylim(*ylim)
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
        n = int(part["n"].iloc[0]) if len(part) else 0
        ax.set_title(f"{emo} {ds} (n={n})".strip(), fontsize=9)
    fig.suptitle(
        f"onset landmarks and mean deflection to the apex\n(positions in face widths; arrows drawn x{factor:g})",
        fontsize=10,
    )
    if arrows is not None and reference > 0:
        # the legend arrow: `reference` face widths, drawn at the same scale as every arrow
        arrows.axes.quiverkey(
            arrows,
            0.5,
            0.03,
            reference * factor,
            f"{reference:g} face widths (x{factor:g})",
            labelpos="E",
            coordinates="figure",
            color="blue",
            fontproperties={"size": 9},
        )
    fig.tight_layout(rect=(0, 0.06, 1, 0.93))
    fig.subplots_adjust(hspace=0.3)  # room for each panel's title below the panel above
    return fig


def plot_deflection(table: pd.DataFrame, path: str | os.PathLike[str], *, exaggerate: float | None = None) -> Path:
    """Draw :func:`draw_deflection` and write it as a PNG, atomically."""
    import matplotlib.pyplot as plt

    from mextk.io.atomic import atomic_path

    fig = draw_deflection(table, exaggerate=exaggerate)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)
    return Path(path)
