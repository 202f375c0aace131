"""The configuration schema: the YAML file is a valid instance and bad input is named precisely."""

from __future__ import annotations

from pathlib import Path

import pytest

from generator.config import AtlasConfig, config_hash, load_config, parse_overrides
from generator.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_YAML = ROOT / "atlas_config.yaml"


def test_default_yaml_is_the_documented_instance_of_the_schema() -> None:
    # The file documents the defaults: it must validate and agree with the schema's own defaults.
    assert load_config(DEFAULT_YAML) == AtlasConfig()


def test_unknown_key_is_named_with_the_valid_keys(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("visualize:\n  stepz: 10\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert "visualize.stepz" in message and "steps" in message and str(path) in message


def test_wrong_type_names_field_and_value() -> None:
    with pytest.raises(ConfigError) as info:
        load_config(None, {"visualize.steps": "many"})
    assert "visualize.steps" in str(info.value) and "'many'" in str(info.value)


@pytest.mark.parametrize(
    ("key", "value", "fragment"),
    [
        ("visualize.chi", [1.0, -2.0], ">= 0"),
        ("data.speed_range", [1.0, 2.0], "4x"),
        ("model.source", "nonsense", "import path"),
        ("visualize.precision", "fp8", "fp32"),
        ("visualize.device", "tpu", "cuda:N"),
        ("data.size", 4, "16"),
        ("visualize.tv_scale", {"rgb": 1.0, "flow": 0.0}, "> 0"),
        ("visualize.tv_scale", {"flow": 2.0}, "rgb and flow"),
    ],
)
def test_bad_values_say_what_is_accepted(key: str, value: object, fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(None, {key: value})
    assert key in str(info.value) and fragment in str(info.value)


def test_overrides_are_dotted_and_leave_their_input_alone() -> None:
    raw = {"visualize.steps": 12, "layers": ["class"]}
    config = load_config(DEFAULT_YAML, raw)
    assert config.visualize.steps == 12 and config.layers == ("class",)
    assert config.visualize.chi == AtlasConfig().visualize.chi
    assert raw == {"visualize.steps": 12, "layers": ["class"]}


def test_parse_overrides_reads_yaml_values() -> None:
    assert parse_overrides(["a.b=3", "c=[x, y]", "d=true"]) == {"a.b": 3, "c": ["x", "y"], "d": True}
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        parse_overrides(["novalue"])


def test_config_hash_tracks_content() -> None:
    base = AtlasConfig()
    assert config_hash(base) == config_hash(AtlasConfig())
    changed = load_config(None, {"visualize.steps": 7})
    assert config_hash(changed) != config_hash(base)
    # A section hash ignores the other sections.
    assert config_hash(changed, "data", "train") == config_hash(base, "data", "train")


def test_file_problems_are_reported(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)
    listed = tmp_path / "list.yaml"
    listed.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(listed)


def test_per_stream_variation_weight_reaches_the_engine() -> None:
    from generator.pipeline.visualize import engine_settings

    settings = engine_settings(load_config(DEFAULT_YAML).visualize)
    assert settings.lam_tv("flow") == pytest.approx(10.0 * settings.lam_tv("rgb"))
    paper = engine_settings(
        load_config(DEFAULT_YAML, {"visualize.tv_scale": {"rgb": 1.0, "flow": 1.0}}).visualize
    )
    assert paper.lam_tv("flow") == pytest.approx((6.5 / 80.0) ** 2) == pytest.approx(paper.lam_tv("rgb"))


def test_every_engine_setting_is_reachable_from_yaml_and_set(tmp_path: Path) -> None:
    """Each EngineSettings field is a visualize.<name> key: a non-default value given by --set
    and by YAML arrives in the engine's settings unchanged."""
    import dataclasses

    import yaml

    from generator.engine import EngineSettings

    changed = {
        "preset": "robust",
        "steps": 7,
        "alpha": 5.0,
        "bound": 70.0,
        "tv_bound_ratio": 6.0,
        "beta": 1.5,
        "lr_scale": 0.04,
        "momentum": 0.8,
        "rms_decay": 0.8,
        "jitter": False,
        "leaky_slope": 0.1,
        "leaky_fraction": 0.5,
        "temporal_basis": "pixel",
        "objective": "mean",
        "precision": "fp32",
        "channels_last": False,
        "batch_size": 3,
        "compile": True,
        "norm_projection": False,
        "alpha_scale": {"rgb": 2.0, "flow": 3.0},
        "tv_scale": {"rgb": 4.0, "flow": 5.0},
        "spatial_decay": 1.5,
        "temporal_decay": 1.0,
        "decorrelate_colour": False,
        "robust_scale": 0.2,
        "robust_rotation": 20.0,
    }
    names = {f.name for f in dataclasses.fields(EngineSettings)}
    assert set(changed) == names, f"a new engine setting needs a test value: {names ^ set(changed)}"
    defaults = EngineSettings.from_config(load_config(None).visualize)
    for name, value in changed.items():  # every test value differs from the default, so arriving is visible
        default = getattr(defaults, name)
        assert (dict(default) if isinstance(value, dict) else default) != value, name
    by_set = EngineSettings.from_config(
        load_config(None, {f"visualize.{k}": v for k, v in changed.items()}).visualize
    )
    path = tmp_path / "atlas.yaml"
    path.write_text(yaml.safe_dump({"visualize": changed}))
    by_yaml = EngineSettings.from_config(load_config(path).visualize)
    assert by_set == by_yaml == EngineSettings(**changed)
    for name, value in changed.items():
        got = getattr(by_set, name)
        assert (dict(got) if isinstance(value, dict) else got) == value, name


def test_engine_settings_are_checked_by_the_configuration_schema() -> None:
    from generator.engine import EngineSettings

    with pytest.raises(ConfigError, match="rms_decay.*less than 1"):
        EngineSettings(rms_decay=1.0)
    with pytest.raises(ConfigError, match="robust_rotation"):
        EngineSettings(robust_rotation=90.0)
    with pytest.raises(ConfigError, match="visualize.rms_decay"):
        load_config(None, {"visualize.rms_decay": 1.5})
    assert EngineSettings(jitter=1).jitter is True  # normalized by the schema, not stored as given
