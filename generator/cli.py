"""The ``atlas`` command line: train, inspect and (as stages land) build the feature atlas.

Every command reads one configuration (``--config``, default ``atlas_config.yaml`` in the
current folder when present, else the built-in defaults), applies ``--set KEY=VALUE``
overrides and its own options, validates, and only then starts work. Problems the user can
fix are reported as one paragraph on stderr with exit code 2, never as a traceback.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Any, Callable, Optional

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


def user_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Report AtlasError as a one-paragraph message and exit 2."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except AtlasError as error:
            typer.secho(f"Error: {error}", fg=typer.colors.RED, err=True)
            raise typer.Exit(code=2) from None
        except KeyboardInterrupt:
            typer.secho("Interrupted; finished results are kept and a rerun continues.", err=True)
            raise typer.Exit(code=130) from None

    return wrapper


def resolve_config(config: Optional[Path], sets: Optional[list[str]], **fields: Any) -> AtlasConfig:
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
    config: Optional[Path] = ConfigOption,
    sets: Optional[list[str]] = SetOption,
    checkpoint: Optional[Path] = typer.Option(
        None, help="Where to write the checkpoint (the model card goes beside it as .card.json)."
    ),
    epochs: Optional[int] = typer.Option(None, min=1, help="Training epochs (train.epochs)."),
    seed: Optional[int] = typer.Option(None, min=0, help="Training seed (train.seed)."),
) -> None:
    """Train the default two-stream network on the synthetic world and write its checkpoint and model card.

    The same configuration and seed give the same weights. Clips are rendered once and cached in
    data.cache_dir. The card records held-out accuracy, the confusion matrix, the counterfactual
    probe results, the command, the configuration and data/code hashes.
    """
    from generator.train import command_line, train_default

    cfg = resolve_config(config, sets, **{"train.checkpoint": checkpoint, "train.epochs": epochs, "train.seed": seed})
    card = train_default(cfg, command=command_line(), progress=sys.stderr.isatty())
    pair = card["most_confused_pairs"][0]
    typer.echo(
        f"Test accuracy {100 * card['test_accuracy']:.1f} %; most confused pair "
        f"{pair['classes'][0]} / {pair['classes'][1]} ({100 * pair['rate']:.1f} %)."
    )


@app.command()
@user_errors
def layers(
    config: Optional[Path] = ConfigOption,
    sets: Optional[list[str]] = SetOption,
    model: Optional[str] = typer.Option(None, help="Model source (model.source), e.g. default or fusion_vgg16."),
    checkpoint: Optional[Path] = typer.Option(None, help="Checkpoint file (model.checkpoint)."),
) -> None:
    """List the model's addressable layers with unit counts, stride and receptive field."""
    from generator.zoo import load

    cfg = resolve_config(config, sets, **{"model.source": model, "model.checkpoint": checkpoint})
    loaded = load(cfg.model.source, cfg.model.checkpoint, weights=cfg.model.weights)
    desc = loaded.description
    typer.echo(f"model {desc.name}  hash {loaded.model_hash[:16]}")
    for spec in desc.inputs:
        typer.echo(f"  input {spec.name}: {spec.kind} {spec.channels}x{spec.frames}x{spec.height}x{spec.width}")
    typer.echo(f"{'layer':<28}{'units':>7}{'stride':>8}{'rf':>6}{'depth':>7}  streams")
    total = 0
    for layer in desc.layers:
        total += layer.units
        typer.echo(
            f"{layer.name:<28}{layer.units:>7}{layer.stride:>8}{layer.receptive_field:>6}{layer.depth:>7}"
            f"  {'+'.join(layer.streams)}"
        )
    typer.echo(f"{len(desc.layers)} layers, {total} units")


LayersOption = typer.Option(None, "--layers", help="Comma-separated layer names (default: the configured layers).")
UnitsOption = typer.Option(None, "--units", help="Unit indices and ranges within each layer, e.g. 0-9,17.")
OutputOption = typer.Option(None, "--output", "-o", help="Output folder (output).")
DeviceOption = typer.Option(None, "--device", help="auto, cpu, cuda or cuda:N (visualize.device).")


def _visualize(cfg: AtlasConfig, layers: Optional[str], units: Optional[str], progress: bool) -> None:
    from generator.pipeline.model import load_configured_model
    from generator.pipeline.select import resolve_device, select_units
    from generator.pipeline.statistics import data_statistics
    from generator.pipeline.visualize import visualize_stage

    device = resolve_device(cfg.visualize.device)
    loaded = load_configured_model(cfg, log=typer.echo)
    selection = select_units(cfg, loaded.description, layers, units)
    stats = data_statistics(loaded, cfg, cfg.output, device, progress=progress)
    rho = {name: item.peaks for name, item in stats.items()} if stats else None
    summary = visualize_stage(loaded, cfg, selection, cfg.output, device, rho=rho, progress=progress)
    typer.echo(
        f"Visualised {summary.computed} (unit, chi, seed) results, {summary.cached} found cached, "
        f"{len(summary.failed)} failed, for {selection.unit_count} units in {len(selection.layers)} layers "
        f"on {device}; results in {cfg.output}."
    )
    for what, reason in summary.failed:
        typer.echo(f"  failed: {what}: {reason}")


@app.command()
@user_errors
def visualize(
    config: Optional[Path] = ConfigOption,
    sets: Optional[list[str]] = SetOption,
    layers: Optional[str] = LayersOption,
    units: Optional[str] = UnitsOption,
    output: Optional[Path] = OutputOption,
    device: Optional[str] = DeviceOption,
) -> None:
    """Run activation maximisation for the selected units at every chi and seed.

    Results are stored one file per (unit, chi, seed) under OUTPUT/results, keyed by the model
    hash and the settings; existing results are never recomputed, so an interrupted run continues
    where it stopped.
    """
    cfg = resolve_config(config, sets, **{"output": output, "visualize.device": device})
    _visualize(cfg, layers, units, progress=sys.stderr.isatty())


@app.command()
@user_errors
def build(
    config: Optional[Path] = ConfigOption,
    sets: Optional[list[str]] = SetOption,
    layers: Optional[str] = LayersOption,
    units: Optional[str] = UnitsOption,
    output: Optional[Path] = OutputOption,
    device: Optional[str] = DeviceOption,
) -> None:
    """Build the atlas: load (or first train) the model, measure it on held-out clips, visualise every unit.

    Each stage is resumable: results already in OUTPUT under the same model and settings are reused.
    """
    cfg = resolve_config(config, sets, **{"output": output, "visualize.device": device})
    _visualize(cfg, layers, units, progress=sys.stderr.isatty())


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
