"""SOFTNet: a shallow three-stream CNN that regresses how likely a frame lies in an expression ("apex-ness").

Input ``(N, 3, S, S)``: the optical flow ``u``, ``v`` and the optical strain
from frame ``t`` to frame ``t + k`` of an aligned face.  Each channel has its
own stream (5x5 convolution with 3, 5 and 8 filters for ``u``, ``v`` and
strain, ReLU, 3x3 max-pooling with stride 3); the 16 maps are concatenated,
max-pooled 2x2, flattened, and a hidden layer of 400 units gives one linear
output.  Trained with the mean squared error against 0/1 pseudo-labels.

References
----------
G.-B. Liong, J. See and L.-K. Wong, "Shallow optical flow three-stream CNN for macro- and micro-expression
spotting from long videos", IEEE ICIP 2021, doi:10.1109/ICIP42928.2021.9506349.
"""

from __future__ import annotations

import torch
from torch import nn


class SOFTNet(nn.Module):
    """Shallow optical-flow three-stream network (see the module docstring).

    Parameters
    ----------
    size : int
        Input side, pixels (the original uses 42).
    hidden : int
        Units of the hidden layer.
    """

    def __init__(self, *, size: int = 42, hidden: int = 400) -> None:
        super().__init__()
        self.streams = nn.ModuleList(
            nn.Sequential(nn.Conv2d(1, n, 5, padding=2), nn.ReLU(), nn.MaxPool2d(3, stride=3, padding=1))
            for n in (3, 5, 8)
        )
        self.pool = nn.MaxPool2d(2, stride=2, padding=1)
        with torch.no_grad():
            n_feat = self._features(torch.zeros(1, 3, size, size)).shape[1]
        self.head = nn.Sequential(nn.Linear(n_feat, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def _features(self, x: torch.Tensor) -> torch.Tensor:
        maps = [stream(x[:, i : i + 1]) for i, stream in enumerate(self.streams)]
        return torch.flatten(self.pool(torch.cat(maps, dim=1)), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N,)`` apex-ness scores."""
        return self.head(self._features(x)).squeeze(1)
