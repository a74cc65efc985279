"""Model inputs: per-sample arrays from the feature cache or from precomputed files, shaped for a model.

An *input type* says how a sample's arrays become a model input:

``vector``  any array, flattened to ``float32`` (LBP-TOP histograms for the SVM)
``image``   one frame ``(1, S, S, 3)`` or ``(S, S, 3)`` uint8 -> ``(3, S, S)`` float, ImageNet mean/std
``clip``    frames ``(T, S, S, 3)`` uint8 -> ``(3, T, S, S)`` float, Kinetics-400 mean/std
``flow``    the MEGC input ``(S, S, 3)`` float in [0, 1] -> ``(3, S, S)``
``flow_regions``  the same input's four facial regions laid out 2 x 2 (HTNet): cut at the sample's
            ``regions`` or ``landmarks`` arrays, or at a template (:mod:`mextk.models.regions`)
``graph``   ``x``, ``edge_index`` -> a ``torch_geometric.data.Data``

Precomputed inputs (``--input precomputed``): the manifest's ``path`` points at
the input itself, read by its suffix: ``.npy`` (an array), ``.npz`` (``x`` and,
for graphs, ``edge_index``), or an image (``.png``, ``.jpg``, ``.bmp``; RGB
uint8; for ``flow`` divided by 255, which is how the published MEGC flow
images are stored).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

INPUT_TYPES = ("vector", "image", "clip", "flow", "flow_regions", "graph")
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
KINETICS_MEAN, KINETICS_STD = (0.43216, 0.394666, 0.37645), (0.22803, 0.22145, 0.216989)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


def read_precomputed(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """Read a precomputed model input (see the module docstring) into named arrays."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"precomputed input {p} does not exist")
    suffix = p.suffix.lower()
    if suffix == ".npy":
        return {"x": np.load(p, allow_pickle=False)}
    if suffix == ".npz":
        with np.load(p, allow_pickle=False) as data:
            if "x" not in data.files:
                raise ValueError(f"{p}: an .npz input needs an array named 'x' (has {', '.join(data.files)})")
            return {k: data[k] for k in data.files}
    if suffix in IMAGE_SUFFIXES:
        import cv2

        img = cv2.imread(str(p), cv2.IMREAD_COLOR)
        if img is None:
            raise ValueError(f"{p}: not a readable image")
        return {"x": cv2.cvtColor(img, cv2.COLOR_BGR2RGB)}
    raise ValueError(f"{p}: unsupported precomputed input type {suffix!r} (use .npy, .npz or an image)")


def to_model_input(arrays: dict[str, np.ndarray], input_type: str, *, precomputed: bool = False) -> Any:
    """One sample's arrays -> the model's input (numpy for vectors, torch otherwise)."""
    x = arrays["x"]
    if input_type == "vector":
        return np.asarray(x, dtype=np.float32).ravel()
    import torch

    if input_type == "graph":
        from mextk._imports import pyg

        Data = pyg("torch_geometric.data").Data

        if "edge_index" not in arrays:
            raise ValueError("a graph input needs 'edge_index'")
        return Data(
            x=torch.as_tensor(np.asarray(x, dtype=np.float32)),
            edge_index=torch.as_tensor(np.asarray(arrays["edge_index"], dtype=np.int64)),
        )
    if input_type in ("flow", "flow_regions"):
        a = np.asarray(x)
        if a.ndim != 3 or a.shape[2] not in (2, 3):
            raise ValueError(f"a flow input must be (S, S, 3) channels last, got {a.shape}")
        a = a.astype(np.float32) / 255.0 if a.dtype == np.uint8 else a.astype(np.float32)
        a = a.transpose(2, 0, 1)
        if input_type == "flow_regions":
            from mextk.models.regions import region_centres, region_layout

            a = region_layout(a, region_centres(arrays))
        return torch.from_numpy(np.ascontiguousarray(a))
    if input_type in ("image", "clip"):
        a = np.asarray(x)
        if input_type == "image" and a.ndim == 4:
            a = a[0]
        if a.ndim == (2 if input_type == "image" else 3):  # grayscale: repeat to 3 channels
            a = np.repeat(a[..., None], 3, axis=-1)
        if a.dtype != np.uint8:
            raise ValueError(f"{input_type} input must be uint8, got {a.dtype}")
        mean, std = (IMAGENET_MEAN, IMAGENET_STD) if input_type == "image" else (KINETICS_MEAN, KINETICS_STD)
        t = (torch.from_numpy(a).float() / 255.0 - torch.tensor(mean)) / torch.tensor(std)
        return t.permute(2, 0, 1).contiguous() if input_type == "image" else t.permute(3, 0, 1, 2).contiguous()
    raise ValueError(f"unknown input type {input_type!r}; choose one of {', '.join(INPUT_TYPES)}")
