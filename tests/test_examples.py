"""User models: layer discovery of the class output, notes for modules not listed, and the
shipped example model through `atlas layers` and a tiny build."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from generator.cli import app
from generator.store.schema import table_path
from generator.zoo import ClassScores, InputSpec, describe_by_probe, load

runner = CliRunner()
EXAMPLE = "examples.two_stream:build"
SIZE = 48
RGB = (InputSpec("appearance", "rgb", 3, 1, SIZE, SIZE, None),)


class _ConvScores(nn.Module):
    """A real conv layer with as many channels as there are classes, averaged into marked scores."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Conv2d(3, 4, 3, padding=1)
        self.conv = nn.Conv2d(4, 4, 3, padding=1)
        self.scores = ClassScores()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scores(self.conv(torch.relu(self.features(x[:, :, 0]))).mean(dim=(2, 3)))


class _MarkedLinear(nn.Module):
    """The usual marking: a Linear feeding ClassScores, so the Linear only holds the scores."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.fc = nn.Linear(4, 4)
        self.scores = ClassScores()
        self.unused = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scores(self.fc(torch.relu(self.conv(x[:, :, 0])).mean(dim=(2, 3))))


class _CentreCrop(nn.Module):
    """Classifies from the middle 16 rows only: the class output's receptive field is 16 rows, not 48."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.fc = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        crop = x[:, :, 0, 16:32, :]
        return self.fc(torch.relu(self.conv(crop)).mean(dim=(2, 3)))


def test_the_network_output_is_the_class_layer_without_any_marking() -> None:
    # The example's scores are the mean of two heads: no single module returns them.
    d = load(EXAMPLE).description
    assert d.layer_names == ("rgb1", "rgb2", "flow1", "flow2", "fuse", "fused_head", "motion_head", "class")
    class_layer = d.layer("class")
    assert (class_layer.module, class_layer.kind, class_layer.units) == ("", "class", 12)
    assert class_layer.streams == ("appearance", "motion") and class_layer.unit_names == d.classes
    assert any(note.startswith("class:") and "whole network" in note for note in d.notes)


def test_a_real_layer_with_as_many_units_as_classes_is_kept() -> None:
    d = describe_by_probe("conv-scores", _ConvScores(), RGB)
    assert d.layer_names == ("features", "conv", "class")  # "conv" has 4 units for 4 classes, and is kept
    assert d.layer("conv").units == 4 and d.layer("class").module == "scores"


def test_every_module_not_listed_has_a_note() -> None:
    d = describe_by_probe("marked", _MarkedLinear(), RGB)
    assert d.layer_names == ("conv", "class")
    fc_note = next(n for n in d.notes if n.startswith("fc "))
    assert "class scores" in fc_note and "scores" in fc_note
    assert any(n.startswith("unused ") and "did not run" in n for n in d.notes)


def test_class_receptive_field_is_measured_not_the_input_size() -> None:
    d = describe_by_probe("crop", _CentreCrop(), RGB)
    assert d.layer("class").module == "fc" and d.layer("class").receptive_field == 16
    assert d.layer("conv").receptive_field == 3


def test_atlas_layers_lists_the_example_with_its_notes() -> None:
    result = runner.invoke(app, ["layers", "--model", EXAMPLE], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "fuse" in result.output and "8 layers, 100 units" in result.output
    assert "note: class: the network's output" in result.output


@pytest.mark.slow
def test_the_example_model_builds(tmp_path: Path) -> None:
    sets = {
        "model.source": EXAMPLE,
        "data.test_clips_per_class": 2,
        "data.probe_clips_per_class": 1,
        "data.cache_dir": str(tmp_path / "cache"),
        "visualize.steps": 2,
        "visualize.chi": json.dumps([1.0, 10.0]),
        "site.top_clips": 2,
    }
    args = [item for key, value in sets.items() for item in ("--set", f"{key}={value}")]
    result = runner.invoke(
        app, ["build", *args, "--layers", "fuse,class", "--units", "0", "--output", str(tmp_path / "atlas")]
    )
    assert result.exit_code == 0, result.output
    units = pq.read_table(table_path(tmp_path / "atlas", "units")).to_pylist()
    assert {u["unit_id"] for u in units} == {"fuse/0000", "class/ApplyEyeMakeup"}
    assert all(u["act_peak"] is not None for u in units)  # the world fits the example: data statistics exist
    assert (tmp_path / "atlas" / "site" / "index.html").is_file()
    classes = pq.read_table(table_path(tmp_path / "atlas", "classes")).to_pylist()
    assert all(
        0.0 <= c["accuracy_motion_zeroed"] <= 1.0 and 0.0 <= c["accuracy_appearance_zeroed"] <= 1.0
        for c in classes
    )
    cases = json.loads((tmp_path / "atlas" / "manifest.json").read_text())["failure_cases"]
    probe = next(c for c in cases if c.get("probe") == "cello_violin_swap")
    assert {r["name"] for r in probe["evidence"]["interventions"]} >= {
        "flow_only",
        "appearance_only",
        "time_reversed",
    }
    page = (tmp_path / "atlas" / "site" / "failures" / probe["slug"] / "index.html").read_text()
    assert "What the interventions show" in page and "probe&#39;s flow only" in page
