"""The one-command GPU check (bench/gpu_check.py) runs end to end in its CPU smoke mode.

Run as its own process with imageio-ffmpeg and MkDocs made unimportable, as they may be on
a bare GPU image: the script must need nothing but the repository and torch/torchvision.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ABSENT = ("imageio", "imageio_ffmpeg", "mkdocs", "material")


@pytest.mark.slow
def test_gpu_check_cpu_smoke_passes_without_media_or_site_packages(tmp_path: Path) -> None:
    report = tmp_path / "gpu_check.txt"
    program = (
        "import runpy, sys; "
        f"sys.modules.update(dict.fromkeys({ABSENT!r})); "
        f"sys.argv = ['gpu_check.py', '--cpu-smoke', '--out', {str(report)!r}]; "
        "runpy.run_path('bench/gpu_check.py', run_name='__main__')"
    )
    done = subprocess.run(
        [sys.executable, "-c", program], cwd=ROOT, capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    text = report.read_text()
    assert "== summary" in text and "all ok" in text
    for step in (
        "noise identical to the CPU's",
        "default model vs CPU",
        "benchmark: engine bf16 compiled",
        "projection at",
    ):
        assert f"== {step}" in text and f"{step}" in text
    # steps that need CUDA say so instead of pretending to pass
    assert "== host synchronisations per step: skipped" in text
    assert "== out-of-memory halving under a cap: skipped" in text
