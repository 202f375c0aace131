"""The tables and the manifest as one set.

After writing them, a build records every file's sha256 in ``table-set.json`` (written last,
atomically), and readers check it, so a build killed while rewriting the tables of an older
atlas leaves a mix that is refused, not shown.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from generator.errors import AtlasError
from generator.store.atomic import write_json
from generator.store.manifest import manifest_path
from generator.store.schema import TABLE_FILES, table_path

TABLE_SET_FILE = "table-set.json"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _set_members(atlas_dir: Path) -> list[Path]:
    return [table_path(atlas_dir, name) for name in TABLE_FILES] + [manifest_path(atlas_dir)]


def write_table_set(atlas_dir: Path | str) -> Path:
    """Record the sha256 of every table and of the manifest in ``table-set.json`` (after writing them all)."""
    root = Path(atlas_dir)
    files = {path.relative_to(root).as_posix(): _sha256(path) for path in _set_members(root)}
    target = root / TABLE_SET_FILE
    write_json(target, {"format": 1, "files": files})
    return target


def check_table_set(atlas_dir: Path | str) -> None:
    """Raise AtlasError unless the tables and manifest are the set ``table-set.json`` records."""
    root = Path(atlas_dir)
    record_path = root / TABLE_SET_FILE
    rerun = "rerun `atlas measure` (or `atlas build`) to write them again as one set"
    try:
        record = json.loads(record_path.read_text(encoding="utf-8"))
        files = dict(record["files"])
    except FileNotFoundError:
        raise AtlasError(
            f"{record_path} is missing: the tables of {root} were not finished; {rerun}."
        ) from None
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise AtlasError(f"{record_path} is unreadable ({error}); {rerun}.") from None
    changed = []
    for path in _set_members(root):
        name = path.relative_to(root).as_posix()
        if not path.is_file() or files.get(name) != _sha256(path):
            changed.append(name)
    if changed:
        raise AtlasError(
            f"The tables of {root} are not one set: {', '.join(changed)} differ from what {TABLE_SET_FILE} "
            f"records (a build stopped while writing them, or a file was changed); {rerun}."
        )
