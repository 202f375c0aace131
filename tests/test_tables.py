"""Parquet tables and manifest of the atlas (generator.store.schema, .parquet, .manifest)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from generator.errors import AtlasError
from generator.store.manifest import make_manifest, read_manifest, write_manifest
from generator.store.parquet import read_metadata, read_table, write_table
from generator.store.schema import SCHEMAS, describe_tables, table_path

META = {"model_hash": "abc123", "config_hash": "cfg456"}

ROWS = {
    "units": [
        {
            "unit_id": "motion/conv3_1/0017",
            "stream": "motion",
            "layer": "motion/conv3_1",
            "layer_depth": 7,
            "channel": 17,
            "selectivity": 0.41,
            "preferred_class": "Billiards",
            "invariance_chi": 0.5,
            "invariance_speed": 0.7,
            "dead": False,
            "act_peak": 3.2,
            "act_mean": 0.4,
            "class_means": [0.1, 0.9],
            "poster": "media/a.png",
            "composite": "media/a.mp4",
            "preferred_direction": 90.0,
            "preferred_speed": 2.0,
            "direction_selectivity": 0.6,
        },
        {
            "unit_id": "motion/conv3_1/0018",
            "stream": "motion",
            "layer": "motion/conv3_1",
            "layer_depth": 7,
            "channel": 18,
            "selectivity": float("nan"),
            "dead": True,
        },
        {
            "unit_id": "class/Billiards",
            "stream": "class",
            "layer": "class",
            "layer_depth": 12,
            "channel": 0,
            "class_name": "Billiards",
            "dead": False,
        },
    ],
    "visualizations": [
        {
            "unit_id": "motion/conv3_1/0017",
            "view": "joint",
            "chi": 0.1,
            "seed": 0,
            "objective": -1.5,
            "activation": 4.0,
            "normalised_activation": 1.25,
            "steps": 300,
            "converged": True,
            "wall_seconds": 1.5,
            "status": "ok",
            "array": "results/x.npz",
            "composite": "media/x.mp4",
            "poster": "media/x.png",
            "temporal_variation": 2.0,
        },
        {
            "unit_id": "motion/conv3_1/0017",
            "view": "joint",
            "chi": 10.0,
            "seed": 0,
            "status": "failed: objective became NaN",
        },
    ],
    "classes": [
        {
            "class_name": "Billiards",
            "class_index": 0,
            "accuracy": 0.9,
            "most_confused_with": "Swing",
            "confusion_rate": 0.05,
            "unit_id": "class/Billiards",
            "clips": 60,
        },
    ],
    "confusions": [
        {"true_class": "Billiards", "predicted_class": "Swing", "count": 3, "rate": 0.05},
        {"true_class": "Billiards", "predicted_class": "Billiards", "count": 54, "rate": 0.9},
    ],
    "top_clips": [
        {
            "unit_id": "motion/conv3_1/0017",
            "rank": 1,
            "clip_index": 12,
            "class_name": "Billiards",
            "predicted_class": "Billiards",
            "activation": 5.0,
            "composite": "media/c.mp4",
            "poster": "media/c.png",
        },
    ],
    "activation_histograms": [
        {"unit_id": "motion/conv3_1/0017", "bin": 0, "low": 0.0, "high": 0.5, "clips": 12},
        {"unit_id": "motion/conv3_1/0017", "bin": 1, "low": 0.5, "high": 1.0, "clips": 3},
    ],
    "clip_samples": [
        {
            "unit_id": "motion/conv3_1/0017",
            "quantile": 0.5,
            "clip_index": 7,
            "class_name": "Billiards",
            "predicted_class": "Swing",
            "activation": 0.4,
            "composite": "media/d.mp4",
            "poster": "media/d.png",
        },
    ],
    "tuning": [
        {"unit_id": "motion/conv3_1/0017", "direction": 0.0, "speed": 0.5, "response": 0.2},
        {"unit_id": "motion/conv3_1/0017", "direction": 22.5, "speed": 0.5, "response": 0.3},
    ],
}


@pytest.mark.parametrize("name", list(SCHEMAS))
def test_round_trip_keeps_rows_schema_and_metadata(tmp_path: Path, name: str) -> None:
    path = write_table(name, ROWS[name], table_path(tmp_path, name), META)
    table = read_table(path, name)
    assert table.schema.names == SCHEMAS[name].names
    assert table.num_rows == len(ROWS[name])
    for written, read in zip(ROWS[name], table.to_pylist()):
        for column, value in written.items():
            if isinstance(value, float) and math.isnan(value):
                assert math.isnan(read[column])
            elif isinstance(value, list):
                assert read[column] == pytest.approx(value)
            else:
                assert read[column] == value, column
        for column in set(SCHEMAS[name].names) - set(written):
            assert read[column] is None
    metadata = read_metadata(path)
    assert metadata["model_hash"] == "abc123" and metadata["config_hash"] == "cfg456"
    assert metadata["table"] == name and "created" in metadata
    assert metadata["versions"]["pyarrow"] == pa.__version__
    # Plain pyarrow (as pandas / DuckDB would) reads the file, and its columns carry descriptions.
    assert pq.read_table(path).num_rows == len(ROWS[name])
    assert ds.dataset(path, format="parquet").to_table().num_rows == len(ROWS[name])
    assert all(b"description" in field.metadata for field in pq.read_schema(path))


def test_accepts_a_pyarrow_table_and_fills_missing_nullable_columns(tmp_path: Path) -> None:
    table = pa.table(
        {"true_class": ["a"], "predicted_class": ["b"], "count": pa.array([2], pa.int64()), "rate": [0.5]}
    )
    path = write_table("confusions", table, tmp_path / "c.parquet", META)
    assert read_table(path).column("count").type == pa.int32()
    units = pa.table(
        {
            "unit_id": ["x/0"],
            "stream": ["fusion"],
            "layer": ["x"],
            "layer_depth": [1],
            "channel": [0],
            "dead": [False],
        }
    )
    read = read_table(write_table("units", units, tmp_path / "u.parquet", META)).to_pylist()[0]
    assert read["selectivity"] is None and read["poster"] is None


@pytest.mark.parametrize(
    "rows, column",
    [
        ([{**ROWS["units"][0], "layer_depth": "deep"}], "layer_depth"),
        ([{**ROWS["units"][0], "layer_depth": 2.5}], "layer_depth"),
        ([{**ROWS["units"][0], "selectivity": "high"}], "selectivity"),
        ([{**ROWS["units"][0], "dead": None}], "dead"),
        ([{**ROWS["units"][0], "stream": "sideways"}], "stream"),
        ([{**ROWS["units"][0], "class_means": ["x"]}], "class_means"),
        ([{k: v for k, v in ROWS["units"][0].items() if k != "unit_id"}], "unit_id"),
        ([ROWS["units"][0], ROWS["units"][0]], "unit_id"),
    ],
)
def test_invalid_rows_name_the_column(tmp_path: Path, rows: list[dict], column: str) -> None:
    target = tmp_path / "units.parquet"
    with pytest.raises(AtlasError, match=f"'{column}'|{column}"):
        write_table("units", rows, target, META)
    assert not target.exists() and not list(tmp_path.iterdir())


def test_unknown_column_status_and_metadata_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(AtlasError, match="'colour'"):
        write_table("units", [{**ROWS["units"][0], "colour": "red"}], tmp_path / "u.parquet", META)
    with pytest.raises(AtlasError, match="'status'"):
        write_table(
            "visualizations", [{**ROWS["visualizations"][0], "status": "meh"}], tmp_path / "v.parquet", META
        )
    with pytest.raises(AtlasError, match="model_hash"):
        write_table("units", ROWS["units"], tmp_path / "u.parquet", {"config_hash": "x"})
    with pytest.raises(AtlasError, match="Unknown table"):
        write_table("unicorns", [], tmp_path / "x.parquet", META)


def test_reading_missing_or_foreign_files_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(AtlasError, match="does not exist"):
        read_table(tmp_path / "nope.parquet")
    (tmp_path / "bad.parquet").write_text("not parquet")
    with pytest.raises(AtlasError, match="not a readable Parquet"):
        read_table(tmp_path / "bad.parquet")
    pq.write_table(pa.table({"unit_id": ["x"]}), tmp_path / "foreign.parquet")
    with pytest.raises(AtlasError, match="lacks column"):
        read_table(tmp_path / "foreign.parquet", "units")
    with pytest.raises(AtlasError, match="no atlas metadata"):
        read_metadata(tmp_path / "foreign.parquet")


def _manifest() -> dict:
    return make_manifest(
        model={"name": "small_fusion", "hash": "abc123", "card": {"test_accuracy": 0.9, "probes": {}}},
        config={"visualize": {"chi": [0.1, 1.0]}},
        config_hash="cfg456",
        layers=[
            {
                "name": "motion/conv1",
                "kind": "conv2d",
                "units": 8,
                "depth": 1,
                "stride": 1,
                "receptive_field": 3,
                "streams": ["motion"],
            }
        ],
        chis=[0.1, 1.0],
        counts={"units": 8, "visualizations": 16, "failed": 0, "classes": 12},
        failure_cases=[
            {
                "slug": "a-b",
                "kind": "pair",
                "title": "A vs B",
                "classes": ["A", "B"],
                "numbers": {"rate": 0.3},
            }
        ],
    )


def test_manifest_round_trip_and_validation(tmp_path: Path) -> None:
    manifest = _manifest()
    path = write_manifest(tmp_path / "manifest.json", manifest)
    assert read_manifest(path) == json.loads(path.read_text())
    assert read_manifest(path)["model"]["card"]["test_accuracy"] == 0.9
    broken = {k: v for k, v in manifest.items() if k != "layers"}
    with pytest.raises(AtlasError, match="layers"):
        write_manifest(tmp_path / "m2.json", broken)
    with pytest.raises(AtlasError, match=r"failure_cases\[0\]\.kind"):
        write_manifest(
            tmp_path / "m3.json",
            {**manifest, "failure_cases": [{**manifest["failure_cases"][0], "kind": "other"}]},
        )
    (tmp_path / "m4.json").write_text("{not json")
    with pytest.raises(AtlasError, match="not valid JSON"):
        read_manifest(tmp_path / "m4.json")


def test_docs_describe_every_column() -> None:
    text = (Path(__file__).resolve().parents[1] / "docs" / "tables.md").read_text(encoding="utf-8")
    assert describe_tables() in text, "docs/tables.md is out of date: regenerate it from describe_tables()"
    for name, schema in SCHEMAS.items():
        for field in schema:
            assert f"`{field.name}`" in text, (name, field.name)
