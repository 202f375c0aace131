"""Direction and speed tuning (generator.measures.tuning, generator.pipeline.tuning) on a
network whose units' preferred directions and speeds are known by construction."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from generator.measures.tuning import (
    SPEEDS,
    arrow,
    axis,
    direction_word,
    directions,
    drifting_inputs,
    summarise,
)
from generator.pipeline.tuning import motion_layers, tuning_responses, tuning_rows, tuning_summary
from generator.world.flow import decode_flow
from generator.zoo.loading import LoadedModel
from generator.zoo.spec import InputSpec, LayerInfo, ModelDescription

SIZE = 16
FIELDS = 2
INPUTS = (
    InputSpec("appearance", "rgb", 3, 1, SIZE, SIZE, (123.68, 116.78, 103.94)),
    InputSpec("motion", "flow", 2 * FIELDS, 1, SIZE, SIZE, None),
)
PLANTED = (0.0, 45.0, 90.0, 180.0, 270.0, 112.5)  # degrees, counter-clockwise from rightward
CLASSES = ("Right", "Up", "Left", "Down")


class DirectionNet(nn.Module):
    """Motion units: 1x1 filters reading u cos(a) - v sin(a) (the flow's component along
    direction a, up on screen at 90), so unit k prefers PLANTED[k] and, linear in speed, the
    fastest speed. Appearance units are fed zeros and cannot see motion. Class k reads motion unit k."""

    def __init__(self) -> None:
        super().__init__()
        self.app = nn.Conv2d(3, 2, 1)
        self.dirs = nn.Conv2d(2 * FIELDS, len(PLANTED), 1, bias=False)
        weight = torch.zeros(len(PLANTED), 2 * FIELDS, 1, 1)
        for k, angle in enumerate(PLANTED):
            a = np.radians(angle)
            weight[k, 0::2] = float(np.cos(a)) / FIELDS
            weight[k, 1::2] = -float(np.sin(a)) / FIELDS
        self.dirs.weight.data = weight
        self.fc = nn.Linear(len(PLANTED) + 2, len(CLASSES))
        self.fc.weight.data.zero_()
        self.fc.bias.data.fill_(-3.0)  # class scores below zero everywhere: measured above their minimum
        for k in range(len(CLASSES)):
            self.fc.weight.data[k, (0, 2, 3, 4)[k]] = 1.0

    def forward(self, appearance: torch.Tensor, motion: torch.Tensor) -> torch.Tensor:
        a = F.relu(self.app(appearance[:, :, 0]))
        m = F.relu(self.dirs(motion[:, :, 0]))
        return self.fc(torch.cat([m.mean(dim=(2, 3)), a.mean(dim=(2, 3))], dim=1))


def _loaded() -> LoadedModel:
    layers = (
        LayerInfo("appearance/app", "app", "conv2d", 2, 1, 1, 1, ("appearance",)),
        LayerInfo("motion/dirs", "dirs", "conv2d", len(PLANTED), 1, 1, 1, ("motion",)),
        LayerInfo("class", "fc", "class", len(CLASSES), 1, SIZE, 2, ("appearance", "motion"), CLASSES),
    )
    description = ModelDescription("direction_net", INPUTS, layers, CLASSES)
    return LoadedModel(DirectionNet().eval(), description, "direction-net-hash", {})


def _angle_error(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.abs((np.asarray(a) - np.asarray(b) + 180.0) % 360.0 - 180.0)


def test_drifting_inputs_hold_the_flow_and_the_data_mean() -> None:
    appearance, motion = drifting_inputs(INPUTS, 90.0, 2.0)
    assert appearance.shape == (3, 1, SIZE, SIZE) and not appearance.any()  # the data mean, in network units
    u, v = decode_flow(motion[0::2]), decode_flow(motion[1::2])
    # 8-bit flow coding: a step of 40/255 px
    assert np.allclose(u, 0.0, atol=0.1) and np.allclose(v, -2.0, atol=0.1)  # upward = rows decreasing


def test_preferred_directions_of_known_direction_units(tmp_path) -> None:
    loaded = _loaded()
    assert motion_layers(loaded) == ["motion/dirs", "class"]  # the appearance layer sees no motion
    responses = tuning_responses(loaded, "cpu", tmp_path)
    assert responses["motion/dirs"].shape == (len(PLANTED), 16, len(SPEEDS))
    summary = tuning_summary(loaded, responses)
    found = summary["motion/dirs"]
    # The vector sum of a half-wave rectified cosine points at its peak: exact up to the 8-bit flow coding.
    assert _angle_error(found["preferred_direction"], PLANTED).max() < 2.0
    assert np.all(found["preferred_speed"] == SPEEDS[-1])  # linear in speed: the fastest wins
    # A half-wave rectified cosine over N even directions: |sum| = N/4 and sum = N/pi, so DSI = pi/4.
    assert found["direction_selectivity"] == pytest.approx(np.pi / 4, abs=0.02)
    classes = summary["class"]
    assert _angle_error(classes["preferred_direction"], [0.0, 90.0, 180.0, 270.0]).max() < 2.0
    assert [axis(a) for a in classes["preferred_direction"]] == [
        "horizontal",
        "vertical",
        "horizontal",
        "vertical",
    ]
    # cached: a second call reads the file, same numbers
    again = tuning_responses(loaded, "cpu", tmp_path)
    assert np.array_equal(again["motion/dirs"], responses["motion/dirs"])
    rows = tuning_rows(
        {("motion/dirs", 2): "motion/dirs/0002", ("appearance/app", 0): "appearance/app/0000"}, responses
    )
    assert len(rows) == 16 * len(SPEEDS) and {r["unit_id"] for r in rows} == {"motion/dirs/0002"}
    best = max(rows, key=lambda r: r["response"])
    assert best["direction"] == 90.0 and best["speed"] == SPEEDS[-1]


def test_summary_of_untuned_and_silent_units() -> None:
    angles = directions()
    flat = np.ones((1, 16, len(SPEEDS)))
    silent = np.zeros((1, 16, len(SPEEDS)))
    one = np.zeros((1, 16, len(SPEEDS)))
    one[0, 4, 2] = 1.0  # only upward, only the middle speed
    found = summarise(np.concatenate([flat, silent, one]), angles, SPEEDS)
    assert found["direction_selectivity"][0] == pytest.approx(0.0, abs=1e-12)
    assert np.isnan(found["direction_selectivity"][1]) and np.isnan(found["preferred_direction"][1])
    assert found["direction_selectivity"][2] == pytest.approx(1.0)
    assert found["preferred_direction"][2] == pytest.approx(90.0) and found["preferred_speed"][2] == SPEEDS[2]
    assert (arrow(90.0), arrow(180.0), arrow(315.0), arrow(None)) == ("\u2191", "\u2190", "\u2198", "")
    assert (direction_word(0.0), direction_word(270.0)) == ("rightward", "downward")


def test_axis_preference_of_an_oscillation_unit() -> None:
    from generator.measures.tuning import axis_preference

    angles = directions()
    both_ways = np.abs(np.sin(np.radians(angles)))[None]  # up and down alike, nothing sideways
    preferred, selectivity = axis_preference(both_ways, angles)
    assert preferred[0] == pytest.approx(90.0) and axis(preferred[0]) == "vertical"
    assert selectivity[0] == pytest.approx(
        0.35, abs=0.02
    )  # |sin|: first cosine term over the mean (1/3), less the floor
    one_way = summarise(np.repeat(both_ways[..., None], len(SPEEDS), axis=2), angles, SPEEDS)
    assert one_way["direction_selectivity"][0] == pytest.approx(0.0, abs=1e-9)  # no one-way preference


def test_default_model_class_outputs_prefer_the_planted_axes() -> None:
    """Measured on the shipped default model: the axis preference of every class output with a
    planted axis matches it (4 of 4); the one-way preferred direction does for 3 of 4
    (JumpingJack prefers leftward drift: its planted motion is an up-and-down bounce, not a drift)."""
    from pathlib import Path

    from generator.measures.tuning import axis_preference
    from generator.world.classes import PLANTED_AXES
    from generator.zoo.loading import load

    checkpoint = Path(__file__).resolve().parents[1] / "generator/zoo/weights/default.pt"
    loaded = load("default", checkpoint)
    responses = tuning_responses(loaded, "cpu")["class"]
    summary = tuning_summary(loaded, {"class": responses})["class"]
    classes = list(loaded.description.classes)
    found = {}
    for name in PLANTED_AXES:
        i = classes.index(name)
        speed = SPEEDS.index(summary["preferred_speed"][i])
        preferred, _ = axis_preference(responses[i][:, speed][None], directions())
        found[name] = (axis(preferred[0]), axis(summary["preferred_direction"][i]))
    assert all(found[name][0] == planted for name, planted in PLANTED_AXES.items()), found
    assert sum(found[name][1] == planted for name, planted in PLANTED_AXES.items()) >= 3, found
