from __future__ import annotations

import numpy as np
import pytest

from mextk.faces.reference import ASTRONAUT_LANDMARKS
from mextk.features.deflection import ROI_LANDMARKS
from mextk.features.graphs import knn_edges, landmark_graph, to_pyg


def test_knn_by_hand():
    pts = np.array([[0.0, 0.0], [1.0, 0.0], [3.0, 0.0], [3.0, 1.5]])
    e = knn_edges(pts, 2)
    assert e[:, e[0] == 0][1].tolist() == [1, 2]
    assert e[:, e[0] == 3][1].tolist() == [2, 1]
    assert not (e[0] == e[1]).any()
    with pytest.raises(ValueError):
        knn_edges(pts, 4)


def test_triplet_graph_structure_and_features():
    onset = ASTRONAUT_LANDMARKS
    apex = onset.copy()
    apex[48] += [0, -5]  # a lip corner rises
    graph = landmark_graph(np.stack([onset, apex, onset]), k=4)
    n = len(ROI_LANDMARKS)
    assert graph.x.shape == (3 * n, 4) and graph.pos.shape == (3 * n, 2)
    e = {tuple(p) for p in graph.edge_index.T.tolist()}
    assert all((b, a) in e for a, b in e)  # undirected
    assert not any(a == b for a, b in e)
    for i in range(n):  # each landmark joined to its counterpart in the next key frame
        assert (i, i + n) in e and (i + n, i + 2 * n) in e and (i, i + 2 * n) not in e
    assert np.allclose(graph.x[:n, 2:], 0)  # no displacement in the first frame
    corner = ROI_LANDMARKS.index(48)
    width = np.linalg.norm(onset[16] - onset[0])
    assert graph.x[n + corner, 3] == pytest.approx(-5 / width, rel=1e-5)
    assert graph.x[2 * n + corner, 3] == pytest.approx(5 / width, rel=1e-5)
    with pytest.raises(ValueError, match="NaN"):
        landmark_graph(np.full((3, 68, 2), np.nan))


def test_to_pyg():
    pytest.importorskip("torch_geometric", reason="torch-geometric is not installed")
    g = landmark_graph(np.stack([ASTRONAUT_LANDMARKS] * 3))
    data = to_pyg(g, y=2)
    assert tuple(data.x.shape) == g.x.shape and int(data.y) == 2 and data.edge_index.dtype.is_floating_point is False
