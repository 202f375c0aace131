"""The feature atlas for video action-recognition networks.

Notebook API (imported on first use, so ``import generator`` stays light)::

    from generator import load_model, visualize, objectives
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_API = {"load_model": "generator.api", "visualize": "generator.api", "Visualization": "generator.api"}
__all__ = ["Visualization", "load_model", "objectives", "visualize"]


def __getattr__(name: str) -> Any:
    if name in _API:
        return getattr(importlib.import_module(_API[name]), name)
    if name == "objectives":
        return importlib.import_module("generator.objectives")
    raise AttributeError(f"module 'generator' has no attribute {name!r}")
