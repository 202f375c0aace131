"""The visualization stage: results land one file per (unit, chi, seed) and are never recomputed."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from generator.cli import app
from generator.store.results import load_result
from tests.support.cli import RANDOM_SMALL_FUSION, set_options

runner = CliRunner()


def _visualize(output: Path, *extra: str):
    args = [
        "visualize",
        *set_options({**RANDOM_SMALL_FUSION, "visualize.steps": 4, "visualize.chi": "[0.5, 5.0]"}),
        "--layers",
        "motion/conv2_1,head/fc6",
        "--units",
        "0-2",
        "--output",
        str(output),
        *extra,
    ]
    return runner.invoke(app, args)


def test_results_are_stored_and_a_rerun_reuses_them(tmp_path: Path) -> None:
    first = _visualize(tmp_path)
    assert first.exit_code == 0, first.output
    files = sorted((tmp_path / "results").rglob("*.npz"))
    assert len(files) == 2 * 3 * 2  # layers x units x chi
    stamps = {f: f.stat().st_mtime_ns for f in files}
    assert "Visualized 12" in first.output

    second = _visualize(tmp_path)
    assert second.exit_code == 0, second.output
    assert "Visualized 0" in second.output and "12 found cached" in second.output
    assert {f: f.stat().st_mtime_ns for f in files} == stamps

    stored = load_result(next(f for f in files if "motion" in f.parts))
    assert stored.inputs["motion"].shape == (8, 1, 64, 64)
    assert stored.inputs["appearance"].shape == (3, 1, 64, 64)
    assert stored.meta["unit_id"].startswith("motion/conv2_1/")
    assert len(stored.loss) == 4 and stored.meta["status"] == "ok"


def test_unknown_layer_and_unit_are_reported(tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        [
            "visualize",
            *set_options(RANDOM_SMALL_FUSION),
            "--layers",
            "motion/conv9_9",
            "--output",
            str(tmp_path),
        ],
    )
    assert (
        result.exit_code == 2 and "motion/conv9_9" in result.output and "appearance/conv1_1" in result.output
    )
    result = runner.invoke(
        app,
        [
            "visualize",
            *set_options(RANDOM_SMALL_FUSION),
            "--layers",
            "class",
            "--units",
            "40",
            "--output",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 2 and "0..11" in result.output


def test_worker_processes_store_the_same_results_as_one_process(tmp_path: Path) -> None:
    """--workers 2 spreads the chunks over 2 processes; every stored row equals the in-process one."""
    import numpy as np

    one, two = tmp_path / "one", tmp_path / "two"
    small_chunks = ("--set", "visualize.batch_size=4")  # several chunks, so both workers get some
    assert _visualize(one, "--workers", "1", *small_chunks).exit_code == 0
    result = _visualize(two, "--workers", "2", *small_chunks)
    assert result.exit_code == 0, result.output
    files = sorted(p.relative_to(one) for p in (one / "results").rglob("*.npz"))
    assert len(files) == 12 and files == sorted(p.relative_to(two) for p in (two / "results").rglob("*.npz"))
    for rel in files:
        a, b = load_result(one / rel), load_result(two / rel)
        for name in a.inputs:
            np.testing.assert_allclose(a.inputs[name], b.inputs[name], rtol=1e-3, atol=1e-2)
        assert a.meta["activation"] == pytest.approx(b.meta["activation"], rel=1e-4, abs=1e-4)
