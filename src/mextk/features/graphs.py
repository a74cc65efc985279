"""Landmark graphs of a triplet of key frames, for the DGCNN (CMED Fig. 8).

Nodes are the region-of-interest landmarks (eyebrows, eyes, mouth;
:data:`mextk.features.deflection.ROI_LANDMARKS`) of three key frames (onset,
apex, offset).  Each landmark is joined to its counterpart in the adjacent
key frames (temporal edges) and to its ``k`` nearest landmarks within its
frame (spatial edges, k-nearest neighbours in plain numpy).  Edges are stored
in both directions, without self loops.

Node features (4 per node): the landmark's normalised position (centroid of
the base landmarks, face-width units; :func:`~mextk.features.deflection.normalise_landmarks`)
and its displacement from the previous key frame (zero in the first frame).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from mextk.features.deflection import ROI_LANDMARKS, normalise_landmarks


@dataclass(frozen=True)
class LandmarkGraph:
    """A landmark graph.

    Attributes
    ----------
    x : numpy.ndarray
        ``(N, 4)`` ``float32`` node features (x, y, dx, dy); frame-major: frame 0's
        landmarks, then frame 1's, ...
    edge_index : numpy.ndarray
        ``(2, E)`` ``int64`` source and target node indices.
    pos : numpy.ndarray
        ``(N, 2)`` ``float32`` normalised positions.
    """

    x: np.ndarray
    edge_index: np.ndarray
    pos: np.ndarray


def knn_edges(points: np.ndarray, k: int) -> np.ndarray:
    """Directed edges from every point to its ``k`` nearest other points, ``(2, n * k)``.

    Ties are broken by index (stable sort), so the result is deterministic.

    Examples
    --------
    >>> knn_edges(np.array([[0.0, 0.0], [1.0, 0.0], [3.0, 0.0]]), 1).tolist()
    [[0, 1, 2], [1, 0, 1]]
    """
    n = len(points)
    if not 0 < k < n:
        raise ValueError(f"k must be between 1 and {n - 1}, got {k}")
    d = ((points[:, None, :] - points[None, :, :]) ** 2).sum(axis=2)
    np.fill_diagonal(d, np.inf)
    nearest = np.argsort(d, axis=1, kind="stable")[:, :k]
    return np.stack([np.repeat(np.arange(n), k), nearest.ravel()]).astype(np.int64)


def landmark_graph(
    key_landmarks: np.ndarray, *, landmarks: tuple[int, ...] = ROI_LANDMARKS, k: int = 4
) -> LandmarkGraph:
    """Build the graph of key-frame landmarks.

    Parameters
    ----------
    key_landmarks : numpy.ndarray
        ``(F, 68, 2)`` landmarks (pixels) of ``F`` key frames, usually onset, apex, offset.
    landmarks : tuple of int
        The landmarks that become nodes.
    k : int
        Spatial neighbours per node.

    Returns
    -------
    LandmarkGraph
    """
    lm = np.asarray(key_landmarks, dtype=np.float64)
    if lm.ndim != 3 or lm.shape[1:] != (68, 2):
        raise ValueError(f"key_landmarks must be (F, 68, 2), got {lm.shape}")
    if np.isnan(lm).any():
        raise ValueError("key_landmarks contain NaN (a key frame without a face)")
    norm = normalise_landmarks(lm)[:, list(landmarks), :]
    f, n = norm.shape[:2]
    disp = np.zeros_like(norm)
    disp[1:] = norm[1:] - norm[:-1]
    x = np.concatenate([norm, disp], axis=2).reshape(f * n, 4)
    edges = []
    for frame in range(f):
        edges.append(knn_edges(norm[frame], k) + frame * n)
    for frame in range(f - 1):
        a = np.arange(n) + frame * n
        edges.append(np.stack([a, a + n]))
        edges.append(np.stack([a + n, a]))
    e = np.concatenate(edges, axis=1)
    e = np.concatenate([e, e[::-1]], axis=1)  # undirected: both directions
    e = np.unique(e, axis=1)
    return LandmarkGraph(x.astype(np.float32), e.astype(np.int64), norm.reshape(f * n, 2).astype(np.float32))


def to_pyg(graph: LandmarkGraph, *, y: int | None = None) -> Any:
    """The graph as a ``torch_geometric.data.Data`` (``x``, ``edge_index``, ``pos`` and label ``y``)."""
    import torch

    from mextk._imports import pyg

    Data = pyg("torch_geometric.data").Data

    data = Data(
        x=torch.from_numpy(graph.x), edge_index=torch.from_numpy(graph.edge_index), pos=torch.from_numpy(graph.pos)
    )
    if y is not None:
        data.y = torch.tensor([int(y)], dtype=torch.long)
    return data
