"""A module a hostile checkpoint names: importing it or calling its function leaves a mark."""

from __future__ import annotations

import os
from pathlib import Path

_MARK = os.environ.get("ATLAS_TEST_HOSTILE_MARK")
if _MARK:
    Path(_MARK).write_text("imported")


def build() -> None:
    if _MARK:
        Path(_MARK).write_text("called")


def broken() -> None:
    """A user model function with a bug in it."""
    widths = {"conv1": 7}
    raise ValueError(f"bad width {widths['conv1']}")
