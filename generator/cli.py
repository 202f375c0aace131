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
from typing import Any

import typer

from generator.config import DEFAULT_CONFIG_NAME, AtlasConfig, load_config, parse_overrides
from generator.errors import AtlasError

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
        f"What the media stage has still to write needs about {megabytes(short.needed_bytes)} ({short.what}), {room}; "
        "the heat-map overlays of the shown clips (site.clip_overlays) are drawn after it and need room too. "
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
    from generator.pipeline.build import train_model
    from generator.pipeline.reports import trained_lines
    from generator.train import command_line

    cfg = resolve_config(
        config, sets, **{"train.checkpoint": checkpoint, "train.epochs": epochs, "train.seed": seed}
    )
    card = train_model(cfg, command=command_line(), progress=sys.stderr.isatty())
    if card is not None:  # rank 0
        _echo_lines(trained_lines(card))


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


def _echo_lines(lines: list[str]) -> None:
    for line in lines:
        typer.echo(line)


def _warn(line: str) -> None:
    typer.secho(line, err=True, fg=typer.colors.YELLOW, bold=True)


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
    each rank visualizes its share of the units.
    """
    from generator.pipeline.build import (
        output_locked,
        plan_lines,
        session,
        show_progress,
        visualize_selection,
    )
    from generator.pipeline.reports import visualized_lines

    cfg = resolve_config(config, sets, **{"output": output, "visualize.device": device})
    if dry_run:
        _echo_lines(plan_lines(cfg, layers, units, with_media=False, workers=workers))
        return
    with output_locked(cfg, typer.echo), session(cfg) as cluster:
        done = visualize_selection(
            cfg, layers, units, cluster, workers=workers, progress=show_progress(cluster), log=typer.echo
        )
        if cluster.is_main:
            prepared = done.prepared
            _echo_lines(visualized_lines(done.summary, prepared.selection, prepared.device, cfg.output))


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
    """Measure what has been visualized; write its videos, tables and manifest.

    Computes (once, cached) the model's statistics and predictions on held-out clips, writes
    the videos of every stored visualization and of the real clips the atlas shows (existing
    videos are kept), measures selectivity and invariance, and rewrites the tables and
    manifest in OUTPUT from what is stored. Under torchrun each rank measures its share of the
    units into part files and rank 0 merges them.
    """
    from generator.pipeline.build import measure_selection, output_locked, prepare, session, show_progress
    from generator.pipeline.reports import measured_lines

    cfg = resolve_config(config, sets, **{"output": output, "visualize.device": device})
    with output_locked(cfg, typer.echo), session(cfg) as cluster:
        progress = show_progress(cluster)
        prepared = prepare(
            cfg, layers, units, cluster, train_missing=False, progress=progress, log=typer.echo
        )
        summary = measure_selection(
            cfg, prepared, cluster, workers=workers, progress=progress, log=typer.echo
        )
    if summary is not None:
        _echo_lines(measured_lines(summary, cfg.output))


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
    from generator.pipeline.build import output_locked, render

    cfg = resolve_config(config, sets, **{"output": output, "site.publish": publish or None})
    with output_locked(cfg, typer.echo, create=False):
        built = render(cfg, typer.echo, _warn)
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
    from generator.pipeline.build import render, site_folder
    from generator.site import serve_site

    cfg = resolve_config(config, sets, **{"output": output})
    folder = site_folder(cfg)
    if not (folder / "index.html").is_file():
        folder = render(cfg, typer.echo, _warn)
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
    """Build the atlas: model, statistics, visualizations, videos, tables, site.

    Loads the model (training the default one first when it has no checkpoint), measures it on
    held-out clips, visualizes every selected unit, writes videos, measures, tables and manifest,
    and renders the site into OUTPUT/site. Each stage is resumable: results, statistics and
    videos already in OUTPUT under the same model and settings are reused; tables, manifest and
    site are rewritten from them. The same command runs under torchrun (any number of processes
    and machines sharing OUTPUT): the units are sharded across the ranks and rank 0 merges the
    tables and renders the site.
    """
    from generator.pipeline.build import build as build_atlas
    from generator.pipeline.build import plan_lines, verify_output
    from generator.pipeline.reports import built_lines, verified_lines

    cfg = resolve_config(
        config, sets, **{"output": output, "visualize.device": device, "site.publish": publish or None}
    )
    if dry_run:
        if verify:
            damaged = verify_output(cfg.output, heal=False, log=typer.echo)
            _echo_lines(verified_lines(cfg.output, damaged, heal=False))
        _echo_lines(plan_lines(cfg, layers, units, with_media=True, workers=workers))
        return
    summary = build_atlas(cfg, layers, units, workers=workers, verify=verify, log=typer.echo, warn=_warn)
    if summary is not None:  # None on a rank other than 0: rank 0 reports
        _echo_lines(built_lines(summary))


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
