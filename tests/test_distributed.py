"""`atlas build` under torchrun: 2 CPU processes (gloo) give the same tables as a single process."""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from generator.errors import ConfigError
from generator.pipeline.distributed import SINGLE, Cluster, detect, rank_device, shard_selection
from generator.pipeline.parts import merge_parts, part_path, remove_parts, unit_order, write_part
from generator.pipeline.select import Selection
from generator.store.parquet import read_metadata
from generator.store.schema import SCHEMAS, table_path
from tests.test_assemble import _options, _world_checkpoint

ROOT = Path(__file__).resolve().parents[1]
LAYERS = "motion/conv2_1,head/fc6,class"
SMALL = [
    "--set",
    "visualize.chi=[1.0, 10.0]",
    "--set",
    "data.test_clips_per_class=1",
    "--set",
    "data.probe_clips_per_class=1",
    "--set",
    "site.top_clips=2",
    "--layers",
    LAYERS,
    "--units",
    "0-1",
]
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
RUN_DEPENDENT = {"wall_seconds"}  # columns that differ between any two runs
TORCHRUN_VARIABLES = ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


# ----------------------------------------------------------------------------- helpers on known values


def test_units_are_dealt_round_robin_over_every_layer() -> None:
    selection = Selection((("a", (0, 1, 2)), ("b", (5,)), ("c", (0, 1))))
    shards = [shard_selection(selection, rank, 2) for rank in range(2)]
    assert shards[0] == Selection((("a", (0, 2)), ("c", (0,))))
    assert shards[1] == Selection((("a", (1,)), ("b", (5,)), ("c", (1,))))
    assert shard_selection(selection, 0, 1) is selection
    many = [shard_selection(selection, rank, 8) for rank in range(8)]
    assert sum(s.unit_count for s in many) == selection.unit_count and many[7] == Selection(())


def test_torchrun_environment_is_detected() -> None:
    assert detect({}) == SINGLE and not SINGLE.distributed and SINGLE.is_main
    cluster = detect({"WORLD_SIZE": "4", "RANK": "3", "LOCAL_RANK": "1"})
    assert cluster == Cluster(rank=3, world=4, local_rank=1) and not cluster.is_main
    assert cluster.tag == "[rank 3/4]"
    with pytest.raises(ConfigError, match="RANK=4"):
        detect({"WORLD_SIZE": "4", "RANK": "4", "LOCAL_RANK": "0"})
    with pytest.raises(ConfigError, match="WORLD_SIZE"):
        detect({"WORLD_SIZE": "two", "RANK": "0"})
    import torch

    assert rank_device(torch.device("cuda"), cluster) == torch.device("cuda", 1)
    assert rank_device(torch.device("cpu"), cluster) == torch.device("cpu")
    assert rank_device(torch.device("cuda", 2), SINGLE) == torch.device("cuda", 2)


def test_parts_merge_in_selection_order_and_are_removed(tmp_path: Path) -> None:
    selection = Selection((("x", (0, 1, 2)),))
    order = unit_order(selection, lambda layer, unit: f"{layer}/{unit:04d}")

    def rows(*units: int) -> list[dict]:
        return [
            {"unit_id": f"x/{u:04d}", "view": "joint", "chi": chi, "seed": 0, "status": "ok"}
            for u in units
            for chi in (1.0, 2.0)
        ]

    metadata = {"model_hash": "m", "config_hash": "c"}
    write_part(tmp_path, "visualizations", rows(0, 2), 0, 2, metadata)
    write_part(tmp_path, "visualizations", rows(1), 1, 2, metadata)
    merged = merge_parts(tmp_path, "visualizations", 2, order)
    assert [(r["unit_id"], r["chi"]) for r in merged] == [(r["unit_id"], r["chi"]) for r in rows(0, 1, 2)]
    assert part_path(tmp_path, "units", 1, 2).name == "units.rank-00001-of-00002.parquet"
    remove_parts(tmp_path)
    assert not (tmp_path / "tables" / "parts").exists()


# ----------------------------------------------------------------------------- the real command, twice


def _run(command: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in TORCHRUN_VARIABLES}
    env["PYTHONPATH"] = str(ROOT)
    cwd.mkdir(parents=True, exist_ok=True)
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("distributed")
    checkpoint = _world_checkpoint(root / "world.pt")
    # The same relative output folder in both runs gives the same configuration (and hash).
    args = [
        "-m",
        "generator.cli",
        "build",
        *_options(root, checkpoint, select=False, output=Path("atlas")),
        *SMALL,
    ]
    single = _run([sys.executable, *args], root / "single")
    assert single.returncode == 0, single.stdout + single.stderr
    multi = _run([*TORCHRUN, *args], root / "multi")
    assert multi.returncode == 0, multi.stdout + multi.stderr
    return {
        "single": root / "single" / "atlas",
        "multi": root / "multi" / "atlas",
        "root": root,
        "checkpoint": checkpoint,
        "output": multi.stdout,
        "single_output": single.stdout,
    }


def _same(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=1e-3, abs_tol=1e-6)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


@pytest.mark.parametrize("name", list(SCHEMAS))
@pytest.mark.slow
def test_every_table_equals_the_single_process_one(runs: dict, name: str) -> None:
    single, multi = (
        pq.read_table(table_path(runs["single"], name)),
        pq.read_table(table_path(runs["multi"], name)),
    )
    assert multi.schema.equals(single.schema, check_metadata=False)
    assert [f.metadata for f in multi.schema] == [f.metadata for f in single.schema]
    expected, got = single.to_pylist(), multi.to_pylist()
    assert len(got) == len(expected) > 0
    for row, (want, have) in enumerate(zip(expected, got)):
        for column in single.column_names:
            if column not in RUN_DEPENDENT:
                assert _same(have[column], want[column]), (name, row, column, have[column], want[column])
    meta_single, meta_multi = (read_metadata(table_path(runs[run], name)) for run in ("single", "multi"))
    assert {**meta_multi, "created": None} == {**meta_single, "created": None}


@pytest.mark.slow
def test_manifest_equals_the_single_process_one(runs: dict) -> None:
    single, multi = (json.loads((runs[run] / "manifest.json").read_text()) for run in ("single", "multi"))
    # 6 units x 2 chi, and the 2 class outputs' two per-stream views: 12 + 2 x 2 x 2 rows.
    assert multi["counts"]["units"] == 6 and multi["counts"]["visualizations"] == 20
    assert {**multi, "created": None} == {**single, "created": None}


@pytest.mark.slow
def test_both_ranks_worked_and_only_rank_0_reports(runs: dict) -> None:
    output = runs["output"]
    for rank in (0, 1):
        # Each rank holds one class output, with its two per-stream views.
        assert f"[rank {rank}/2] visualized 10 results, 0 found cached" in output
        assert f"[rank {rank}/2] measured 3 units and 10 visualizations; media sets written 10" in output
    assert output.count("Visualized 20 (unit, chi, seed) results") == 1 and output.count("Atlas built") == 1
    assert "[rank" not in runs["single_output"]
    results = {
        run: sorted(p.relative_to(runs[run]) for p in (runs[run] / "results").rglob("*.npz"))
        for run in ("single", "multi")
    }
    assert len(results["multi"]) == 20 and results["multi"] == results["single"]
    # Each rank drew the heat-map overlays of its share of the shown clips; together, the single run's.
    drawn = [
        int(re.search(rf"\[rank {rank}/2\] measured .* overlays written (\d+), reused 0", output)[1])
        for rank in (0, 1)
    ]
    overlays = {
        run: sorted(p.relative_to(runs[run]) for p in (runs[run] / "clips").glob("*/where/**/*.mp4"))
        for run in ("single", "multi")
    }
    assert all(drawn) and sum(drawn) == len(overlays["multi"]) > 0 and overlays["multi"] == overlays["single"]
    assert f"overlays of where units fire written {sum(drawn)}, reused 0" in output


@pytest.mark.slow
def test_no_part_files_remain_and_the_site_is_built(runs: dict) -> None:
    assert not (runs["multi"] / "tables" / "parts").exists()
    assert (runs["multi"] / "site" / "index.html").is_file()


@pytest.mark.slow
def test_a_failing_rank_stops_the_run_with_an_error(runs: dict) -> None:
    args = _options(runs["root"], runs["checkpoint"], select=False, output=Path("atlas"))
    failed = _run(
        [*TORCHRUN, "-m", "generator.cli", "measure", *args, "--layers", "motion/conv9_9"],
        runs["root"] / "failing",
    )
    assert failed.returncode != 0
    assert "motion/conv9_9" in failed.stdout + failed.stderr
