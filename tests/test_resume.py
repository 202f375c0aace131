"""A build killed with SIGKILL mid-visualization loses nothing finished and resumes where it stopped."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from generator.store.results import load_result

ROOT = Path(__file__).resolve().parents[1]
LAYERS = "motion/conv2_1,head/fc6"
TOTAL = (16 + 32) * 2  # units x chi


def _command(output: Path, cache: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "generator.cli",
        "visualize",
        "--output",
        str(output),
        "--layers",
        LAYERS,
        "--set",
        "visualize.steps=40",
        "--set",
        "visualize.chi=[1.0, 10.0]",
        "--set",
        "visualize.batch_size=8",
        "--set",
        "data.test_clips_per_class=2",
        "--set",
        f"data.cache_dir={cache}",
    ]


def _results(output: Path) -> list[Path]:
    return sorted((output / "results").rglob("*.npz"))


def _children(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` (from /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for its new parent to reap it counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.slow
def test_sigkill_mid_visualization_then_resume(tmp_path: Path) -> None:
    output, cache = tmp_path / "atlas", tmp_path / "cache"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        _command(output, cache), cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 240
    try:
        while len(_results(output)) < 8 and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        workers = _children(process.pid)
        process.send_signal(signal.SIGKILL)
        process.wait()
    assert workers, "the visualization runs in worker processes by default"
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(pid) for pid in workers), "worker processes must not outlive a killed build"

    finished = _results(output)
    assert 0 < len(finished) < TOTAL, "the kill must land in the middle of the visualization"
    for path in finished:  # every file that exists is complete
        assert load_result(path).meta["status"] == "ok"
    stamps = {path: path.stat().st_mtime_ns for path in finished}

    rerun = subprocess.run(
        _command(output, cache), cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )
    assert rerun.returncode == 0, rerun.stderr
    assert f"{len(finished)} found cached" in rerun.stdout
    assert f"Visualized {TOTAL - len(finished)} " in rerun.stdout
    after = _results(output)
    assert len(after) == TOTAL
    assert {path: path.stat().st_mtime_ns for path in finished} == stamps  # never recomputed
    for path in after:
        assert len(load_result(path).loss) == 40


def test_a_unit_cut_between_two_chi_values_computes_only_the_missing_one(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from generator.cli import app

    args = [
        "visualize",
        "--output",
        str(tmp_path),
        "--layers",
        "class",
        "--units",
        "0-1",
        "--set",
        "visualize.steps=3",
        "--set",
        "visualize.chi=[1.0, 10.0]",
        "--set",
        "data.test_clips_per_class=2",
        "--set",
        f"data.cache_dir={tmp_path / 'cache'}",
        "--set",
        "visualize.stream_views=false",
    ]
    first = CliRunner().invoke(app, args)
    assert first.exit_code == 0, first.output
    files = _results(tmp_path)
    assert len(files) == 4
    removed = next(f for f in files if f.name.startswith("chi10_"))
    kept = {f: f.stat().st_mtime_ns for f in files if f != removed}
    removed.unlink()
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 0, again.output
    assert "Visualized 1 " in again.output and "3 found cached" in again.output
    assert {f: f.stat().st_mtime_ns for f in kept} == kept and removed.exists()
