"""The notebook API: unit ids, composed objectives measured against the network itself, media,
the atlas preset, and the "Python API" page's examples run as written."""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from generator import load_model, objectives, visualize
from generator.config import VisualizeConfig
from generator.engine import PRESETS, EngineSettings
from generator.engine.objective_algebra import Bound, rows
from generator.errors import ModelError
from generator.zoo import load

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def model():
    return load_model("default")


def test_unit_ids_are_parsed_and_errors_name_what_is_valid(model):
    d = model.description
    assert objectives.parse_unit_id(d, "motion/conv3_1/0017") == ("motion/conv3_1", 17)
    assert objectives.parse_unit_id(d, "motion/conv3_1/17") == ("motion/conv3_1", 17)
    assert objectives.parse_unit_id(d, "class/Billiards") == ("class", d.classes.index("Billiards"))
    with pytest.raises(ModelError, match="names a layer, not a unit.*motion/conv3_1/0000"):
        objectives.parse_unit_id(d, "motion/conv3_1")
    with pytest.raises(ModelError, match=r"valid units are 0\.\.31"):
        objectives.parse_unit_id(d, "motion/conv3_1/0032")
    with pytest.raises(ModelError, match="motion/conv3_1, appearance/conv4_1, .*, class"):
        objectives.parse_unit_id(d, "motion/conv9_9/0001")
    with pytest.raises(ModelError, match="Billiards"):
        objectives.parse_unit_id(d, "class/Golf")


def _responses(model, inputs, layers):
    """Each layer's response to ``inputs`` through the unmodified network (own ReLUs)."""
    found = {}
    handles = [
        model.model.get_submodule(model.description.layer(name).module).register_forward_hook(
            lambda m, a, out, name=name: found.__setitem__(name, out)
        )
        for name in layers
    ]
    try:
        with torch.no_grad():
            model.model(*inputs)
    finally:
        for h in handles:
            h.remove()
    return found


def test_a_composed_objective_reports_its_value_on_the_network_and_is_raised(model):
    """activation == u17 - 0.5 u3 recomputed by hooks on the plain network; more steps, a higher value."""
    target = objectives.unit("motion/conv3_1/0017") - 0.5 * objectives.unit("motion/conv3_1", 3)
    short = visualize(model, target, chi=[10], steps=2, preset="paper", device="cpu")
    longer = visualize(model, target, chi=[10], steps=30, preset="paper", device="cpu")
    result = longer.results[0]
    assert result.ok and result.layer == "objective"
    inputs = [torch.from_numpy(result.inputs[s.name])[None] for s in model.description.inputs]
    response = _responses(model, inputs, ["motion/conv3_1"])["motion/conv3_1"]  # (T, C, h, w), B = 1
    centre = response[response.shape[0] // 2, :, response.shape[2] // 2, response.shape[3] // 2]
    centre = torch.nn.functional.leaky_relu(centre, EngineSettings().leaky_slope)  # the rectified response
    expected = float(centre[17] - 0.5 * centre[3])
    assert result.activation == pytest.approx(expected, rel=1e-4, abs=1e-4)
    assert longer.activations[0] > short.activations[0] + 1.0


def test_objective_algebra_on_known_responses():
    b, t, h, w = 2, 3, 5, 5
    d = load("default").description  # only for binding layer names
    tower, units = d.layers[0].name, d.layers[0].units
    x = torch.randn(b * t, units, h, w)
    x[t // 2, 1, h // 2, w // 2] = -1.0  # row 0's neuron 1 is off, so rectification shows
    responses = {tower: x}
    by_rows = rows(x, b)  # (B, T, C, h, w)
    neuron = objectives.neuron(tower, 1).bind(d)(responses, b)
    assert torch.allclose(neuron, by_rows[:, t // 2, 1, h // 2, w // 2])
    channel = objectives.channel(tower, 2).bind(d)(responses, b)
    assert torch.allclose(channel, by_rows[:, :, 2].reshape(b, -1).mean(1))
    one_hot = [0.0] * units
    one_hot[2] = 1.0
    direction = objectives.direction(tower, one_hot).bind(d)(responses, b)
    assert torch.allclose(direction, channel, atol=1e-5)
    # unit() is the atlas's objective: the centre neuron of the rectified response (leaking as the
    # engine lets the target leak), where channel() and neuron() read the module's own output.
    unit = objectives.unit(tower, 1).bind(d)(responses, b)
    assert torch.allclose(unit, torch.nn.functional.leaky_relu(neuron, EngineSettings().leaky_slope))
    assert unit[0] == pytest.approx(-EngineSettings().leaky_slope) and not torch.allclose(unit, neuron)
    combined = (3 * objectives.channel(tower, 2) - objectives.neuron(tower, 1) / 2 + 1.0).bind(d)
    assert combined.layers == (tower,)
    assert torch.allclose(combined(responses, b), 3 * channel - neuron / 2 + 1.0)


def test_diversity_is_minus_one_for_identical_rows_and_zero_for_disjoint_ones(model):
    d = model.description
    layer = "head/fc6"
    same = torch.ones(2, 32)
    value = objectives.diversity(layer).bind(d)({layer: same}, 2)
    assert torch.allclose(value, torch.tensor([-1.0, -1.0]))
    disjoint = torch.zeros(2, 32)
    disjoint[0, 0] = disjoint[1, 1] = 1.0  # Gram matrices with disjoint support: cosine 0
    assert torch.allclose(objectives.diversity(layer).bind(d)({layer: disjoint}, 2), torch.zeros(2))
    assert isinstance(objectives.diversity(layer).bind(d), Bound)


def test_a_transform_module_runs_in_every_step_and_not_in_the_final_measurement(model):
    class Count(nn.Module):
        def __init__(self):
            super().__init__()
            self.calls = 0

        def forward(self, inputs):
            self.calls += 1
            return inputs

    count = Count()
    r = visualize(
        model,
        objectives.unit("motion/conv2_1/0001"),
        chi=[1],
        steps=5,
        transform=count,
        preset="paper",
        device="cpu",
    )
    # The engine works on its own copy of the network and transform; the caller's is untouched.
    assert count.calls == 0 and r.results[0].steps == 5
    counted = objectives.unit("motion/conv2_1/0001")
    from generator.engine.objective_algebra import objective_network

    wrapped, description = objective_network(model.model, model.description, counted, Count())
    with torch.no_grad():
        wrapped(*[torch.zeros(1, *s.shape) for s in description.inputs])
    assert wrapped.transform.calls == 0  # no gradient recorded: the final measurement
    wrapped(*[torch.zeros(1, *s.shape, requires_grad=True) for s in description.inputs])
    assert wrapped.transform.calls == 1


def test_a_unit_id_runs_exactly_as_the_engine_runs_it(model):
    from generator.engine import visualize_layer

    settings = PRESETS["atlas"](steps=3)
    api = visualize(model, "motion/conv3_1/0017", chi=[1, 100], steps=3, device="cpu")
    direct = visualize_layer(
        model.model, model.description, "motion/conv3_1", [17], [1, 100], [0], settings, "cpu"
    )
    for a, b in zip(api.results, direct):
        assert a.activation == b.activation
        for name in a.inputs:
            np.testing.assert_array_equal(a.inputs[name], b.inputs[name])


def test_the_atlas_preset_is_the_configurations_visualize_section():
    atlas = PRESETS["atlas"]()
    assert isinstance(atlas, EngineSettings)
    defaults = VisualizeConfig()
    assert atlas.leaky_fraction == defaults.leaky_fraction
    assert atlas.temporal_basis == defaults.temporal_basis
    assert dict(atlas.tv_scale) == defaults.tv_scale
    assert atlas != PRESETS["paper"]()


def test_media_of_every_encoding_are_written_and_shown(model, tmp_path):
    r = visualize(model, "motion/conv2_1/0003", chi=[1, 100], steps=2, device="cpu")
    paths = r.save(tmp_path)
    assert len(paths) == 2
    for kind in ("appearance", "colorwheel", "xymag", "composite"):
        assert (tmp_path / paths[0][kind]).stat().st_size > 0
    page = r.html()
    assert page.count("<video") == 8 and page.count("data:video/mp4;base64,") == 8


def test_importing_the_package_needs_no_ipython():
    code = "import sys; sys.modules['IPython'] = None; import generator; from generator import visualize, objectives; print('ok')"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "ok"


def test_the_python_api_page_runs_as_written(tmp_path, monkeypatch):
    page = (ROOT / "site_src" / "python-api.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", page, flags=re.S)
    assert len(blocks) >= 5
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # show() and save() examples write here
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, "python-api.md", "exec"), namespace)  # noqa: S102 - the page's own examples
    assert namespace["paths"] and namespace["html"].count("<video") >= 4
