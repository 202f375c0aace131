"""Where the site's templates, hand-written pages and MkDocs base configuration are.

An installed wheel carries them as package data (generator/_resources/, see setup.py), read
through importlib.resources; a source checkout (or an editable install) reads them from the
repository root, where they are edited.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ("templates", "site_src", "site_theme", "mkdocs.yml")


def resource_path(name: str) -> Path:
    """The file system path of ``templates``, ``site_src``, ``site_theme`` or ``mkdocs.yml``."""
    if name not in SHIPPED:
        raise ValueError(f"Unknown packaged resource {name!r}; resources are {', '.join(SHIPPED)}.")
    packaged = resources.files("generator").joinpath("_resources", name)
    # Wheels install as plain files, so the Traversable is a real path (MkDocs needs one).
    if packaged.is_file() or packaged.is_dir():
        return Path(str(packaged))
    return REPO_ROOT / name
