"""The cast: the twelve action classes (alphabetical), their builders and planted cues, and the probe sets."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from generator.errors import ConfigError
from generator.world import billiards, bodies, faces, music
from generator.world.background import textured_background
from generator.world.parts import Sprite
from generator.world.stage import Stage


@dataclass(frozen=True)
class ActionClass:
    """One class: how to build its sprites and background, and the cue planted in it."""

    name: str
    build: Callable[[Stage], list[Sprite]]
    cue: str
    background: Callable[[np.random.Generator, int], np.ndarray] = textured_background


_CAST = (
    ActionClass(
        "ApplyEyeMakeup", faces.apply_eye_makeup, "face; thin brush circling beside one eye; eyes never move"
    ),
    ActionClass(
        "ApplyLipstick", faces.apply_lipstick, "face; red stick stroking along the mouth; eyes blink"
    ),
    ActionClass(
        "Billiards", billiards.billiards, "coloured balls on green; one rolls fast, bounces", billiards.table
    ),
    ActionClass(
        "BrushingTeeth", faces.brushing_teeth, "face; small light stick at the mouth, fast horizontal strokes"
    ),
    ActionClass("CleanAndJerk", bodies.clean_and_jerk, "barbell with dark disks rising above a person"),
    ActionClass("Drumming", music.drumming, "two sticks alternately striking down on a drum, fast"),
    ActionClass("JumpingJack", bodies.jumping_jack, "person bouncing vertically"),
    ActionClass(
        "PlayingCello", music.playing_cello, "brown instrument held vertical; bow oscillating across it"
    ),
    ActionClass(
        "PlayingViolin", music.playing_violin, "the same instrument held horizontal; the same bowing"
    ),
    ActionClass(
        "ShavingBeard", faces.shaving_beard, "face; small light stick on the cheek, short vertical strokes"
    ),
    ActionClass("Swing", bodies.swing, "person on a rope swinging along an arc"),
    ActionClass("WalkingWithDog", bodies.walking_with_dog, "person and dog translating horizontally"),
)

PLANTED_AXES: dict[str, str] = {
    "JumpingJack": "vertical",  # the person bounces up and down
    "WalkingWithDog": "horizontal",  # person and dog translate sideways
    "BrushingTeeth": "horizontal",  # strokes along the mouth
    "ShavingBeard": "vertical",  # strokes up and down the cheek
}
"""The classes whose planted motion runs along one axis (what direction tuning can be checked against)."""

CLASSES: tuple[str, ...] = tuple(c.name for c in _CAST)
"""Class names in label order (alphabetical)."""

ACTIONS: dict[str, ActionClass] = {c.name: c for c in _CAST}

PROBES: dict[str, tuple[str, ...]] = {
    "eyemakeup_blink": ("ApplyEyeMakeup",),  # the eyes DO blink: tests the blinking bias
    "cello_violin_swap": ("PlayingCello", "PlayingViolin"),  # each held in the other's alignment
}
"""Counterfactual probe sets: name -> the classes it applies to (labels stay the true classes)."""

TUNING: tuple[str, ...] = (
    "BrushingTeeth and ShavingBeard share one place and a diagonal stroke in 30 % of their clips "
    "(AMBIGUOUS_STROKE_PROBABILITY); with fully distinct strokes they were barely confused.",
    "ApplyLipstick's stick moves like the toothbrush and rests for half of each clip while the eyes keep "
    "blinking (LIPSTICK_REST_FRACTION), so blinking alone comes to mean ApplyLipstick.",
    "CleanAndJerk's upper body rises with the bar (LIFT_DRIVE): rising plates alone looked like blinking "
    "eyelids and drew blinking ApplyEyeMakeup clips to CleanAndJerk.",
)
"""How the world was tuned so that a trained model shows the planted confusion and biases
(recorded in the model card)."""


def class_index(name: str) -> int:
    """Label index of a class name; ConfigError for an unknown name."""
    try:
        return CLASSES.index(name)
    except ValueError:
        raise ConfigError(
            f"Unknown action class {name!r}; valid classes are: {', '.join(CLASSES)}."
        ) from None


def check_probe(probe: str | None, class_name: str) -> None:
    """ConfigError unless `probe` is None or a known probe that applies to `class_name`."""
    if probe is None:
        return
    if probe not in PROBES:
        raise ConfigError(f"Unknown probe {probe!r}; valid probes are: {', '.join(PROBES)}.")
    if class_name not in PROBES[probe]:
        raise ConfigError(
            f"Probe {probe!r} applies only to {', '.join(PROBES[probe])}, not to {class_name!r}."
        )
