"""The optimisation loop: many (unit, chi, seed) rows of one layer per forward/backward pass.

One batch row is one problem. Per step: render the inputs from the parameterisation,
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
import functools
import math
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from generator.engine.objectives import UnitObjective, unit_objective
from generator.engine.optimizer import MomentumState, learning_rate, masked_momentum_step
from generator.engine.parameterization import Parameterization, make_parameterization
from generator.engine.plan import (
    Row,
    RowMoves,
    draw_initial_inputs,
    draw_row,
    iter_batches,
    plan_rows,
    row_seed,
)
from generator.engine.regularizers import regularizer_terms, temporal_variation
from generator.engine.results import VisualizationResult
from generator.engine.runtime import (
    CPU_BATCH_SIZE,
    MAX_AUTO_BATCH,
    PreparedModel,
    autocast,
    available_cuda_memory,
    cuda_batch_size,
    numerics,
    own_relus,
    prepare_model,
    resolve_device,
    to_layout,
    use_bf16,
)
from generator.engine.settings import EngineSettings
from generator.engine.transforms import jitter_radius, transform_inputs
from generator.engine.truncate import TruncatedNetwork
from generator.errors import ConfigError, ModelError
from generator.zoo.spec import LayerInfo, ModelDescription

ProgressCallback = Callable[[int], None]


def visualize_layer(
    model: nn.Module | PreparedModel,
    description: ModelDescription,
    layer: str,
    units: Sequence[int],
    chis: Sequence[float],
    seeds: Sequence[int],
    settings: EngineSettings,
    device: torch.device | str,
    unit_scale: Mapping[int, float] | None = None,
    progress: ProgressCallback | None = None,
    hold: Sequence[str] = (),
) -> list[VisualizationResult]:
    """Visualise ``units`` of ``layer`` at every chi from every seed.

    ``hold`` names inputs held at zero, their data mean in network units (the mean frame of
    an RGB input, zero flow): only the other inputs are optimised, so a unit fed by several
    streams shows what each stream alone drives (a per-stream view). Held inputs are stored
    as zeros.

    Returns one result per (unit, chi, seed) in that nesting order (see plan_rows).
    ``unit_scale`` maps a unit to rho_u, its largest response on real data (w_u = 1/rho_u);
    a missing, non-finite or non-positive rho counts as 1 (a dead unit has no usable
    scale). ``progress`` is called after each batch with the number of rows it finished
    (an increment, so ``tqdm.update`` can be passed directly). ``model`` may be a
    PreparedModel from :func:`prepare_model` to reuse one device copy across layers.
    """
    info = description.layer(layer)
    units = _check_units(info, units)
    chis = _check_chis(chis)
    seeds = _check_seeds(seeds)
    rows = plan_rows(units, chis, seeds)
    if not rows:
        return []
    device = resolve_device(device)
    prepared = model if isinstance(model, PreparedModel) else prepare_model(model, settings, device)
    if prepared.device != device:
        raise ConfigError(
            f"The prepared model lives on {prepared.device}, but device {device} was requested."
        )
    if prepared.leaky_slope != settings.leaky_slope:
        raise ConfigError(
            f"The prepared model leaks with slope {prepared.leaky_slope}, but settings.leaky_slope is "
            f"{settings.leaky_slope}; prepare the model with the same settings."
        )
    rhos = {u: _effective_rho((unit_scale or {}).get(u)) for u in units}

    run = _BatchRunner(prepared, description, info, settings, rhos, _check_hold(description, hold))
    memory = prepared.memory  # what earlier calls learned about this layer, for the rest of the run
    if settings.batch_size is not None:
        size = settings.batch_size
    else:
        if info.name not in memory.batch_rows:
            memory.batch_rows[info.name] = _automatic_batch_size(run, rows)
        size = memory.batch_rows[info.name]
    size = min(size, memory.max_rows.get(info.name, size), len(rows))
    results: list[VisualizationResult] = []
    pending: deque[tuple[Row, ...]] = deque(iter_batches(rows, size))
    while pending:
        batch = pending.popleft()
        out_of_memory = False
        try:
            done = run(batch)
        except torch.cuda.OutOfMemoryError:
            if len(batch) == 1:
                raise
            out_of_memory = True
        if out_of_memory:
            # Handled outside the except block: the traceback, and with it the failed
            # batch's tensors, is gone before the cache is emptied and half the rows retried.
            if prepared.device.type == "cuda":
                torch.cuda.empty_cache()
            memory.max_rows[info.name] = max(1, len(batch) // 2)  # for every later call on this layer too
            remaining = [row for chunk in (batch, *pending) for row in chunk]
            pending = deque(iter_batches(remaining, memory.max_rows[info.name]))
            continue
        results.extend(done)
        if progress is not None:
            progress(len(batch))
    return results


def _automatic_batch_size(run: _BatchRunner, rows: Sequence[Row]) -> int:
    """Rows per batch for the layer of ``run`` when the settings leave it open.

    On CUDA one eager step of a two-row batch is measured once per layer and run, and the
    memory this process can still use is filled with rows like them (MAX_AUTO_BATCH at
    most); later calls on the layer reuse the answer (see RunMemory)."""
    device = run.prepared.device
    if device.type != "cuda":
        return CPU_BATCH_SIZE
    probe = rows[: min(2, len(rows))]
    torch.cuda.synchronize(device)
    base = torch.cuda.memory_allocated(device)
    torch.cuda.reset_peak_memory_stats(device)
    fits = True
    try:
        run(probe, steps=1, eager=True)
    except torch.cuda.OutOfMemoryError:
        fits = False
    if not fits:
        torch.cuda.empty_cache()
        return 1  # not even two rows fit; the loop re-raises if one does not
    per_row = (torch.cuda.max_memory_allocated(device) - base) / len(probe)
    return cuda_batch_size(per_row, available_cuda_memory(device), MAX_AUTO_BATCH)


def _check_units(info: LayerInfo, units: Sequence[int]) -> list[int]:
    checked = []
    for unit in units:
        if (
            isinstance(unit, bool)
            or not isinstance(unit, (int, np.integer))
            or not 0 <= int(unit) < info.units
        ):
            raise ModelError(
                f"Unit {unit!r} is out of range for layer {info.name!r}, which has units 0..{info.units - 1}."
            )
        checked.append(int(unit))
    return checked


def _check_hold(description: ModelDescription, hold: Sequence[str]) -> frozenset[str]:
    names = [spec.name for spec in description.inputs]
    unknown = [name for name in hold if name not in names]
    if unknown or len(set(hold)) >= len(names):
        raise ConfigError(
            f"Inputs to hold at their mean must be some (not all) of {', '.join(names)}; got {list(hold)!r}."
        )
    return frozenset(hold)


def _check_chis(chis: Sequence[float]) -> list[float]:
    values = [float(c) for c in chis]
    if any(not math.isfinite(c) or c < 0 for c in values):
        raise ConfigError(f"Every chi must be a finite number >= 0; got {list(chis)!r}.")
    return values


def _check_seeds(seeds: Sequence[int]) -> list[int]:
    if any(isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 0 for s in seeds):
        raise ConfigError(f"Seeds must be integers >= 0; got {list(seeds)!r}.")
    return [int(s) for s in seeds]


def _effective_rho(rho: float | None) -> float:
    if rho is None or not math.isfinite(rho) or rho <= 0:
        return 1.0
    return float(rho)


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


@dataclasses.dataclass(frozen=True)
class _Sharing:
    """Rows that differ only in chi, for a layer that no temporal input reaches.

    chi then only weighs the temporal variation of inputs the layer does not see, so the
    inputs it does see follow the same trajectory in all such rows (same noise, same jitter,
    same gradients). The network runs on one representative row per group, and after every
    step the representative's seen inputs and optimiser state are copied to the others;
    the unseen inputs of every row are still optimised by their own regularisers with their
    own chi. The results equal those of separate runs, at a fraction of the network cost.
    """

    reps: Tensor  # (R,) long: the representative rows
    group: Tensor  # (B,) long: the position in ``reps`` of each row's representative
    is_rep: Tensor  # (B,) bool
    copies: Tensor  # (D,) long: rows that are not representatives
    sources: Tensor  # (D,) long: their representatives (row indices)


def _sharing(
    layer: str, rows: Sequence[Row], moves: Sequence[RowMoves], device: torch.device
) -> _Sharing | None:
    """Groups of rows that can share the network, or None when every row needs its own."""
    position: dict[tuple[int, int], int] = {}  # (unit, seed) -> index into reps
    reps: list[int] = []
    group: list[int] = []
    for b, row in enumerate(rows):
        key = (row.unit, row.seed)
        if key not in position:
            position[key] = len(reps)
            reps.append(b)
        group.append(position[key])
    if len(reps) == len(rows):
        return None
    source = [reps[g] for g in group]  # each row's representative
    for b, rep in enumerate(source):
        # The seeds of a row exclude chi, so this holds; checked because sharing relies on it.
        # Equal row seeds mean equal starting noise (drawn from the seed alone).
        same = row_seed(layer, rows[b]) == row_seed(layer, rows[rep])
        moved = (
            torch.equal(getattr(moves[b], n), getattr(moves[rep], n)) for n in ("shifts", "scales", "angles")
        )
        if not same or not all(moved):
            return None
    copies = [b for b, rep in enumerate(source) if rep != b]
    as_long = functools.partial(torch.tensor, dtype=torch.long, device=device)
    return _Sharing(
        reps=as_long(reps),
        group=as_long(group),
        is_rep=torch.tensor([rep == b for b, rep in enumerate(source)], dtype=torch.bool, device=device),
        copies=as_long(copies),
        sources=as_long([source[b] for b in copies]),
    )


class _BatchRunner:
    """Solves one batch of rows; holds what all batches of one layer share."""

    def __init__(
        self,
        prepared: PreparedModel,
        description: ModelDescription,
        info: LayerInfo,
        settings: EngineSettings,
        rhos: Mapping[int, float],
        hold: frozenset[str] = frozenset(),
    ) -> None:
        self.prepared = prepared
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
                net_in = [to_layout(x, self.prepared.channels_last) for x in _network_rows(xs, share)]
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
        share: _Sharing | None,
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
    ) -> _Sharing | None:
        """Row sharing (see :class:`_Sharing`) when no input the layer sees has a time axis."""
        seen = [spec for fed, held, spec in zip(self.feeds, self.held, self.specs) if fed and not held]
        if not seen or any(spec.temporal for spec in seen):
            return None
        return _sharing(self.info.name, rows, moves, device)

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
        """The batch's parameterisation, started from the rows' noise (drawn on ``device``).
        Pixels are kept channels-last when the network runs so: the inputs are then converted
        once per batch, not at every step."""
        s = self.settings
        init = [
            to_layout(x, self.prepared.channels_last)
            for x in draw_initial_inputs(self.info.name, rows, self.specs, s.bound, device)
        ]
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
        share: _Sharing | None,
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
            for i, x in enumerate(_network_rows(view, share))
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


def _network_rows(xs: Sequence[Tensor], share: _Sharing | None) -> list[Tensor]:
    """The rows the network runs on: all of them, or the representatives when rows share it."""
    return list(xs) if share is None else [x[share.reps] for x in xs]


def leaky_step_count(settings: EngineSettings, steps: int) -> int:
    """How many of the first ``steps`` run with leaky ReLUs (the rest use the network's own)."""
    return int(round(settings.leaky_fraction * steps))


def visualize_rows(
    model: nn.Module | PreparedModel,
    description: ModelDescription,
    layer: str,
    rows: Sequence[Row],
    settings: EngineSettings,
    device: torch.device | str,
    unit_scale: Mapping[int, float] | None = None,
    hold: Sequence[str] = (),
) -> list[VisualizationResult]:
    """Solve exactly ``rows`` as one batch (no splitting); for planners that batch themselves
    (``hold``: as in :func:`visualize_layer`)."""
    info = description.layer(layer)
    _check_units(info, [r.unit for r in rows])
    _check_chis([r.chi for r in rows])
    device = resolve_device(device)
    prepared = model if isinstance(model, PreparedModel) else prepare_model(model, settings, device)
    rhos = {r.unit: _effective_rho((unit_scale or {}).get(r.unit)) for r in rows}
    return _BatchRunner(prepared, description, info, settings, rhos, _check_hold(description, hold))(rows)
