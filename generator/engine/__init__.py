"""Activation maximisation for video networks (the paper's spatiotemporally regularised method).

Owns parameterizations (pixels; a spatiotemporal Fourier basis), objectives (batched,
one unit per row), regularisers (alpha-norm, spatiotemporal variation with chi), the
paper's optimiser, coherent clip transformations, presets and the loop that cuts the
forward pass at the target layer. Entry point: :func:`visualize_layer`.
"""

from generator.engine.plan import Row, iter_batches, plan_rows
from generator.engine.presets import PRESETS
from generator.engine.results import VisualizationResult
from generator.engine.runtime import PreparedModel, prepare_model
from generator.engine.settings import EngineSettings
from generator.engine.visualize import ProgressCallback, visualize_layer, visualize_rows

__all__ = [
    "PRESETS",
    "EngineSettings",
    "PreparedModel",
    "ProgressCallback",
    "Row",
    "VisualizationResult",
    "iter_batches",
    "plan_rows",
    "prepare_model",
    "visualize_layer",
    "visualize_rows",
]
