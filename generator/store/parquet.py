"""Writing and reading the atlas's Parquet tables (schemas in :mod:`generator.store.schema`).

Each file carries file-level metadata under the key ``atlas``: a JSON object with the table
name, format version, model hash, config hash, package versions and creation time. Writers
validate before anything touches the disk and write atomically.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from generator.errors import AtlasError
from generator.store.atomic import atomic_path
from generator.store.provenance import now_iso, package_versions
from generator.store.schema import table_schema, validate_table

TABLES_FORMAT = 1
METADATA_KEY = b"atlas"
REQUIRED_METADATA = ("model_hash", "config_hash")


def _file_metadata(name: str, metadata: Mapping[str, Any]) -> dict[str, Any]:
    missing = [k for k in REQUIRED_METADATA if not isinstance(metadata.get(k), str) or not metadata.get(k)]
    if missing:
        raise AtlasError(
            f"Table {name!r}: file metadata needs non-empty string(s) {', '.join(missing)} "
            f"(the model hash and the configuration hash the table was made with)."
        )
    record = {"table": name, "format": TABLES_FORMAT, "created": now_iso(), "versions": package_versions()}
    record.update(metadata)
    try:
        json.dumps(record)
    except (TypeError, ValueError) as error:
        raise AtlasError(f"Table {name!r}: file metadata must be JSON-serialisable: {error}") from None
    return record


def write_table(
    name: str,
    rows: Sequence[Mapping[str, Any]] | pa.Table,
    path: Path | str,
    metadata: Mapping[str, Any],
) -> Path:
    """Validate ``rows`` against table ``name``'s schema and write them atomically as Parquet at ``path``.

    ``metadata`` must hold ``model_hash`` and ``config_hash``; ``created`` and ``versions`` are
    filled in unless given. Raises AtlasError (naming the column) before writing anything.
    """
    table = validate_table(name, rows)
    record = _file_metadata(name, metadata)
    table = table.replace_schema_metadata({METADATA_KEY: json.dumps(record, sort_keys=True).encode()})
    target = Path(path)
    with atomic_path(target) as tmp:
        pq.write_table(table, tmp, compression="zstd")
    return target


def _open(path: Path | str) -> pq.ParquetFile:
    target = Path(path)
    if not target.is_file():
        raise AtlasError(
            f"Table file {target} does not exist; run the stage that writes it (atlas measure / build)."
        )
    try:
        return pq.ParquetFile(target)
    except (pa.ArrowInvalid, OSError) as error:
        raise AtlasError(
            f"{target} is not a readable Parquet file ({error}); delete it and rerun the stage."
        ) from None


def read_table(path: Path | str, name: str | None = None) -> pa.Table:
    """Read a Parquet table; with ``name``, check that it has every column of that schema."""
    table = _open(path).read()
    if name is not None:
        missing = [f for f in table_schema(name).names if f not in table.column_names]
        if missing:
            raise AtlasError(
                f"{path} lacks column(s) {', '.join(missing)} of table {name!r}; it was written by another "
                f"version of the atlas: rerun the stage that writes it."
            )
    return table


def read_metadata(path: Path | str) -> dict[str, Any]:
    """The file-level metadata record of a table written by :func:`write_table`."""
    raw = (_open(path).schema_arrow.metadata or {}).get(METADATA_KEY)
    if raw is None:
        raise AtlasError(f"{path} has no atlas metadata; it was not written by write_table.")
    return json.loads(raw)
