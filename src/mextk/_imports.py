"""Imports of optional heavy libraries."""

from __future__ import annotations

import importlib
import warnings
from types import ModuleType


def pyg(module: str = "torch_geometric") -> ModuleType:
    """Import a ``torch_geometric`` module without the FutureWarning its import raises inside torch.jit."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return importlib.import_module(module)
