"""Instrument classes: PlayingCello, PlayingViolin, Drumming.

* PlayingCello / PlayingViolin: the SAME long brown instrument, bow and bowing motion (the bow slides
  across the strings, perpendicular to the instrument); the cello is held VERTICAL, the violin
  HORIZONTAL, each tilted by at most INSTRUMENT_TILT. Alignment is the only reliable difference.
  The "cello_violin_swap" probe gives each class the other's alignment.
* Drumming: a person behind a drum, two sticks pivoting at the hands, alternately striking down fast.
"""

from __future__ import annotations

import numpy as np

from generator.world import palette, rigs
from generator.world.bodies import random_person
from generator.world.motion import oscillation, raised
from generator.world.parts import Part, Sprite, color_of, compose, ellipse, place, poses, rect, segment
from generator.world.stage import Stage

INSTRUMENT_TILT = 0.45  # max tilt (rad, ~26 deg) away from the class's alignment
INSTRUMENT_SCALE = (0.8, 0.95)
BOW_AMPLITUDE = 5.0  # bow stroke half-length along its own axis
BOW_OMEGA = 0.45
BOW_CROSSING = 3.0  # where the bow crosses the strings, below the instrument centre

DRUMSTICK_LENGTH = 12.0
DRUMSTICK_RAISE = 0.9  # rad the stick tip lifts off the drum
STRIKE_OMEGA = 0.9  # fast


def _bowed_instrument(stage: Stage, vertical_class: bool) -> list[Sprite]:
    """Person + instrument + bow; `vertical_class` is True for PlayingCello. The probe swaps alignment."""
    body = random_person(stage, arms="out")
    wood = palette.pick(stage.rng, palette.WOOD, 15.0)
    bow_wood = palette.pick(stage.rng, palette.WOOD, 15.0)
    scale = stage.uniform(*INSTRUMENT_SCALE)
    cx = stage.centre + stage.uniform(-5.0, 5.0)
    cy = stage.centre + 1.0 + stage.uniform(-4.0, 4.0)
    body_side = stage.sign()
    tilt = stage.uniform(-INSTRUMENT_TILT, INSTRUMENT_TILT)
    neck_side = stage.sign()  # which way the neck points when horizontal
    bow_tilt = stage.uniform(-0.15, 0.15)
    phase = stage.phase()

    vertical = vertical_class != (stage.probe == "cello_violin_swap")
    angle = tilt + (0.0 if vertical else neck_side * np.pi / 2.0)
    person = place(body, poses(cx + body_side * 11.0 * scale, cy - 3.0 * scale, 0.0, stage.frames), scale)
    instrument_pose = poses(cx, cy, angle, stage.frames)
    instrument = place(rigs.string_instrument(wood), instrument_pose, scale)
    slide = oscillation(stage.tau, BOW_AMPLITUDE, BOW_OMEGA, phase)  # along the instrument's local x
    bow_pose = compose(
        instrument_pose, (slide * scale, np.full(stage.frames, BOW_CROSSING * scale)), bow_tilt
    )
    bow = place(rigs.bow(bow_wood, (235, 230, 215)), bow_pose, scale)
    return person + instrument + bow


def playing_cello(stage: Stage) -> list[Sprite]:
    return _bowed_instrument(stage, vertical_class=True)


def playing_violin(stage: Stage) -> list[Sprite]:
    return _bowed_instrument(stage, vertical_class=False)


def drumming(stage: Stage) -> list[Sprite]:
    body = random_person(stage, arms="down")
    skin = color_of(body, "head")
    shell = palette.pick(stage.rng, ((180, 30, 30), (30, 60, 160), (200, 200, 205), (30, 30, 30)), 15.0)
    stick_color = palette.pick(stage.rng, palette.WOOD, 15.0)
    scale = stage.uniform(*INSTRUMENT_SCALE)
    cx = stage.centre + stage.uniform(-6.0, 6.0)
    cy = stage.centre - 2.0 + stage.uniform(-3.0, 3.0)
    phase = stage.phase()

    static = poses(cx, cy, 0.0, stage.frames)
    torso = [p for p in body if p.name != "arm"]
    arms = [
        segment("arm", (sx * 5.0, -6.5), (sx * 9.0, 4.0), 3.0, color_of(body, "arm")) for sx in (-1.0, 1.0)
    ]
    hands = [Part("hand", ellipse(1.6), skin, (sx * 9.0, 4.0)) for sx in (-1.0, 1.0)]
    drum = [
        Part("drum_shell", rect(10.0, 4.5), shell, (0.0, 16.0)),
        Part("drum_head", ellipse(10.0, 3.0), (230, 225, 210), (0.0, 11.5)),
    ]
    sprites = place(arms + torso + drum + hands, static, scale)
    for sx, offset in ((1.0, 0.0), (-1.0, np.pi)):  # the two sticks strike alternately
        lift = raised(stage.tau, STRIKE_OMEGA, phase + offset)
        # Down, the stick points from the hand inwards and down onto the drum; raising lifts the tip.
        down = np.pi - 0.55 if sx > 0 else 0.55
        angle = down + sx * DRUMSTICK_RAISE * lift
        hand = (cx + sx * 9.0 * scale, cy + 4.0 * scale)
        half = DRUMSTICK_LENGTH / 2.0 * scale
        pose = poses(hand[0] + half * np.cos(angle), hand[1] + half * np.sin(angle), angle, stage.frames)
        sprites += place([Part("drumstick", rect(DRUMSTICK_LENGTH / 2.0, 0.8), stick_color)], pose, scale)
    return sprites
