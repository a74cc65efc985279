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
    >>> from mextk.synth.face import ASTRONAUT_LANDMARKS as lm
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


def plot_deflection(table: pd.DataFrame, path: str | os.PathLike[str], *, exaggerate: float = 10.0) -> Path:
    """CMED's Fig. 6: onset landmarks (dots) with arrows to the apex, one panel per emotion.

    With two or more datasets in ``table`` they are drawn side by side (one
    column each).  Arrows are lengthened ``exaggerate`` times (micro-expressions
    move a few hundredths of a face width); the factor is printed on the figure.
    The PNG is written atomically.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from mextk.io.atomic import atomic_path

    if table.empty:
        raise ValueError("nothing to plot: the deflection table is empty")
    emotions = sorted(table["emotion"].unique())
    datasets = list(dict.fromkeys(table["dataset"]))
    panels = [(emo, ds) for emo in emotions for ds in datasets]
    # datasets side by side (CMED's layout); a single dataset in a grid of three columns
    ncols = len(datasets) if len(datasets) > 1 else min(3, len(emotions))
    nrows = -(-len(panels) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.2 * ncols, 3.2 * nrows + 0.4), squeeze=False)
    for ax in axes.ravel()[len(panels) :]:
        ax.axis("off")
    for k, (emo, ds) in enumerate(panels):
        ax = axes[k // ncols][k % ncols]
        part = table[(table["emotion"] == emo) & (table["dataset"] == ds)]
        if part.empty:  # this dataset has no sample of this emotion
            ax.set_title(f"{emo} {ds} (n=0)", fontsize=9)
            ax.axis("off")
            continue
        ax.scatter(part["x"], part["y"], s=6, c="red")
        ax.quiver(
            part["x"],
            part["y"],
            part["dx"] * exaggerate,
            part["dy"] * exaggerate,
            angles="xy",
            scale_units="xy",
            scale=1,
            color="blue",
            width=0.006,
        )
        xs = np.concatenate([part["x"], part["x"] + part["dx"] * exaggerate])
        ys = np.concatenate([part["y"], part["y"] + part["dy"] * exaggerate])
        pad = 0.05
        ax.set_xlim(xs.min() - pad, xs.max() + pad)
        ax.set_ylim(ys.max() + pad, ys.min() - pad)  # image coordinates: y grows downwards
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
        n = int(part["n"].iloc[0]) if len(part) else 0
        ax.set_title(f"{emo} {ds} (n={n})".strip(), fontsize=9)
    fig.suptitle(f"onset landmarks and mean deflection to the apex (arrows x{exaggerate:g})", fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.96))
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)
    return Path(path)
