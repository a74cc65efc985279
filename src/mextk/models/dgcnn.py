"""DGCNN over landmark graphs (CMED Fig. 8).

Four EdgeConv layers (Wang et al.) on the fixed edges of the key-frame
landmark graph (:mod:`mextk.features.graphs`), their outputs concatenated per
node, SortAggregation (SortPool) to ``k`` nodes, then the 1-D convolutions and
dense layers of Zhang et al.'s DGCNN and a softmax over classes (the module
returns logits; the loss applies the softmax).

Layer sizes follow Zhang et al.: graph layers of 32, 32, 32 and 1 channels
(97 per node), a 1-D convolution of 16 filters spanning one node, max-pooling
by 2, a 1-D convolution of 32 filters of width 5, a dense layer of 128 units
with dropout 0.5.  ``k`` defaults to 30 nodes (of the 126 in a triplet graph).
One addition (mextk's): batch normalisation of the input node features, because
positions (about half a face width) and displacements (about a hundredth) differ
in scale by two orders of magnitude and the tanh layers would otherwise barely
see the displacements.

References
----------
M. Zhang, Z. Cui, M. Neumann and Y. Chen, "An end-to-end deep learning architecture for graph
classification", AAAI 2018, doi:10.1609/aaai.v32i1.11782.
Y. Wang, Y. Sun, Z. Liu, S. E. Sarma, M. M. Bronstein and J. M. Solomon, "Dynamic graph CNN for
learning on point clouds", ACM TOG 2019, doi:10.1145/3326362.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


def _pyg_layers() -> tuple[Any, Any]:
    from mextk._imports import pyg

    return pyg("torch_geometric.nn").EdgeConv, pyg("torch_geometric.nn.aggr").SortAggregation


class DGCNN(nn.Module):
    """EdgeConv x4 + SortAggregation + 1-D convolutions + dense layers.

    Parameters
    ----------
    num_classes : int
        Output classes.
    in_channels : int
        Node features (4: x, y, dx, dy).
    hidden : tuple of int
        Output channels of the four EdgeConv layers.
    k : int
        Nodes kept by SortAggregation (graphs with fewer nodes are zero-padded).
    dropout : float
        Dropout before the output layer.
    """

    def __init__(
        self,
        *,
        num_classes: int,
        in_channels: int = 4,
        hidden: tuple[int, ...] = (32, 32, 32, 1),
        k: int = 30,
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        EdgeConv, SortAggregation = _pyg_layers()

        if k < 10:
            raise ValueError(f"k must be at least 10 (the 1-D convolutions need it), got {k}")
        # node features mix positions (~0.5 face widths) and displacements (~0.01): normalise them first
        self.input_norm = nn.BatchNorm1d(in_channels)
        self.convs = nn.ModuleList()
        prev = in_channels
        for width in hidden:
            mlp = nn.Sequential(nn.Linear(2 * prev, width), nn.Tanh())
            self.convs.append(EdgeConv(mlp, aggr="max"))
            prev = width
        total = sum(hidden)
        self.total = total
        self.sort = SortAggregation(k=k)
        self.conv1 = nn.Conv1d(1, 16, kernel_size=total, stride=total)
        self.pool = nn.MaxPool1d(2, 2)
        self.conv2 = nn.Conv1d(16, 32, kernel_size=5, stride=1)
        dense_in = 32 * ((k // 2) - 5 + 1)
        self.head = nn.Sequential(nn.Linear(dense_in, 128), nn.ReLU(), nn.Dropout(dropout), nn.Linear(128, num_classes))

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor, batch: torch.Tensor) -> torch.Tensor:
        """Node features ``(N, in_channels)``, edges ``(2, E)``, graph index ``(N,)`` -> ``(G, num_classes)``."""
        outs = []
        h = self.input_norm(x)
        for conv in self.convs:
            h = conv(h, edge_index)
            outs.append(h)
        h = torch.cat(outs, dim=1)
        h = self.sort(h, batch)  # (G, k * total), nodes sorted by their last channel
        h = h.unsqueeze(1)
        h = torch.relu(self.conv1(h))
        h = self.pool(h)
        h = torch.relu(self.conv2(h))
        return self.head(h.flatten(1))


def dgcnn(*, num_classes: int, in_channels: int = 4, k: int = 30, dropout: float = 0.5) -> DGCNN:
    """Build :class:`DGCNN`."""
    return DGCNN(num_classes=num_classes, in_channels=in_channels, k=k, dropout=dropout)
