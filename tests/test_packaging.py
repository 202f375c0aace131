"""The wheel carries everything a build needs: installed outside the repository (non-editable),
it renders a tiny atlas, site included, from its own package data."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

from tests.support.cli import one_class_unit

ROOT = Path(__file__).resolve().parents[1]
SOURCES = (
    "generator",
    "templates",
    "site_src",
    "site_theme",
    "mkdocs.yml",
    "pyproject.toml",
    "setup.py",
    "README.md",
)


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    # Without PYTHONPATH: a checkout on it would make the package (or its egg-info) visible.
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


@pytest.mark.slow
def test_the_wheel_installed_in_a_fresh_venv_builds_an_atlas_outside_the_repository(tmp_path: Path) -> None:
    # Build from a copy, so the checkout gets no build/ or egg-info folders.
    source = tmp_path / "source"
    source.mkdir()
    for name in SOURCES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=shutil.ignore_patterns("__pycache__", "_resources"))
        else:
            shutil.copy2(path, source / name)
    wheels = tmp_path / "wheels"
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "-q",
            "-w",
            str(wheels),
            str(source),
        ],
        cwd=tmp_path,
    )
    (wheel,) = wheels.glob("*.whl")

    # A fresh venv whose dependencies come from this interpreter's site-packages (no network, no
    # large install); the package itself only from the wheel.
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    site = Path(
        _run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=tmp_path
        ).stdout.strip()
    )
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--no-deps",
            "--no-index",
            "-q",
            str(wheel),
        ],
        cwd=tmp_path,
    )
    # Only now: pip would otherwise see the shared environment's (editable) install as present.
    (site / "shared_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    work = tmp_path / "elsewhere"
    work.mkdir()
    where = _run(
        [
            str(python),
            "-c",
            "import generator, generator.resources as r; print(generator.__file__); "
            "print(r.resource_path('templates'))",
        ],
        cwd=work,
    ).stdout.split()
    assert all(Path(p).is_relative_to(site) for p in where), where

    args = one_class_unit(work / "cache", work / "atlas", {"visualize.device": "cpu"})
    _run([str(env_dir / "bin" / "atlas"), "build", *args], cwd=work)
    index = work / "atlas" / "site" / "index.html"
    assert index.is_file() and "Video Feature Atlas" in index.read_text(encoding="utf-8")
    assert (
        work / "atlas" / "site" / "how-to-read" / "index.html"
    ).is_file()  # a hand-written page of site_src/
