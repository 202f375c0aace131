"""A checkpoint is data: it can name only the atlas's own builders, with checked, bounded arguments."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from generator.errors import CheckpointError
from generator.zoo import load, registry, small_fusion
from generator.zoo.checkpoint import CHECKPOINT_FORMAT

REPO = Path(__file__).resolve().parents[1]


def _checkpoint(path: Path, architecture: dict, state: dict | None = None) -> Path:
    torch.save(
        {"format": CHECKPOINT_FORMAT, "architecture": architecture, "classes": [], "state_dict": state or {}},
        path,
    )
    return path


def test_a_checkpoint_cannot_import_or_call_code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mark = tmp_path / "mark"
    monkeypatch.setenv("ATLAS_TEST_HOSTILE_MARK", str(mark))
    # Another test may have imported the module by naming it as model.source (which is allowed).
    monkeypatch.delitem(sys.modules, "tests.fixtures_hostile_module", raising=False)
    record = {"builder": "import", "kwargs": {"target": "tests.fixtures_hostile_module:build"}}
    path = _checkpoint(tmp_path / "evil.pt", record)
    for source in ("default", "small_fusion"):
        with pytest.raises(CheckpointError, match="may name only small_fusion, fusion_vgg16, torchvision"):
            load(source, path)
    assert not mark.exists() and "tests.fixtures_hostile_module" not in sys.modules


def test_cli_refuses_a_checkpoint_that_names_os_abort(tmp_path: Path) -> None:
    path = _checkpoint(tmp_path / "abort.pt", {"builder": "import", "kwargs": {"target": "os:abort"}})
    result = subprocess.run(
        [sys.executable, "-m", "generator.cli", "layers", "--checkpoint", str(path)],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2, (result.returncode, result.stderr)  # a user error; SIGABRT would be -6
    assert "cannot name code to import" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"widths": [1_000_000, 1_000_000, 1_000_000, 1_000_000]}, "widths.0"),
        ({"fc": 10**9}, "fc"),
        ({"image_size": 100_000}, "image_size"),
        ({"convs_per_block": True}, "convs_per_block"),  # a boolean is not a count
        ({"widths": [8, 16], "target": "os:abort"}, "target"),  # arguments the builder does not take
    ],
)
def test_absurd_arguments_are_rejected_before_building(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kwargs: dict, field: str
) -> None:
    built: list[dict] = []
    refuse = (registry.SmallFusionArguments, lambda **kw: built.append(kw))
    monkeypatch.setitem(registry.BUILDERS, "small_fusion", refuse)
    path = _checkpoint(tmp_path / "huge.pt", {"builder": "small_fusion", "kwargs": kwargs})
    with pytest.raises(CheckpointError, match=rf"invalid small_fusion architecture arguments: {field}"):
        load("default", path)
    assert built == []


def test_torchvision_records_name_only_known_networks(tmp_path: Path) -> None:
    record = {"builder": "torchvision", "kwargs": {"name": "../../os", "frames": 4}}
    expected = r"invalid torchvision architecture arguments: name: Value error, must be one of r3d_18"
    with pytest.raises(CheckpointError, match=expected):
        load("torchvision:r3d_18", _checkpoint(tmp_path / "tv.pt", record))


def test_in_bounds_but_oversized_or_unfitting_records_allocate_nothing(tmp_path: Path) -> None:
    # Widths within bounds whose network is huge: refused from shapes alone (meta device).
    big = {"builder": "small_fusion", "kwargs": {"widths": [1024] * 6, "image_size": 512, "fc": 4096}}
    with pytest.raises(CheckpointError, match="parameters, above the limit"):
        load("default", _checkpoint(tmp_path / "big.pt", big))
    # A plausible record whose weights do not fit it is refused before real weights are made.
    torch.manual_seed(0)
    small = small_fusion()
    record = {"builder": "small_fusion", "kwargs": {"widths": [512, 512, 512, 512]}}
    path = _checkpoint(tmp_path / "wide.pt", record, small.state_dict())
    calls: list[str] = []
    original = registry.BUILDERS["small_fusion"]
    registry.BUILDERS["small_fusion"] = (
        original[0],
        lambda **kw: calls.append(str(torch.empty(0).device)) or original[1](**kw),
    )
    try:
        with pytest.raises(CheckpointError, match="do not fit its recorded small_fusion architecture"):
            load("default", path)
    finally:
        registry.BUILDERS["small_fusion"] = original
    assert calls == ["meta"]  # built once, on the meta device only
