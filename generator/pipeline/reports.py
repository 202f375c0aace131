"""What the stages report, as lines for the terminal: pure functions of their summaries."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from generator.pipeline.assemble import AssembleSummary
    from generator.pipeline.build import BuildSummary
    from generator.pipeline.select import Selection
    from generator.pipeline.visualize import StageSummary


def visualized_lines(
    summary: StageSummary, selection: Selection, device: torch.device, output: Path
) -> list[str]:
    """The visualize stage's totals and each failure."""
    lines = [
        f"Visualized {summary.computed} (unit, chi, seed) results, {summary.cached} found cached, "
        f"{len(summary.failed)} failed, for {selection.unit_count} units in {len(selection.layers)} layers "
        f"on {device}; results in {output}."
    ]
    return lines + [f"  failed: {what}: {reason}" for what, reason in summary.failed]


def measured_lines(summary: AssembleSummary, output: Path) -> list[str]:
    """The measure stage's counts, each media failure, and a hint when nothing was visualized yet."""
    lines = [
        f"Measured {summary.units} units and {summary.visualizations} visualizations "
        f"({len(summary.failed)} failed); media sets written {summary.media_written}, reused {summary.media_cached}; "
        f"real clips written {summary.clips_written}, reused {summary.clips_cached}; "
        f"overlays of where units fire written {summary.overlays_written}, reused {summary.overlays_cached}; "
        "speed invariance "
        f"{'measured' if summary.speed_invariance else 'left empty (no data for this model)'}. "
        f"Tables and manifest in {output}."
    ]
    lines += [f"  media failed: {what}: {reason}" for what, reason in summary.media_failed]
    if not summary.units:
        lines.append(
            "Nothing of this selection is visualized yet for this model and settings; run `atlas visualize`."
        )
    return lines


def trained_lines(card: dict) -> list[str]:
    """A trained model's held-out accuracy and its most confused pair, from its model card."""
    pairs = card.get("most_confused_pairs") or []
    clips = f" on {card['test_clips']} clips" if "test_clips" in card else ""
    pair = (
        f"; most confused pair {pairs[0]['classes'][0]} / {pairs[0]['classes'][1]} ({100 * pairs[0]['rate']:.1f} %)"
        if pairs
        else ""
    )
    return [f"Test accuracy {100 * card['test_accuracy']:.1f} %{clips}{pair}."]


def verified_lines(output: Path, damaged: tuple[Path, ...], heal: bool) -> list[str]:
    """How many stored files of ``output`` were damaged, and what happens to them."""
    action = "removed; this build recomputes them" if heal else "run without --dry-run to recompute them"
    return [f"Verified {output}: {len(damaged)} damaged file(s)" + (f" ({action})." if damaged else ".")]


def built_lines(summary: BuildSummary) -> list[str]:
    """The build's totals, each failed visualization and where to open the site."""
    lines = [
        f"Atlas built: {summary.units_done} of {summary.units} units done; {summary.computed} visualizations "
        f"computed, {summary.cached} skipped as cached, {summary.failed} failed."
    ]
    lines += [f"  failed: {what}: {reason}" for what, reason in summary.failures]
    return lines + [f"Open {summary.index}"]
