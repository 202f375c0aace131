"""Parameterizations: how the optimised tensors become the network's inputs.

Each is an ``nn.Module`` whose ``forward()`` renders every input of the model as
(B, C, T, H, W) float32 in network units, kept apart from the loop that optimises it.
``project`` enforces the paper's norm bound on the rendered pixels by changing the
module's own parameters (exactly, since every basis here is linear and invertible).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from generator.engine.optimizer import project_norm
from generator.errors import ConfigError
from generator.zoo.spec import InputSpec

# Square root of the ImageNet RGB colour covariance (found by SVD), columns normalized to
# a largest norm of 1: the "decorrelated colour" basis of Lucid and captum. Rows are R, G, B.
_COLOUR_SQRT = torch.tensor(
    [[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]], dtype=torch.float64
)
COLOUR_MATRIX = (_COLOUR_SQRT / _COLOUR_SQRT.norm(dim=0).max()).float()


class Parameterization(nn.Module):
    """Base: renders the inputs of one batch; subclasses own the optimised tensors.

    The contract the loop relies on (and a parameterization of one's own must keep):
    ``tensors`` holds the optimised tensors, one per model input in the order of ``specs``,
    each with the batch rows first (the loop steps each with that input's learning rate and
    freezes failed rows); ``forward()`` renders every input as (B, C, T, H, W) float32 in
    network units; ``project(radius)`` moves the tensors so that the rendered pixels keep
    the norm bound (called after every step when the settings' norm_projection is on).
    """

    def __init__(self, specs: Sequence[InputSpec]) -> None:
        super().__init__()
        self.specs = tuple(specs)
        self.tensors = nn.ParameterList()

    def forward(self) -> list[Tensor]:  # pragma: no cover - abstract
        raise NotImplementedError

    @torch.no_grad()
    def project(self, radius: float) -> None:  # pragma: no cover - abstract
        raise NotImplementedError


class PixelParameterization(Parameterization):
    """The paper's: the optimised tensors are the pixels themselves."""

    def __init__(self, specs: Sequence[InputSpec], init: Sequence[Tensor]) -> None:
        super().__init__(specs)
        for x in init:
            self.tensors.append(nn.Parameter(x.detach().clone().float()))

    def forward(self) -> list[Tensor]:
        return list(self.tensors)

    @torch.no_grad()
    def project(self, radius: float) -> None:
        for p, spec in zip(self.tensors, self.specs):
            p.copy_(project_norm(p, spec, radius))


def to_spectral_layout(x: Tensor, spec: InputSpec) -> Tensor:
    """(B, C, T, H, W) -> (B, G, S, N, H, W)-like layout whose last three dims are (time, H, W).

    RGB: (B, C, T, H, W) unchanged, time = the T frames. Flow: (B, 2, T, L, H, W), time =
    the L fields, one transform per component (u, v) and snippet.
    """
    if spec.kind != "flow":
        return x
    b, c, t, h, w = x.shape
    return x.reshape(b, c // 2, 2, t, h, w).permute(0, 2, 3, 1, 4, 5)


def from_spectral_layout(y: Tensor, spec: InputSpec) -> Tensor:
    """Inverse of :func:`to_spectral_layout`."""
    if spec.kind != "flow":
        return y
    b, g, t, l, h, w = y.shape
    return y.permute(0, 3, 1, 2, 4, 5).reshape(b, l * g, t, h, w)


def spectrum_weights(
    n_time: int, height: int, width: int, spatial_decay: float, temporal_decay: float
) -> Tensor:
    """1/f^ds (spatial) times 1/f^dt (temporal) amplitude weights of an rfftn spectrum, RMS 1.

    Frequencies are clamped below at one cycle per clip / per image side, as in Lucid,
    so the constant term does not dominate.
    """
    ft = torch.fft.fftfreq(n_time, dtype=torch.float64).abs().clamp_min(1.0 / n_time)
    fy = torch.fft.fftfreq(height, dtype=torch.float64)
    fx = torch.fft.rfftfreq(width, dtype=torch.float64)
    fs = (fy[:, None].square() + fx[None, :].square()).sqrt().clamp_min(1.0 / max(height, width))
    weights = ft.view(-1, 1, 1) ** (-temporal_decay) * fs.unsqueeze(0) ** (-spatial_decay)
    return (weights / weights.square().mean().sqrt()).float()


class FourierParameterization(Parameterization):
    """Spatiotemporal Fourier basis with 1/f decay and, for RGB, decorrelated colour.

    x = colour(irfftn(spectrum * weights)) over (time, H, W) with an orthonormal FFT. The
    optimiser works on the spectrum, so low frequencies move first (the 1/f weights) and
    colour changes follow natural-image statistics.
    """

    def __init__(
        self,
        specs: Sequence[InputSpec],
        init: Sequence[Tensor],
        *,
        spatial_decay: float,
        temporal_decay: float,
        decorrelate_colour: bool,
    ) -> None:
        super().__init__(specs)
        self._sizes: list[tuple[int, int, int]] = []
        self._colour: list[bool] = []
        for index, (spec, x) in enumerate(zip(self.specs, init)):
            n_time = spec.flow_fields if spec.kind == "flow" else x.shape[2]
            size = (n_time, x.shape[3], x.shape[4])
            self._sizes.append(size)
            self._colour.append(decorrelate_colour and spec.kind == "rgb" and x.shape[1] == 3)
            weights = spectrum_weights(*size, spatial_decay, temporal_decay).to(x.device)
            self.register_buffer(f"weights_{index}", weights, persistent=False)
            # Start from the paper's noise, coloured by the 1/f weights (not divided by them:
            # that would keep the white noise and only slow its removal).
            spectrum = torch.fft.rfftn(self._decorrelate(index, x.float()), dim=(-3, -2, -1), norm="ortho")
            self.tensors.append(nn.Parameter(torch.view_as_real(spectrum).clone()))
        self.register_buffer("colour", COLOUR_MATRIX.clone(), persistent=False)
        self.register_buffer("colour_inverse", torch.linalg.inv(COLOUR_MATRIX), persistent=False)

    def _weights(self, index: int) -> Tensor:
        return getattr(self, f"weights_{index}")

    def _mix(self, index: int, x: Tensor, matrix: Tensor | None) -> Tensor:
        if not self._colour[index] or matrix is None:
            return x
        return torch.einsum("ij,bj...->bi...", matrix.to(x.device), x)

    def _decorrelate(self, index: int, x: Tensor) -> Tensor:
        inverse = torch.linalg.inv(COLOUR_MATRIX) if self._colour[index] else None
        return to_spectral_layout(self._mix(index, x, inverse), self.specs[index])

    def render_one(self, index: int, tensor: Tensor) -> Tensor:
        spectrum = torch.view_as_complex(tensor) * self._weights(index)
        y = torch.fft.irfftn(spectrum, s=self._sizes[index], dim=(-3, -2, -1), norm="ortho")
        return self._mix(index, from_spectral_layout(y, self.specs[index]), self.colour)

    def forward(self) -> list[Tensor]:
        return [self.render_one(i, p) for i, p in enumerate(self.tensors)]

    @torch.no_grad()
    def project(self, radius: float) -> None:
        for index, (p, spec) in enumerate(zip(self.tensors, self.specs)):
            x = self.render_one(index, p)
            projected = project_norm(x, spec, radius)
            y = to_spectral_layout(self._mix(index, projected, self.colour_inverse), spec)
            spectrum = torch.fft.rfftn(y, dim=(-3, -2, -1), norm="ortho") / self._weights(index)
            p.copy_(torch.view_as_real(spectrum))


def temporal_dct_matrix(n: int) -> Tensor:
    """The orthonormal DCT-II matrix (n, n): row k is the k-th cosine over n time steps.

    It diagonalises the temporal variation term: the squared forward differences along a
    path of n steps (free ends) are a quadratic form whose eigenvectors are these rows,
    row 0 (the constant) with eigenvalue 0.
    """
    k = torch.arange(n, dtype=torch.float64)[:, None]
    i = torch.arange(n, dtype=torch.float64)[None, :]
    matrix = torch.cos(math.pi * (i + 0.5) * k / n) * math.sqrt(2.0 / n)
    matrix[0] /= math.sqrt(2.0)
    return matrix.float()


class TemporalDCTParameterization(Parameterization):
    """Pixels in space, an orthonormal DCT over time (the L fields of a flow stack, the T frames of a clip).

    *(choice, beyond the paper)* The rendered inputs, objective and regularisers are the
    paper's, and an orthonormal basis changes neither the problem nor its optimum; only the
    optimiser's per-element step normalization sees other coordinates. With pixels, each
    pixel's normalizer mixes the gradient of its constant-in-time part with the stiff
    chi-weighted temporal term, so at large chi every step shrinks and units that need
    many steps (deep ones) stall far below their optimum. In this basis the constant part
    (k = 0) is untouched by the temporal term and keeps its own step size. On the default
    model, deep units keep far more of their activation across chi in this basis than with
    pixels, and the first motion layer about as much (the figures are in
    bench/results/notes.md).
    """

    def __init__(self, specs: Sequence[InputSpec], init: Sequence[Tensor]) -> None:
        super().__init__(specs)
        for index, (spec, x) in enumerate(zip(self.specs, init)):
            n_time = spec.flow_fields if spec.kind == "flow" else x.shape[2]
            self.register_buffer(f"basis_{index}", temporal_dct_matrix(n_time).to(x.device), persistent=False)
            self.tensors.append(nn.Parameter(self._analyse(index, x.detach().float()).clone()))

    def _basis(self, index: int) -> Tensor:
        return getattr(self, f"basis_{index}")

    def _transform(self, index: int, x: Tensor, matrix: Tensor) -> Tensor:
        """Apply ``matrix`` (n_time, n_time) along the time axis of one input, layout kept."""
        if matrix.shape[0] == 1:
            return x  # one frame: the basis is the identity
        if self.specs[index].kind == "flow":
            # channels (u1, v1, ..., uL, vL): the L fields are the second axis of (B, L, rest),
            # so one batched matmul does it without a copy into another layout
            return (matrix @ x.reshape(x.shape[0], matrix.shape[0], -1)).reshape(x.shape)
        return torch.einsum("kn,bcnhw->bckhw", matrix, x)

    def _analyse(self, index: int, x: Tensor) -> Tensor:
        return self._transform(index, x, self._basis(index))

    def render_one(self, index: int, tensor: Tensor) -> Tensor:
        return self._transform(index, tensor, self._basis(index).T)

    def forward(self) -> list[Tensor]:
        return [self.render_one(i, p) for i, p in enumerate(self.tensors)]

    @torch.no_grad()
    def project(self, radius: float) -> None:
        for index, (p, spec) in enumerate(zip(self.tensors, self.specs)):
            p.copy_(self._analyse(index, project_norm(self.render_one(index, p), spec, radius)))


def make_parameterization(
    settings_parameterization: str,
    specs: Sequence[InputSpec],
    init: Sequence[Tensor],
    *,
    spatial_decay: float = 1.0,
    temporal_decay: float = 0.5,
    decorrelate_colour: bool = True,
) -> Parameterization:
    """The parameterization named ``settings_parameterization``: "pixel", "dct" (pixels with
    the time axis in the DCT basis) or "fourier"."""
    if settings_parameterization == "fourier":
        return FourierParameterization(
            specs,
            init,
            spatial_decay=spatial_decay,
            temporal_decay=temporal_decay,
            decorrelate_colour=decorrelate_colour,
        )
    if settings_parameterization == "dct":
        return TemporalDCTParameterization(specs, init)
    return PixelParameterization(specs, init)


ParameterizationFactory = Callable[[Sequence[InputSpec], Sequence[Tensor]], Parameterization]
"""Builds a batch's parameterization from the model's input specs and the rows' starting
inputs (B, C, T, H, W), e.g. a Parameterization subclass itself."""


def build_custom(
    factory: ParameterizationFactory, specs: Sequence[InputSpec], init: Sequence[Tensor]
) -> Parameterization:
    """``factory(specs, init)``, checked against the contract of :class:`Parameterization`."""
    param = factory(specs, init)
    if not isinstance(param, Parameterization):
        raise ConfigError(
            f"A parameterization must be a generator.engine.parameterization.Parameterization (an nn.Module "
            f"with tensors, forward() and project()); {factory!r} gave {type(param).__name__}."
        )
    if len(param.tensors) != len(specs):
        raise ConfigError(
            f"A parameterization holds one optimised tensor per model input ({len(specs)}: "
            f"{', '.join(spec.name for spec in specs)}); {type(param).__name__} holds {len(param.tensors)}."
        )
    rows = init[0].shape[0]
    if any(tensor.shape[0] != rows for tensor in param.tensors):
        raise ConfigError(
            f"{type(param).__name__}'s tensors must have the batch's {rows} rows first; they have "
            f"{[tuple(t.shape) for t in param.tensors]}."
        )
    return param
