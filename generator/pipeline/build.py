"""The atlas build as Python calls: every command that runs stages is one function here.

    from generator.config import load_config
    from generator.pipeline.build import build
    summary = build(load_config("atlas_config.yaml"))
    print(summary.units_done, summary.site / "index.html")

:func:`build` holds the output folder's lock, joins the ranks of a torchrun run, and runs
model, statistics, visualization, measures, tables and site; it returns a
:class:`BuildSummary` on rank 0 (None on the other ranks, whose share is in the tables).
The stage functions (:func:`visualize_selection`, :func:`measure_selection`,
:func:`render`) are the steps of ``atlas visualize``, ``measure`` and ``site``. Progress
and stage reports go to ``log`` as lines; the CLI prints them.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path

import torch

from generator.config import AtlasConfig
from generator.pipeline.assemble import AssembleSummary
from generator.pipeline.distributed import Cluster
from generator.pipeline.reports import measured_lines, verified_lines, visualized_lines
from generator.pipeline.select import Selection
from generator.pipeline.statistics import DataStatistics
from generator.pipeline.visualize import StageSummary
from generator.zoo import LoadedModel

Log = Callable[[str], None]
SITE_DIR = "site"
UNCITABLE_WARNING = (
    "WARNING: site.site_url is not set, so this site is not citable: permalinks, BibTeX entries, copied "
    "links and the unit JSON files hold site-relative URLs. Set site.site_url (and site.publish: true) "
    "before publishing it."
)


def to_stderr(line: str) -> None:
    """The default for warnings: one line on stderr."""
    print(line, file=sys.stderr)


def site_folder(config: AtlasConfig) -> Path:
    """Where the site of ``config``'s atlas is rendered."""
    return config.output / SITE_DIR


def output_locked(config: AtlasConfig, log: Log = print, create: bool = True) -> AbstractContextManager[None]:
    """Hold the output folder's lock for a run that writes it (under torchrun, rank 0 holds it for
    all ranks); leftovers of killed runs are removed once it is held."""
    from generator.pipeline.distributed import detect
    from generator.store.lock import output_lock

    return output_lock(config.output, enabled=detect(os.environ).is_main, log=log, create=create)


def session(config: AtlasConfig) -> AbstractContextManager[Cluster]:
    """The ranks of this run when torchrun started it (joined for the block), else a world of one."""
    from generator.pipeline.distributed import cluster_session
    from generator.pipeline.select import resolve_device

    return cluster_session(resolve_device(config.visualize.device))


def show_progress(cluster: Cluster) -> bool:
    """Progress bars on an interactive terminal, shown by rank 0 only."""
    return sys.stderr.isatty() and cluster.is_main


def plan_lines(
    config: AtlasConfig, layers: str | None, units: str | None, with_media: bool, workers: int = 1
) -> list[str]:
    """The plan of a run (``--dry-run``) as lines; none on a rank other than 0."""
    from generator.pipeline.distributed import detect
    from generator.pipeline.plan import format_plan, make_plan

    if not detect(os.environ).is_main:
        return []
    plan, _ = make_plan(config, layers, units, workers=workers)
    return format_plan(plan, with_media=with_media)


def verify_output(output: Path, heal: bool, log: Log = print) -> tuple[Path, ...]:
    """Check every stored file of the output folder; remove the damaged ones when ``heal``; returns them."""
    from generator.store.verify import verify_folder

    return tuple(path for path, _ in verify_folder(output, heal=heal, log=log))


@dataclass(frozen=True)
class Prepared:
    """What the stages of one selection work with: the model, the selection, this rank's device and
    the model's statistics on held-out clips (None when the synthetic world does not fit it)."""

    loaded: LoadedModel
    selection: Selection
    device: torch.device
    stats: DataStatistics | None


def prepare(
    config: AtlasConfig,
    layers: str | None,
    units: str | None,
    cluster: Cluster,
    *,
    train_missing: bool,
    progress: bool,
    log: Log = print,
) -> Prepared:
    """The model (the default one trained first when ``train_missing``), the selection, this rank's
    device and the statistics. Rank 0 trains first; the other ranks then find the model on disk,
    and every rank measures its share of the held-out clips."""
    from generator.pipeline.distributed import main_first, rank_device
    from generator.pipeline.model import load_configured_model
    from generator.pipeline.select import resolve_device, select_units
    from generator.pipeline.statistics import load_statistics
    from generator.zoo import load

    device = rank_device(resolve_device(config.visualize.device), cluster)

    def load_all():
        if train_missing:
            loaded = load_configured_model(config, log=log)
        else:
            loaded = load(config.model.source, config.model.checkpoint, weights=config.model.weights)
        return loaded, select_units(config, loaded.description, layers, units)

    loaded, selection = main_first(cluster, load_all)
    # Every rank prepares and measures its share of the clips; the shares are merged on every rank.
    stats = load_statistics(
        loaded, config, config.output, device, progress=progress, cluster=cluster, log=log
    )
    return Prepared(loaded, selection, device, stats)


@dataclass(frozen=True)
class Visualized:
    """The visualize stage's outcome: what it worked on and the totals of all ranks."""

    prepared: Prepared
    summary: StageSummary


def visualize_selection(
    config: AtlasConfig,
    layers: str | None,
    units: str | None,
    cluster: Cluster,
    *,
    workers: int = 1,
    progress: bool = False,
    log: Log = print,
) -> Visualized:
    """Load (or first train) the model, measure it on held-out clips, visualize the selection
    (each rank its shard under torchrun; the summary holds the totals of all ranks)."""
    from generator.pipeline.sharded import visualize_sharded
    from generator.pipeline.statistics import unit_scales

    prepared = prepare(config, layers, units, cluster, train_missing=True, progress=progress, log=log)
    loaded, stats = prepared.loaded, prepared.stats
    rho = unit_scales(stats, loaded, config.visualize.objective) if stats else None
    summary = visualize_sharded(
        loaded,
        config,
        prepared.selection,
        config.output,
        prepared.device,
        cluster,
        rho,
        progress,
        log,
        workers,
    )
    return Visualized(prepared, summary)


def measure_selection(
    config: AtlasConfig,
    prepared: Prepared,
    cluster: Cluster,
    *,
    workers: int = 1,
    progress: bool = False,
    log: Log = print,
) -> AssembleSummary | None:
    """The measure stage (each rank its shard under torchrun); rank 0 returns the summary, the others None."""
    from generator.pipeline.assemble import Measuring
    from generator.pipeline.sharded import assemble_sharded

    run = Measuring(
        prepared.loaded, config, config.output, prepared.device, prepared.stats, progress, workers
    )
    return assemble_sharded(run, prepared.selection, cluster, log=log)


def render(config: AtlasConfig, log: Log = print, warn: Log = to_stderr) -> Path:
    """Render the site of ``config``'s atlas into OUTPUT/site; returns the site folder. ``warn``
    receives the warning that a site without site.site_url is not citable."""
    from generator.site import render_site

    if not config.site.site_url:
        warn(UNCITABLE_WARNING)
    return render_site(
        config.output,
        site_folder(config),
        title=config.site.title,
        site_url=config.site.site_url,
        author=config.site.author,
        publish=config.site.publish,
        log=lambda line: log(f"  site {line}"),
    )


@dataclass(frozen=True)
class BuildSummary:
    """What a build did and where its outputs are.

    Counts: ``units`` measured (``units_done`` of them without a failed visualization);
    ``visualizations`` rows of the visualizations table, by status ``ok``, ``weak`` and
    ``failed``; ``computed`` and ``cached`` (unit, chi, seed) optimisations of this run;
    ``pages`` HTML pages and ``site_bytes`` bytes of the site. ``failures``: each failed
    visualization with its reason; ``media_failed``: media that could not be written;
    ``skipped_clips``: clips of a data set on disk left out, with their reasons; ``damaged``:
    files ``verify`` removed. ``seconds``: wall time per stage (and the measure stage's steps).
    """

    output: Path
    site: Path
    manifest: Path
    units: int
    units_done: int
    visualizations: int
    ok: int
    weak: int
    failed: int
    computed: int
    cached: int
    pages: int
    site_bytes: int
    failures: tuple[tuple[str, str], ...] = ()
    media_failed: tuple[tuple[str, str], ...] = ()
    skipped_clips: tuple[tuple[str, str], ...] = ()
    damaged: tuple[Path, ...] = ()
    seconds: Mapping[str, float] = field(default_factory=dict)

    @property
    def index(self) -> Path:
        """The site's front page."""
        return self.site / "index.html"

    @property
    def tables(self) -> Path:
        """The folder of the Parquet tables."""
        from generator.store.schema import TABLES_DIR

        return self.output / TABLES_DIR


def build(
    config: AtlasConfig,
    layers: str | None = None,
    units: str | None = None,
    *,
    workers: int = 2,
    verify: bool = False,
    progress: bool | None = None,
    log: Log = print,
    warn: Log = to_stderr,
) -> BuildSummary | None:
    """Build the atlas of ``config``: model, statistics, visualizations, videos, tables, site.

    ``layers``/``units``: a selection as on the command line (default the configured one).
    ``workers``: processes writing videos (and on the CPU optimising). ``verify``: first check
    every stored file and remove the damaged ones, which the build then recomputes.
    ``progress``: progress bars (default: on an interactive terminal, rank 0 only). Every stage
    is resumable; under torchrun the units are sharded across the ranks, and rank 0 merges the
    tables, renders the site and returns the summary (the other ranks return None).
    """
    seconds: dict[str, float] = {}
    damaged: tuple[Path, ...] = ()
    with output_locked(config, log):
        if verify:
            damaged = verify_output(config.output, heal=True, log=log)
            for line in verified_lines(config.output, damaged, heal=True):
                log(line)
        with session(config) as cluster:
            bars = show_progress(cluster) if progress is None else progress and cluster.is_main
            clock = time.perf_counter()
            visualized = visualize_selection(
                config, layers, units, cluster, workers=workers, progress=bars, log=log
            )
            seconds["visualize"] = time.perf_counter() - clock
            prepared = visualized.prepared
            if cluster.is_main:
                for line in visualized_lines(
                    visualized.summary, prepared.selection, prepared.device, config.output
                ):
                    log(line)
            clock = time.perf_counter()
            measured = measure_selection(config, prepared, cluster, workers=workers, progress=bars, log=log)
            seconds["measure"] = time.perf_counter() - clock
        if (
            measured is None
        ):  # a rank other than 0: its share is in, rank 0 merges the tables and renders the site
            return None
        for line in measured_lines(measured, config.output):
            log(line)
        clock = time.perf_counter()
        site = render(config, log, warn)
        seconds["site"] = time.perf_counter() - clock
    return _summary(config, prepared, visualized.summary, measured, site, damaged, seconds)


def _summary(
    config: AtlasConfig,
    prepared: Prepared,
    visualized: StageSummary,
    measured: AssembleSummary,
    site: Path,
    damaged: tuple[Path, ...],
    seconds: dict[str, float],
) -> BuildSummary:
    failed_units = {what.split(" chi=")[0] for what, _ in measured.failed}
    skipped = prepared.stats.source.get("skipped", []) if prepared.stats is not None else []
    pages, size = _site_contents(site)
    return BuildSummary(
        output=config.output,
        site=site,
        manifest=measured.manifest,
        units=measured.units,
        units_done=measured.units - len(failed_units),
        visualizations=measured.visualizations,
        ok=measured.ok,
        weak=measured.weak,
        failed=len(measured.failed),
        computed=visualized.computed,
        cached=visualized.cached,
        pages=pages,
        site_bytes=size,
        failures=measured.failed,
        media_failed=measured.media_failed,
        skipped_clips=tuple((item["path"], item["reason"]) for item in skipped),
        damaged=damaged,
        seconds={**seconds, **{f"measure.{step}": value for step, value in measured.seconds.items()}},
    )


def _site_contents(site: Path) -> tuple[int, int]:
    """HTML pages and bytes of every file in the site (hard-linked media counted in full)."""
    pages = size = 0
    for path in _files(site):
        pages += path.name.endswith(".html")
        size += path.lstat().st_size
    return pages, size


def _files(folder: Path) -> Iterator[Path]:
    for entry in os.scandir(folder):
        if entry.is_dir(follow_symlinks=False):
            yield from _files(Path(entry.path))
        else:
            yield Path(entry.path)


def train_model(config: AtlasConfig, *, command: str, progress: bool) -> dict | None:
    """``atlas train``: the default network on the synthetic world, or, with ``data.source: folder``,
    train.recipe's network on the data set on disk (README "Train the paper's network"). Returns
    the model card on rank 0, None on the other ranks of a torchrun run."""
    if config.data.source == "folder":
        from generator.training.run import train_on_folder

        return train_on_folder(config, command=command, progress=progress)
    from generator.train import train_default

    return train_default(config, command=command, progress=progress)
