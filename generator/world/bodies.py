"""Whole-body classes: JumpingJack, WalkingWithDog, Swing, CleanAndJerk.

* JumpingJack: a person (arms up, legs apart) bouncing vertically: generic vertical motion.
* WalkingWithDog: a person and a leashed dog translating horizontally: generic horizontal motion.
* Swing: a person on a seat hanging from a rope, swinging along an arc about the pivot.
* CleanAndJerk: a barbell (bar with dark disks) rising above a person whose upper body drives up with it.
"""

from __future__ import annotations

from generator.world import palette, rigs
from generator.world.motion import bounce, oscillation, raised
from generator.world.parts import Part, Sprite, color_of, place, poses, rect, segment, shifted
from generator.world.stage import Stage

# JumpingJack
JUMP_HEIGHT = 6.0  # bounce height (pixels at scale 1)
JUMP_OMEGA = 0.45  # rad per frame at speed 1 (a bounce every pi / omega frames)
# WalkingWithDog
WALK_SPEED = 1.2  # pixels per frame at speed 1
WALK_BOB = 0.6  # small vertical bob of the walkers
WALK_STEP_OMEGA = 0.6
# Swing
SWING_AMPLITUDE = 0.45  # rad from the vertical
SWING_OMEGA = 0.2
ROPE_LENGTH = 38.0
SWING_SCALE = (0.7, 0.85)
# CleanAndJerk
LIFT_HEIGHT = 14.0  # how far the bar rises from the shoulders
LIFT_OMEGA = 0.3
LIFT_DRIVE = 4.0  # how far the lifter's upper body rises with the bar (legs stay planted), so
# the class's motion is a whole body + bar, not two small disks alone

BODY_SCALE = (0.8, 1.0)


def random_person(stage: Stage, arms: rigs.Arms = "down", leg_spread: float = 0.1) -> list[Part]:
    """A person with random skin, clothes and hair colours (frame at the torso centre)."""
    rng = stage.rng
    return rigs.person(
        palette.pick(rng, palette.SKIN, 10.0),
        palette.pick(rng, palette.CLOTHES),
        palette.pick(rng, palette.CLOTHES, 25.0),
        palette.pick(rng, palette.HAIR),
        arms,
        leg_spread,
    )


def jumping_jack(stage: Stage) -> list[Sprite]:
    body = random_person(stage, arms="up", leg_spread=0.35)
    scale = stage.uniform(*BODY_SCALE)
    x = stage.centre + stage.uniform(-8.0, 8.0)
    y0 = stage.centre + 7.0 + stage.uniform(-2.0, 2.0)
    y = y0 + bounce(stage.tau, JUMP_HEIGHT * scale, JUMP_OMEGA, stage.phase())
    return place(body, poses(x, y, 0.0, stage.frames), scale)


def walking_with_dog(stage: Stage) -> list[Sprite]:
    body = random_person(stage)
    fur = palette.pick(stage.rng, ((120, 80, 40), (30, 25, 20), (200, 170, 120), (240, 240, 235)), 15.0)
    leash = palette.pick(stage.rng, ((200, 30, 30), (30, 30, 200), (20, 20, 20)), 15.0)
    direction = stage.sign()
    scale = stage.uniform(*BODY_SCALE)
    x0 = stage.centre + stage.uniform(-5.0, 5.0) - direction * 6.0 * scale
    y0 = stage.centre + 1.0 + stage.uniform(-3.0, 3.0)
    bob_phase = stage.phase()
    dog = rigs.dog(fur) if direction > 0 else rigs.mirror(rigs.dog(fur))
    dog_at = (direction * 13.0, 19.0)
    dog = shifted(dog, *dog_at)
    hand = (direction * 7.0, 7.5)
    collar = (dog_at[0] + direction * 5.0, dog_at[1] - 2.5)
    group = body + [segment("leash", hand, collar, 0.8, leash)] + dog
    tau_mid = stage.speed * (stage.frames - 1) / 2.0
    x = x0 + direction * WALK_SPEED * scale * (stage.tau - tau_mid)
    y = y0 + bounce(stage.tau, WALK_BOB * scale, WALK_STEP_OMEGA, bob_phase)
    return place(group, poses(x, y, 0.0, stage.frames), scale)


def swing(stage: Stage) -> list[Sprite]:
    body = random_person(stage, arms="down", leg_spread=0.05)
    rope = palette.pick(stage.rng, ((90, 70, 50), (40, 40, 40), (170, 150, 110)), 15.0)
    seat = palette.pick(stage.rng, palette.WOOD)
    scale = stage.uniform(*SWING_SCALE)
    px = stage.centre + stage.uniform(-6.0, 6.0)
    py = stage.uniform(-2.0, 2.0)
    angle = oscillation(stage.tau, SWING_AMPLITUDE, SWING_OMEGA, stage.phase())
    beam = Sprite(
        "beam", rect(24.0 * scale, 1.5 * scale), palette.shade(seat, 0.7), poses(px, py, 0.0, stage.frames)
    )
    # Everything below hangs rigidly from the pivot: rope, seat, and the person sitting on the seat
    # with both hands on the rope above the head.
    torso_y = ROPE_LENGTH - 9.0
    sitting = shifted([p for p in body if p.name != "arm"], 0.0, torso_y)
    sleeve = color_of(body, "arm")
    arms = [
        segment("arm", (sx * 5.0, torso_y - 7.0), (sx * 0.8, torso_y - 23.0), 2.8, sleeve)
        for sx in (-1.0, 1.0)
    ]
    hanging = [Part("rope", rect(0.7, ROPE_LENGTH / 2.0), rope, (0.0, ROPE_LENGTH / 2.0))] + arms + sitting
    hanging.append(Part("seat", rect(6.5, 1.2), seat, (0.0, ROPE_LENGTH + 1.0)))
    return [beam] + place(hanging, poses(px, py, angle, stage.frames), scale)


def clean_and_jerk(stage: Stage) -> list[Sprite]:
    body = random_person(stage, arms="down", leg_spread=0.2)
    metal = palette.jitter(stage.rng, (170, 170, 175), 15.0)
    plates = palette.pick(stage.rng, ((25, 25, 30), (40, 30, 30), (30, 30, 45)), 10.0)
    scale = stage.uniform(*BODY_SCALE)
    x = stage.centre + stage.uniform(-6.0, 6.0)
    y0 = stage.centre + 9.0 + stage.uniform(-2.0, 2.0)
    lift = raised(stage.tau, LIFT_OMEGA, stage.phase())
    bar_y = y0 + (-9.0 - LIFT_HEIGHT * lift) * scale
    arms_color = color_of(body, "arm")
    arms = [Part("arm", rect(1.5, 8.0), arms_color, (sx * 7.0, 8.0)) for sx in (-1.0, 1.0)]
    bar = poses(x, bar_y, 0.0, stage.frames)
    legs = place([p for p in body if p.name == "leg"], poses(x, y0, 0.0, stage.frames), scale)
    upper = [p for p in body if p.name not in ("arm", "leg")]
    upper = place(upper, poses(x, y0 - LIFT_DRIVE * scale * lift, 0.0, stage.frames), scale)
    return place(arms, bar, scale) + legs + upper + place(rigs.barbell(metal, plates), bar, scale)
