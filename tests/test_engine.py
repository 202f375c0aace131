"""Tests of the activation-maximisation engine on tiny phantom networks with known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from generator.engine import (
    PRESETS,
    EngineSettings,
    Row,
    iter_batches,
    plan_rows,
    prepare_model,
    visualize_layer,
)
from generator.engine.objectives import objective_mode, unit_objective
from generator.engine.optimizer import MomentumState, learning_rate, momentum_adagrad_step, project_norm
from generator.engine.parameterization import (
    FourierParameterization,
    TemporalDCTParameterization,
    temporal_dct_matrix,
)
from generator.engine.plan import draw_row_noise
from generator.engine.regularizers import (
    alpha_norm,
    regularizer_terms,
    spatiotemporal_variation,
    variation_terms,
)
from generator.engine.transforms import affine_rows, jitter_radius, roll_rows, transform_inputs
from generator.errors import ConfigError, ModelError
from generator.zoo.activations import ReLU
from generator.zoo.spec import InputSpec, LayerInfo, ModelDescription

KERNEL = 9
FIELDS = 4


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """These networks are tiny: one thread avoids oversubscribing a shared CPU (16x faster there)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def flow_spec(size: int = 17, fields: int = FIELDS) -> InputSpec:
    return InputSpec("motion", "flow", 2 * fields, 1, size, size, None)


def fold(x: torch.Tensor) -> torch.Tensor:
    """(B, C, T, H, W) -> (B*T, C, H, W), snippet-major like the zoo's towers."""
    b, c, t, h, w = x.shape
    return x.transpose(1, 2).reshape(b * t, c, h, w)


class TwoStream(nn.Module):
    """One valid convolution per stream, then a head that must not run when a conv is the target."""

    def __init__(self, app_weight: torch.Tensor, mot_weight: torch.Tensor, tail_raises: bool = False) -> None:
        super().__init__()
        self.app = nn.Conv2d(3, app_weight.shape[0], app_weight.shape[-1], bias=False)
        self.mot = nn.Conv2d(mot_weight.shape[1], mot_weight.shape[0], mot_weight.shape[-1], bias=False)
        with torch.no_grad():
            self.app.weight.copy_(app_weight)
            self.mot.weight.copy_(mot_weight)
        self.relu = ReLU()
        self.tail_raises = tail_raises

    def forward(self, app: torch.Tensor, mot: torch.Tensor) -> torch.Tensor:
        a = self.relu(self.app(fold(app)))
        m = self.relu(self.mot(fold(mot)))
        if self.tail_raises:
            raise AssertionError("the forward pass ran past the target layer")
        return torch.cat([a.mean((2, 3)), m.mean((2, 3))], dim=1)


def two_stream_description(
    app_units: int, mot_units: int, size: int = 17, fields: int = FIELDS
) -> ModelDescription:
    rgb = InputSpec("appearance", "rgb", 3, 1, size, size, (123.68, 116.78, 103.94))
    layers = (
        LayerInfo("appearance/conv", "app", "conv2d", app_units, 1, KERNEL, 1, ("appearance",)),
        LayerInfo("motion/conv", "mot", "conv2d", mot_units, 1, KERNEL, 1, ("motion",)),
    )
    return ModelDescription("phantom", (rgb, flow_spec(size, fields)), layers, ())


def colour_kernel() -> torch.Tensor:
    """A smooth colour pattern with unit-norm colour at every tap: the unit's ideal input."""
    ii, jj = torch.meshgrid(torch.arange(KERNEL), torch.arange(KERNEL), indexing="ij")
    phase = 2 * math.pi * (ii + 0.5 * jj) / KERNEL
    w = torch.stack([torch.cos(phase), torch.sin(phase), 0.5 * torch.ones_like(phase)])
    return w / w.norm(dim=0, keepdim=True)


def direction_model() -> tuple[TwoStream, ModelDescription]:
    """Motion unit 0 sums u (flow to +x); unit 1 sums -v (flow to -y, upwards)."""
    mot = torch.zeros(2, 2 * FIELDS, KERNEL, KERNEL)
    mot[0, 0::2] = 1.0
    mot[1, 1::2] = -1.0
    return TwoStream(colour_kernel()[None], mot), two_stream_description(1, 2)


def fast(**changes: object) -> EngineSettings:
    return EngineSettings(**{"steps": 40, **changes})  # type: ignore[arg-type]


def centre_patch(x: np.ndarray, size: int = 17) -> np.ndarray:
    start = size // 2 - KERNEL // 2
    return x[..., start : start + KERNEL, start : start + KERNEL]


# ----------------------------------------------------------------------------------------
# Settings and presets


def test_defaults_are_the_papers() -> None:
    s = EngineSettings()
    assert (s.preset, s.steps, s.alpha, s.bound, s.beta, s.momentum, s.leaky_slope) == (
        "paper",
        300,
        6,
        80,
        2,
        0.9,
        0.05,
    )
    assert s.lam_alpha("rgb") == pytest.approx((1 / 80) ** 6)
    assert s.lam_tv("flow") == pytest.approx((6.5 / 80) ** 2)
    assert learning_rate(224, 224, lr_scale=0.05, bound=80, alpha=6) == pytest.approx(
        224 * 224 * 0.05 * 6400 / 6
    )
    assert s.parameterization == "pixel" and s.scale_range == 0 and s.rotation_range == 0
    assert s.temporal_basis == "pixel" and s.leaky_fraction == 1.0
    assert s.replace(temporal_basis="dct").parameterization == "dct"
    assert s.replace(preset="fourier", temporal_basis="dct").parameterization == "fourier"
    assert hash(s) == hash(EngineSettings())


def test_presets() -> None:
    assert set(PRESETS) == {"paper", "atlas", "fourier", "robust"}
    assert PRESETS["paper"]() == EngineSettings()
    assert PRESETS["fourier"]().parameterization == "fourier"
    robust = PRESETS["robust"](steps=7)
    assert (robust.steps, robust.scale_range, robust.rotation_range) == (7, 0.1, 10.0)
    assert EngineSettings(alpha_scale={"flow": 2.0}).lam_alpha("flow") == pytest.approx(2 * (1 / 80) ** 6)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("steps", 0),
        ("alpha", -1.0),
        ("momentum", 1.0),
        ("objective", "max"),
        ("precision", "fp16"),
        ("batch_size", 0),
        ("preset", "lucid"),
        ("tv_scale", {"depth": 1.0}),
        ("bound", float("nan")),
        ("temporal_basis", "wavelet"),
    ],
)
def test_settings_validation_names_the_field(field: str, value: object) -> None:
    with pytest.raises(ConfigError, match=field):
        EngineSettings(**{field: value})  # type: ignore[arg-type]


def test_bad_units_and_chis_are_user_errors() -> None:
    model, desc = direction_model()
    with pytest.raises(ModelError, match="out of range"):
        visualize_layer(model, desc, "motion/conv", [2], [1.0], [0], fast(), "cpu")
    with pytest.raises(ConfigError, match="chi"):
        visualize_layer(model, desc, "motion/conv", [0], [-1.0], [0], fast(), "cpu")
    with pytest.raises(ModelError, match="Unknown layer"):
        visualize_layer(model, desc, "motion/conv9", [0], [1.0], [0], fast(), "cpu")


# ----------------------------------------------------------------------------------------
# Regularisers, optimiser, projection, transforms on hand-computed values


def test_alpha_norm_hand_computed() -> None:
    rgb = InputSpec("a", "rgb", 3, 1, 1, 2)
    x = torch.tensor([[1.0, 0.0], [2.0, 0.0], [2.0, 3.0]]).view(1, 3, 1, 1, 2)  # colours (1,2,2), (0,0,3)
    assert alpha_norm(x, rgb, 6.0).item() == pytest.approx(729.0)  # |v| = 3 at both pixels
    flow = InputSpec("m", "flow", 4, 1, 1, 1)
    f = torch.tensor([3.0, 4.0, 0.0, 1.0]).view(1, 4, 1, 1, 1)  # fields (3, 4) and (0, 1)
    assert alpha_norm(f, flow, 2.0).item() == pytest.approx((25 + 1) / 2)
    assert alpha_norm(f, flow, 6.0).item() == pytest.approx((25**3 + 1) / 2)


def test_spatiotemporal_variation_hand_computed() -> None:
    rgb = InputSpec("a", "rgb", 3, 2, 1, 3)
    x = torch.zeros(1, 3, 2, 1, 3)
    x[0, 0, 0, 0] = torch.tensor([0.0, 1.0, 3.0])
    x[0, 0, 1, 0] = torch.tensor([2.0, 3.0, 5.0])  # frame 2 = frame 1 + 2
    # Dx^2 per frame: 1 + 4; Dt^2 = 4 at 3 positions of frame 1; 3 channels x 2 frames x 3 pixels.
    assert spatiotemporal_variation(x, rgb, 0.5, 2.0).item() == pytest.approx((10 + 0.5 * 12) / 18)
    flow = InputSpec("m", "flow", 4, 1, 1, 2)
    f = torch.zeros(1, 4, 1, 1, 2)
    f[0, 0, 0, 0] = torch.tensor([0.0, 2.0])  # u1
    f[0, 2, 0, 0] = torch.tensor([1.0, 2.0])  # u2: Dt over the fields = (1, 0)
    # Dx^2: 4 + 1; chi Dt^2 = 3 * 1; mean over 2 pixels x 2 fields x 2 components.
    assert spatiotemporal_variation(f, flow, 3.0, 2.0).item() == pytest.approx(1.0)
    assert spatiotemporal_variation(f, flow, 3.0, 1.0).item() == pytest.approx((math.sqrt(7) + 1) / 8)
    both = spatiotemporal_variation(torch.cat([f, f]), flow, torch.tensor([3.0, 0.0]), 2.0)
    assert both.tolist() == pytest.approx([1.0, 5 / 8])
    # beta = 2 takes a shortcut; it must equal the general per-position formula
    y = torch.randn(3, 6, 2, 5, 4, generator=torch.Generator().manual_seed(3))
    spec = InputSpec("m", "flow", 6, 2, 5, 4)
    spatial, temporal = variation_terms(y, spec)
    chi = torch.tensor([0.1, 1.0, 10.0])
    general = (spatial + chi.view(-1, 1, 1, 1, 1, 1) * temporal).flatten(1).mean(dim=1)
    assert torch.allclose(spatiotemporal_variation(y, spec, chi, 2.0), general, rtol=1e-5)


def test_regularizer_weights_are_the_lambdas() -> None:
    spec = flow_spec(5)
    x = torch.randn(2, spec.channels, 1, 5, 5, generator=torch.Generator().manual_seed(0)) * 50
    chi = torch.tensor([0.3, 4.0])
    r_alpha, r_tv = regularizer_terms(
        x, spec, chi, alpha=6, beta=2, lam_alpha=(1 / 80) ** 6, lam_tv=(6.5 / 80) ** 2
    )
    assert torch.allclose(r_alpha, (1 / 80) ** 6 * alpha_norm(x, spec, 6), rtol=1e-4)
    assert torch.allclose(r_tv, (6.5 / 80) ** 2 * spatiotemporal_variation(x, spec, chi, 2), rtol=1e-4)


def test_optimizer_matches_formula_for_two_steps() -> None:
    lr, x, m, g_acc = 10.0, 1.0, 0.0, 0.0
    xt = torch.tensor([x], dtype=torch.float64)
    state = MomentumState.zeros_like(xt)
    for grad in (2.0, -1.0):
        g_acc = 0.9 * g_acc + grad**2
        m = 0.9 * m - grad / (1 / lr + math.sqrt(g_acc))
        x = x + m
        new, state = momentum_adagrad_step(
            xt, torch.tensor([grad], dtype=torch.float64), state, lr=lr, momentum=0.9, decay=0.9
        )
        assert xt.item() != new.item()  # the argument is not modified in place
        xt = new
        assert xt.item() == pytest.approx(x, rel=1e-12)
    assert state.accum.item() == pytest.approx(0.9 * 4 + 1)


def test_norm_projection_caps_pixel_and_field_norms() -> None:
    rgb = InputSpec("a", "rgb", 3, 1, 1, 2)
    x = torch.tensor([[300.0, 30.0], [0.0, 0.0], [0.0, 40.0]]).view(1, 3, 1, 1, 2)
    out = project_norm(x, rgb, 160.0)
    assert out[0, :, 0, 0, 0].norm().item() == pytest.approx(160.0)
    assert torch.equal(out[..., 1], x[..., 1])  # norm 50: untouched
    flow = InputSpec("m", "flow", 4, 1, 1, 1)
    f = torch.tensor([120.0, 160.0, 3.0, 4.0]).view(1, 4, 1, 1, 1)  # field norms 200 and 5
    out = project_norm(f, flow, 160.0).flatten()
    assert out.tolist() == pytest.approx([96.0, 128.0, 3.0, 4.0])


def test_jitter_radius_follows_the_stride() -> None:
    layers = (
        LayerInfo("m/c1", "a", "conv2d", 4, 2, 3, 1, ("m",)),
        LayerInfo("m/c2", "b", "conv2d", 4, 6, 9, 2, ("m",)),
        LayerInfo("m/c5", "c", "conv2d", 4, 16, 99, 3, ("m",)),
        LayerInfo("m/fc", "d", "fc", 4, 1, 17, 4, ("m",)),
    )
    desc = ModelDescription("x", (flow_spec(),), layers, ())
    assert [jitter_radius(desc, layer) for layer in layers] == [1, 2, 4, 4]


def test_jitter_is_identical_across_frames_and_inputs() -> None:
    rgb = InputSpec("a", "rgb", 3, 3, 8, 8)
    flow = flow_spec(8)
    g = torch.Generator().manual_seed(1)
    xs = [torch.randn(2, 3, 3, 8, 8, generator=g), torch.randn(2, flow.channels, 1, 8, 8, generator=g)]
    shifts = torch.tensor([[1, -2], [0, 3]])
    out = transform_inputs(xs, (rgb, flow), shifts)
    for x, y in zip(xs, out):
        for b in range(2):
            expected = torch.roll(x[b], shifts=tuple(shifts[b].tolist()), dims=(-2, -1))
            assert torch.equal(y[b], expected)


def test_robust_transform_moves_flow_vectors_with_the_content() -> None:
    spec = flow_spec(33, 2)
    yy, xx = torch.meshgrid(torch.arange(33.0) - 16, torch.arange(33.0) - 16, indexing="ij")
    radial = torch.zeros(1, 4, 1, 33, 33)
    radial[0, 0::2, 0], radial[0, 1::2, 0] = 0.5 * xx, 0.5 * yy
    code = radial - 0.5  # the contract's coding: zero flow is -0.5
    # An expanding field is unchanged by a rotation and a scaling about its centre only if
    # the vectors turn and stretch with the content.
    moved = affine_rows(code, spec, torch.tensor([1.1]), torch.tensor([math.radians(30)]))
    assert torch.allclose(moved[..., 8:-8, 8:-8], code[..., 8:-8, 8:-8], atol=1e-3)
    right = torch.full((1, 4, 1, 33, 33), -0.5)
    right[:, 0::2] += 5.0
    turned = affine_rows(right, spec, torch.tensor([1.0]), torch.tensor([math.radians(90)])) + 0.5
    assert turned[0, :, 0, 16, 16].tolist() == pytest.approx([0.0, 5.0, 0.0, 5.0], abs=1e-4)


def test_roll_rows_shifts_each_row_by_its_own_amount() -> None:
    x = torch.arange(2 * 4 * 5.0).view(2, 1, 4, 5)
    out = roll_rows(x, torch.tensor([[1, 2], [-1, 0]]))
    assert torch.equal(out[0], torch.roll(x[0], (1, 2), (-2, -1)))
    assert torch.equal(out[1], torch.roll(x[1], (-1, 0), (-2, -1)))


def test_fourier_parameterization_projects_exactly() -> None:
    specs = (InputSpec("a", "rgb", 3, 2, 8, 10), flow_spec(8, 3))
    g = torch.Generator().manual_seed(0)
    init = [torch.randn(2, s.channels, s.frames, 8, s.width, generator=g) * 300 for s in specs]
    param = FourierParameterization(
        specs, init, spatial_decay=1.0, temporal_decay=0.5, decorrelate_colour=True
    )
    before = param()
    param.project(160.0)
    after = param()
    for spec, x, y in zip(specs, before, after):
        assert torch.allclose(y, project_norm(x, spec, 160.0), atol=1e-3)


def test_temporal_dct_parameterization_is_orthonormal_and_projects_exactly() -> None:
    for n in (1, 2, 4, 5):
        basis = temporal_dct_matrix(n)
        assert torch.allclose(basis @ basis.T, torch.eye(n), atol=1e-6)
        assert torch.allclose(basis[0], torch.full((n,), 1.0 / math.sqrt(n)))  # row 0: the constant
    specs = (InputSpec("a", "rgb", 3, 2, 8, 10), flow_spec(8, 3))
    g = torch.Generator().manual_seed(0)
    init = [torch.randn(2, s.channels, s.frames, 8, s.width, generator=g) * 300 for s in specs]
    param = TemporalDCTParameterization(specs, init)
    for x, y in zip(init, param()):
        assert torch.allclose(x, y, atol=1e-3)  # renders its initial input back
    # the constant-in-time part of a flow stack lives in coefficient 0 alone
    steady = param.tensors[1].detach().clone()
    steady[:, 2:] = 0  # flow coefficients are laid out like the fields: (u, v) of coefficient k at 2k, 2k+1
    rendered = param.render_one(1, steady).reshape(2, 3, 2, 1, 8, 8)
    assert torch.allclose(rendered, rendered[:, :1].expand_as(rendered), atol=1e-4)
    before = param()
    param.project(160.0)
    for spec, x, y in zip(specs, before, param()):
        assert torch.allclose(y, project_norm(x, spec, 160.0), atol=1e-3)


def test_objectives_pick_centre_neuron_or_channel() -> None:
    conv = LayerInfo("m/c", "c", "conv2d", 3, 4, 9, 1, ("m",))
    fusion = LayerInfo("f/c", "f", "conv3d", 3, 4, 9, 2, ("a", "m"))
    assert objective_mode(conv, "centre") == "centre" and objective_mode(fusion, "centre") == "mean"
    assert objective_mode(conv, "mean") == "mean"
    tower = torch.arange(2 * 3 * 3 * 5 * 5.0).view(6, 3, 5, 5)  # B=2 rows, T=3 snippets folded
    values = unit_objective(conv, "centre", torch.tensor([2, 0]))(tower, 0.0)
    assert values.tolist() == [tower[1, 2, 2, 2].item(), tower[4, 0, 2, 2].item()]
    cube = torch.randn(2, 3, 3, 4, 4)
    values = unit_objective(fusion, "centre", torch.tensor([1, 2]))(cube, 0.0)
    relu = cube.clamp(min=0)
    assert values.tolist() == pytest.approx([relu[0, 1].mean().item(), relu[1, 2].mean().item()])
    fc = LayerInfo("h/fc", "fc", "fc", 3, 1, 9, 3, ("m",))
    assert unit_objective(fc, "centre", torch.tensor([2]))(
        torch.tensor([[1.0, 2.0, -7.0]]), 0.05
    ).tolist() == [pytest.approx(-0.35)]


def test_plan_order_and_batches() -> None:
    rows = plan_rows([3, 1], [0.1, 1.0], [0])
    assert rows == (Row(3, 0.1, 0), Row(3, 1.0, 0), Row(1, 0.1, 0), Row(1, 1.0, 0))
    assert [len(b) for b in iter_batches(rows, 3)] == [3, 1]


# ----------------------------------------------------------------------------------------
# The method on phantom units with known optimal inputs


def test_linear_appearance_unit_is_recovered() -> None:
    model, desc = direction_model()
    result = visualize_layer(model, desc, "appearance/conv", [0], [1.0], [0], fast(steps=100), "cpu")[0]
    assert result.ok and result.loss[-1] < result.loss[0]
    patch = centre_patch(result.inputs["appearance"][:, 0])
    r = np.corrcoef(patch.ravel(), colour_kernel().numpy().ravel())[0, 1]
    assert r >= 0.9


def flow_direction_degrees(flow_code: np.ndarray) -> float:
    f = centre_patch(flow_code[:, 0]) + 0.5  # back to a quantity proportional to pixels
    return math.degrees(math.atan2(f[1::2].mean(), f[0::2].mean()))


def test_flow_units_point_their_way() -> None:
    model, desc = direction_model()
    right, up = visualize_layer(model, desc, "motion/conv", [0, 1], [1.0], [0], fast(), "cpu")
    assert abs(flow_direction_degrees(right.inputs["motion"])) < 10
    assert abs(flow_direction_degrees(up.inputs["motion"]) - (-90)) < 10  # -y: up in image axes


def test_temporal_variation_falls_as_chi_rises() -> None:
    mot = torch.zeros(1, 2 * FIELDS, 5, 5)
    mot[0, 0::2] = 0.01 * torch.tensor([1.0, -1.0, 1.0, -1.0]).view(FIELDS, 1, 1)  # a flicker detector
    desc = ModelDescription(
        "flicker",
        (InputSpec("appearance", "rgb", 3, 1, 12, 12), flow_spec(12)),
        (LayerInfo("motion/conv", "mot", "conv2d", 1, 1, 5, 1, ("motion",)),),
        (),
    )
    model = TwoStream(torch.zeros(1, 3, 5, 5), mot)
    chis = [0.01, 1.0, 10.0, 100.0, 1000.0]
    results = visualize_layer(model, desc, "motion/conv", [0], chis, [0], fast(steps=100), "cpu")
    variation = [r.terms["temporal_variation/motion"] for r in results]
    assert all(a > 1.4 * b for a, b in zip(variation, variation[1:])), variation


def test_large_chi_does_not_stall_a_unit_that_steady_flow_drives_fully() -> None:
    """A unit that sums u over fields 1 and 3: steady flow at the norm bound reaches the same
    activation as any flickering flow, so the optimum is the same at every chi. The DCT basis
    gets there at chi = 1e4 as at chi = 0.01; with pixels the chi term throttles every step."""
    mot = torch.zeros(1, 2 * FIELDS, 5, 5)
    mot[0, 0::4] = 0.02
    desc = ModelDescription(
        "steady",
        (InputSpec("appearance", "rgb", 3, 1, 12, 12), flow_spec(12)),
        (LayerInfo("motion/conv", "mot", "conv2d", 1, 1, 5, 1, ("motion",)),),
        (),
    )
    model = TwoStream(torch.zeros(1, 3, 5, 5), mot)
    reached = {}
    for basis in ("dct", "pixel"):
        free, stiff = visualize_layer(
            model, desc, "motion/conv", [0], [0.01, 1e4], [0], fast(steps=300, temporal_basis=basis), "cpu"
        )
        reached[basis] = stiff.activation / free.activation
        assert stiff.terms["temporal_variation/motion"] < 0.01 * free.terms["temporal_variation/motion"]
    assert reached["dct"] > 0.97, reached
    assert reached["pixel"] < 0.9, reached


def test_forward_is_cut_and_the_model_is_untouched() -> None:
    model, desc = direction_model()
    model.tail_raises = True
    before = {k: v.clone() for k, v in model.state_dict().items()}
    results = visualize_layer(model, desc, "motion/conv", [0, 1], [1.0], [0], fast(steps=5), "cpu")
    assert all(r.ok for r in results)
    assert all(p.grad is None and p.requires_grad for p in model.parameters())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert model.relu.negative_slope == 0.0 and model.training


def test_a_non_finite_row_fails_alone() -> None:
    class Broken(TwoStream):
        def forward(self, app: torch.Tensor, mot: torch.Tensor) -> torch.Tensor:
            out = self.mot(fold(mot)).clone()
            out[:, 1] = float("nan")  # unit 1 is broken, unit 0 is fine
            return out

    model, desc = direction_model()
    broken = Broken(model.app.weight.detach(), model.mot.weight.detach())
    desc = ModelDescription(
        desc.name, desc.inputs, (LayerInfo("motion/out", "", "conv2d", 2, 1, 9, 1, ("motion",)),), ()
    )
    good, bad = visualize_layer(broken, desc, "motion/out", [0, 1], [1.0], [0], fast(steps=10), "cpu")
    assert good.ok and math.isfinite(good.activation) and np.isfinite(good.inputs["motion"]).all()
    assert bad.status == "failed: non-finite values at step 0"
    assert np.isfinite(bad.inputs["motion"]).all()  # frozen at its last finite values


def test_results_are_deterministic_and_independent_of_batching() -> None:
    model, desc = direction_model()
    settings = fast(steps=15)
    args = (model, desc, "motion/conv", [0, 1], [0.5, 5.0], [0, 1])
    batched = visualize_layer(*args, settings.replace(batch_size=8), "cpu")
    again = visualize_layer(*args, settings.replace(batch_size=8), "cpu")
    single = visualize_layer(*args, settings.replace(batch_size=1), "cpu")
    assert [(r.unit, r.chi, r.seed) for r in batched] == [(r.unit, r.chi, r.seed) for r in single]
    for a, b, c in zip(batched, again, single):
        assert np.array_equal(a.inputs["motion"], b.inputs["motion"]) and np.array_equal(a.loss, b.loss)
        assert np.allclose(a.inputs["motion"], c.inputs["motion"], atol=1e-2)
        assert a.activation == pytest.approx(c.activation, rel=1e-4)
    assert not np.array_equal(batched[0].inputs["motion"], batched[1].inputs["motion"])  # seeds differ
    # a chi sweep starts from the same noise and jitter: only chi differs between its rows
    kwargs = dict(steps=5, bound=80.0, jitter=2, scale_range=0.0, rotation_degrees=0.0)
    slow, quick = (draw_row_noise("motion/conv", Row(0, chi, 0), desc.inputs, **kwargs) for chi in (0.5, 5.0))
    assert all(torch.equal(a, b) for a, b in zip(slow.init, quick.init)) and torch.equal(
        slow.shifts, quick.shifts
    )


def test_progress_rho_and_result_fields() -> None:
    model, desc = direction_model()
    done: list[int] = []
    prepared = prepare_model(model, fast(), "cpu")
    results = visualize_layer(
        prepared,
        desc,
        "motion/conv",
        [0, 1],
        [1.0, 2.0],
        [0],
        fast(steps=6, batch_size=3),
        "cpu",
        unit_scale={0: 50.0, 1: float("nan")},
        progress=done.append,
    )
    assert done == [3, 1]
    first, last = results[0], results[-1]
    assert first.rho == 50.0 and last.rho == 1.0
    assert first.normalized_activation == pytest.approx(first.activation / 50.0)
    assert first.loss.dtype == np.float32 and first.loss.shape == (6,) and first.steps == 6
    assert (
        first.inputs["motion"].shape == (2 * FIELDS, 1, 17, 17)
        and first.inputs["appearance"].dtype == np.float32
    )
    assert set(first.terms) >= {
        "objective_term",
        "alpha/motion",
        "stv/appearance",
        "temporal_variation/motion",
    }
    assert first.wall_time > 0


@pytest.mark.parametrize("preset", ["fourier", "robust"])
def test_extra_presets_increase_the_objective(preset: str) -> None:
    model, desc = direction_model()
    settings = PRESETS[preset](steps=40)
    for layer in ("appearance/conv", "motion/conv"):
        result = visualize_layer(model, desc, layer, [0], [1.0], [0], settings, "cpu")[0]
        assert result.ok and result.preset == preset
        assert result.loss[-1] < result.loss[0] - 100 and result.activation > 100


class VideoNet(nn.Module):
    """A single-input 3D network (torchvision-like): conv3d -> relu -> pool -> fc."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv3d(3, 4, 3, padding=1)
        self.relu = nn.ReLU()
        self.fc = nn.Linear(4, 5)

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        return self.fc(self.relu(self.conv(video)).mean((2, 3, 4)))


def test_single_input_video_network() -> None:
    torch.manual_seed(0)
    model = VideoNet()
    spec = InputSpec("video", "rgb", 3, 4, 12, 12, (110.0, 100.0, 96.0))
    desc = ModelDescription(
        "video",
        (spec,),
        (
            LayerInfo("conv1", "conv", "conv3d", 4, 1, 3, 1, ("video",)),
            LayerInfo("class", "", "class", 5, 1, 12, 2, ("video",), tuple("abcde")),
        ),
        tuple("abcde"),
    )
    for layer in ("conv1", "class"):
        results = visualize_layer(model, desc, layer, [0, 3], [0.1, 10.0], [0], fast(steps=20), "cpu")
        assert all(r.ok and r.loss[-1] < r.loss[0] for r in results)
        assert results[0].inputs["video"].shape == (3, 4, 12, 12)
        # chi acts on the T frames of an RGB clip
        assert results[0].terms["temporal_variation/video"] > results[1].terms["temporal_variation/video"]
    assert isinstance(model.relu, nn.ReLU)  # the caller's model keeps its plain ReLUs


def test_rows_differing_only_in_chi_share_the_network_and_match_separate_runs() -> None:
    """An appearance-tower unit cannot see chi: its chi rows run the network once, with equal results."""
    from generator.zoo import load

    loaded = load("default")
    settings = EngineSettings(steps=12, batch_size=8)
    layer = "appearance/conv2_1"
    # Count the rows (clips x snippets) that reach the layer: the engine's copy of the network
    # keeps the hook (prepare_model deep-copies the module with its hooks).
    seen = []
    target = loaded.model.get_submodule(loaded.description.layer(layer).module)
    handle = target.register_forward_pre_hook(lambda module, args: seen.append(args[0].shape[0]))
    try:
        together = visualize_layer(
            loaded.model, loaded.description, layer, [0, 3], [1.0, 100.0], [0, 1], settings, "cpu"
        )
        rows_together, seen[:] = sum(seen), []
        alone_runs = []
        for result in together:
            alone_runs.append(
                visualize_layer(
                    loaded.model,
                    loaded.description,
                    layer,
                    [result.unit],
                    [result.chi],
                    [result.seed],
                    settings,
                    "cpu",
                )[0]
            )
        rows_alone = sum(seen)
    finally:
        handle.remove()
    # 8 rows (2 units x 2 chis x 2 seeds) share 4 networks (unit x seed): half the rows of separate runs.
    assert rows_alone > 0 and rows_together * 2 == rows_alone
    for result, alone in zip(together, alone_runs):
        for name, value in alone.inputs.items():
            np.testing.assert_allclose(result.inputs[name], value, rtol=1e-4, atol=1e-3)
        np.testing.assert_allclose(result.loss, alone.loss, rtol=1e-4, atol=1e-4)
        assert result.activation == pytest.approx(alone.activation, rel=1e-4, abs=1e-5)
    # The flow the unit does not see is still shaped by each row's own chi.
    by_chi = {r.chi: r.terms["temporal_variation/motion"] for r in together if r.unit == 0 and r.seed == 0}
    assert by_chi[100.0] < by_chi[1.0]


# ----------------------------------------------------------------------------------------
# Streams couple through the fused unit's ReLU (method.md: the rectified objective)


class FusedPixel(nn.Module):
    """A 1x1 fusion convolution over [appearance | motion] channels, then a ReLU.

    Its unit is z = brightness + flicker - 200, with brightness = (r + g + b) / sqrt(3) and
    flicker = u1 - u2 + u3 - u4. Appearance alone (norm <= 160 per pixel) cannot open the
    ReLU; flickering flow can, and small chi allows it while large chi forbids it. Where
    the ReLU is open the appearance gets the full gradient, elsewhere 0.05 of it: the
    optimised appearance depends on chi through the ReLU alone."""

    def __init__(self) -> None:
        super().__init__()
        self.fuse = nn.Conv2d(3 + 2 * FIELDS, 1, 1)
        with torch.no_grad():
            self.fuse.weight.zero_()
            self.fuse.weight[0, :3] = 1 / math.sqrt(3)
            self.fuse.weight[0, 3::2] = torch.tensor([1.0, -1.0, 1.0, -1.0]).view(FIELDS, 1, 1)
            self.fuse.bias.fill_(-200.0)
        self.relu = ReLU()

    def forward(self, app: torch.Tensor, mot: torch.Tensor) -> torch.Tensor:
        return self.relu(self.fuse(torch.cat([fold(app), fold(mot)], dim=1))).mean((2, 3))


def fused_description(rectified: bool) -> ModelDescription:
    rgb = InputSpec("appearance", "rgb", 3, 1, 9, 9, (123.68, 116.78, 103.94))
    layer = LayerInfo(
        "fusion/fuse", "fuse", "conv2d", 1, 1, 1, 1, ("appearance", "motion"), rectified=rectified
    )
    return ModelDescription("fused", (rgb, flow_spec(9)), (layer,), ())


def test_a_fused_unit_couples_the_streams_through_its_relu() -> None:
    from generator.measures.coupling import appearance_change

    chis = [0.01, 1e4]
    change = {}
    for rectified in (True, False):
        results = visualize_layer(
            FusedPixel(), fused_description(rectified), "fusion/fuse", [0], chis, [0], fast(steps=150), "cpu"
        )
        assert all(r.ok for r in results)
        flicker = [r.terms["temporal_variation/motion"] for r in results]
        assert flicker[0] > 10 * flicker[1]  # chi did change the motion
        change[rectified] = appearance_change({r.chi: r.inputs["appearance"] for r in results})
    # Rectified: the flicker that small chi allows opens the ReLU and the appearance follows.
    assert change[True] > 0.1, change
    # Linear (no ReLU follows): the objective splits into appearance + motion parts, so the
    # appearance is the same at every chi.
    assert change[False] < 1e-6, change


def test_objective_rectifies_before_reducing() -> None:
    fusion = LayerInfo("f/c", "f", "conv3d", 2, 4, 9, 2, ("a", "m"))
    cube = torch.tensor([-3.0, 1.0]).view(1, 1, 2, 1, 1).expand(1, 2, 2, 1, 1).contiguous()
    objective = unit_objective(fusion, "centre", torch.tensor([1]))
    assert objective(cube, 0.0).tolist() == [0.5]  # mean of relu, not relu of the mean (0)
    assert objective(cube, 0.1).tolist() == pytest.approx([(-0.3 + 1.0) / 2])
    scores = LayerInfo("class", "s", "class", 2, 1, 9, 3, ("a",))
    assert unit_objective(scores, "centre", torch.tensor([0]))(torch.tensor([[-4.0, 1.0]]), 0.0).tolist() == [
        -4.0
    ]


def test_per_stream_views_hold_the_other_input_at_its_mean() -> None:
    """Holding the motion at zero flow leaves the appearance alone to drive the fused unit (it
    cannot open the ReLU: brightness <= 160 < 200) and makes chi irrelevant; holding the
    appearance at its mean frame leaves the flicker alone, which can (up to 320)."""
    desc = fused_description(rectified=True)
    chis = [0.01, 1e4]
    settings = fast(steps=150)
    appearance_only = visualize_layer(
        FusedPixel(), desc, "fusion/fuse", [0], chis, [0], settings, "cpu", hold=["motion"]
    )
    motion_only = visualize_layer(
        FusedPixel(), desc, "fusion/fuse", [0], chis, [0], settings, "cpu", hold=["appearance"]
    )
    for result in appearance_only:
        assert not result.inputs["motion"].any() and result.inputs["appearance"].any()
        assert result.activation == 0.0  # the unit's real ReLU stays shut
    np.testing.assert_array_equal(
        appearance_only[0].inputs["appearance"], appearance_only[1].inputs["appearance"]
    )
    for result in motion_only:
        assert not result.inputs["appearance"].any() and result.inputs["motion"].any()
    assert (
        motion_only[0].activation > 50 and motion_only[1].activation == 0.0
    )  # flicker only where chi allows it
    with pytest.raises(ConfigError, match="hold"):
        visualize_layer(
            FusedPixel(), desc, "fusion/fuse", [0], chis, [0], settings, "cpu", hold=["appearance", "motion"]
        )


def test_a_unit_that_starts_off_is_driven_on_with_the_networks_own_relus() -> None:
    """With the network's own ReLUs throughout (leaky_fraction 0), the fused unit starts shut
    (see below). Its own ReLU would pass no gradient; the objective's
    rectification leaks during optimisation, so the appearance still learns to open it, and
    the activation is then measured through the real ReLU."""
    model = FusedPixel()
    with (
        torch.no_grad()
    ):  # brightness x 2 (<= 320), minus 180: the noise (<= 3 x 48 per pixel) cannot open it
        model.fuse.weight[0, :3] *= 2
        model.fuse.bias.fill_(-180.0)
    result = visualize_layer(
        model,
        fused_description(True),
        "fusion/fuse",
        [0],
        [1.0],
        [0],
        fast(steps=100, leaky_fraction=0.0),
        "cpu",
        hold=["motion"],
    )[0]
    assert result.activation > 10.0, result.activation


def test_roll_rows_keeps_a_channels_last_clip_channels_last() -> None:
    """The network's inputs are converted to channels-last once per batch, not at every step."""
    x = torch.randn(3, 4, 2, 9, 7).contiguous(memory_format=torch.channels_last_3d)
    shifts = torch.tensor([[1, 2], [0, -1], [2, 2]])
    out = roll_rows(x, shifts)
    assert out.is_contiguous(memory_format=torch.channels_last_3d)
    assert torch.equal(out, roll_rows(x.contiguous(), shifts))
