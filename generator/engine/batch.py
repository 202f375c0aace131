"""The optimisation loop: many (unit, chi, seed) rows of one layer per forward/backward pass.

One batch row is one problem. Per step: render the inputs from the parameterization,
transform the whole clip coherently (jitter; scale/rotation for "robust"), run the
network up to the target layer (the forward is cut there), take each row's activation,
add each input's regularisers with that row's chi, differentiate the summed energy with
respect to the optimised tensors only (no parameter gradients), update with the paper's
optimiser and project onto the norm ball.

Inputs outside the layer's LayerInfo.streams are optimised too, as in the paper's joint
formulation: the objective's gradient for them is exactly zero, so only their
regularisers act and every result holds all inputs. They enter the network detached, so
the towers they feed run forward (the model's forward needs them) but are not recorded
for backward.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from generator.engine.objectives import UnitObjective, unit_objective
from generator.engine.optimizer import MomentumState, learning_rate, masked_momentum_step
from generator.engine.parameterization import (
    Parameterization,
    ParameterizationFactory,
    build_custom,
    make_parameterization,
)
from generator.engine.plan import (
    Row,
    RowMoves,
    draw_initial_inputs,
    draw_row,
)
from generator.engine.regularizers import regularizer_terms, temporal_variation
from generator.engine.results import VisualizationResult
from generator.engine.runtime import (
    PreparedModel,
    autocast,
    numerics,
    own_relus,
    to_layout,
    use_bf16,
)
from generator.engine.settings import EngineSettings
from generator.engine.sharing import RowSharing, network_rows, row_sharing
from generator.engine.transforms import jitter_radius, transform_inputs
from generator.engine.truncate import TruncatedNetwork
from generator.zoo.spec import LayerInfo, ModelDescription


@dataclasses.dataclass
class _RunState:
    """Mutable per-batch bookkeeping of the loop (private to one batch run)."""

    moments: list[MomentumState]
    alive: Tensor  # (B,) bool: rows still optimised
    failed_at: Tensor  # (B,) long: step of the first non-finite value, -1 if none
    losses: Tensor  # (steps, B) float32 energy per step

    @staticmethod
    def start(param: Parameterization, rows: int, steps: int, device: torch.device) -> _RunState:
        return _RunState(
            moments=[MomentumState.zeros_like(p) for p in param.tensors],
            alive=torch.ones(rows, dtype=torch.bool, device=device),
            failed_at=torch.full((rows,), -1, dtype=torch.long, device=device),
            losses=torch.zeros(steps, rows, dtype=torch.float32, device=device),
        )


class BatchRunner:
    """Solves one batch of rows; holds what all batches of one layer share."""

    def __init__(
        self,
        prepared: PreparedModel,
        description: ModelDescription,
        info: LayerInfo,
        settings: EngineSettings,
        rhos: Mapping[int, float],
        hold: frozenset[str] = frozenset(),
        parameterization: ParameterizationFactory | None = None,
    ) -> None:
        self.prepared = prepared
        self.custom = parameterization
        self.held = [spec.name in hold for spec in description.inputs]
        self.specs = description.inputs
        self.info = info
        self.settings = settings
        self.rhos = rhos
        self.radius = jitter_radius(description, info)
        self.bf16 = use_bf16(settings, prepared.device)
        self.affine = settings.scale_range > 0 or settings.rotation_range > 0
        # Inputs the layer does not depend on (LayerInfo.streams) enter the network detached:
        # their objective gradient is exactly zero, so autograd need not record (and keep
        # the activations of) the towers they feed. They are still optimised, by their
        # regularisers alone. An empty streams tuple means "unknown": nothing is detached.
        # With settings.compile the element-wise work of a step (regularisers and their
        # gradients, the update) is compiled too; on a GPU it otherwise costs a memory pass
        # per operation, comparable to the convolutions of a large network.
        # One compiled copy per input (and layer: the weights depend on its kind): an input's
        # spec and learning rate are constants of its graph.
        self._regularize = [
            prepared.function(("regularize", info.name, s.name), regularizer_terms) for s in self.specs
        ]
        self._update = [
            prepared.function(("update", info.name, s.name), masked_momentum_step) for s in self.specs
        ]
        # The final evaluation runs once per batch (no gradient, own ReLUs): eagerly, so that
        # it adds no graph to compile.
        self._eager = TruncatedNetwork(prepared.module, info.module)
        streams = set(info.streams)
        self.feeds = [not streams or spec.name in streams for spec in self.specs]
        self.lam_alpha = [settings.lam_alpha(s.kind) for s in self.specs]
        self.lam_tv = [settings.lam_tv(s.kind) for s in self.specs]
        self.lrs = [
            learning_rate(
                s.height, s.width, lr_scale=settings.lr_scale, bound=settings.bound, alpha=settings.alpha
            )
            for s in self.specs
        ]

    def __call__(
        self, rows: Sequence[Row], steps: int | None = None, eager: bool = False
    ) -> list[VisualizationResult]:
        """Solve ``rows`` in one batch (``steps`` overrides the settings'; ``eager``: never compiled)."""
        with numerics(self.prepared.device, self.bf16):
            return self._solve(rows, steps, eager)

    def _solve(self, rows: Sequence[Row], steps: int | None, eager: bool) -> list[VisualizationResult]:
        started = time.perf_counter()
        steps = self.settings.steps if steps is None else steps
        device = self.prepared.device
        moves = [self._draw(row) for row in rows]
        param = self._parameterization(rows, device)
        shifts = torch.stack([n.shifts for n in moves], dim=1).to(device) if self.settings.jitter else None
        scales = torch.stack([n.scales for n in moves], dim=1).to(device)
        angles = torch.stack([n.angles for n in moves], dim=1).to(device)
        chi = torch.tensor([row.chi for row in rows], dtype=torch.float32, device=device)
        weight = torch.tensor([1.0 / self.rhos[row.unit] for row in rows], dtype=torch.float32, device=device)
        units = torch.tensor([row.unit for row in rows], dtype=torch.long, device=device)
        share = self._shared_rows(rows, moves, device)
        objective = unit_objective(
            self.info, self.settings.objective, units if share is None else units[share.reps]
        )

        state = _RunState.start(param, len(rows), steps, device)
        leaky_steps = leaky_step_count(self.settings, steps)
        # The target's own rectification leaks in both phases: when the switch to the network's
        # own ReLUs turns a whole channel off, a plain ReLU there would leave no gradient to turn
        # it back on. Once it is on the two agree; the reported activation uses the own slope.
        # The objective rectifies the truncated network's response outside the compiled graph,
        # so the float slope adds no recompilation.
        leaky, own = self.settings.leaky_slope, self.info.own_slope

        def step(k: int) -> None:
            view_args = (
                shifts[k] if shifts is not None else None,
                scales[k] if self.affine else None,
                angles[k] if self.affine else None,
            )
            self._step(k, param, state, view_args, objective, weight, chi, share, leaky, eager)

        # The phase switches once per batch (PhaseReLU: no recompilation in between).
        for k in range(leaky_steps):
            step(k)
        with own_relus(self.prepared):
            for k in range(leaky_steps, steps):
                step(k)
        with torch.no_grad():
            xs = self._inputs(param)
            energy, terms = self._energy(
                self._eager, xs, xs, objective, weight, chi, share, leaky, eager=True
            )
            with own_relus(self.prepared), autocast(device, self.bf16):
                net_in = [to_layout(x, self.prepared.channels_last) for x in network_rows(xs, share)]
                own_act = objective(self._eager(*net_in), own)
                own_act = own_act if share is None else own_act[share.group]
            for spec, x in zip(self.specs, xs):
                terms[f"temporal_variation/{spec.name}"] = temporal_variation(x.float(), spec)
        # A row whose final evaluation is not finite fails "at step <steps>".
        final_ok = torch.isfinite(energy) & torch.isfinite(own_act)
        failed_at = torch.where((state.failed_at < 0) & ~final_ok, steps, state.failed_at)
        return self._results(rows, xs, state.losses, energy, own_act, terms, failed_at, steps, started)

    # ----------------------------------------------------------------------------------
    def _step(
        self,
        k: int,
        param: Parameterization,
        state: _RunState,
        view_args: tuple[Tensor | None, Tensor | None, Tensor | None],
        objective: UnitObjective,
        weight: Tensor,
        chi: Tensor,
        share: RowSharing | None,
        slope: float,
        eager: bool = False,
    ) -> None:
        """One optimisation step for every row; rows that turn non-finite are frozen.
        ``slope``: the negative slope of the activations in this phase."""
        s = self.settings
        tensors = list(param.tensors)
        xs = self._inputs(param)
        view = transform_inputs(xs, self.specs, *view_args)
        network = self._eager if eager else self._network
        energy, _ = self._energy(network, xs, view, objective, weight, chi, share, slope, eager)
        finite = torch.isfinite(energy)
        # Only the optimised tensors are differentiated: no parameter gradient exists.
        grads = torch.autograd.grad(
            torch.where(state.alive & finite, energy, 0.0).sum(), tensors, allow_unused=True
        )
        grads = [torch.zeros_like(p) if g is None else g for p, g in zip(tensors, grads)]
        ok = state.alive & finite
        for g in grads:
            ok = ok & torch.isfinite(g).flatten(1).all(dim=1)
        # Bookkeeping stays on the device (torch.where, no .item()): no host sync per step.
        state.failed_at = torch.where(state.alive & ~ok, k, state.failed_at)
        state.alive = ok
        with torch.no_grad():
            for i, (p, g) in enumerate(zip(tensors, grads)):
                keep = ok.view(-1, *([1] * (p.ndim - 1)))
                # Failed rows stay frozen at their last finite values.
                update = masked_momentum_step if eager else self._update[i]
                new_p, velocity, accum = update(
                    _plain(p),
                    g,
                    state.moments[i].velocity,
                    state.moments[i].accum,
                    keep,
                    lr=self.lrs[i],
                    momentum=s.momentum,
                    decay=s.rms_decay,
                )
                state.moments[i] = MomentumState(velocity, accum)
                p.copy_(new_p)
            if s.norm_projection:
                param.project(2.0 * s.bound)
            if share is not None:
                for i, p in enumerate(tensors):
                    if self.feeds[i]:
                        p[share.copies] = p[share.sources]
                        moment = state.moments[i]
                        state.moments[i] = MomentumState(
                            moment.velocity.index_copy(0, share.copies, moment.velocity[share.sources]),
                            moment.accum.index_copy(0, share.copies, moment.accum[share.sources]),
                        )
            state.losses[k] = energy.detach()

    def _inputs(self, param: Parameterization) -> list[Tensor]:
        """The rendered inputs, with held inputs at zero (so they get no gradient and stay there)."""
        return [torch.zeros_like(x) if held else x for x, held in zip(param(), self.held)]

    def _shared_rows(
        self, rows: Sequence[Row], moves: Sequence[RowMoves], device: torch.device
    ) -> RowSharing | None:
        """Row sharing (see :class:`RowSharing`) when no input the layer sees has a time axis."""
        seen = [spec for fed, held, spec in zip(self.feeds, self.held, self.specs) if fed and not held]
        if not seen or any(spec.temporal for spec in seen):
            return None
        return row_sharing(self.info.name, rows, moves, device)

    def _draw(self, row: Row) -> RowMoves:
        s = self.settings
        return draw_row(
            self.info.name,
            row,
            steps=s.steps,
            jitter=self.radius,
            scale_range=s.scale_range,
            rotation_degrees=s.rotation_range,
        )

    def _parameterization(self, rows: Sequence[Row], device: torch.device) -> Parameterization:
        """The batch's parameterization, started from the rows' noise (drawn on ``device``).
        Pixels are kept channels-last when the network runs so: the inputs are then converted
        once per batch, not at every step."""
        s = self.settings
        init = [
            to_layout(x, self.prepared.channels_last)
            for x in draw_initial_inputs(self.info.name, rows, self.specs, s.bound, device)
        ]
        if self.custom is not None:
            return build_custom(self.custom, self.specs, init).to(device)
        return make_parameterization(
            s.parameterization,
            self.specs,
            init,
            spatial_decay=s.spatial_decay,
            temporal_decay=s.temporal_decay,
            decorrelate_colour=s.decorrelate_colour,
        ).to(device)

    def _network(self, *inputs: Tensor) -> Tensor:
        """The response of the network cut at the layer (compiled with the settings)."""
        return self.prepared.network(self.info.module)(*inputs)

    def _energy(
        self,
        network: Callable[..., Tensor],
        xs: Sequence[Tensor],
        view: Sequence[Tensor],
        objective: UnitObjective,
        weight: Tensor,
        chi: Tensor,
        share: RowSharing | None,
        slope: float,
        eager: bool = False,
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """E = -w a(view) + sum over inputs of the regularisers of xs (the un-transformed clip),
        with a the rectified response whose activation leaks with ``slope``.

        With ``share`` the network sees the representative rows only; every row gets its
        representative's activation, differentiable in the representative alone (so its
        seen inputs get the objective gradient once, as in a separate run). ``eager``: the
        regularisers run uncompiled (the final evaluation, the sizing probe)."""
        net_in = [
            to_layout(_plain(x) if self.feeds[i] else _plain(x.detach()), self.prepared.channels_last)
            for i, x in enumerate(network_rows(view, share))
        ]
        with autocast(self.prepared.device, self.bf16):
            response = network(*net_in)
        act = objective(response, slope)
        if share is not None:
            act = torch.where(share.is_rep, act[share.group], act[share.group].detach())
        objective_term = weight * act
        energy = -objective_term
        terms: dict[str, Tensor] = {"objective_term": objective_term}
        for i, (spec, x) in enumerate(zip(self.specs, xs)):
            regularize = regularizer_terms if eager else self._regularize[i]
            r_alpha, r_tv = regularize(
                _plain(x),
                spec,
                chi,
                alpha=self.settings.alpha,
                beta=self.settings.beta,
                lam_alpha=self.lam_alpha[i],
                lam_tv=self.lam_tv[i],
            )
            energy = energy + r_alpha + r_tv
            terms[f"alpha/{spec.name}"] = r_alpha
            terms[f"stv/{spec.name}"] = r_tv
        return energy, terms

    def _results(
        self,
        rows: Sequence[Row],
        xs: Sequence[Tensor],
        losses: Tensor,
        energy: Tensor,
        activation: Tensor,
        terms: Mapping[str, Tensor],
        failed_at: Tensor,
        steps: int,
        started: float,
    ) -> list[VisualizationResult]:
        inputs = [x.detach().float().cpu().numpy() for x in xs]
        losses_np = losses.detach().cpu().numpy().T
        energy_np = energy.detach().float().cpu().numpy()
        act_np = activation.detach().float().cpu().numpy()
        terms_np = {name: t.detach().float().cpu().numpy() for name, t in terms.items()}
        failed_np = failed_at.cpu().numpy()
        share = (time.perf_counter() - started) / len(rows)
        results = []
        for b, row in enumerate(rows):
            rho = self.rhos[row.unit]
            step = int(failed_np[b])
            results.append(
                VisualizationResult(
                    layer=self.info.name,
                    unit=row.unit,
                    chi=row.chi,
                    seed=row.seed,
                    preset=self.settings.preset,
                    inputs={spec.name: np.ascontiguousarray(x[b]) for spec, x in zip(self.specs, inputs)},
                    loss=np.ascontiguousarray(losses_np[b], dtype=np.float32),
                    objective=float(energy_np[b]),
                    activation=float(act_np[b]),
                    normalized_activation=float(act_np[b]) / rho,
                    rho=rho,
                    steps=steps,
                    wall_time=share,
                    status="ok" if step < 0 else f"failed: non-finite values at step {step}",
                    terms={name: float(v[b]) for name, v in terms_np.items()},
                )
            )
        return results


def _plain(x: Tensor) -> Tensor:
    """``x`` as a plain tensor (a view of a Parameter). TorchDynamo keeps the shapes of
    Parameters static, so every new batch size (a smaller last batch, a halved one) would
    compile the graphs again; a plain tensor's batch size becomes a variable at the first
    change (one recompilation, and one more for a batch of 1)."""
    return x.view_as(x) if isinstance(x, nn.Parameter) else x


def leaky_step_count(settings: EngineSettings, steps: int) -> int:
    """How many of the first ``steps`` run with leaky ReLUs (the rest use the network's own)."""
    return int(round(settings.leaky_fraction * steps))
