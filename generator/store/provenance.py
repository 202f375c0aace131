"""What every stored record says about its making: package versions and the creation time."""

from __future__ import annotations

import platform
from datetime import UTC, datetime
from importlib import metadata as importlib_metadata


def package_versions() -> dict[str, str]:
    """Versions of Python and the packages that shape the atlas (read without importing them)."""
    versions = {"python": platform.python_version()}
    for name in (
        "video-feature-atlas",
        "torch",
        "torchvision",
        "numpy",
        "pyarrow",
        "mkdocs",
        "mkdocs-material",
    ):
        try:
            versions[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            continue
    return versions


def now_iso() -> str:
    """The current UTC time, ISO 8601 to the second."""
    return datetime.now(UTC).replace(microsecond=0).isoformat()
