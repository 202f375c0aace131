"""The dry-run estimate: a calibrated cost per layer, summed as the build runs its batches."""

from __future__ import annotations

import pytest
import torch

from generator.config import load_config
from generator.pipeline.plan import LayerCost, Plan, batch_rows, make_plan


def _plan(costs: tuple[LayerCost, ...], workers: int = 1, start: float = 0.0) -> Plan:
    return Plan(
        "m", "h", "cpu", (("a", 4, 12, 0),), (1.0, 10.0, 100.0), (0,), 100, True, costs, workers, start
    )


def test_estimate_sums_batches_of_fixed_cost_and_steps() -> None:
    costs = (LayerCost("a", 16, 3, step_seconds=0.01, batch_seconds=0.5), LayerCost("b", 8, 1, 0.02, 0.1))
    # a: 3 x (0.5 + 100 x 0.01) = 4.5 s; b: 1 x (0.1 + 100 x 0.02) = 2.1 s
    assert _plan(costs).estimate_seconds == pytest.approx(6.6)
    assert _plan(costs, workers=2, start=3.0).estimate_seconds == pytest.approx(3.0 + 3.3)
    assert _plan(()).estimate_seconds == 0.0
    assert Plan("m", "h", "cpu", (), (1.0,), (0,), 10, True, None).estimate_seconds is None


def test_batches_are_the_builds() -> None:
    config = load_config(None, {})
    assert batch_rows(config, torch.device("cpu"), 100, parallel=True) == 16  # the engine's CPU batch
    assert batch_rows(config, torch.device("cpu"), 5, parallel=True) == 5
    assert batch_rows(config, torch.device("cuda"), 500, parallel=False) == 96  # a whole chunk fills the card
    assert batch_rows(load_config(None, {"visualize.batch_size": 4}), torch.device("cuda"), 500, False) == 4


def test_every_selected_layer_is_calibrated_with_the_builds_settings(tmp_path) -> None:
    config = load_config(
        None,
        {
            "model.source": "examples.two_stream:build",
            "visualize.steps": 50,
            "visualize.channels_last": False,
            "output": str(tmp_path),
        },
    )
    plan, _ = make_plan(config, "fuse,class", "0-1", workers=1)
    assert plan.layer_seconds is not None and [c.layer for c in plan.layer_seconds] == ["fuse", "class"]
    for cost in plan.layer_seconds:
        # 2 units x 3 chi x 3 views (joint and each stream alone) = 18 rows: two batches of the CPU's 16
        assert (cost.batch, cost.batches) == (16, 2)
        assert cost.step_seconds > 0 and cost.batch_seconds >= 0
    assert plan.estimate_seconds == pytest.approx(
        sum(c.batches * (c.batch_seconds + 50 * c.step_seconds) for c in plan.layer_seconds)
    )
    assert not any(tmp_path.iterdir())  # nothing stored
