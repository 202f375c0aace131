"""Close-up face classes: ApplyEyeMakeup, ApplyLipstick, BrushingTeeth, ShavingBeard.

A static face with two eyes (white, pupil, an eyelid that can slide down over the eye, a brow), a nose
and a mouth; only the tool moves, plus the eyelids in blinking clips. The planted cues:
* ApplyLipstick: red-tipped stick moving horizontally along the mouth; the eyes blink in
  BLINK_PROBABILITY of the clips (the dataset bias: blinking is salient and easy to learn).
* ApplyEyeMakeup: a thin brush circling beside one eye; the eyes never move (subtle on purpose).
* BrushingTeeth: a small light stick at mouth height, stroking horizontally, fast.
* ShavingBeard: the same kind of light stick at cheek height, stroking vertically (confusable on purpose).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from generator.world import palette
from generator.world.motion import blink_closure, circle, oscillation
from generator.world.parts import Color, Part, Sprite, ellipse, place, poses, rect
from generator.world.stage import Stage

# --- the face (design pixels at scale 1) -----------------------------------------------------------
FACE_RX, FACE_RY = 15.0, 19.0
FACE_SCALE = (0.85, 1.1)          # per-clip size factor of the whole face and its tool
FACE_SHIFT = 4.0                  # max offset of the face centre from the image centre
EYE_DX, EYE_DY = 6.5, -5.0        # eye centres relative to the face centre
EYE_RX, EYE_RY = 3.4, 2.3         # eye size: bigger eyes make blinking more visible
MOUTH_DY = 9.5                    # mouth height below the face centre
MOUTH_RX, MOUTH_RY = 4.5, 1.6

# --- blinking: the ApplyLipstick bias -------------------------------------------------------------
BLINK_PROBABILITY = 0.8           # share of ApplyLipstick clips whose eyes blink
BLINK_PERIOD = 6.0                # frames from one blink to the next (not scaled by the speed factor)
BLINK_HALF_WIDTH = 1.5            # frames to close the eyelids (and as many to reopen them)

# --- BrushingTeeth / ShavingBeard: the same small light stick, different place and stroke ---------
STICK_LENGTH, STICK_WIDTH = 15.0, 2.4
STICK_HEAD_LENGTH, STICK_HEAD_WIDTH = 3.5, 3.2
STICK_TILT = 0.5                  # max tilt (rad) of the stick from horizontal, pointing out of the face
STROKE_AMPLITUDE = 2.5            # stroke half-length in pixels: small...
STROKE_OMEGA = 0.8                # ...and fast (rad per frame at speed 1)
STROKE_SPREAD = 0.7               # max angle (rad) of a stroke from its class's direction (horizontal
                                  # for BrushingTeeth, vertical for ShavingBeard): wider = more confusable
BRUSH_DX = (1.0, 3.5)             # toothbrush tip: beside the mouth centre, at mouth height
RAZOR_DX = (5.0, 8.5)             # razor head: on the lower cheek...
RAZOR_DY = (4.0, 7.0)             # ...between nose and mouth height (the mouth is at MOUTH_DY)

# --- ApplyLipstick tool: moves like the toothbrush (same size and stroke), so that in the flow only
# the blinking tells ApplyLipstick from BrushingTeeth; its colours (red tip, dark case) differ.
LIPSTICK_LENGTH, LIPSTICK_WIDTH = STICK_LENGTH, STICK_WIDTH
LIPSTICK_TIP_LENGTH, LIPSTICK_TIP_WIDTH = STICK_HEAD_LENGTH, STICK_HEAD_WIDTH
LIPSTICK_DX = BRUSH_DX            # tip position beside the mouth centre
LIPSTICK_AMPLITUDE = STROKE_AMPLITUDE  # horizontal stroke along the lips
LIPSTICK_OMEGA = STROKE_OMEGA
LIPSTICK_TILT = STICK_TILT

# --- ApplyEyeMakeup tool: thin and small, so that it stays a subtle cue ---------------------------
EYEBRUSH_LENGTH, EYEBRUSH_WIDTH = 12.0, 1.2
EYEBRUSH_TIP_LENGTH, EYEBRUSH_TIP_WIDTH = 2.0, 1.8
EYEBRUSH_RADIUS = 2.0             # radius of the circle the brush tip draws
EYEBRUSH_OMEGA = 0.7
EYEBRUSH_TILT = (0.35, 1.0)       # tilt (rad) below horizontal, pointing away from the face


@dataclass(frozen=True)
class Face:
    """Where the face is and the sprites drawn before the tool."""

    cx: float
    cy: float
    scale: float
    skin: Color
    side: int              # +1 / -1: which side of the face the tool is on
    sprites: list[Sprite]

    def point(self, dx: float, dy: float) -> tuple[float, float]:
        """A face-frame point (design pixels at scale 1) in image coordinates."""
        return self.cx + dx * self.scale, self.cy + dy * self.scale


def _face(stage: Stage, blink_probability: float, force_blink: bool = False) -> Face:
    """Draw a face's nuisances (always the same draws) and build its sprites."""
    rng = stage.rng
    cx = stage.centre + stage.uniform(-FACE_SHIFT, FACE_SHIFT)
    cy = stage.centre + 1.5 + stage.uniform(-FACE_SHIFT, FACE_SHIFT) * 0.75
    scale = stage.uniform(*FACE_SCALE)
    skin = palette.pick(rng, palette.SKIN, 10.0)
    hair = palette.pick(rng, palette.HAIR)
    iris = palette.pick(rng, ((40, 30, 20), (50, 90, 140), (60, 110, 60)), 10.0)
    lips = palette.jitter(rng, (170, 60, 70), 20.0)
    side = stage.sign()
    blink_phase = stage.uniform(0.0, 1.0)
    blinks = stage.chance(blink_probability) or force_blink

    static = poses(cx, cy, 0.0, stage.frames)
    below_lids = [
        Part("hair", ellipse(FACE_RX + 2.0, FACE_RY + 1.0), hair, (0.0, -4.0)),
        Part("face", ellipse(FACE_RX, FACE_RY), skin),
        Part("nose", ellipse(1.6, 3.2), palette.shade(skin, 0.85), (0.0, 2.0)),
        Part("mouth", ellipse(MOUTH_RX, MOUTH_RY), lips, (0.0, MOUTH_DY)),
    ]
    for sx in (-1.0, 1.0):
        below_lids.append(Part("eye", ellipse(EYE_RX, EYE_RY), (245, 245, 245), (sx * EYE_DX, EYE_DY)))
        below_lids.append(Part("pupil", ellipse(1.4, 1.4), iris, (sx * EYE_DX, EYE_DY)))
    sprites = place(below_lids, static, scale)

    lid = ellipse(EYE_RX + 0.5, EYE_RY + 0.6)
    travel = 2.0 * lid.hy  # open: the lid rests just above the eye, on skin of its own colour
    closure = blink_closure(stage.t, BLINK_PERIOD, blink_phase, BLINK_HALF_WIDTH) if blinks else np.zeros(stage.frames)
    for sx in (-1.0, 1.0):
        x = cx + sx * EYE_DX * scale
        y = cy + (EYE_DY - travel * (1.0 - closure)) * scale
        sprites.append(Sprite("eyelid", lid.scaled(scale), skin, poses(x, y, 0.0, stage.frames)))
    brows = [Part("brow", rect(3.6, 0.7), palette.shade(hair, 0.9), (sx * EYE_DX, EYE_DY - 5.6)) for sx in (-1.0, 1.0)]
    sprites += place(brows, static, scale)
    return Face(cx, cy, scale, skin, side, sprites)


def _stick(
    face: Face,
    tip: tuple[np.ndarray, np.ndarray],
    tilt: float,
    length: float,
    width: float,
    head: tuple[float, float],
    colors: tuple[Color, Color],
    names: tuple[str, str],
) -> list[Sprite]:
    """A handle with a head at its tip; the tip follows `tip` (image coords per frame) and the handle
    points out of the face (towards face.side), tilted by `tilt` below horizontal."""
    angle = tilt if face.side > 0 else np.pi - tilt
    half = length / 2.0 * face.scale
    x = tip[0] + half * np.cos(angle)
    y = tip[1] + half * np.sin(angle)
    parent = poses(x, y, angle, len(tip[0]))
    parts = [
        Part(names[0], rect(length / 2.0, width / 2.0), colors[0]),
        Part(names[1], rect(head[0] / 2.0, head[1] / 2.0), colors[1], (-length / 2.0 + head[0] / 2.0, 0.0)),
    ]
    return place(parts, parent, face.scale)


def _light_stick(stage: Stage, face: Face, tip: tuple[np.ndarray, np.ndarray], tilt: float, name: str) -> list[Sprite]:
    body = palette.pick(stage.rng, palette.LIGHT, 12.0)
    head = palette.pick(stage.rng, palette.LIGHT, 12.0)
    return _stick(face, tip, tilt, STICK_LENGTH, STICK_WIDTH, (STICK_HEAD_LENGTH, STICK_HEAD_WIDTH), (body, head), (f"{name}_handle", f"{name}_head"))


def _stroke(stage: Stage, face: Face, direction: float, amplitude: float, omega: float) -> tuple[np.ndarray, np.ndarray]:
    """Tip offsets of a back-and-forth stroke along `direction` (rad, 0 = horizontal), within STROKE_SPREAD."""
    angle = direction + stage.uniform(-STROKE_SPREAD, STROKE_SPREAD)
    along = oscillation(stage.tau, amplitude * face.scale, omega, stage.phase())
    return along * np.cos(angle), along * np.sin(angle)


def brushing_teeth(stage: Stage) -> list[Sprite]:
    face = _face(stage, blink_probability=0.0)
    tilt = stage.uniform(-STICK_TILT, STICK_TILT)
    x0, y0 = face.point(face.side * stage.uniform(*BRUSH_DX), MOUTH_DY)
    dx, dy = _stroke(stage, face, 0.0, STROKE_AMPLITUDE, STROKE_OMEGA)
    return face.sprites + _light_stick(stage, face, (x0 + dx, y0 + dy), tilt, "toothbrush")


def shaving_beard(stage: Stage) -> list[Sprite]:
    face = _face(stage, blink_probability=0.0)
    tilt = stage.uniform(-STICK_TILT, STICK_TILT)
    x0, y0 = face.point(face.side * stage.uniform(*RAZOR_DX), stage.uniform(*RAZOR_DY))
    dx, dy = _stroke(stage, face, np.pi / 2.0, STROKE_AMPLITUDE, STROKE_OMEGA)
    return face.sprites + _light_stick(stage, face, (x0 + dx, y0 + dy), tilt, "razor")


def apply_lipstick(stage: Stage) -> list[Sprite]:
    face = _face(stage, blink_probability=BLINK_PROBABILITY)
    tilt = stage.uniform(-LIPSTICK_TILT, LIPSTICK_TILT)
    case = palette.pick(stage.rng, ((30, 30, 35), (190, 150, 40), (60, 20, 30)), 12.0)
    red = palette.jitter(stage.rng, (215, 15, 40), 15.0)
    x0, y0 = face.point(face.side * stage.uniform(*LIPSTICK_DX), MOUTH_DY)
    dx, dy = _stroke(stage, face, 0.0, LIPSTICK_AMPLITUDE, LIPSTICK_OMEGA)
    head = (LIPSTICK_TIP_LENGTH, LIPSTICK_TIP_WIDTH)
    sprites = _stick(face, (x0 + dx, y0 + dy), tilt, LIPSTICK_LENGTH, LIPSTICK_WIDTH, head, (case, red), ("lipstick_case", "lipstick_tip"))
    return face.sprites + sprites


def apply_eye_makeup(stage: Stage) -> list[Sprite]:
    face = _face(stage, blink_probability=0.0, force_blink=stage.probe == "eyemakeup_blink")
    tilt, phase = stage.uniform(*EYEBRUSH_TILT), stage.phase()
    handle = palette.pick(stage.rng, ((40, 30, 30), (90, 60, 40), (20, 20, 60)), 12.0)
    bristles = palette.pick(stage.rng, ((120, 60, 140), (60, 100, 160), (150, 110, 80)), 15.0)
    turn = 1.0 if stage.rng.random() < 0.5 else -1.0  # clockwise or anticlockwise
    x0, y0 = face.point(face.side * (EYE_DX + EYE_RX + 0.5), EYE_DY + 1.0)
    dx, dy = circle(stage.tau, EYEBRUSH_RADIUS * face.scale, turn * EYEBRUSH_OMEGA, phase)
    tip = (x0 + dx, y0 + dy)
    head = (EYEBRUSH_TIP_LENGTH, EYEBRUSH_TIP_WIDTH)
    return face.sprites + _stick(face, tip, tilt, EYEBRUSH_LENGTH, EYEBRUSH_WIDTH, head, (handle, bristles), ("eyebrush_handle", "eyebrush_tip"))
