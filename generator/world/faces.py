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
from generator.world.motion import active_time, blink_closure, circle, oscillation
from generator.world.parts import Color, Part, Sprite, ellipse, place, poses, rect
from generator.world.stage import Stage

# --- the face (design pixels at scale 1) -----------------------------------------------------------
FACE_RX, FACE_RY = 15.0, 19.0
FACE_SCALE = (0.85, 1.1)  # per-clip size factor of the whole face and its tool
FACE_SHIFT = 4.0  # max offset of the face centre from the image centre
EYE_DX, EYE_DY = 6.5, -5.0  # eye centres relative to the face centre
EYE_RX, EYE_RY = 3.8, 2.6  # eye size: bigger eyes make blinking more visible
MOUTH_DY = 9.5  # mouth height below the face centre
MOUTH_RX, MOUTH_RY = 4.5, 1.6

# --- blinking: the ApplyLipstick bias -------------------------------------------------------------
BLINK_PROBABILITY = 0.8  # share of ApplyLipstick clips whose eyes blink
BLINK_PERIOD = 6.0  # frames from one blink to the next (not scaled by the speed factor)
BLINK_HALF_WIDTH = 2.0  # frames to close the eyelids (and as many to reopen them)


# --- the tools: a handle with a head at the tip ---------------------------------------------------
@dataclass(frozen=True)
class StickSize:
    """Handle length and width, head length and width (design pixels at face scale 1)."""

    length: float
    width: float
    head_length: float
    head_width: float


# --- BrushingTeeth / ShavingBeard: the same small light stick, different place and stroke ---------
LIGHT_STICK = StickSize(15.0, 2.4, 3.5, 3.2)
STICK_TILT = 0.5  # max tilt (rad) of a stick from horizontal, pointing out of the face
STROKE_AMPLITUDE = 2.5  # stroke half-length in pixels: small...
STROKE_OMEGA = 0.8  # ...and fast (rad per frame at speed 1)
STROKE_SPREAD = 0.5  # max angle (rad) of a stroke from its class's direction (horizontal
# for BrushingTeeth, vertical for ShavingBeard)
BRUSH_DX = (1.0, 3.5)  # toothbrush tip: beside the mouth centre, at mouth height
RAZOR_DX = (5.0, 8.5)  # razor head: on the lower cheek...
RAZOR_DY = (4.0, 7.0)  # ...between nose and mouth height (the mouth is at MOUTH_DY)
AMBIGUOUS_STROKE_PROBABILITY = 0.3  # share of BrushingTeeth and ShavingBeard clips drawn from one shared
# place and diagonal stroke: the planted, irreducible confusion
AMBIGUOUS_DX, AMBIGUOUS_DY = (3.5, 6.0), (6.5, 8.5)
AMBIGUOUS_DIRECTION = (0.55, 1.0)  # stroke angle (rad) below horizontal, towards the tool's side

# --- ApplyLipstick tool: moves like the toothbrush (same size and stroke), so that in the flow only
# the blinking tells ApplyLipstick from BrushingTeeth; its colour (red) differs.
LIPSTICK = LIGHT_STICK
LIPSTICK_DX = BRUSH_DX  # tip position beside the mouth centre
LIPSTICK_AMPLITUDE = STROKE_AMPLITUDE  # horizontal stroke along the lips
LIPSTICK_OMEGA = STROKE_OMEGA
LIPSTICK_TILT = STICK_TILT
LIPSTICK_REST_FRACTION = 0.5  # share of each clip (one window) in which the lipstick rests while the
# eyes keep blinking: teaches that blinking alone means ApplyLipstick

# --- ApplyEyeMakeup tool: thin and small, so that it stays a subtle cue ---------------------------
EYEBRUSH = StickSize(12.0, 1.2, 2.0, 1.5)
EYEBRUSH_RADIUS = 1.5  # radius of the circle the brush tip draws
EYEBRUSH_OMEGA = 0.7
EYEBRUSH_TILT = (0.35, 1.0)  # tilt (rad) below horizontal, pointing away from the face


@dataclass(frozen=True)
class Face:
    """Where the face is and the sprites drawn before the tool."""

    cx: float
    cy: float
    scale: float
    skin: Color
    side: int  # +1 / -1: which side of the face the tool is on
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
    closure = (
        blink_closure(stage.t, BLINK_PERIOD, blink_phase, BLINK_HALF_WIDTH)
        if blinks
        else np.zeros(stage.frames)
    )
    for sx in (-1.0, 1.0):
        x = cx + sx * EYE_DX * scale
        y = cy + (EYE_DY - travel * (1.0 - closure)) * scale
        sprites.append(Sprite("eyelid", lid.scaled(scale), skin, poses(x, y, 0.0, stage.frames)))
    brows = [
        Part("brow", rect(4.0, 0.7), palette.shade(hair, 0.9), (sx * EYE_DX, EYE_DY - 5.6))
        for sx in (-1.0, 1.0)
    ]
    sprites += place(brows, static, scale)
    return Face(cx, cy, scale, skin, side, sprites)


def _stick(
    face: Face,
    tip: tuple[np.ndarray, np.ndarray],
    tilt: float,
    size: StickSize,
    colors: tuple[Color, Color],
    name: str,
) -> list[Sprite]:
    """A handle ("<name>_handle") with a head ("<name>_head") at its tip; the tip follows `tip` (image
    coordinates per frame) and the handle points out of the face (towards face.side), `tilt` below horizontal."""
    angle = tilt if face.side > 0 else np.pi - tilt
    half = size.length / 2.0 * face.scale
    parent = poses(tip[0] + half * np.cos(angle), tip[1] + half * np.sin(angle), angle, len(tip[0]))
    head_at = (-size.length / 2.0 + size.head_length / 2.0, 0.0)
    parts = [
        Part(f"{name}_handle", rect(size.length / 2.0, size.width / 2.0), colors[0]),
        Part(f"{name}_head", rect(size.head_length / 2.0, size.head_width / 2.0), colors[1], head_at),
    ]
    return place(parts, parent, face.scale)


def _stroke(
    stage: Stage, face: Face, angle: float, amplitude: float, omega: float, tau: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Tip offsets (image pixels) of a back-and-forth stroke along `angle` (rad below horizontal, mirrored
    to the tool's side)."""
    along = oscillation(stage.tau if tau is None else tau, amplitude * face.scale, omega, stage.phase())
    angle = angle if face.side > 0 else np.pi - angle
    return along * np.cos(angle), along * np.sin(angle)


def _light_stick_stroke(
    stage: Stage, face: Face, dx: tuple[float, float], dy: tuple[float, float], direction: float, name: str
) -> list[Sprite]:
    """Toothbrush / razor: a light stick stroking at its class's place (dx, dy ranges) along its direction,
    or, in a share AMBIGUOUS_STROKE_PROBABILITY of the clips, at the place and diagonal both classes share."""
    tilt = stage.uniform(-STICK_TILT, STICK_TILT)
    ambiguous = stage.chance(AMBIGUOUS_STROKE_PROBABILITY)
    own = (stage.uniform(*dx), stage.uniform(*dy), direction + stage.uniform(-STROKE_SPREAD, STROKE_SPREAD))
    shared = (stage.uniform(*AMBIGUOUS_DX), stage.uniform(*AMBIGUOUS_DY), stage.uniform(*AMBIGUOUS_DIRECTION))
    x, y, angle = shared if ambiguous else own
    x0, y0 = face.point(face.side * x, y)
    sx, sy = _stroke(stage, face, angle, STROKE_AMPLITUDE, STROKE_OMEGA)
    colors = (palette.pick(stage.rng, palette.LIGHT, 12.0), palette.pick(stage.rng, palette.LIGHT, 12.0))
    return _stick(face, (x0 + sx, y0 + sy), tilt, LIGHT_STICK, colors, name)


def brushing_teeth(stage: Stage) -> list[Sprite]:
    face = _face(stage, blink_probability=0.0)
    return face.sprites + _light_stick_stroke(stage, face, BRUSH_DX, (MOUTH_DY, MOUTH_DY), 0.0, "toothbrush")


def shaving_beard(stage: Stage) -> list[Sprite]:
    face = _face(stage, blink_probability=0.0)
    return face.sprites + _light_stick_stroke(stage, face, RAZOR_DX, RAZOR_DY, np.pi / 2.0, "razor")


def apply_lipstick(stage: Stage) -> list[Sprite]:
    face = _face(stage, blink_probability=BLINK_PROBABILITY)
    tilt = stage.uniform(-LIPSTICK_TILT, LIPSTICK_TILT)
    case = palette.pick(stage.rng, ((150, 10, 30), (110, 0, 40), (190, 30, 60)), 12.0)
    red = palette.jitter(stage.rng, (225, 15, 35), 15.0)
    x0, y0 = face.point(face.side * stage.uniform(*LIPSTICK_DX), MOUTH_DY)
    rest_length = LIPSTICK_REST_FRACTION * stage.frames
    rest_start = stage.uniform(0.0, 1.0) * (stage.frames - rest_length)
    angle = stage.uniform(-STROKE_SPREAD, STROKE_SPREAD)
    tau = stage.speed * active_time(stage.frames, rest_start, rest_length)
    dx, dy = _stroke(stage, face, angle, LIPSTICK_AMPLITUDE, LIPSTICK_OMEGA, tau)
    return face.sprites + _stick(face, (x0 + dx, y0 + dy), tilt, LIPSTICK, (case, red), "lipstick")


def apply_eye_makeup(stage: Stage) -> list[Sprite]:
    face = _face(stage, blink_probability=0.0, force_blink=stage.probe == "eyemakeup_blink")
    tilt, phase = stage.uniform(*EYEBRUSH_TILT), stage.phase()
    handle = palette.pick(stage.rng, ((40, 30, 30), (90, 60, 40), (20, 20, 60)), 12.0)
    bristles = palette.pick(stage.rng, ((120, 60, 140), (60, 100, 160), (150, 110, 80)), 15.0)
    turn = 1.0 if stage.rng.random() < 0.5 else -1.0  # clockwise or anticlockwise
    x0, y0 = face.point(face.side * (EYE_DX + EYE_RX + 0.5), EYE_DY + 1.0)
    dx, dy = circle(stage.tau, EYEBRUSH_RADIUS * face.scale, turn * EYEBRUSH_OMEGA, phase)
    return face.sprites + _stick(face, (x0 + dx, y0 + dy), tilt, EYEBRUSH, (handle, bristles), "eyebrush")
