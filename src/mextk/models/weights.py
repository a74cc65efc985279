"""Starting weights: a torchvision weight name (downloaded where the internet is reachable) or a local file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import nn


def torchvision_weights(weights: str | None, enum: Any) -> Any | None:
    """The torchvision weight enum member named ``weights`` (``"IMAGENET1K_V1"``, ``"DEFAULT"``), or None.

    A name that looks like a file path is not a weight name (see :func:`is_weight_file`).

    Raises
    ------
    ValueError
        Naming the weights the enum offers when ``weights`` is none of them.
    """
    if weights is None or is_weight_file(weights):
        return None
    name = weights.split(".")[-1]  # accept "VGG16_Weights.IMAGENET1K_V1" too
    try:
        return enum[name]
    except KeyError:
        names = ", ".join(m.name for m in enum)
        raise ValueError(f"unknown weights {weights!r}: give a file path or one of {names}") from None


def is_weight_file(weights: str | os.PathLike[str] | None) -> bool:
    """Whether ``weights`` names a local checkpoint file (has a path separator or a .pt/.pth suffix)."""
    if weights is None:
        return False
    s = str(weights)
    return os.sep in s or "/" in s or s.endswith((".pt", ".pth", ".ckpt")) or Path(s).is_file()


def load_weight_file(model: nn.Module, path: str | os.PathLike[str], *, skip_head: str | None = None) -> nn.Module:
    """Load a state dict from ``path`` into ``model``.

    Accepts a plain state dict or a mextk fold checkpoint (``{"model": state_dict, ...}``).
    Parameters whose shapes differ from the model's under ``skip_head`` (the
    classifier prefix, for fine-tuning on another number of classes) are left
    at their fresh values; any other mismatch is an error.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"weights file {p} does not exist")
    state = torch.load(p, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "model" in state and isinstance(state["model"], dict):
        state = state["model"]
    own = model.state_dict()
    if skip_head:
        state = {
            k: v for k, v in state.items() if not (k.startswith(skip_head) and k in own and own[k].shape != v.shape)
        }
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if not (skip_head and k.startswith(skip_head))]
    if missing or unexpected:
        raise ValueError(
            f"{p}: weights do not fit the model (missing {missing[:5]}, unexpected {list(unexpected)[:5]})"
        )
    return model
