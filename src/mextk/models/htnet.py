"""HTNet: a hierarchical transformer over four facial regions of the onset-apex flow (Wang et al., 2024).

HTNet ("HTNet for micro-expression recognition", Neurocomputing 2024) takes
STSTNet's input, the 28 x 28 optical flow ``u``, ``v`` and optical strain
between onset and apex, and:

1. **Regions.**  Cuts four 14 x 14 regions around the left and right eye and
   the left and right mouth corner and lays them side by side as one 28 x 28
   image (eyes above, mouth corners below), placed at each sample's landmarks
   when it has them and at a fixed template otherwise, clamped to 7-21 px as
   the authors clamp theirs (:mod:`mextk.models.regions`).  The registered
   model (``--model htnet``) receives the layout already cut: its input type
   ``flow_regions`` cuts it from each sample's own arrays
   (:func:`mextk.models.inputs.to_model_input`), so the landmarks never have to
   travel through the network.  :class:`HTNet` built with ``regions=True``
   cuts it itself, at the template.
2. **Patches.**  Embeds each 7 x 7 patch (4 x 4 patches, four per region) with
   a 1 x 1 convolution to ``dim`` channels.
3. **Hierarchy** (NesT's nested transformer, as in the authors' code).  At
   each of three levels the map is cut into blocks (4 x 4, then 2 x 2, then 1),
   each block runs ``block_repeats[level]`` pre-norm transformer layers
   (multi-head attention with a learned position embedding, then an MLP) over
   its positions, and an aggregation (3 x 3 convolution, channel layer norm,
   3 x 3 max-pool with stride 2) halves the map and doubles the width
   between levels.  On 28 x 28 inputs with 7 px patches every block holds one
   position, as in the authors' configuration: the attention then reduces to
   its value projection, and the regions meet in the aggregations' convolutions.
4. **Head.**  Layer norm, the mean over positions, and a linear layer.

Two configurations (:data:`CONFIGS`): the paper's (``dim`` 256, 3 heads,
blocks 2/2/10, Adam 5e-5, 800 epochs, batch 256) and a CPU one chosen by
measurement (``benchmarks/models.py`` part 2: its LOSO seed within 3x an
STSTNet seed on 2 cores).  Training never sees the test fold: a fixed number
of epochs (the registry's), or ``--val-subjects``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from mextk.models.regions import region_layout

#: The two configurations: the paper's and the CPU one (``--model-option`` changes any field).
CONFIGS: dict[str, dict[str, Any]] = {
    "paper": {"dim": 256, "heads": 3, "block_repeats": (2, 2, 10)},
    "cpu": {"dim": 16, "heads": 1, "dim_head": 16, "block_repeats": (1, 1, 2)},
}


class _ChannelNorm(nn.Module):
    """Layer norm over the channels of a ``(N, C, H, W)`` map."""

    def __init__(self, dim: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.g = nn.Parameter(torch.ones(1, dim, 1, 1))
        self.b = nn.Parameter(torch.zeros(1, dim, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        var = torch.var(x, dim=1, unbiased=False, keepdim=True)
        mean = torch.mean(x, dim=1, keepdim=True)
        return (x - mean) / (var + self.eps).sqrt() * self.g + self.b


class _Attention(nn.Module):
    """Pre-norm multi-head self-attention over ``(B, n, C)`` tokens."""

    def __init__(self, dim: int, heads: int, dim_head: int, dropout: float) -> None:
        super().__init__()
        inner = heads * dim_head
        self.heads, self.scale = heads, dim_head**-0.5
        self.norm = nn.LayerNorm(dim)
        self.to_qkv = nn.Linear(dim, inner * 3, bias=False)
        self.to_out = nn.Sequential(nn.Linear(inner, dim), nn.Dropout(dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, _ = x.shape
        q, k, v = (t.reshape(b, n, self.heads, -1).transpose(1, 2) for t in self.to_qkv(self.norm(x)).chunk(3, -1))
        attn = torch.softmax(q @ k.transpose(-1, -2) * self.scale, dim=-1)
        return self.to_out((attn @ v).transpose(1, 2).reshape(b, n, -1))


class _Transformer(nn.Module):
    """Pre-norm transformer layers over the positions of ``(N, C, H, W)`` blocks, with a position embedding."""

    def __init__(
        self, dim: int, seq_len: int, depth: int, heads: int, dim_head: int, mlp_mult: int, dropout: float
    ) -> None:
        super().__init__()
        self.pos = nn.Parameter(torch.randn(1, seq_len, dim) * 0.02)
        self.layers = nn.ModuleList(
            nn.ModuleList(
                [
                    _Attention(dim, heads, dim_head, dropout),
                    nn.Sequential(
                        nn.LayerNorm(dim),
                        nn.Linear(dim, dim * mlp_mult),
                        nn.GELU(),
                        nn.Dropout(dropout),
                        nn.Linear(dim * mlp_mult, dim),
                        nn.Dropout(dropout),
                    ),
                ]
            )  # fmt: skip
            for _ in range(depth)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        t = x.flatten(2).transpose(1, 2) + self.pos  # (b, h*w, c)
        for attn, mlp in self.layers:
            t = attn(t) + t
            t = mlp(t) + t
        return t.transpose(1, 2).reshape(b, c, h, w)


def _blocks(x: torch.Tensor, n: int) -> torch.Tensor:
    """``(B, C, n*h, n*w)`` -> ``(B*n*n, C, h, w)``: the map cut into ``n x n`` blocks."""
    b, c, hh, ww = x.shape
    h, w = hh // n, ww // n
    return x.reshape(b, c, n, h, n, w).permute(0, 2, 4, 1, 3, 5).reshape(b * n * n, c, h, w)


def _unblocks(x: torch.Tensor, n: int) -> torch.Tensor:
    """The inverse of :func:`_blocks`."""
    bnn, c, h, w = x.shape
    b = bnn // (n * n)
    return x.reshape(b, n, n, c, h, w).permute(0, 3, 1, 4, 2, 5).reshape(b, c, n * h, n * w)


class HTNet(nn.Module):
    """HTNet (see the module docstring).

    Parameters
    ----------
    num_classes : int
    dim : int
        Width of the first level (doubled at each level after it).
    heads : int
        Attention heads of the first level (doubled likewise).
    block_repeats : tuple of int
        Transformer layers per level, finest first.
    patch_size : int
        Side of the patches (28 must be a multiple of ``patch_size * 2 ** (levels - 1)``).
    dim_head : int
        Width of each attention head (64 in the authors' code).
    mlp_mult : int
        Width factor of the MLPs.
    dropout : float
    in_channels : int
        Input channels (3: ``u``, ``v`` and strain).
    regions : bool
        Cut the four facial regions at the template first (:func:`mextk.models.regions.region_layout`);
        ``False`` takes inputs that are already a region layout (or feeds the whole face).
    """

    def __init__(
        self,
        num_classes: int,
        *,
        dim: int = 256,
        heads: int = 3,
        block_repeats: tuple[int, ...] = (2, 2, 10),
        patch_size: int = 7,
        dim_head: int = 64,
        mlp_mult: int = 4,
        dropout: float = 0.0,
        in_channels: int = 3,
        regions: bool = True,
    ) -> None:
        super().__init__()
        levels = len(block_repeats)
        fmap = 28 // patch_size
        if 28 % patch_size or fmap % (2 ** (levels - 1)):
            raise ValueError(f"patch_size {patch_size} and {levels} levels do not tile a 28 px input")
        self.regions, self.patch_size, self.levels = regions, patch_size, levels
        self.embed = nn.Conv2d(in_channels * patch_size**2, dim, 1)
        seq_len = (fmap // 2 ** (levels - 1)) ** 2
        widths = [dim * 2**i for i in range(levels)]
        self.stages = nn.ModuleList()
        for i, depth in enumerate(block_repeats):
            last = i == levels - 1
            aggregate: nn.Module = (
                nn.Identity()
                if last
                else nn.Sequential(
                    nn.Conv2d(widths[i], widths[i + 1], 3, padding=1),
                    _ChannelNorm(widths[i + 1]),
                    nn.MaxPool2d(3, stride=2, padding=1),
                )
            )
            transformer = _Transformer(widths[i], seq_len, depth, heads * 2**i, dim_head, mlp_mult, dropout)
            self.stages.append(nn.ModuleList([transformer, aggregate]))
        self.norm = _ChannelNorm(widths[-1])
        self.fc = nn.Linear(widths[-1], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.regions:
            x = region_layout(x)
        b, c, hh, ww = x.shape
        p = self.patch_size
        # (b, c, h*p, w*p) -> (b, p*p*c, h, w): each patch's pixels as channels, then a 1x1 convolution
        x = x.reshape(b, c, hh // p, p, ww // p, p).permute(0, 3, 5, 1, 2, 4).reshape(b, p * p * c, hh // p, ww // p)
        x = self.embed(x)
        for i, (transformer, aggregate) in enumerate(self.stages):
            n = 2 ** (self.levels - 1 - i)
            x = _unblocks(transformer(_blocks(x, n)), n)
            x = aggregate(x)
        return self.fc(self.norm(x).mean(dim=(2, 3)))


def htnet(num_classes: int = 3, *, config: str = "cpu", **options: Any) -> HTNet:
    """HTNet in one of :data:`CONFIGS` (``"cpu"`` by default, ``"paper"``), any field changed by ``options``."""
    if config not in CONFIGS:
        raise ValueError(f"unknown HTNet configuration {config!r}; choose one of {', '.join(CONFIGS)}")
    settings = {**CONFIGS[config], **options}
    if isinstance(settings.get("block_repeats"), list):
        settings["block_repeats"] = tuple(settings["block_repeats"])
    return HTNet(num_classes, **settings)


def htnet_on_regions(num_classes: int = 3, *, config: str = "cpu", **options: Any) -> HTNet:
    """The registered HTNet (``--model htnet``): :func:`htnet` over inputs already cut into regions
    (input type ``flow_regions``, at each sample's landmarks or the template)."""
    return htnet(num_classes, config=config, **{**options, "regions": False})
