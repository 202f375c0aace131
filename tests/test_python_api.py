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
from generator.engine.optimizer import project_norm
from generator.engine.parameterization import Parameterization
from generator.errors import ConfigError, ModelError
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


class Record(nn.Module):
    """Records each call's batch size. Class-level, since the engine runs its own copy of the module."""

    calls: list[int] = []

    def forward(self, inputs):
        Record.calls.append(inputs[0].shape[0])
        return inputs


def test_a_transform_module_given_with_a_unit_id_runs_the_unit_objective_through_it(model):
    Record.calls.clear()
    options = {"chi": [1, 10], "steps": 4, "preset": "paper", "device": "cpu"}
    through = visualize(model, "motion/conv2_1/0001", transform=Record(), **options)
    assert Record.calls == [2] * 4  # once per optimisation step, both rows; not in the final measurement
    plain = visualize(model, objectives.unit("motion/conv2_1/0001"), **options)
    np.testing.assert_array_equal(through.activations, plain.activations)  # the identity changes nothing
    for a, b in zip(through.results, plain.results):
        np.testing.assert_array_equal(a.inputs["motion"], b.inputs["motion"])


def test_the_jitter_module_shifts_every_input_of_a_row_alike():
    from generator.engine.transforms import Jitter

    x = torch.arange(3 * 2 * 1 * 6 * 6, dtype=torch.float32).reshape(3, 2, 1, 6, 6)
    y = 100 + x[:, :1]
    assert all(torch.equal(a, b) for a, b in zip(Jitter(0)([x, y]), [x, y]))
    moved_x, moved_y = Jitter(2, seed=5)([x, y])
    for row in range(3):
        shifts = [
            (dy, dx)
            for dy in range(-2, 3)
            for dx in range(-2, 3)
            if torch.equal(moved_x[row], torch.roll(x[row], (dy, dx), dims=(-2, -1)))
        ]
        assert len(shifts) == 1
        assert torch.equal(moved_y[row], torch.roll(y[row], shifts[0], dims=(-2, -1)))


class Flat(Parameterization):
    """One value per row and input, spread over the whole clip: a flat clip, which the engine's own
    parameterizations never give."""

    def __init__(self, specs, rows, start=0.5):
        super().__init__(specs)
        for _ in self.specs:
            self.tensors.append(nn.Parameter(torch.full((rows, 1, 1, 1, 1), start)))

    def forward(self):
        return [t.expand(t.shape[0], *spec.shape) for t, spec in zip(self.tensors, self.specs)]

    @torch.no_grad()
    def project(self, radius):
        for t, x, spec in zip(self.tensors, self(), self.specs):
            t.copy_(project_norm(x, spec, radius).mean(dim=(1, 2, 3, 4), keepdim=True))


def test_a_parameterization_instance_is_optimised_and_is_the_result(model):
    specs = model.description.inputs
    flat = Flat(specs, rows=2)
    r = visualize(
        model, "class/Billiards", chi=[1, 10], steps=4, parameterization=flat, preset="paper", device="cpu"
    )
    assert not all(torch.equal(t, torch.full_like(t, 0.5)) for t in flat.tensors)  # optimised in place
    rendered = [x.detach().numpy() for x in flat()]
    for row, result in enumerate(r.results):
        for spec, x in zip(specs, rendered):
            np.testing.assert_array_equal(result.inputs[spec.name], x[row])
            assert np.ptp(result.inputs[spec.name]) == 0  # flat: the custom basis was used
    with pytest.raises(ConfigError, match="batch_size 1 would split it"):
        visualize(model, "class/Billiards", chi=[1, 10], steps=1, parameterization=flat, batch_size=1)


def test_a_parameterization_factory_builds_each_batch_and_is_checked(model):
    built = []

    def factory(specs, init):
        built.append(Flat(specs, rows=init[0].shape[0], start=float(init[0].mean())))
        return built[-1]

    r = visualize(
        model,
        "motion/conv2_1/0003",
        chi=[1, 10, 100],
        steps=2,
        parameterization=factory,
        batch_size=2,
        device="cpu",
    )
    assert [len(p.tensors[0]) for p in built] == [2, 1]  # three rows in batches of two
    np.testing.assert_array_equal(r.results[2].inputs["motion"], built[1]()[1][0].detach().numpy())
    with pytest.raises(ConfigError, match="must be a generator.engine.parameterization.Parameterization"):
        visualize(model, "motion/conv2_1/0003", chi=[1], steps=1, parameterization=lambda s, i: nn.Identity())
    with pytest.raises(ConfigError, match="one optimised tensor per model input"):
        visualize(
            model, "motion/conv2_1/0003", chi=[1], steps=1, parameterization=lambda s, i: Flat(s[:1], 1)
        )


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
