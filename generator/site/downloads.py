"""The site's data files: every atlas table as Parquet and CSV, and the unit index's JSON.

Tables are served under ``data/`` (``data/units.parquet``, ``data/units.csv``, ...) with the
manifest, so the site alone is enough to re-analyse the atlas. The unit index page is
rendered in the browser from ``data/unit-index.json`` (one compact row per unit), because an
HTML table of 17,000 rows would be megabytes of markup that no browser lays out quickly.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from generator.site.data import AtlasData
from generator.site.pages import SiteInfo
from generator.site.paths import page_url, unit_page
from generator.site.tuning_view import tuning_words
from generator.store.manifest import MANIFEST_FILE
from generator.store.schema import SCHEMAS, TABLE_FILES, TABLES_DIR

DATA_DIR = "data"
INDEX_FILE = f"{DATA_DIR}/unit-index.json"
INDEX_COLUMNS = (
    "id",
    "layer",
    "stream",
    "depth",
    "channel",
    "class",
    "si",
    "inv",
    "speed",
    "dir",
    "dsi",
    "pspeed",
    "dead",
    "status",
    "words",
    "page",
    "poster",
)


def table_downloads(atlas_root: Path) -> list[dict[str, Any]]:
    """One record per table of the atlas: name, rows, its description and its site paths."""
    found = []
    for name in SCHEMAS:
        source = Path(atlas_root) / TABLES_DIR / TABLE_FILES[name]
        if not source.is_file():
            continue
        found.append(
            {
                "name": name,
                "rows": pq.ParquetFile(source).metadata.num_rows,
                "parquet": f"{DATA_DIR}/{name}.parquet",
                "csv": f"{DATA_DIR}/{name}.csv",
                "columns": SCHEMAS[name].names,
            }
        )
    return found


def _csv_ready(table: pa.Table) -> pa.Table:
    """List columns (class_means) become JSON text: CSV has no lists."""
    columns = []
    for field, column in zip(table.schema, table.columns):
        if pa.types.is_list(field.type):
            column = pa.array([None if v is None else json.dumps(v) for v in column.to_pylist()], pa.string())
        columns.append(column)
    return pa.table(columns, names=table.column_names)


def write_downloads(atlas_root: Path, site_dir: Path) -> int:
    """Every table as Parquet (linked) and CSV, and the manifest, under ``data/``; returns the file count."""
    folder = Path(site_dir) / DATA_DIR
    folder.mkdir(parents=True, exist_ok=True)
    count = 0
    for record in table_downloads(atlas_root):
        source = Path(atlas_root) / TABLES_DIR / TABLE_FILES[record["name"]]
        target = Path(site_dir) / record["parquet"]
        try:
            os.link(source, target)
        except OSError:
            shutil.copyfile(source, target)
        pcsv.write_csv(_csv_ready(pq.read_table(source)), Path(site_dir) / record["csv"])
        count += 2
    shutil.copyfile(Path(atlas_root) / MANIFEST_FILE, folder / MANIFEST_FILE)
    return count + 1


def _round(value: Any, digits: int = 3) -> Any:
    return round(value, digits) if isinstance(value, float) else value


def _unit_status(statuses: list[str]) -> str:
    """A unit's status in the index from its joint view's results: the worst of them
    ("none" without any); weak results drive the unit, but less than half as hard as rho."""
    if not statuses:
        return "none"
    if any(s.startswith("failed") for s in statuses):
        return "failed"
    return "weak" if any(s == "weak" for s in statuses) else "ok"


def unit_index(data: AtlasData, info: SiteInfo) -> dict[str, Any]:
    """The unit index's data: column names and one row per unit (links relative to the site root)."""
    rows = []
    for unit in data.units:
        vis = data.visualizations.get(unit["unit_id"], [])
        status = _unit_status([r["status"] for r in vis])
        rows.append(
            [
                unit["unit_id"],
                unit["layer"],
                unit["stream"],
                unit["layer_depth"],
                unit["channel"],
                unit["class_name"] or unit["preferred_class"],
                _round(unit["selectivity"]),
                _round(unit["invariance_chi"]),
                _round(unit["invariance_speed"]),
                _round(unit.get("preferred_direction"), 1),
                _round(unit.get("direction_selectivity")),
                unit.get("preferred_speed"),
                bool(unit["dead"]),
                status,
                tuning_words(unit),
                page_url(unit_page(unit["unit_id"]), info.directory_urls),
                unit["poster"],
            ]
        )
    return {"columns": list(INDEX_COLUMNS), "rows": rows}


def write_unit_index(data: AtlasData, info: SiteInfo, site_dir: Path) -> None:
    target = Path(site_dir) / INDEX_FILE
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(
        json.dumps(unit_index(data, info), ensure_ascii=False, separators=(",", ":"), allow_nan=False),
        encoding="utf-8",
    )
