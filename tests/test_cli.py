"""The command line: complete help, and one-paragraph errors instead of tracebacks."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from generator.cli import app

runner = CliRunner()


def _commands() -> list[str]:
    return sorted(command.name or command.callback.__name__ for command in app.registered_commands)


def test_top_level_help_lists_every_command() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for name in _commands():
        assert name in result.output
    assert {"train", "layers", "build"} <= set(_commands())


@pytest.mark.parametrize("name", _commands())
def test_every_command_documents_itself_and_each_option(name: str) -> None:
    result = runner.invoke(app, [name, "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    command = next(c for c in app.registered_commands if (c.name or c.callback.__name__) == name)
    assert command.callback.__doc__ and command.callback.__doc__.strip().splitlines()[0] in result.output
    import inspect

    for parameter in inspect.signature(command.callback).parameters.values():
        info = parameter.default
        assert getattr(info, "help", None), f"option {parameter.name} of {name} has no help text"


def _assert_one_paragraph_error(result, *fragments: str) -> None:
    assert result.exit_code == 2, result.output
    text = result.output.strip()
    assert text.startswith("Error:") and "Traceback" not in text
    assert "\n\n" not in text
    for fragment in fragments:
        assert fragment in text, text


def test_bad_configuration_is_one_paragraph(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("visualize:\n  chi: [1.0, -3]\n")
    result = runner.invoke(app, ["layers", "--config", str(config)])
    _assert_one_paragraph_error(result, "visualize.chi", str(config))


def test_missing_checkpoint_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.pt"
    result = runner.invoke(app, ["layers", "--model", "small_fusion", "--checkpoint", str(missing)])
    _assert_one_paragraph_error(result, str(missing))


def test_small_fusion_without_checkpoint_asks_for_explicit_weights() -> None:
    result = runner.invoke(app, ["layers", "--model", "small_fusion"])
    _assert_one_paragraph_error(result, "model.weights", "random")
    explicit = runner.invoke(app, ["layers", "--model", "small_fusion", "--set", "model.weights=random"])
    assert explicit.exit_code == 0 and "motion/conv2_1" in explicit.output


def test_checkpoint_of_the_wrong_shape_names_the_keys(tmp_path: Path) -> None:
    from generator.zoo import small_fusion

    other = small_fusion(widths=(4, 8, 8, 8), fc=8)
    path = tmp_path / "other.pt"
    torch.save(other.state_dict(), path)
    result = runner.invoke(app, ["layers", "--model", "small_fusion", "--checkpoint", str(path)])
    _assert_one_paragraph_error(result, str(path), "conv1_1")


def test_layers_lists_the_registry_of_the_default_model() -> None:
    result = runner.invoke(app, ["layers"], terminal_width=200)
    assert result.exit_code == 0, result.output
    for name in ("appearance/conv1_1", "motion/conv1_1", "fusion/conv4_fusion", "head/fc7", "class"):
        assert name in result.output


def test_publishing_without_a_site_url_is_refused_and_an_unpublished_site_warns(tmp_path: Path) -> None:
    from tests.support.site_data import make_fake_atlas

    atlas = make_fake_atlas(
        tmp_path / "atlas", [("motion/conv1_1", 2), ("class", 0)], [1.0], ["A", "B"], with_media=False
    )
    refused = runner.invoke(app, ["site", "--output", str(atlas), "--publish"])
    _assert_one_paragraph_error(refused, "site.publish", "site.site_url")
    assert not (atlas / "site").exists()
    built = runner.invoke(app, ["site", "--output", str(atlas)])
    assert built.exit_code == 0, built.output
    assert "WARNING: site.site_url is not set" in built.output
    published = runner.invoke(
        app,
        ["site", "--output", str(atlas), "--publish", "--set", "site.site_url=https://example.org/atlas/"],
    )
    assert published.exit_code == 0 and "WARNING" not in published.output, published.output
    record = (atlas / "site/units/motion/conv1_1/0000/unit.json").read_text(encoding="utf-8")
    assert '"permalink": "https://example.org/atlas/units/motion/conv1_1/0000/"' in record
