"""The ``atlas`` command line: train, inspect and (as stages land) build the feature atlas.

Every command reads one configuration (``--config``, default ``atlas_config.yaml`` in the
current folder when present, else the built-in defaults), applies ``--set KEY=VALUE``
overrides and its own options, validates, and only then starts work. Problems the user can
fix are reported as one paragraph on stderr with exit code 2, never as a traceback.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from generator.config import DEFAULT_CONFIG_NAME, AtlasConfig, load_config, parse_overrides
from generator.errors import AtlasError

if TYPE_CHECKING:
    from generator.pipeline.distributed import Cluster

app = typer.Typer(
    name="atlas",
    help=(
        "Build a browsable feature atlas of a video action-recognition network: "
        "activation maximisation of every unit at several temporal weights chi, "
        "measures, videos and a static MkDocs site."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
)

ConfigOption = typer.Option(
    None,
    "--config",
    "-c",
    help=f"Configuration YAML file. Default: ./{DEFAULT_CONFIG_NAME} when present, else the built-in defaults.",
    show_default=False,
)
SetOption = typer.Option(
    None,
    "--set",
    help="Override one configuration field, e.g. --set visualize.steps=100 (repeatable; values are YAML).",
    show_default=False,
)


@app.callback()
def _options(
    debug: bool = typer.Option(
        False, "--debug", help="On an error, also print the traceback (e.g. of a failing model function)."
    ),
) -> None:
    """Options for every command (give them before the command: `atlas --debug build`)."""


def _debugging() -> bool:
    from typer._click.globals import get_current_context  # typer's own click, which runs the commands

    context = get_current_context(silent=True)
    return bool(context is not None and context.find_root().params.get("debug"))


def user_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Report AtlasError (and a full disk) as a one-paragraph message and exit 2; the traceback
    only with --debug."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except AtlasError as error:
            if _debugging() and error.__cause__ is not None:
                import traceback

                traceback.print_exception(error.__cause__, file=sys.stderr)
            typer.secho(f"Error: {error}", fg=typer.colors.RED, err=True)
            raise typer.Exit(code=2) from None
        except KeyboardInterrupt:
            typer.secho("Interrupted; finished results are kept and a rerun continues.", err=True)
            raise typer.Exit(code=130) from None
        except Exception as error:
            if not _disk_full(error) or _debugging():
                raise
            typer.secho(f"Error: {_disk_full_message(error, kwargs)}", fg=typer.colors.RED, err=True)
            raise typer.Exit(code=2) from None

    return wrapper


def _disk_full(error: BaseException) -> bool:
    """Whether ``error`` (or what caused it) is 'no space left on device'."""
    import errno

    seen: BaseException | None = error
    while seen is not None:
        if getattr(seen, "errno", None) == errno.ENOSPC or "No space left on device" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _disk_full_message(error: BaseException, options: dict[str, Any]) -> str:
    try:
        output = str(
            resolve_config(options.get("config"), options.get("sets"), output=options.get("output")).output
        )
    except AtlasError:
        output = str(options.get("output") or "the output folder")
    from generator.store.space import free_bytes, megabytes

    where = getattr(error, "filename", None)
    short = _disk_shortage(error)
    free = free_bytes(output)
    room = f"{megabytes(free)} free" if free is not None else "the free space unknown"
    need = (
        f"What the media stage has still to write needs about {megabytes(short.needed_bytes)} ({short.what}), {room}. "
        if short is not None
        else f"The disk has {room}. "
    )
    return (
        f"The disk holding the output folder {output} is full (no space left on device"
        f"{f' while writing {where}' if where else ''}). {need}Free space there or choose another folder with "
        "--output; finished results are kept and a rerun continues where this one stopped "
        "(`atlas build --dry-run` estimates what is still to do)."
    )


def _disk_shortage(error: BaseException):
    """The DiskFull (with its estimate of the space still needed) in ``error``'s chain, or None."""
    from generator.store.space import DiskFull

    seen: BaseException | None = error
    while seen is not None and not isinstance(seen, DiskFull):
        seen = seen.__cause__ or seen.__context__
    return seen


def resolve_config(config: Path | None, sets: list[str] | None, **fields: Any) -> AtlasConfig:
    """Load the configuration and apply --set overrides, then the command's own non-empty options."""
    path = config
    if path is None and Path(DEFAULT_CONFIG_NAME).is_file():
        path = Path(DEFAULT_CONFIG_NAME)
    overrides = parse_overrides(list(sets or []))
    overrides.update({key: value for key, value in fields.items() if value is not None})
    return load_config(path, overrides)


@app.command()
@user_errors
def train(
    config: Path | None = ConfigOption,
    sets: list[str] | None = SetOption,
    checkpoint: Path | None = typer.Option(
        None, help="Where to write the checkpoint (the model card goes beside it as .card.json)."
    ),
    epochs: int | None = typer.Option(None, min=1, help="Training epochs (train.epochs)."),
    seed: int | None = typer.Option(None, min=0, help="Training seed (train.seed)."),
) -> None:
    """Train the default network on the world, or train.recipe's on a data set.

    With data.source folder, the train.recipe network is trained on the data set on disk with the
    paper's recipe (stream by stream, then the fusion stage). Writes the checkpoint and, beside it, the model card. The same configuration and seed give
    the same weights. Clips are rendered once and cached in data.cache_dir. The card records
    held-out accuracy, the confusion matrix, the counterfactual probe results, the command, the
    configuration and data/code hashes.
    """
    from generator.train import command_line, train_default

    cfg = resolve_config(
        config, sets, **{"train.checkpoint": checkpoint, "train.epochs": epochs, "train.seed": seed}
    )
    if (
        cfg.data.source == "folder"
    ):  # the recipe's network on a data set on disk (README "Train the paper's network")
        from generator.training.run import train_on_folder

        folder_card = train_on_folder(cfg, command=command_line(), progress=sys.stderr.isatty())
        if folder_card is not None:  # rank 0
            pair = folder_card["most_confused_pairs"][0] if folder_card["most_confused_pairs"] else None
            typer.echo(
                f"Test accuracy {100 * folder_card['test_accuracy']:.1f} % on {folder_card['test_clips']} "
                f"clips"
                + (f"; most confused pair {pair['classes'][0]} / {pair['classes'][1]}" if pair else "")
                + "."
            )
        return
    card = train_default(cfg, command=command_line(), progress=sys.stderr.isatty())
    pair = card["most_confused_pairs"][0]
    typer.echo(
        f"Test accuracy {100 * card['test_accuracy']:.1f} %; most confused pair "
        f"{pair['classes'][0]} / {pair['classes'][1]} ({100 * pair['rate']:.1f} %)."
    )


@app.command()
@user_errors
def layers(
    config: Path | None = ConfigOption,
    sets: list[str] | None = SetOption,
    model: str | None = typer.Option(None, help="Model source (model.source), e.g. default or fusion_vgg16."),
    checkpoint: Path | None = typer.Option(None, help="Checkpoint file (model.checkpoint)."),
) -> None:
    """List the model's layers with unit counts, stride and receptive field."""
    from generator.zoo import load

    cfg = resolve_config(config, sets, **{"model.source": model, "model.checkpoint": checkpoint})
    loaded = load(cfg.model.source, cfg.model.checkpoint, weights=cfg.model.weights)
    desc = loaded.description
    typer.echo(f"model {desc.name}  hash {loaded.model_hash[:16]}")
    for spec in desc.inputs:
        typer.echo(
            f"  input {spec.name}: {spec.kind} {spec.channels}x{spec.frames}x{spec.height}x{spec.width}"
        )
    typer.echo(f"{'layer':<28}{'units':>7}{'stride':>8}{'rf':>6}{'depth':>7}  streams")
    total = 0
    for layer in desc.layers:
        total += layer.units
        typer.echo(
            f"{layer.name:<28}{layer.units:>7}{layer.stride:>8}{layer.receptive_field:>6}{layer.depth:>7}"
            f"  {'+'.join(layer.streams)}"
        )
    typer.echo(f"{len(desc.layers)} layers, {total} units")
    for note in desc.notes:
        typer.echo(f"note: {note}")


LayersOption = typer.Option(
    None, "--layers", help="Comma-separated layer names (default: the configured layers)."
)
UnitsOption = typer.Option(None, "--units", help="Unit indices and ranges within each layer, e.g. 0-9,17.")
OutputOption = typer.Option(None, "--output", "-o", help="Output folder (output).")
DeviceOption = typer.Option(None, "--device", help="auto, cpu, cuda or cuda:N (visualize.device).")
DryRunOption = typer.Option(
    False, "--dry-run", help="Print the plan (layers, unit counts, chi, seeds, rows, time estimate) and stop."
)
PublishOption = typer.Option(
    False,
    "--publish",
    help="The site is to be published: refuse to build it without site.site_url (site.publish).",
)
WorkersOption = typer.Option(
    2,
    "--workers",
    min=1,
    help="Processes writing videos, and on the CPU running the optimisation (each with its share of the threads).",
)
SITE_DIR = "site"


def _progress(cluster: Cluster) -> bool:
    """Progress bars on an interactive terminal, shown by rank 0 only."""
    return sys.stderr.isatty() and cluster.is_main


def _session(cfg: AtlasConfig):
    """The ranks of this run when torchrun started it (joined for the block), else a world of one."""
    from generator.pipeline.distributed import cluster_session
    from generator.pipeline.select import resolve_device

    return cluster_session(resolve_device(cfg.visualize.device))


def _dry_run(
    cfg: AtlasConfig, layers: str | None, units: str | None, with_media: bool, workers: int = 1
) -> None:
    import os

    from generator.pipeline.distributed import detect
    from generator.pipeline.plan import format_plan, make_plan

    if not detect(os.environ).is_main:
        return
    plan, _ = make_plan(cfg, layers, units, workers=workers)
    for line in format_plan(plan, with_media=with_media):
        typer.echo(line)


def _prepare(
    cfg: AtlasConfig,
    layers: str | None,
    units: str | None,
    progress: bool,
    train_missing: bool,
    cluster: Cluster,
):
    """The model (the default one trained first when ``train_missing``), the selection, this rank's
    device and the model's statistics on held-out clips (None when the synthetic world does not fit
    it). Rank 0 trains first; the other ranks then find the model on disk."""
    from generator.pipeline.distributed import main_first, rank_device
    from generator.pipeline.model import load_configured_model
    from generator.pipeline.select import resolve_device, select_units
    from generator.pipeline.statistics import load_statistics
    from generator.zoo import load

    device = rank_device(resolve_device(cfg.visualize.device), cluster)

    def load_all():
        if train_missing:
            loaded = load_configured_model(cfg, log=typer.echo)
        else:
            loaded = load(cfg.model.source, cfg.model.checkpoint, weights=cfg.model.weights)
        selection = select_units(cfg, loaded.description, layers, units)
        return loaded, selection

    loaded, selection = main_first(cluster, load_all)
    # Every rank prepares and measures its share of the clips; the shares are merged on every rank.
    stats = load_statistics(
        loaded, cfg, cfg.output, device, progress=progress, cluster=cluster, log=typer.echo
    )
    return loaded, selection, device, stats


def _visualize(
    cfg: AtlasConfig,
    layers: str | None,
    units: str | None,
    progress: bool,
    cluster: Cluster,
    workers: int = 1,
):
    """Load (or first train) the model, measure it on held-out clips, visualise the selection
    (each rank its shard under torchrun; rank 0 reports the totals)."""
    from generator.pipeline.sharded import visualize_sharded
    from generator.pipeline.statistics import unit_scales

    loaded, selection, device, stats = _prepare(
        cfg, layers, units, progress, train_missing=True, cluster=cluster
    )
    rho = unit_scales(stats, loaded, cfg.visualize.objective) if stats else None
    summary = visualize_sharded(
        loaded, cfg, selection, cfg.output, device, cluster, rho, progress, typer.echo, workers
    )
    if not cluster.is_main:
        return loaded, selection, device, stats, summary
    typer.echo(
        f"Visualised {summary.computed} (unit, chi, seed) results, {summary.cached} found cached, "
        f"{len(summary.failed)} failed, for {selection.unit_count} units in {len(selection.layers)} layers "
        f"on {device}; results in {cfg.output}."
    )
    for what, reason in summary.failed:
        typer.echo(f"  failed: {what}: {reason}")
    return loaded, selection, device, stats, summary


def _measure(
    cfg: AtlasConfig, loaded, selection, device, stats, workers: int, progress: bool, cluster: Cluster
):
    """The measure stage (each rank its shard under torchrun); rank 0 reports and returns the summary."""
    from generator.pipeline.assemble import Measuring
    from generator.pipeline.sharded import assemble_sharded

    run = Measuring(loaded, cfg, cfg.output, device, stats, progress, workers)
    summary = assemble_sharded(run, selection, cluster, log=typer.echo)
    if summary is None:
        return None
    typer.echo(
        f"Measured {summary.units} units and {summary.visualizations} visualisations "
        f"({len(summary.failed)} failed); media sets written {summary.media_written}, reused {summary.media_cached}; "
        f"real clips written {summary.clips_written}, reused {summary.clips_cached}; speed invariance "
        f"{'measured' if summary.speed_invariance else 'left empty (no data for this model)'}. "
        f"Tables and manifest in {cfg.output}."
    )
    for what, reason in summary.media_failed:
        typer.echo(f"  media failed: {what}: {reason}")
    if not summary.units:
        typer.echo(
            "Nothing of this selection is visualised yet for this model and settings; run `atlas visualize`."
        )
    return summary


def _render_site(cfg: AtlasConfig) -> Path:
    from generator.site import render_site

    if not cfg.site.site_url:
        typer.secho(
            "WARNING: site.site_url is not set, so this site is not citable: permalinks, BibTeX entries, copied "
            "links and the unit JSON files hold site-relative URLs. Set site.site_url (and site.publish: true) "
            "before publishing it.",
            err=True,
            fg=typer.colors.YELLOW,
            bold=True,
        )
    site = render_site(
        cfg.output,
        cfg.output / SITE_DIR,
        title=cfg.site.title,
        site_url=cfg.site.site_url,
        author=cfg.site.author,
        publish=cfg.site.publish,
        log=lambda line: typer.echo(f"  site {line}"),
    )
    return site


@app.command()
@user_errors
def visualize(
    config: Path | None = ConfigOption,
    sets: list[str] | None = SetOption,
    layers: str | None = LayersOption,
    units: str | None = UnitsOption,
    output: Path | None = OutputOption,
    device: str | None = DeviceOption,
    dry_run: bool = DryRunOption,
    workers: int = WorkersOption,
) -> None:
    """Run activation maximisation for the selected units at every chi and seed.

    Results are stored one file per (unit, chi, seed) under OUTPUT/results, keyed by the model
    hash and the settings; finished results are never recomputed, so an interrupted run continues
    where it stopped (a damaged result file is recomputed, a failed result retried). Under torchrun
    each rank visualises its share of the units.
    """
    cfg = resolve_config(config, sets, **{"output": output, "visualize.device": device})
    if dry_run:
        _dry_run(cfg, layers, units, with_media=False, workers=workers)
        return
    with _locked(cfg), _session(cfg) as cluster:
        _visualize(cfg, layers, units, _progress(cluster), cluster, workers)


@app.command()
@user_errors
def measure(
    config: Path | None = ConfigOption,
    sets: list[str] | None = SetOption,
    layers: str | None = LayersOption,
    units: str | None = UnitsOption,
    output: Path | None = OutputOption,
    device: str | None = DeviceOption,
    workers: int = WorkersOption,
) -> None:
    """Measure what has been visualised; write its videos, tables and manifest.

    Computes (once, cached) the model's statistics and predictions on held-out clips, writes
    the videos of every stored visualisation and of the real clips the atlas shows (existing
    videos are kept), measures selectivity and invariance, and rewrites the tables and
    manifest in OUTPUT from what is stored. Under torchrun each rank measures its share of the
    units into part files and rank 0 merges them.
    """
    cfg = resolve_config(config, sets, **{"output": output, "visualize.device": device})
    with _locked(cfg), _session(cfg) as cluster:
        progress = _progress(cluster)
        loaded, selection, run_on, stats = _prepare(
            cfg, layers, units, progress, train_missing=False, cluster=cluster
        )
        _measure(cfg, loaded, selection, run_on, stats, workers, progress, cluster)


@app.command()
@user_errors
def site(
    config: Path | None = ConfigOption,
    sets: list[str] | None = SetOption,
    output: Path | None = OutputOption,
    publish: bool = PublishOption,
) -> None:
    """Render the static site from OUTPUT's tables and media into OUTPUT/site.

    MkDocs builds it in strict mode (a missing file or broken link is an error). Uses site.title,
    site.site_url and site.author of the configuration. Run `atlas measure` (or `atlas build`)
    first.
    """
    cfg = resolve_config(config, sets, **{"output": output, "site.publish": publish or None})
    with _locked(cfg, create=False):
        built = _render_site(cfg)
    typer.echo(f"Site built in {built}; open {built / 'index.html'} or run `atlas serve`.")


@app.command()
@user_errors
def serve(
    config: Path | None = ConfigOption,
    sets: list[str] | None = SetOption,
    output: Path | None = OutputOption,
    host: str = typer.Option(
        "127.0.0.1", "--host", help="Address to listen on (0.0.0.0 for every interface)."
    ),
    port: int = typer.Option(
        8000, "--port", min=0, max=65535, help="Port to listen on (0 picks a free one)."
    ),
) -> None:
    """Serve OUTPUT/site over HTTP until Ctrl-C, rendering it first if missing."""
    from generator.site import serve_site

    cfg = resolve_config(config, sets, **{"output": output})
    folder = cfg.output / SITE_DIR
    if not (folder / "index.html").is_file():
        folder = _render_site(cfg)
    serve_site(folder, host, port)


@app.command()
@user_errors
def build(
    config: Path | None = ConfigOption,
    sets: list[str] | None = SetOption,
    layers: str | None = LayersOption,
    units: str | None = UnitsOption,
    output: Path | None = OutputOption,
    device: str | None = DeviceOption,
    workers: int = WorkersOption,
    dry_run: bool = DryRunOption,
    verify: bool = typer.Option(
        False,
        "--verify",
        help="First check every stored file in OUTPUT (results, statistics, videos, images, tables) and remove "
        "the damaged ones, which the build then recomputes; with --dry-run only report them.",
    ),
    publish: bool = PublishOption,
) -> None:
    """Build the atlas: model, statistics, visualisations, videos, tables, site.

    Loads the model (training the default one first when it has no checkpoint), measures it on
    held-out clips, visualises every selected unit, writes videos, measures, tables and manifest,
    and renders the site into OUTPUT/site. Each stage is resumable: results, statistics and
    videos already in OUTPUT under the same model and settings are reused; tables, manifest and
    site are rewritten from them. The same command runs under torchrun (any number of processes
    and machines sharing OUTPUT): the units are sharded across the ranks and rank 0 merges the
    tables and renders the site.
    """
    cfg = resolve_config(
        config, sets, **{"output": output, "visualize.device": device, "site.publish": publish or None}
    )
    if dry_run:
        if verify:
            _verify_output(cfg.output, heal=False)
        _dry_run(cfg, layers, units, with_media=True, workers=workers)
        return
    with _locked(cfg):
        if verify:
            _verify_output(cfg.output, heal=True)
        with _session(cfg) as cluster:
            progress = _progress(cluster)
            loaded, selection, run_on, stats, visualised = _visualize(
                cfg, layers, units, progress, cluster, workers
            )
            measured = _measure(cfg, loaded, selection, run_on, stats, workers, progress, cluster)
        if (
            measured is None
        ):  # a rank other than 0: its share is in, rank 0 merges the tables and renders the site
            return
        built = _render_site(cfg)
    done = measured.units - len({what.split(" chi=")[0] for what, _ in measured.failed})
    typer.echo(
        f"Atlas built: {done} of {measured.units} units done; {visualised.computed} visualisations computed, "
        f"{visualised.cached} skipped as cached, {len(measured.failed)} failed."
    )
    for what, reason in measured.failed:
        typer.echo(f"  failed: {what}: {reason}")
    typer.echo(f"Open {built / 'index.html'}")


def _locked(cfg: AtlasConfig, create: bool = True):
    """Hold the output folder's lock for a run that writes it (under torchrun, rank 0 holds it for
    all ranks); leftovers of killed runs are removed once it is held."""
    import os

    from generator.pipeline.distributed import detect
    from generator.store.lock import output_lock

    return output_lock(cfg.output, enabled=detect(os.environ).is_main, log=typer.echo, create=create)


def _verify_output(output: Path, heal: bool) -> None:
    """Check every stored file of the output folder; remove the damaged ones when ``heal``."""
    from generator.store.verify import verify_folder

    damaged = verify_folder(output, heal=heal, log=typer.echo)
    action = "removed; this build recomputes them" if heal else "run without --dry-run to recompute them"
    typer.echo(f"Verified {output}: {len(damaged)} damaged file(s)" + (f" ({action})." if damaged else "."))


world_app = typer.Typer(help="The synthetic action world.", no_args_is_help=True)
app.add_typer(world_app, name="world")


@world_app.command("export")
@user_errors
def world_export(
    directory: Path = typer.Argument(..., help="Folder to write the data set into (created if missing)."),
    layout: str = typer.Option(
        "frames",
        "--layout",
        help="ucf101 (MP4s + classInd.txt + testlist01.txt) or "
        "frames (img_/flow_x_/flow_y_ JPEGs in the paper's coding + list.txt).",
    ),
    split: str = typer.Option("test", "--split", help="test or train: which clips of the world to write."),
    clips_per_class: int | None = typer.Option(
        None, "--clips-per-class", min=1, help="Clips per class; default the data section's count."
    ),
    config: Path | None = ConfigOption,
    sets: list[str] | None = SetOption,
) -> None:
    """Write the synthetic world as a data set on disk that `data.source: folder` reads.

    An example data set for the folder source (README "Your own data set"), and a test of it:
    the default model measured on the exported frames layout gives the synthetic path's numbers.
    """
    from generator.data.export import LAYOUTS, export_world
    from generator.errors import ConfigError
    from generator.train import world_spec

    if layout not in LAYOUTS:
        raise ConfigError(f"--layout must be one of {', '.join(LAYOUTS)}, got {layout!r}.")
    if split not in ("test", "train"):
        raise ConfigError(f"--split must be test or train, got {split!r}.")
    cfg = resolve_config(config, sets)
    count = clips_per_class or (
        cfg.data.test_clips_per_class if split == "test" else cfg.data.train_clips_per_class
    )
    out = export_world(
        world_spec(cfg), split, count, cfg.data.cache_dir, directory, layout, progress=sys.stderr.isatty()
    )
    typer.echo(f"Wrote {count} {split} clips per class as a {layout} data set in {out}.")


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
