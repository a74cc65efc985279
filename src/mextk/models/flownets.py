"""The MEGC-2019 flow networks: STSTNet and OFF-ApexNet, over the 28x28 flow/strain input.

Both take :func:`mextk.features.flow.megc_flow_input` as ``(N, 3, 28, 28)``
tensors, channels ``u, v, strain`` (channels first; the feature cache stores
channels last, the runner transposes).
"""

from __future__ import annotations

import torch
from torch import nn


class STSTNet(nn.Module):
    """Shallow Triple Stream Three-dimensional CNN.

    Three parallel 3x3 convolution streams (3, 5 and 8 filters, padding 2) on
    the 3-channel input, each followed by ReLU, batch normalisation, 3x3
    max-pooling (stride 3, padding 1) and dropout; the 16 maps are
    concatenated, average-pooled 2x2 to 5x5 and classified by one linear
    layer.  This is the layer order of the authors' public PyTorch code.

    Parameters
    ----------
    num_classes : int
        Output classes.
    in_channels : int
        Input channels (3: u, v, strain).
    dropout : float
        Dropout after each stream.

    References
    ----------
    S.-T. Liong, Y. S. Gan, J. See, H.-Q. Khor and Y.-C. Huang, "Shallow triple stream three-dimensional
    CNN (STSTNet) for micro-expression recognition", IEEE FG 2019, doi:10.1109/FG.2019.8756567.
    """

    def __init__(self, *, num_classes: int, in_channels: int = 3, dropout: float = 0.5) -> None:
        super().__init__()
        self.streams = nn.ModuleList(
            nn.Sequential(
                nn.Conv2d(in_channels, width, kernel_size=3, padding=2),
                nn.ReLU(),
                nn.BatchNorm2d(width),
                nn.MaxPool2d(kernel_size=3, stride=3, padding=1),
                nn.Dropout(dropout),
            )
            for width in (3, 5, 8)
        )
        self.pool = nn.AvgPool2d(kernel_size=2, stride=2)
        self.fc = nn.Linear(16 * 5 * 5, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, C, 28, 28)`` -> ``(N, num_classes)`` logits."""
        x = torch.cat([s(x) for s in self.streams], dim=1)
        return self.fc(self.pool(x).flatten(1))


class OffApexNet(nn.Module):
    """OFF-ApexNet: two CNN streams on the horizontal and vertical onset-to-apex flow.

    Each stream: 5x5 convolution (6 filters, same padding), ReLU, 2x2
    max-pooling, 5x5 convolution (16 filters), ReLU, 2x2 max-pooling; the two
    ``16 x 7 x 7`` maps are flattened, concatenated and classified by two
    fully connected layers of 1,024 units (ReLU, dropout 0.5) and an output
    layer.  The strain channel (index 2) of the mextk input is not used.

    References
    ----------
    Y. S. Gan, S.-T. Liong, W.-C. Yau, Y.-C. Huang and L.-K. Tan, "OFF-ApexNet on micro-expression
    recognition system", Signal Processing: Image Communication 74, 2019, doi:10.1016/j.image.2019.02.005.
    """

    def __init__(self, *, num_classes: int, input_size: int = 28, dropout: float = 0.5) -> None:
        super().__init__()
        if input_size % 4:
            raise ValueError(f"input_size must be a multiple of 4, got {input_size}")

        def stream() -> nn.Sequential:
            return nn.Sequential(
                nn.Conv2d(1, 6, kernel_size=5, padding=2),
                nn.ReLU(),
                nn.MaxPool2d(2),
                nn.Conv2d(6, 16, kernel_size=5, padding=2),
                nn.ReLU(),
                nn.MaxPool2d(2),
            )

        self.horizontal = stream()
        self.vertical = stream()
        side = input_size // 4
        self.classifier = nn.Sequential(
            nn.Linear(2 * 16 * side * side, 1024),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(1024, 1024),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(1024, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, >=2, S, S)`` (u, v[, strain]) -> ``(N, num_classes)`` logits."""
        h = self.horizontal(x[:, 0:1]).flatten(1)
        v = self.vertical(x[:, 1:2]).flatten(1)
        return self.classifier(torch.cat([h, v], dim=1))


def ststnet(*, num_classes: int, in_channels: int = 3, dropout: float = 0.5) -> STSTNet:
    """Build :class:`STSTNet`."""
    return STSTNet(num_classes=num_classes, in_channels=in_channels, dropout=dropout)


def offapexnet(*, num_classes: int, input_size: int = 28, dropout: float = 0.5) -> OffApexNet:
    """Build :class:`OffApexNet`."""
    return OffApexNet(num_classes=num_classes, input_size=input_size, dropout=dropout)
