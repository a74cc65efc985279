"""3D CNNs over 16 sampled frames (DFME section 4.4): R3D, P3D, D3D and I3D.

Every model maps ``(N, 3, T, H, W)`` clips (``T = 16`` by default) to
``(N, num_classes)`` logits and ends in global average pooling, so any input
size of at least 32 pixels and 8 frames works; DFME's sizes are 224 (R3D, D3D,
I3D) and 160 (P3D), kept as the registry's defaults.

* :func:`r3d` is torchvision's ``r3d_18`` (Hara et al.'s 3D ResNet-18);
  ``weights="KINETICS400_V1"`` loads torchvision's Kinetics-400 weights.
* :func:`p3d` is a Pseudo-3D ResNet-50: bottlenecks whose 3x3x3 convolution
  is split into a 1x3x3 spatial and a 3x1x1 temporal convolution, cycling
  through Qiu et al.'s P3D-A (serial), P3D-B (parallel) and P3D-C (serial
  with a shortcut) blocks.
* :func:`d3d` is DenseNet-121 with 3D convolutions (growth 32, blocks 6, 12,
  24, 16), as in 3D-DenseNet micro-expression work.
* :func:`i3d` is Inception-v1 inflated to 3D (Carreira and Zisserman), with
  the original Mixed-block widths.

References
----------
K. Hara, H. Kataoka and Y. Satoh, "Can spatiotemporal 3D CNNs retrace the history of 2D CNNs and
ImageNet?", CVPR 2018, doi:10.1109/CVPR.2018.00685.
Z. Qiu, T. Yao and T. Mei, "Learning spatio-temporal representation with pseudo-3D residual
networks", ICCV 2017, doi:10.1109/ICCV.2017.590.
G. Huang, Z. Liu, L. van der Maaten and K. Q. Weinberger, "Densely connected convolutional
networks", CVPR 2017, doi:10.1109/CVPR.2017.243.
J. Carreira and A. Zisserman, "Quo vadis, action recognition? A new model and the Kinetics
dataset", CVPR 2017, doi:10.1109/CVPR.2017.502.
"""

from __future__ import annotations

import torch
from torch import nn


def _bn_relu_conv(cin: int, cout: int, kernel: tuple[int, int, int], stride=1, padding=0) -> list[nn.Module]:  # type: ignore[no-untyped-def]
    return [nn.BatchNorm3d(cin), nn.ReLU(inplace=True), nn.Conv3d(cin, cout, kernel, stride, padding, bias=False)]


def _conv_bn_relu(cin: int, cout: int, kernel, stride=1, padding=0) -> nn.Sequential:  # type: ignore[no-untyped-def]
    return nn.Sequential(
        nn.Conv3d(cin, cout, kernel, stride, padding, bias=False), nn.BatchNorm3d(cout), nn.ReLU(inplace=True)
    )


def _head(features: int, num_classes: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(nn.AdaptiveAvgPool3d(1), nn.Flatten(), nn.Dropout(dropout), nn.Linear(features, num_classes))


# --------------------------------------------------------------------------- R3D


def r3d(*, num_classes: int, weights: str | None = None, dropout: float = 0.0) -> nn.Module:
    """torchvision's ``r3d_18`` with a ``num_classes`` output layer.

    Parameters
    ----------
    weights : str, optional
        ``None`` (from scratch), a torchvision weight name (``"KINETICS400_V1"``) or a
        checkpoint path.
    dropout : float
        Dropout before the output layer (torchvision has none; 0 keeps it so).
    """
    from torchvision.models.video import R3D_18_Weights, r3d_18

    from mextk.models.weights import load_weight_file, torchvision_weights

    enum = torchvision_weights(weights, R3D_18_Weights)
    model = r3d_18(weights=enum)
    fc = nn.Linear(model.fc.in_features, num_classes)
    model.fc = nn.Sequential(nn.Dropout(dropout), fc) if dropout else fc
    if weights is not None and enum is None:
        load_weight_file(model, weights, skip_head="fc.")
    return model


# --------------------------------------------------------------------------- P3D


class _P3DBottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin: int, width: int, stride: int, variant: str) -> None:
        super().__init__()
        cout = width * self.expansion
        self.variant = variant
        self.reduce = nn.Sequential(nn.Conv3d(cin, width, 1, bias=False), nn.BatchNorm3d(width), nn.ReLU(inplace=True))
        self.spatial = nn.Sequential(
            nn.Conv3d(width, width, (1, 3, 3), (1, stride, stride), (0, 1, 1), bias=False), nn.BatchNorm3d(width)
        )
        # P3D-B runs the temporal convolution on the block input beside the spatial one, so it takes the stride too
        t_stride = (1, stride, stride) if variant == "B" else 1
        self.temporal = nn.Sequential(
            nn.Conv3d(width, width, (3, 1, 1), t_stride, (1, 0, 0), bias=False), nn.BatchNorm3d(width)
        )
        self.expand = nn.Sequential(nn.Conv3d(width, cout, 1, bias=False), nn.BatchNorm3d(cout))
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(
                nn.Conv3d(cin, cout, 1, (1, stride, stride), bias=False), nn.BatchNorm3d(cout)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.reduce(x)
        s = torch.relu(self.spatial(h))
        if self.variant == "A":  # spatial then temporal
            h = torch.relu(self.temporal(s))
        elif self.variant == "B":  # spatial and temporal side by side
            h = s + torch.relu(self.temporal(h))
        else:  # "C": temporal on top of spatial, plus a shortcut from the spatial output
            h = s + torch.relu(self.temporal(s))
        return torch.relu(self.expand(h) + self.shortcut(x))


class P3D(nn.Module):
    """Pseudo-3D ResNet (bottleneck blocks A, B, C in turn).

    Parameters
    ----------
    num_classes : int
        Output classes.
    layers : tuple of int
        Blocks per stage (ResNet-50: 3, 4, 6, 3).
    base_width : int
        Bottleneck width of the first stage (64 in ResNet-50).
    dropout : float
        Dropout before the output layer.
    """

    def __init__(
        self, *, num_classes: int, layers: tuple[int, ...] = (3, 4, 6, 3), base_width: int = 64, dropout: float = 0.5
    ) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv3d(3, base_width, (1, 7, 7), (1, 2, 2), (0, 3, 3), bias=False),
            nn.BatchNorm3d(base_width),
            nn.ReLU(inplace=True),
            nn.MaxPool3d((1, 3, 3), (1, 2, 2), (0, 1, 1)),
        )
        blocks: list[nn.Module] = []
        cin, n = base_width, 0
        for stage, count in enumerate(layers):
            width = base_width * 2**stage
            for i in range(count):
                stride = 2 if (i == 0 and stage > 0) else 1
                blocks.append(_P3DBottleneck(cin, width, stride, "ABC"[n % 3]))
                cin = width * _P3DBottleneck.expansion
                n += 1
        self.blocks = nn.Sequential(*blocks)
        self.head = _head(cin, num_classes, dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, 3, T, H, W)`` -> ``(N, num_classes)``."""
        return self.head(self.blocks(self.stem(x)))


def p3d(*, num_classes: int, layers: tuple[int, ...] = (3, 4, 6, 3), base_width: int = 64, dropout: float = 0.5) -> P3D:
    """Build :class:`P3D` (P3D ResNet-50 by default)."""
    return P3D(num_classes=num_classes, layers=layers, base_width=base_width, dropout=dropout)


# --------------------------------------------------------------------------- D3D


class _HalvingPool(nn.Module):
    """2x2x2 average pooling that leaves an axis of length 1 alone (short clips, small crops)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        kernel = tuple(2 if n >= 2 else 1 for n in x.shape[2:])
        return nn.functional.avg_pool3d(x, kernel, kernel, ceil_mode=True)


class _DenseLayer(nn.Module):
    def __init__(self, cin: int, growth: int, bn_size: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            *_bn_relu_conv(cin, bn_size * growth, (1, 1, 1)),
            *_bn_relu_conv(bn_size * growth, growth, (3, 3, 3), 1, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x, self.body(x)], dim=1)


class D3D(nn.Module):
    """3D DenseNet.

    Parameters
    ----------
    num_classes : int
        Output classes.
    growth : int
        Channels each dense layer adds.
    blocks : tuple of int
        Dense layers per block (DenseNet-121: 6, 12, 24, 16).
    init_features : int
        Channels after the stem.
    bn_size : int
        Bottleneck factor of a dense layer.
    dropout : float
        Dropout before the output layer.
    """

    def __init__(
        self,
        *,
        num_classes: int,
        growth: int = 32,
        blocks: tuple[int, ...] = (6, 12, 24, 16),
        init_features: int = 64,
        bn_size: int = 4,
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = [
            nn.Conv3d(3, init_features, (3, 7, 7), (1, 2, 2), (1, 3, 3), bias=False),
            nn.BatchNorm3d(init_features),
            nn.ReLU(inplace=True),
            nn.MaxPool3d(3, 2, 1),
        ]
        c = init_features
        for i, count in enumerate(blocks):
            for _ in range(count):
                layers.append(_DenseLayer(c, growth, bn_size))
                c += growth
            if i < len(blocks) - 1:  # transition: halve channels, pool by 2
                layers += [*_bn_relu_conv(c, c // 2, (1, 1, 1)), _HalvingPool()]
                c //= 2
        layers += [nn.BatchNorm3d(c), nn.ReLU(inplace=True)]
        self.features = nn.Sequential(*layers)
        self.head = _head(c, num_classes, dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, 3, T, H, W)`` -> ``(N, num_classes)``."""
        return self.head(self.features(x))


def d3d(
    *,
    num_classes: int,
    growth: int = 32,
    blocks: tuple[int, ...] = (6, 12, 24, 16),
    init_features: int = 64,
    dropout: float = 0.5,
) -> D3D:
    """Build :class:`D3D` (3D DenseNet-121 by default)."""
    return D3D(num_classes=num_classes, growth=growth, blocks=blocks, init_features=init_features, dropout=dropout)


# --------------------------------------------------------------------------- I3D


class _Mixed(nn.Module):
    """Inception block: 1x1x1 | 1x1x1-3x3x3 | 1x1x1-3x3x3 | pool-1x1x1, concatenated."""

    def __init__(self, cin: int, widths: tuple[int, int, int, int, int, int]) -> None:
        super().__init__()
        b0, b1a, b1, b2a, b2, b3 = widths
        self.b0 = _conv_bn_relu(cin, b0, 1)
        self.b1 = nn.Sequential(_conv_bn_relu(cin, b1a, 1), _conv_bn_relu(b1a, b1, 3, 1, 1))
        self.b2 = nn.Sequential(_conv_bn_relu(cin, b2a, 1), _conv_bn_relu(b2a, b2, 3, 1, 1))
        self.b3 = nn.Sequential(nn.MaxPool3d(3, 1, 1), _conv_bn_relu(cin, b3, 1))
        self.out_channels = b0 + b1 + b2 + b3

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.b0(x), self.b1(x), self.b2(x), self.b3(x)], dim=1)


#: Inception-v1 Mixed blocks (1x1, 3x3-reduce, 3x3, 3x3-reduce, 3x3, pool-proj), as in I3D.
_I3D_MIXED = {
    "3b": (64, 96, 128, 16, 32, 32),
    "3c": (128, 128, 192, 32, 96, 64),
    "4b": (192, 96, 208, 16, 48, 64),
    "4c": (160, 112, 224, 24, 64, 64),
    "4d": (128, 128, 256, 24, 64, 64),
    "4e": (112, 144, 288, 32, 64, 64),
    "4f": (256, 160, 320, 32, 128, 128),
    "5b": (256, 160, 320, 32, 128, 128),
    "5c": (384, 192, 384, 48, 128, 128),
}


class I3D(nn.Module):
    """Inception-v1 inflated to 3D.

    Parameters
    ----------
    num_classes : int
        Output classes.
    dropout : float
        Dropout before the output layer (0.5 in I3D).
    """

    def __init__(self, *, num_classes: int, dropout: float = 0.5) -> None:
        super().__init__()
        layers: list[nn.Module] = [
            _conv_bn_relu(3, 64, 7, 2, 3),
            nn.MaxPool3d((1, 3, 3), (1, 2, 2), (0, 1, 1)),
            _conv_bn_relu(64, 64, 1),
            _conv_bn_relu(64, 192, 3, 1, 1),
            nn.MaxPool3d((1, 3, 3), (1, 2, 2), (0, 1, 1)),
        ]
        c = 192
        for name, widths in _I3D_MIXED.items():
            if name == "4b":
                layers.append(nn.MaxPool3d(3, 2, 1))
            if name == "5b":
                layers.append(nn.MaxPool3d(2, 2, ceil_mode=True))
            block = _Mixed(c, widths)
            layers.append(block)
            c = block.out_channels
        self.features = nn.Sequential(*layers)
        self.head = _head(c, num_classes, dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, 3, T, H, W)`` -> ``(N, num_classes)``."""
        return self.head(self.features(x))


def i3d(*, num_classes: int, dropout: float = 0.5) -> I3D:
    """Build :class:`I3D`."""
    return I3D(num_classes=num_classes, dropout=dropout)
