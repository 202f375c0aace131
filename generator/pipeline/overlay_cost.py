"""What the heat-map overlays of a build will cost (the dry run's estimate): how many, how long, how much disk.

When the statistics of the model and data are cached in the output folder, the count is exact: every
live selected unit with positions times the distinct clips its page shows (generator.pipeline.overlays
counts them the same way), less the overlays already drawn there. Before the statistics exist it is an
upper bound: every selected unit with positions counted live, with its top clips and its sampled clips
all different (and no more clips than the held-out set has, where that is known).
"""

from __future__ import annotations

from dataclasses import dataclass

from generator.config import AtlasConfig
from generator.engine.objectives import objective_mode
from generator.measures.evidence import PER_QUANTILE, QUANTILES
from generator.measures.response_map import SPATIAL_KINDS
from generator.pipeline.overlays import overlay_plan
from generator.pipeline.select import Selection
from generator.pipeline.statistics import cached_statistics, world_matches
from generator.pipeline.tables_stage import unit_measures
from generator.world import CLASSES
from generator.zoo import LoadedModel

# Wall seconds per overlay of the overlay step (maps in the main process, drawing and encoding in
# MEDIA_WORKERS processes), measured by bench/overlays_cpu.py on a 2-core CPU that was also running
# other work (load average about 4), so an upper figure: bench/results/overlays_cpu.txt.
SECONDS_PER_OVERLAY = 0.125
# Disk per overlay (MP4, poster and record at 128 px): 21.8 KiB on average over the 3,237 overlays of
# the default build (72.1 MB); bench/results/overlays_cpu.txt measured 20.7 KiB. The site links them.
OVERLAY_BYTES = 22 * 1024
SAMPLED_CLIPS = len(QUANTILES) * PER_QUANTILE  # clips a unit page shows across its activation range


@dataclass(frozen=True)
class OverlayEstimate:
    """The overlays a build will show and draw."""

    units: int  # selected units with positions
    total: int  # overlays their pages show
    todo: int  # of those, still to draw
    exact: bool  # counted from the cached statistics (else an upper bound)

    @property
    def seconds(self) -> float:
        return self.todo * SECONDS_PER_OVERLAY

    @property
    def bytes(self) -> int:
        return self.todo * OVERLAY_BYTES


def estimate_overlays(
    loaded: LoadedModel, config: AtlasConfig, selection: Selection, trained: bool = True
) -> OverlayEstimate | None:
    """The overlays of building ``selection`` (None: the build draws none, site.clip_overlays being
    false or no held-out data feeding the model); ``trained``: the model is the one the build measures
    (an untrained default model has no cached statistics yet)."""
    if not config.site.clip_overlays:
        return None
    desc = loaded.description
    spatial = [(layer, units) for layer, units in selection.layers if desc.layer(layer).kind in SPATIAL_KINDS]
    count = sum(len(units) for _, units in spatial)
    stats = cached_statistics(loaded, config, config.output) if trained else None
    if stats is not None:
        rows = []
        for layer, units in spatial:
            info = desc.layer(layer)
            measures = unit_measures(
                stats, layer, objective_mode(info, config.visualize.objective), info.kind
            )
            dead = measures["dead"] if measures is not None else None
            rows += [
                {"unit_id": desc.unit_id(layer, u), "layer": layer, "channel": u, "dead": bool(dead[u])}
                for u in units
                if dead is not None
            ]
        shown, todo = overlay_plan(desc, rows, stats, config.output, remove=False)
        return OverlayEstimate(count, len(shown), sum(len(v) for v in todo.values()), exact=True)
    if config.data.source == "folder":
        clips = None  # the data set is not listed by a dry run
    elif trained and not world_matches(loaded, config):
        return None  # no held-out data: no top clips, no overlays
    else:
        clips = config.data.test_clips_per_class * len(CLASSES)
    per_unit = config.site.top_clips + SAMPLED_CLIPS
    bound = count * (per_unit if clips is None else min(per_unit, clips))
    return OverlayEstimate(count, bound, bound, exact=False)
