"""Which weights a network starts from: always said explicitly (torchvision style).

``model.weights`` is a :class:`Weights` name, the path of a weights file, or ``random``. An
unset choice is an error for networks whose weights could come from several places, so an
untrained network never passes for a trained one, and a named choice resolves to one fixed
file (never "whatever the torch cache holds"), so the model hash does not depend on it.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path

from generator.errors import ModelError

KEY = "model.weights"


class Weights(str, Enum):  # noqa: UP042  (StrEnum would change how members print in messages)
    """Named weights; each names exactly one published file."""

    IMAGENET = (
        "imagenet"  # fusion_vgg16 towers: torchvision's VGG16_Weights.IMAGENET1K_V1 (vgg16-397923af.pth)
    )
    KINETICS400 = "kinetics400"  # torchvision video networks: their KINETICS400_V1 weights
    RANDOM = "random"  # seeded random initialisation: an untrained network

    def __str__(self) -> str:
        return self.value


# Older spellings of the same choices.
ALIASES = {"cache": None, "kinetics": Weights.KINETICS400}


def resolve(
    value: Path | str | Weights | None, *, network: str, named: Weights | None, what: str = ""
) -> Weights | Path:
    """``value`` as a named choice or a file path; ``named`` is the one published choice that
    applies to ``network`` ("cache" means it), None for a network without one (only a file or
    random then). Unset is refused with the valid values."""
    valid = (
        f"{named.value} ({what}), a path to a weights file, or random (an untrained network)"
        if named is not None
        else "a path to a weights file (or give it as model.checkpoint), or random (an untrained network)"
    )
    if value is None:
        raise ModelError(
            f"{KEY} is not set for {network}: set {KEY} to {valid}. Weights are never chosen silently, so that an "
            "untrained network cannot pass for a trained one."
        )
    if isinstance(value, Weights):
        choice = value
    elif isinstance(value, str) and value in ALIASES and (ALIASES[value] or named) is not None:
        choice = ALIASES[value] or named
    elif isinstance(value, str) and value in {w.value for w in Weights}:
        choice = Weights(value)
    else:
        return Path(value)
    if choice not in (named, Weights.RANDOM):
        raise ModelError(f"{KEY} = {choice.value!r} does not apply to {network}; valid values are {valid}.")
    return choice
