"""Values that used to pass the schema and fail later (or never): each is now refused by the
schema, with the field named, before any work starts."""

from __future__ import annotations

import pytest

from generator.config import load_config, parse_overrides
from generator.errors import ConfigError


@pytest.mark.parametrize(
    ("override", "field", "reason"),
    [
        ("visualize.alpha=.inf", "'visualize.alpha' = inf", "finite number"),
        ("visualize.bound=.inf", "'visualize.bound' = inf", "finite number"),
        ("visualize.lr_scale=.inf", "'visualize.lr_scale' = inf", "finite number"),
        ("visualize.beta=.nan", "'visualize.beta' = nan", "finite number"),
        ("data.speed_range=[1, .inf]", "'data.speed_range.1' = inf", "finite number"),
        ("visualize.seeds=[-1]", "'visualize.seeds' = [-1]", "every seed must be >= 0"),
        ("visualize.seeds=[0, 0]", "'visualize.seeds' = [0, 0]", "seeds must be distinct"),
        ("visualize.chi=[1, 1.0]", "'visualize.chi' = [1, 1.0]", "chi values must be distinct"),
        (
            "data.test_clips_per_class=1000000000",
            "'data.test_clips_per_class' = 1000000000",
            "less than or equal",
        ),
        ("visualize.steps=true", "'visualize.steps' = True", "a boolean is not a number"),
        ("visualize.chi=[1, true]", "'visualize.chi' = [1, True]", "a boolean is not a number"),
        ("site.top_clips=yes", "'site.top_clips' = True", "a boolean is not a number"),
        ("train.learning_rate=false", "'train.learning_rate' = False", "a boolean is not a number"),
    ],
)
def test_gap_is_refused_naming_the_field(override: str, field: str, reason: str) -> None:
    with pytest.raises(ConfigError) as error:
        load_config(None, parse_overrides([override]))
    assert field in str(error.value) and reason in str(error.value)
    key = override.partition("=")[0]  # the message says where the value came from
    assert f"in the built-in defaults with the overrides of {key}:" in str(error.value)


def test_clip_caches_are_bounded_by_their_size_on_disk() -> None:
    overrides = parse_overrides(["data.size=512", "data.train_clips_per_class=20000"])
    with pytest.raises(
        ConfigError,
        match=r"'data': the clip counts .* GiB of clip cache, above the 64 GiB limit; "
        r"lower train_clips_per_class first",
    ):
        load_config(None, overrides)


def test_booleans_stay_valid_where_a_boolean_is_meant() -> None:
    config = load_config(None, parse_overrides(["visualize.jitter=false", "visualize.compile=true"]))
    assert config.visualize.jitter is False and config.visualize.compile is True
    assert load_config(None, parse_overrides(["visualize.seeds=[0, 3]"])).visualize.seeds == (0, 3)
