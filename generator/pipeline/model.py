"""Loading the configured model, training the default one first when its checkpoint is missing."""

from __future__ import annotations

from collections.abc import Callable

from generator import model_sources
from generator.config import AtlasConfig
from generator.zoo import DEFAULT_CHECKPOINT, LoadedModel, load


def load_configured_model(config: AtlasConfig, log: Callable[[str], None] = print) -> LoadedModel:
    """The model of ``config.model``; the default model is trained first if it was never trained."""
    model = config.model
    if (
        model.source == model_sources.DEFAULT
        and model.checkpoint is None
        and not DEFAULT_CHECKPOINT.is_file()
    ):
        from generator.train import train_default

        log(f"No trained default model at {DEFAULT_CHECKPOINT}; training it first (atlas train).")
        train_default(
            config.model_copy(
                update={"train": config.train.model_copy(update={"checkpoint": DEFAULT_CHECKPOINT})}
            )
        )
    return load(model.source, model.checkpoint, weights=model.weights)
