"""The feature kinds of ``mextk features``: their names, parameters and defaults.

This module is the one source of truth for what each kind takes.  It holds
plain data (no numpy), so ``mextk features --help`` can list every kind's
parameters without loading the libraries that compute them; the functions
themselves are in :mod:`mextk.features.batch`.

``version`` is not a setting: it is raised when a kind's computation changes,
so that an old cache folder is never reused for new results.
"""

from __future__ import annotations

from typing import Any

#: kind -> default parameters (``--feature KEY=VALUE`` changes one; any change starts a new cache folder)
KIND_DEFAULTS: dict[str, dict[str, Any]] = {
    "landmarks": {"redetect_every": 10, "version": 2},
    "frames": {
        "sampling": "adaptive",
        "n": 16,
        "align": "affine",
        "size": 112,
        "margin": 0.2,
        "gray": False,
        "seed": 0,
        "version": 2,
    },
    "flow": {"align": "affine", "size": 128, "margin": 0.2, "out_size": 28, "seed": 0, "version": 4},
    "lbp_top": {
        "temporal": "key_frames",
        "radius": [1, 1, 1],
        "n_points": [8, 8, 8],
        "rows": 5,
        "cols": 5,
        "time_parts": 1,
        "overlap": 0.0,
        "mapping": "u2",
        "geometry": "reference",
        "align": "affine",
        "size": 128,
        "margin": 0.2,
        "seed": 0,
        "version": 2,
    },
    "graphs": {"k": 4, "redetect_every": 10, "seed": 0, "version": 3},
    "motion": {"grid": 6, "seed": 0, "version": 2},
}

#: kind -> one line saying what it computes
KIND_SUMMARIES: dict[str, str] = {
    "landmarks": "68 dlib landmarks tracked through every frame (landmarks, found)",
    "frames": "aligned face crops at sampled frames: the 3D CNNs' and the apex CNN's input (x, positions)",
    "flow": "TV-L1 flow u, v and optical strain from onset to apex, aligned, 28x28x3 (STSTNet, OFF-ApexNet)",
    "lbp_top": "LBP-TOP histograms over the onset, apex and offset frames or the whole clip (x)",
    "graphs": "landmark graphs of the onset, apex and offset frames, for the DGCNN (x, edge_index, pos)",
    "motion": "Farneback flow from onset to apex, head motion removed, averaged over a grid of blocks (x)",
}

#: parameter -> what it means (shared by the kinds that take it)
PARAM_DOCS: dict[str, str] = {
    "redetect_every": "frames between fresh face detections while tracking",
    "sampling": "adaptive (denser around onset, apex, offset), uniform (onset to offset) or apex (one frame)",
    "n": "frames sampled",
    "align": "alignment on the onset frame's stable landmarks: affine, similarity or none",
    "size": "side of the aligned crop in pixels; 0 with align=none keeps the frames as they are",
    "margin": "share of the face box added around it before cropping",
    "gray": "grayscale crops",
    "seed": "seed of the stand-in apex of clips that have none",
    "out_size": "side of the network input in pixels",
    "temporal": "key_frames (onset, apex and offset) or clip (every frame)",
    "radius": "radius on the XY, XT and YT planes",
    "n_points": "neighbours on the XY, XT and YT planes",
    "rows": "block rows",
    "cols": "block columns",
    "time_parts": "blocks along time",
    "overlap": "block overlap ratio",
    "mapping": "u2 (uniform patterns) or none (every code its own bin)",
    "geometry": (
        "block geometry: reference (LBPTOP as published: overlap size -1 at ratio 0) "
        "or clamped (mextk 0.1.0: overlap size >= 0, time blocks from time_length)"
    ),
    "k": "neighbours of each landmark in the graph",
    "grid": "blocks per side",
}

#: commands of ``mextk features`` that are analyses over manifests, not cached per-sample kinds
ANALYSES: dict[str, str] = {
    "deflection": "CMED's onset-to-apex landmark deflection per emotion and dataset (deflection.csv, .png)",
}


def describe_kinds() -> str:
    """Every kind with its parameters and defaults, for ``mextk features --help``.

    Examples
    --------
    >>> "redetect_every=10" in describe_kinds()
    True
    """
    import json

    def show(value: Any) -> str:
        return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))

    paragraphs = []
    for kind, defaults in KIND_DEFAULTS.items():
        params = "; ".join(
            f"{key}={show(value)}: {PARAM_DOCS[key]}" for key, value in defaults.items() if key != "version"
        )
        paragraphs.append(f"{kind}: {KIND_SUMMARIES[kind]}.  Parameters: {params}.")
    for name, summary in ANALYSES.items():
        paragraphs.append(f"{name}: {summary}; takes one manifest per dataset.")
    return "\n\n".join(paragraphs)
