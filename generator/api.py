"""The notebook API: load a network, visualize a unit or any composed objective, look at videos.

    from generator import load_model, visualize, objectives
    m = load_model("default")
    r = visualize(m, "motion/conv3_1/0017", chi=[1, 10, 100])
    r.show()                                  # inline videos in Jupyter, every encoding

A thin layer over the engine (:func:`generator.engine.visualize_layer`): a unit id runs
exactly as in an atlas build, and an :class:`~generator.engine.objective_algebra.Objective`
runs through the same loop by wrapping the network (see ``objective_network``).
"""

from __future__ import annotations

import base64
import html
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from generator.engine import EngineSettings, VisualizationResult, visualize_layer
from generator.engine.objective_algebra import (
    OBJECTIVE_LAYER,
    Objective,
    objective_network,
    parse_unit_id,
    unit,
)
from generator.engine.parameterization import Parameterization, ParameterizationFactory
from generator.engine.presets import PRESETS
from generator.errors import ConfigError
from generator.media.kinds import MEDIA_KINDS
from generator.media.media_set import write_media_set
from generator.zoo import LoadedModel, load
from generator.zoo.spec import InputSpec, ModelDescription


def load_model(
    source: str = "default", checkpoint: Path | str | None = None, weights: str | None = None
) -> LoadedModel:
    """A network ready to visualize (``source`` as in the configuration's ``model.source``)."""
    return load(source, checkpoint, weights=weights)


@dataclass(frozen=True)
class Visualization:
    """The results of one :func:`visualize` call: one per (chi, seed), with their arrays.

    ``results[i].inputs`` maps each model input to its float32 (C, T, H, W) array in
    network units. ``show()`` displays every encoding inline (Jupyter), ``save(folder)``
    writes MP4s and posters, ``html()`` returns a self-contained page fragment.
    """

    target: str
    results: tuple[VisualizationResult, ...]
    description: ModelDescription

    @property
    def chis(self) -> tuple[float, ...]:
        return tuple(dict.fromkeys(r.chi for r in self.results))

    @property
    def activations(self) -> np.ndarray:
        """The final activation of every result (the objective's value for an Objective)."""
        return np.array([r.activation for r in self.results], dtype=np.float64)

    def arrays(self, chi: float | None = None, seed: int | None = None) -> dict[str, np.ndarray]:
        """The inputs of one result (the first matching ``chi`` and ``seed``)."""
        for r in self.results:
            if (chi is None or r.chi == chi) and (seed is None or r.seed == seed):
                return dict(r.inputs)
        raise KeyError(f"No result with chi={chi!r}, seed={seed!r}; chis {list(self.chis)}.")

    def save(self, directory: Path | str) -> list[dict[str, str]]:
        """Write each result's media set (MP4 + PNG poster per encoding) into ``directory``;
        returns, per result, the paths relative to ``directory``."""
        folder = Path(directory)
        folder.mkdir(parents=True, exist_ok=True)
        return [self._write(folder, r) for r in self.results]

    def html(self) -> str:
        """Every encoding of every result as looping <video> elements with data URIs."""
        with tempfile.TemporaryDirectory(prefix="atlas-show-") as tmp:
            folder = Path(tmp)
            blocks = []
            for r in self.results:
                paths = self._write(folder, r)
                videos = []
                for kind in MEDIA_KINDS:
                    if kind not in paths:
                        continue
                    data = base64.b64encode((folder / paths[kind]).read_bytes()).decode("ascii")
                    videos.append(
                        f'<figure style="display:inline-block;margin:4px"><video autoplay loop muted playsinline '
                        f'src="data:video/mp4;base64,{data}"></video><figcaption>{kind}</figcaption></figure>'
                    )
                caption = html.escape(
                    f"chi={r.chi:g} seed={r.seed} activation={r.activation:.4g} ({r.status})"
                )
                blocks.append(f"<div><div>{caption}</div>{''.join(videos)}</div>")
        return f"<div><h4>{html.escape(self.target)}</h4>{''.join(blocks)}</div>"

    def _repr_html_(self) -> str:
        return self.html()

    def show(self) -> Visualization:
        """Display inline in Jupyter (IPython is imported only here); outside a notebook this
        prints where a standalone HTML page with the videos was written."""
        try:
            from IPython.display import HTML, display
        except ImportError:
            display = None
        if display is not None and _in_notebook():
            display(HTML(self.html()))
        else:
            page = Path(tempfile.mkdtemp(prefix="atlas-show-")) / "visualization.html"
            page.write_text(f"<!doctype html><meta charset='utf-8'>{self.html()}", encoding="utf-8")
            print(f"Videos written to {page}")
        return self

    def _write(self, folder: Path, result: VisualizationResult) -> dict[str, str]:
        rgb = next((s for s in self.description.inputs if s.kind == "rgb"), None)
        flow = next((s for s in self.description.inputs if s.kind == "flow"), None)
        stem = f"{result.layer.replace('/', '_')}_{result.unit:04d}_chi{result.chi:g}_seed{result.seed}"
        return write_media_set(
            folder,
            stem,
            appearance=result.inputs[rgb.name] if rgb else None,
            motion=result.inputs[flow.name] if flow else None,
            mean=rgb.mean if rgb else None,
            root=folder,
        )


def _in_notebook() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and hasattr(shell, "kernel")


def engine_settings_for(preset: str | EngineSettings, overrides: Mapping[str, object]) -> EngineSettings:
    """Settings from a preset name (``"atlas"``, ``"paper"``, ...) or a value, with overrides."""
    if isinstance(preset, EngineSettings):
        return preset.replace(**overrides) if overrides else preset
    if preset not in PRESETS:
        raise ConfigError(f"Unknown preset {preset!r}; presets are {', '.join(PRESETS)}.")
    return PRESETS[preset](**overrides)


def visualize(
    model: LoadedModel,
    target: str | Objective,
    chi: Sequence[float] = (1.0, 10.0, 100.0),
    seeds: Sequence[int] = (0,),
    *,
    preset: str | EngineSettings = "atlas",
    transform: nn.Module | None = None,
    parameterization: str | Parameterization | ParameterizationFactory | None = None,
    device: torch.device | str | None = None,
    unit_scale: float | None = None,
    **settings: object,
) -> Visualization:
    """Maximise ``target`` at every ``chi`` from every seed.

    ``target``: a unit id (``"motion/conv3_1/0017"``, ``"class/Billiards"``), run exactly as
    an atlas build runs it, or an :class:`Objective` from :mod:`generator.objectives`.
    ``preset``: a name from PRESETS (default ``"atlas"``, the atlas's own defaults) or an
    EngineSettings; keyword ``settings`` override single fields (``steps=100``).
    ``transform``: an nn.Module applied to the list of inputs before the network in every
    optimisation step (beside the preset's jitter), never in the final measurement; a unit id
    then runs as ``objectives.unit(target)``. ``parameterization``: a name ("pixel", "dct",
    "fourier"), a :class:`Parameterization` instance whose tensors hold one row per (chi,
    seed) and are optimised in place, or a factory ``(specs, init) -> Parameterization``
    (e.g. a subclass) that builds each batch's from the engine's starting inputs.
    ``unit_scale``: rho, the unit's largest response on real data, so that the objective is
    w = 1/rho times it. ``device``: default the GPU when there is one, else the CPU.
    """
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    overrides = dict(settings)
    factory = None
    if isinstance(parameterization, str):
        overrides["parameterization"] = parameterization
    elif parameterization is not None:
        factory = _factory(parameterization, len(chi) * len(seeds), overrides)
    engine = engine_settings_for(preset, overrides)
    rho = None if unit_scale is None else {0: float(unit_scale)}
    if transform is not None and isinstance(target, str):
        target = unit(target)  # the transform wraps the network, which an objective runs through
    if isinstance(target, Objective):
        network, description = objective_network(model.model, model.description, target, transform)
        results = visualize_layer(
            network,
            description,
            OBJECTIVE_LAYER,
            [0],
            chi,
            seeds,
            engine,
            device,
            rho,
            parameterization=factory,
        )
        return Visualization(target.name, tuple(results), model.description)
    layer, index = parse_unit_id(model.description, target)
    scale = None if rho is None else {index: rho[0]}
    results = visualize_layer(
        model.model,
        model.description,
        layer,
        [index],
        chi,
        seeds,
        engine,
        device,
        scale,
        parameterization=factory,
    )
    return Visualization(model.description.unit_id(layer, index), tuple(results), model.description)


def _factory(
    parameterization: Parameterization | ParameterizationFactory, rows: int, overrides: dict[str, object]
) -> ParameterizationFactory:
    """The engine's per-batch factory for a parameterization given as an instance or a factory.
    An instance is the one batch of all ``rows`` (one per chi and seed, in that order)."""
    if not isinstance(parameterization, Parameterization):
        if not callable(parameterization):
            raise ConfigError(
                "parameterization must be a name (pixel, dct, fourier), a Parameterization or a factory "
                f"(specs, init) -> Parameterization; got {type(parameterization).__name__}."
            )
        return parameterization
    if overrides.get("batch_size", rows) != rows:
        raise ConfigError(
            f"A Parameterization instance is one batch of all {rows} rows (chi x seeds); batch_size "
            f"{overrides['batch_size']} would split it. Pass a factory to batch differently."
        )
    overrides["batch_size"] = rows

    def the_instance(_specs: Sequence[InputSpec], _init: Sequence[torch.Tensor]) -> Parameterization:
        return parameterization

    return the_instance
