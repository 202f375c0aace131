"""Direction and speed tuning of every unit that sees motion (a data-free measurement).

Every input of the grid (16 directions x 5 speeds of uniform drifting flow, appearance at
the data mean; see :mod:`generator.measures.tuning`) goes through the model once; forward
hooks on every registry module record all units of all layers at once. The responses are
cached beside the statistics, keyed by the model hash and the grid.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from generator.measures.activations import reduce_response
from generator.measures.invariance import chi_reaches
from generator.measures.tuning import SPEEDS, directions, drifting_inputs, summarise
from generator.pipeline.statistics import STATS_DIR
from generator.store.atomic import atomic_path
from generator.store.keys import digest
from generator.zoo import LoadedModel
from generator.zoo.capture import recording

BATCH = 16


def motion_layers(loaded: LoadedModel) -> list[str]:
    """The layers whose units see a flow input (motion tower, fusion, heads, classes)."""
    desc = loaded.description
    flows = [spec for spec in desc.inputs if spec.kind == "flow"]
    return [info.name for info in desc.layers if flows and chi_reaches(flows, info.streams)]


def tuning_responses(
    loaded: LoadedModel, device: torch.device | str = "cpu", output: Path | None = None
) -> dict[str, np.ndarray]:
    """Per motion-seeing layer, responses (units, directions, speeds) to uniform drifting flow;
    cached under ``output`` when given."""
    angles = directions()
    layers = motion_layers(loaded)
    path = None
    if output is not None:
        key = digest({"model": loaded.model_hash, "directions": angles.tolist(), "speeds": SPEEDS, "v": 1})
        path = Path(output) / STATS_DIR / f"tuning_{key}.npz"
        if path.is_file():
            with np.load(path) as data:
                if all(str(i) in data.files for i in range(len(layers))):
                    return {name: data[str(i)] for i, name in enumerate(layers)}
    result = _drive(loaded, layers, angles, device)
    if path is not None:
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as handle:
                np.savez(handle, **{str(i): result[name] for i, name in enumerate(layers)})
    return result


def _drive(
    loaded: LoadedModel, layers: list[str], angles: np.ndarray, device: torch.device | str
) -> dict[str, np.ndarray]:
    desc = loaded.description
    model = loaded.model.to(device).eval()
    infos = [desc.layer(name) for name in layers]
    grid = [(a, s) for a in range(len(angles)) for s in range(len(SPEEDS))]
    out = {info.name: np.zeros((info.units, len(angles), len(SPEEDS)), np.float32) for info in infos}
    with recording(
        model, {info.name: info.module for info in infos if info.kind != "class"}, detach=True
    ) as captured:
        with torch.inference_mode():
            for start in range(0, len(grid), BATCH):
                chunk = grid[start : start + BATCH]
                samples = [drifting_inputs(desc.inputs, float(angles[a]), SPEEDS[s]) for a, s in chunk]
                inputs = [torch.from_numpy(np.stack(parts)).to(device) for parts in zip(*samples)]
                scores = model(*inputs)
                for info in infos:
                    if info.kind == "class":
                        response = scores.float()  # the raw class score, not a softmax share of it
                    else:
                        response = reduce_response(captured[info.name].float(), info, len(chunk))[0]
                    values = response.cpu().numpy()
                    for row, (a, s) in enumerate(chunk):
                        out[info.name][:, a, s] = values[row]
    return out


def tuning_summary(loaded: LoadedModel, responses: dict[str, np.ndarray]) -> dict[str, dict[str, np.ndarray]]:
    """Per layer: preferred direction and speed, direction-selectivity index (see summarise).

    A class score is not rectified and is often negative everywhere; it is measured above its
    weakest value over the grid, so its tuning is that of the score, whatever its offset."""
    summary = {}
    for name, r in responses.items():
        if loaded.description.layer(name).kind == "class":
            r = r - r.min(axis=(1, 2), keepdims=True)
        summary[name] = summarise(r, directions(), SPEEDS)
    return summary


def tuning_rows(unit_ids: dict[tuple[str, int], str], responses: dict[str, np.ndarray]) -> list[dict]:
    """Rows of the tuning table for the units ``unit_ids`` ((layer, channel) -> unit id) that see motion."""
    angles = directions()
    rows = []
    for (layer, unit), unit_id in unit_ids.items():
        if layer not in responses:
            continue
        grid = responses[layer][unit]
        rows.extend(
            {
                "unit_id": unit_id,
                "direction": float(angles[a]),
                "speed": float(SPEEDS[s]),
                "response": float(grid[a, s]),
            }
            for a in range(len(angles))
            for s in range(len(SPEEDS))
        )
    return rows
