"""Reusable rigid objects as lists of parts in their own frame: person, dog, barbell, string instrument, bow.

Sizes are design pixels at scale 1; callers scale and move them with `parts.place`.
"""

from __future__ import annotations

from typing import Literal

from generator.world.palette import shade
from generator.world.parts import Color, Part, ellipse, rect

Arms = Literal["down", "up", "out"]


def person(
    skin: Color, clothes: Color, trousers: Color, hair: Color, arms: Arms = "down", leg_spread: float = 0.1
) -> list[Part]:
    """A standing person, frame at the torso centre; head up (-y). Legs and arms are drawn behind the torso."""
    arm_pose = {
        "down": ((6.5, 1.5), -0.15),
        "up": ((8.6, -13.6), 0.5),
        "out": ((9.5, -3.0), -1.1),
    }[arms]
    (ax, ay), angle = arm_pose
    return [
        Part("leg", rect(1.8, 7.5), trousers, (-3.0, 15.5), leg_spread),
        Part("leg", rect(1.8, 7.5), trousers, (3.0, 15.5), -leg_spread),
        Part("arm", rect(1.5, 7.0), clothes, (-ax, ay), -angle),
        Part("arm", rect(1.5, 7.0), clothes, (ax, ay), angle),
        Part("torso", ellipse(6.0, 10.0), clothes),
        Part("head", ellipse(4.5, 5.0), skin, (0.0, -15.5)),
        Part("hair", ellipse(4.8, 2.4), hair, (0.0, -19.3)),
    ]


def mirror(parts: list[Part]) -> list[Part]:
    """The object reflected left-right (shapes are symmetric, so reflecting = negating x and angle)."""
    return [Part(p.name, p.shape, p.color, (-p.offset[0], p.offset[1]), -p.angle) for p in parts]


def dog(fur: Color) -> list[Part]:
    """A dog facing +x, frame at its body centre."""
    dark = shade(fur, 0.7)
    return [
        Part("dog_leg", rect(0.9, 2.6), dark, (-3.8, 3.5)),
        Part("dog_leg", rect(0.9, 2.6), dark, (3.8, 3.5)),
        Part("dog_tail", rect(0.7, 2.6), fur, (-6.2, -2.3), -0.7),
        Part("dog_body", ellipse(5.8, 2.9), fur),
        Part("dog_leg", rect(0.9, 2.6), fur, (-2.2, 3.8)),
        Part("dog_leg", rect(0.9, 2.6), fur, (2.2, 3.8)),
        Part("dog_head", ellipse(2.7, 2.3), fur, (6.3, -2.8)),
        Part("dog_ear", ellipse(1.0, 1.7), dark, (5.6, -3.6)),
    ]


def barbell(metal: Color, plates: Color) -> list[Part]:
    """A bar with dark disks at both ends, frame at the bar centre, bar along x."""
    return [
        Part("bar", rect(18.0, 0.8), metal),
        Part("plate", ellipse(2.0, 6.0), plates, (-14.5, 0.0)),
        Part("plate", ellipse(2.0, 6.0), plates, (14.5, 0.0)),
        Part("plate", ellipse(1.5, 4.2), shade(plates, 1.4), (-11.8, 0.0)),
        Part("plate", ellipse(1.5, 4.2), shade(plates, 1.4), (11.8, 0.0)),
    ]


def string_instrument(wood: Color) -> list[Part]:
    """A cello-like instrument, frame at its centre, long axis along y with the neck up (-y). Length ~39."""
    dark = shade(wood, 0.45)
    return [
        Part("instrument_pin", rect(0.5, 2.2), dark, (0.0, 13.8)),
        Part("instrument_body", ellipse(5.6, 7.2), wood, (0.0, 5.0)),
        Part("instrument_body", ellipse(4.6, 5.6), wood, (0.0, -5.0)),
        Part("instrument_body", ellipse(3.6, 2.5), wood, (0.0, 0.0)),
        Part("instrument_neck", rect(1.0, 11.5), dark, (0.0, -10.0)),
        Part("instrument_scroll", ellipse(1.6, 2.0), dark, (0.0, -22.0)),
        Part("instrument_bridge", rect(2.4, 0.5), shade(wood, 1.5), (0.0, 4.0)),
    ]


def bow(wood: Color, hair: Color) -> list[Part]:
    """A bow along x, frame at its centre."""
    return [
        Part("bow_hair", rect(10.0, 0.45), hair, (0.0, 0.9)),
        Part("bow_stick", rect(10.5, 0.5), wood),
        Part("bow_frog", rect(1.2, 1.1), shade(wood, 0.5), (-9.5, 0.6)),
    ]
