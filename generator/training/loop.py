"""The training loop of the recipe's stages: SGD with the step schedule, data parallel over torchrun
ranks (DistributedDataParallel), bf16 autocast on CUDA, a resume state every few minutes, a progress
bar and validation per epoch.

A run is a pure function of the configuration: every step seeds its own dropout from (seed, stage,
epoch, batch, rank) and every draw's augmentation from (seed, stage, epoch, clip), so a run killed
and resumed from its last resume state ends with the weights of an uninterrupted run.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from generator.config import RecipeConfig
from generator.store.atomic import write_bytes
from generator.training.data import EpochDraws, TrainingClips, draw_key, epoch_order
from generator.training.recipe import (
    STAGES,
    Stage,
    StageScores,
    learning_rate,
    set_dropout,
    set_trainable,
    stage_scores,
    trained_parameters,
)
from generator.zoo.fusion import TwoStreamFusionNet

RESUME_FORMAT = "atlas-train-resume/1"


@dataclass(frozen=True)
class Ranks:
    """This process's place among the data-parallel processes (1 process: rank 0 of 1)."""

    rank: int = 0
    world: int = 1

    @staticmethod
    def current() -> Ranks:
        if dist.is_available() and dist.is_initialized():
            return Ranks(dist.get_rank(), dist.get_world_size())
        return Ranks()


def stage_steps(clips: int, batch_size: int, epochs: int) -> int:
    return epochs * math.ceil(clips / batch_size)


# Settings that leave a run's steps as they are: a rerun with other values still resumes.
NOT_IN_RUN_KEY = ("loader_workers", "checkpoint_minutes")


def run_key(recipe: RecipeConfig, seed: int, clips: TrainingClips) -> str:
    """What fixes a run's steps (the recipe, the seed, the training clips): a resume state written by a
    run of another key belongs to another run."""
    settings = {k: v for k, v in recipe.model_dump(mode="json").items() if k not in NOT_IN_RUN_KEY}
    blob = json.dumps({"recipe": settings, "seed": seed, "clips": list(clips.clips.names)}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def read_resume(path: Path, key: str | None = None) -> dict | None:
    """The resume state at ``path`` of the run ``key`` (None if absent or another run's); read with
    weights_only (nothing but tensors and plain data)."""
    if not path.is_file():
        return None
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict) or state.get("format") != RESUME_FORMAT:
        return None
    return state if key is None or state.get("run") == key else None


def write_resume(
    path: Path,
    model: nn.Module,
    optimiser: torch.optim.Optimizer | None,
    position: dict,
    history: list[dict],
    elapsed: float,
    key: str = "",
) -> None:
    buffer = io.BytesIO()
    torch.save(
        {
            "format": RESUME_FORMAT,
            "run": key,
            "position": position,
            "history": history,
            "elapsed": elapsed,
            "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
            "optimiser": optimiser.state_dict() if optimiser is not None else None,
        },
        buffer,
    )
    write_bytes(path, buffer.getvalue())


def make_optimiser(recipe: RecipeConfig, parameters: list[nn.Parameter], lr: float) -> torch.optim.Optimizer:
    """SGD with momentum (the paper's), or AdamW for a small network trained from scratch."""
    if recipe.optimizer == "adamw":
        return torch.optim.AdamW(parameters, lr=lr, weight_decay=recipe.weight_decay)
    return torch.optim.SGD(parameters, lr=lr, momentum=recipe.momentum, weight_decay=recipe.weight_decay)


def _due(saved: float, minutes: float) -> bool:
    """Whether ``minutes`` have passed since the resume state was written at monotonic time ``saved``."""
    return time.monotonic() - saved >= minutes * 60


def stage_module(model: TwoStreamFusionNet, stage: Stage, ranks: Ranks, device: torch.device) -> nn.Module:
    """The stage's scores as a module; under torchrun wrapped in DistributedDataParallel, which
    averages the gradients of the parameters the stage trains across ranks during backward."""
    scores = StageScores(model, stage)
    if ranks.world == 1:
        return scores
    return DistributedDataParallel(
        scores, device_ids=[device.index] if device.type == "cuda" else None, broadcast_buffers=False
    )


def empty_share(clips: TrainingClips, snippets: int) -> tuple[torch.Tensor, ...]:
    """One all-zero sample in the draws' shapes: a rank whose share of a short last batch is empty
    runs it with zero weight, so that it still joins DDP's gradient averaging (with zeros)."""
    return tuple(torch.zeros(1, s.channels, snippets, s.height, s.width) for s in clips.inputs)


def _collate(samples: list[tuple]) -> tuple | None:
    if not samples:  # this rank's share of a short last batch is empty; it still joins the averaging
        return None
    inputs = [torch.stack([s[i] for s in samples]) for i in range(len(samples[0]) - 1)]
    return (*inputs, torch.tensor([s[-1] for s in samples], dtype=torch.long))


@torch.no_grad()
def stage_accuracy(
    model: TwoStreamFusionNet, stage: Stage | None, clips, device: torch.device, batch_size: int = 32
) -> float:
    """Top-1 accuracy of a stage's scores (the whole network's when ``stage`` is None) on ``clips``."""
    if clips is None or len(clips) == 0:
        return float("nan")
    model.eval()
    loader = DataLoader(clips, batch_size=batch_size, shuffle=False)
    right = 0
    for appearance, motion, labels in loader:
        appearance, motion = appearance.to(device), motion.to(device)
        scores = (
            model(appearance, motion) if stage is None else stage_scores(model, stage, appearance, motion)
        )
        right += int((scores.argmax(1).cpu() == labels).sum())
    return right / len(clips)


def fit(
    model: TwoStreamFusionNet,
    clips: TrainingClips,
    val,
    recipe: RecipeConfig,
    seed: int,
    resume: Path,
    device: torch.device,
    progress: bool = True,
    log: Callable[[str], None] = print,
    after_step: Callable[[int], None] | None = None,
) -> tuple[list[dict], float]:
    """Train ``model`` (in place, on ``device``) through the recipe's stages; (history, seconds trained).

    Continues from the resume state at ``resume`` when there is one. ``after_step(step)`` is called
    after every step and its resume state (a test stops a run there)."""
    ranks = Ranks.current()
    this_run = run_key(recipe, seed, clips)
    state = read_resume(resume, this_run)
    if state is None and read_resume(resume) is not None:
        log(f"{resume} is the resume state of a run with other settings or clips; training afresh")
    position = {"stage": 0, "epoch": 0, "batch": 0, "step": 0}
    history: list[dict] = []
    elapsed = 0.0
    if state is not None:
        model.load_state_dict(state["model"])
        position, history, elapsed = dict(state["position"]), list(state["history"]), float(state["elapsed"])
        log(
            f"resuming at stage {recipe.stages[position['stage']] if position['stage'] < len(recipe.stages) else 'end'}"
            f", epoch {position['epoch'] + 1}, batch {position['batch']}"
        )
    count, size = len(clips), recipe.batch_size
    batches = math.ceil(count / size)
    totals = [stage_steps(count, size, getattr(recipe, name).epochs) for name in recipe.stages]
    bar = tqdm(
        total=sum(totals) * size,
        initial=min(position["step"] * size, sum(totals) * size),
        unit="clip",
        unit_scale=True,
        desc="train",
        disable=not progress or ranks.rank != 0,
        dynamic_ncols=True,
    )
    autocast = recipe.bf16 and device.type == "cuda"
    loss_fn = nn.CrossEntropyLoss(reduction="sum")
    started, saved = time.monotonic(), time.monotonic()

    def save(position: dict, optimiser: torch.optim.Optimizer | None) -> float:
        """Rank 0 writes this run's resume state at ``position`` (every rank holds the same weights);
        the time it was written."""
        if ranks.rank == 0:
            write_resume(
                resume, model, optimiser, position, history, elapsed + time.monotonic() - started, this_run
            )
        return time.monotonic()

    for s, name in enumerate(recipe.stages):
        if s < position["stage"]:
            continue
        stage, settings = STAGES[name], getattr(recipe, name)
        set_trainable(model, stage)
        set_dropout(model, stage, settings.dropout)
        parameters = trained_parameters(model, stage)
        scorer = stage_module(model, stage, ranks, device)
        optimiser = make_optimiser(recipe, parameters, settings.learning_rate)
        if state is not None and s == position["stage"] and state["optimiser"] is not None:
            optimiser.load_state_dict(state["optimiser"])
        for epoch in range(position["epoch"] if s == position["stage"] else 0, settings.epochs):
            key = draw_key(seed, s, epoch)
            order = epoch_order(count, seed, s, epoch)
            first = position["batch"] if (s, epoch) == (position["stage"], position["epoch"]) else 0
            shares = [
                list(range(b * size, min((b + 1) * size, count)))[ranks.rank :: ranks.world]
                for b in range(first, batches)
            ]
            loader = DataLoader(
                EpochDraws(clips, order, seed, key),
                batch_sampler=shares,
                num_workers=recipe.loader_workers,
                collate_fn=_collate,
                generator=torch.Generator(),
            )  # the global RNG stays untouched
            model.train()
            running, seen = 0.0, 0
            for b, batch in enumerate(loader, first):
                step = sum(totals[:s]) + epoch * batches + b
                for group in optimiser.param_groups:
                    group["lr"] = learning_rate(
                        settings.learning_rate,
                        recipe.lr_gamma,
                        settings.lr_steps,
                        epoch * batches + b,
                        totals[s],
                    )
                torch.manual_seed(
                    draw_key(seed, s, epoch) * 7919 + b * 31 + ranks.rank
                )  # this step's dropout
                optimiser.zero_grad(set_to_none=True)
                global_size = min((b + 1) * size, count) - b * size
                if batch is None:
                    appearance, motion = empty_share(clips, recipe.snippets)
                    labels, weight = torch.zeros(1, dtype=torch.long), 0.0
                else:
                    appearance, motion, labels = batch
                    weight = 1.0
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
                    scores = scorer(appearance.to(device), motion.to(device))
                # DDP averages over ranks; times the world size, each rank's summed loss over the
                # global batch becomes the mean over the global batch, as in one process.
                loss = loss_fn(scores.float(), labels.to(device)) * (weight * ranks.world / global_size)
                loss.backward()
                if batch is not None:
                    running += float(loss.detach()) * global_size / ranks.world
                    seen += len(labels)
                for p in parameters:
                    if p.grad is None:
                        p.grad = torch.zeros_like(p)
                optimiser.step()
                bar.update(global_size)
                bar.set_postfix(stage=name, epoch=epoch + 1, loss=f"{running / max(seen, 1):.3f}")
                if b + 1 < batches and _due(saved, recipe.checkpoint_minutes):
                    after = {"stage": s, "epoch": epoch, "batch": b + 1, "step": step + 1}
                    saved = save(after, optimiser)
                if after_step is not None:
                    after_step(step + 1)
            accuracy = stage_accuracy(model, stage, val, device)
            history.append(
                {
                    "stage": name,
                    "epoch": epoch + 1,
                    "train_loss": running / max(seen, 1),
                    "val_accuracy": accuracy,
                }
            )
            if not progress:
                log(f"{name} epoch {epoch + 1}: val accuracy {accuracy:.3f}")
            else:
                bar.write(
                    f"{name} epoch {epoch + 1}/{settings.epochs}: validation accuracy {100 * accuracy:.1f} %"
                )
            if _due(saved, recipe.checkpoint_minutes):
                after = {
                    "stage": s,
                    "epoch": epoch + 1,
                    "batch": 0,
                    "step": sum(totals[:s]) + (epoch + 1) * batches,
                }
                saved = save(after, optimiser)
        done = {"stage": s + 1, "epoch": 0, "batch": 0, "step": sum(totals[: s + 1])}
        saved = save(done, None)
    bar.close()
    for p in model.parameters():
        p.requires_grad_(True)
    return history, elapsed + time.monotonic() - started
