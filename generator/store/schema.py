"""The atlas's Parquet tables: their files, columns (with descriptions), keys and allowed values.

Eight tables (``units``, ``visualizations``, ``classes``, ``confusions``, ``top_clips``,
``tuning``, ``activation_histograms``, ``clip_samples``) are plain Parquet files readable by
pandas, polars, DuckDB or pyarrow. Each column carries its description in the schema's field
metadata (``docs/tables.md`` is generated from it by :func:`describe_tables`). Paths stored
in tables are POSIX paths relative to the atlas folder.

:func:`validate_table` checks rows before anything touches the disk: an unknown or missing
column, a value of the wrong type, a null in a required column, a value outside its allowed
set or a duplicate key raises :class:`~generator.errors.AtlasError` naming the table, the
column and the row. Writing and reading are in :mod:`generator.store.parquet`, the manifest
in :mod:`generator.store.manifest`.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa

from generator.errors import AtlasError

TABLE_FILES = {
    "units": "units.parquet",
    "visualizations": "visualizations.parquet",
    "classes": "classes.parquet",
    "confusions": "confusions.parquet",
    "top_clips": "top_clips.parquet",
    "tuning": "tuning.parquet",
    "activation_histograms": "activation_histograms.parquet",
    "clip_samples": "clip_samples.parquet",
}
TABLES_DIR = "tables"
STREAMS = ("appearance", "motion", "fusion", "head", "class")


def _field(name: str, type_: pa.DataType, description: str, nullable: bool = True) -> pa.Field:
    return pa.field(name, type_, nullable=nullable, metadata={b"description": description.encode()})


_STR, _F64, _I32, _BOOL = pa.string(), pa.float64(), pa.int32(), pa.bool_()

# The first column of every table with rows per unit: which unit the row belongs to.
_UNIT_REF = _field("unit_id", _STR, "The unit (units.unit_id).", False)


def _clip_fields(activation: str) -> tuple[pa.Field, ...]:
    """The fields of every table that shows held-out clips; ``activation`` describes the response."""
    return (
        _field("clip_index", _I32, "Index of the clip in the held-out set.", False),
        _field("class_name", _STR, "True class of the clip."),
        _field("predicted_class", _STR, "Class the model predicted for the clip; null if not recorded."),
        _field("activation", _F64, activation, False),
        _field("composite", _STR, "Composite MP4 of the clip (appearance | colour wheel | x/y/magnitude)."),
        _field("poster", _STR, "Poster PNG of the clip."),
        _field(
            "overlay",
            _STR,
            "MP4 of where the unit fires in the clip: its rectified response map over time and space "
            "drawn over the clip's frames, from transparent at 0 to pale yellow at overlay_high; "
            "null for units without positions (fc, class).",
        ),
        _field("overlay_poster", _STR, "Poster PNG of the overlay."),
        _field(
            "overlay_high",
            _F64,
            "Top of the overlay's colour scale: the unit's largest rectified response at any position "
            "in any held-out clip (the same for all its clips).",
        ),
    )


SCHEMAS: dict[str, pa.Schema] = {
    "units": pa.schema(
        [
            _field(
                "unit_id",
                _STR,
                'Stable id and URL path, e.g. "motion/conv3_1/0017" or "class/Billiards".',
                False,
            ),
            _field("stream", _STR, "appearance, motion, fusion, head or class.", False),
            _field("layer", _STR, 'Layer registry name, e.g. "motion/conv3_1" or "class".', False),
            _field(
                "layer_depth",
                _I32,
                "1-based order of the layer from the input (for by-depth statistics).",
                False,
            ),
            _field("channel", _I32, "Channel (unit) index inside the layer.", False),
            _field("class_name", _STR, "For class-output units: the class; null otherwise."),
            _field(
                "selectivity",
                _F64,
                "Class selectivity index in [0, 1] (Morcos et al.); null/NaN for dead units.",
            ),
            _field("preferred_class", _STR, "Class with the largest mean response on held-out clips."),
            _field(
                "invariance_chi",
                _F64,
                "Data-free invariance across chi: weakest over strongest normalized "
                "activation reached under the chi values, in [0, 1].",
            ),
            _field(
                "invariance_speed",
                _F64,
                "Data-driven speed invariance: flatness of the response to the unit's "
                "top clips replayed at several speeds, in [0, 1].",
            ),
            _field(
                "dead",
                _BOOL,
                "True when the unit is dead on the data: its rho (act_peak) is below 1 % of "
                "its layer's median rho. Never true for class outputs.",
                False,
            ),
            _field(
                "act_peak",
                _F64,
                "rho, the objective's normalizer: the largest value over held-out clips of "
                "exactly the quantity the objective maximises (see rho_reduction); null without data.",
            ),
            _field(
                "rho_reduction",
                _STR,
                "What act_peak (and every visualization's activation) measures: "
                '"centre neuron" (the rectified response of one position), "channel mean" (the rectified '
                'response averaged over all positions), "value" (an fc unit\'s rectified value) or '
                '"score" (a class output\'s pre-softmax score).',
            ),
            _field(
                "act_mean",
                _F64,
                "Mean spatially averaged post-ReLU response over held-out clips; null without data.",
            ),
            _field(
                "class_means",
                pa.list_(pa.float32()),
                "Class-conditional mean responses, ordered by "
                "classes.class_index (the selectivity profile); null without data.",
            ),
            _field("poster", _STR, "Representative poster image (PNG), relative path; null if none."),
            _field("composite", _STR, "Representative composite video (MP4), relative path; null if none."),
            _field(
                "ok_visualizations",
                _I32,
                'Visualizations of the unit with status "ok" (only these are '
                "shown in galleries, findings and failure pages).",
            ),
            _field(
                "appearance_chi_change",
                _F64,
                "Relative change of the optimised appearance across chi: RMS "
                "deviation from its mean over chi, over the mean's norm, averaged over seeds (0: the "
                "appearance ignores chi); null without an RGB input or with fewer than two chi values.",
            ),
            _field(
                "preferred_direction",
                _F64,
                "Direction of uniform drifting flow the unit prefers, degrees "
                "counter-clockwise from rightward (90 = upward on screen), at its preferred speed; null for "
                "units that see no motion or never respond to it (see the tuning table).",
            ),
            _field(
                "preferred_speed",
                _F64,
                "Speed of uniform drifting flow (pixels per flow field) with the "
                "largest response; null as preferred_direction.",
            ),
            _field(
                "direction_selectivity",
                _F64,
                "Direction-selectivity index in [0, 1]: length of the vector sum "
                "of the responses to the 16 directions at the preferred speed over their sum.",
            ),
        ]
    ),
    "visualizations": pa.schema(
        [
            _UNIT_REF,
            _field(
                "view",
                _STR,
                '"joint" (every input optimised) or "<input>_only" (that input optimised, the '
                "others held at their data mean: the mean frame, zero flow); per-stream views exist for fusion "
                "units and class outputs.",
                False,
            ),
            _field("chi", _F64, "Temporal-variation weight chi of this optimisation.", False),
            _field("seed", _I32, "Random seed of the initialisation.", False),
            _field("objective", _F64, "Final value of the minimised objective."),
            _field(
                "activation",
                _F64,
                "The unit's response to the result through the network's own ReLUs, "
                "reduced as units.rho_reduction says (network units).",
            ),
            _field("normalised_activation", _F64, "activation / units.act_peak; null without data."),
            _field("steps", _I32, "Optimisation steps run."),
            _field(
                "converged",
                _BOOL,
                "True when the loss had levelled off: the mean over its last tenth of "
                "the steps differs from the tenth before by at most 1 % of the final objective term w a.",
            ),
            _field("wall_seconds", _F64, "Wall-clock seconds of the optimisation (share of its batch)."),
            _field(
                "status",
                _STR,
                '"ok", "weak" (0 < activation < 0.5 act_peak) or "failed: <reason>" '
                "(non-finite values, or activation <= 0 for a rectified unit).",
                False,
            ),
            _field("array", _STR, ".npz with the optimised inputs (float16, network units), relative path."),
            _field("appearance", _STR, "Appearance MP4, relative path; null if the unit has no RGB input."),
            _field("colorwheel", _STR, "Flow colour-wheel MP4, relative path; null without flow input."),
            _field("xymag", _STR, "Flow x/y/magnitude MP4, relative path; null without flow input."),
            _field("composite", _STR, "Side-by-side composite MP4, relative path."),
            _field("poster", _STR, "Poster PNG of the composite, relative path."),
            _field("appearance_poster", _STR, "Poster PNG of the appearance video."),
            _field("colorwheel_poster", _STR, "Poster PNG of the colour-wheel video."),
            _field("xymag_poster", _STR, "Poster PNG of the x/y/magnitude video."),
            _field(
                "temporal_variation",
                _F64,
                "Root-mean-square temporal difference of the visualized flow "
                "(falls as chi rises); null without flow.",
            ),
        ]
    ),
    "classes": pa.schema(
        [
            _field("class_name", _STR, "Class name.", False),
            _field("class_index", _I32, "Index of the class in the model's output.", False),
            _field("accuracy", _F64, "Held-out accuracy of the class."),
            _field(
                "most_confused_with", _STR, "The class its clips are most often mistaken for; null if none."
            ),
            _field("confusion_rate", _F64, "Fraction of its clips predicted as most_confused_with."),
            _field("unit_id", _STR, 'Its class-output unit, "class/<name>".', False),
            _field("clips", _I32, "Held-out clips of the class."),
            _field(
                "accuracy_motion_zeroed",
                _F64,
                "Accuracy on the same held-out clips with the motion stream "
                "zeroed (no motion): what the class keeps without motion.",
            ),
            _field(
                "accuracy_appearance_zeroed",
                _F64,
                "Accuracy on the same held-out clips with the appearance "
                "held at the mean frame: what the class keeps without appearance.",
            ),
        ]
    ),
    "confusions": pa.schema(
        [
            _field("true_class", _STR, "Class of the clips.", False),
            _field("predicted_class", _STR, "Class the model predicted.", False),
            _field("count", _I32, "Held-out clips of true_class predicted as predicted_class.", False),
            _field("rate", _F64, "count / clips of true_class.", False),
        ]
    ),
    "top_clips": pa.schema(
        [
            _UNIT_REF,
            _field("rank", _I32, "1 = the clip that drives the unit most.", False),
            *_clip_fields(
                "The unit's response to the clip: the spatial maximum of its rectified response "
                "(a class output's score)."
            ),
        ]
    ),
    "tuning": pa.schema(
        [
            _UNIT_REF,
            _field(
                "direction",
                _F64,
                "Direction of the drifting flow, degrees counter-clockwise from rightward "
                "(90 = upward on screen).",
                False,
            ),
            _field("speed", _F64, "Speed of the drifting flow, pixels per flow field.", False),
            _field(
                "response",
                _F64,
                "The unit's response (spatial mean after ReLU; raw score for class outputs) "
                "to uniform flow of this direction and speed over the whole frame, appearance at the data mean.",
                False,
            ),
        ]
    ),
    "activation_histograms": pa.schema(
        [
            _UNIT_REF,
            _field("bin", _I32, "Bin index, 0 = lowest responses.", False),
            _field("low", _F64, "Lower edge of the bin (the unit's response to a clip).", False),
            _field("high", _F64, "Upper edge of the bin.", False),
            _field("clips", _I32, "Held-out clips whose response falls in the bin.", False),
        ]
    ),
    "clip_samples": pa.schema(
        [
            _UNIT_REF,
            _field(
                "quantile",
                _F64,
                "Quantile of the unit's responses over held-out clips that the clip "
                "was sampled at (the clips nearest it).",
                False,
            ),
            *_clip_fields(
                "The unit's response to the clip: the spatial mean of its rectified response "
                "(a class output's softmax probability)."
            ),
        ]
    ),
}


KEYS: dict[str, tuple[str, ...]] = {
    "units": ("unit_id",),
    "visualizations": ("unit_id", "view", "chi", "seed"),
    "classes": ("class_name",),
    "confusions": ("true_class", "predicted_class"),
    "top_clips": ("unit_id", "rank"),
    "tuning": ("unit_id", "direction", "speed"),
    "activation_histograms": ("unit_id", "bin"),
    "clip_samples": ("unit_id", "clip_index"),
}


# Allowed values: (test, what would be valid), checked on non-null values.
_CHECKS: dict[tuple[str, str], tuple[Callable[[Any], bool], str]] = {
    ("units", "stream"): (lambda v: v in STREAMS, f"one of {', '.join(STREAMS)}"),
    ("units", "channel"): (lambda v: v >= 0, "an index >= 0"),
    ("units", "layer_depth"): (lambda v: v >= 1, "a depth >= 1"),
    ("visualizations", "status"): (
        lambda v: v in ("ok", "weak") or v.startswith("failed: "),
        '"ok", "weak" or "failed: <reason>"',
    ),
    ("confusions", "count"): (lambda v: v >= 0, "a count >= 0"),
    ("confusions", "rate"): (lambda v: 0.0 <= v <= 1.0, "a rate in [0, 1]"),
    ("top_clips", "rank"): (lambda v: v >= 1, "a rank >= 1"),
    ("units", "direction_selectivity"): (lambda v: 0.0 <= v <= 1.0 or v != v, "an index in [0, 1]"),
    ("units", "preferred_direction"): (lambda v: 0.0 <= v < 360.0 or v != v, "degrees in [0, 360)"),
    ("tuning", "direction"): (lambda v: 0.0 <= v < 360.0, "degrees in [0, 360)"),
    ("tuning", "speed"): (lambda v: v >= 0, "a speed >= 0"),
}


def table_path(atlas_dir: Path | str, name: str) -> Path:
    """Where table ``name`` lives inside an atlas folder."""
    table_schema(name)
    return Path(atlas_dir) / TABLES_DIR / TABLE_FILES[name]


def table_schema(name: str) -> pa.Schema:
    if name not in SCHEMAS:
        raise AtlasError(f"Unknown table {name!r}; the atlas tables are {', '.join(SCHEMAS)}.")
    return SCHEMAS[name]


def _column(name: str, field: pa.Field, values: Sequence[Any]) -> pa.Array:
    if pa.types.is_integer(field.type):
        # pyarrow would silently truncate 3.5 to 3.
        for row, value in enumerate(values):
            fractional = isinstance(value, numbers.Real) and not isinstance(value, numbers.Integral)
            if fractional and math.isfinite(value) and not float(value).is_integer():
                raise AtlasError(
                    f"Table {name!r}, column {field.name!r}: values must be integers, but row {row} is {value!r}."
                )
    try:
        return pa.array(values, type=field.type, from_pandas=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError) as error:
        bad = next((i for i, v in enumerate(values) if not _convertible(v, field.type)), None)
        where = f" (row {bad}: {values[bad]!r})" if bad is not None else ""
        raise AtlasError(
            f"Table {name!r}, column {field.name!r}: values must be {field.type}{where}; pyarrow said: {error}"
        ) from None


def _convertible(value: Any, type_: pa.DataType) -> bool:
    try:
        pa.array([value], type=type_)
        return True
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError):
        return False


def _from_rows(name: str, schema: pa.Schema, rows: Sequence[Mapping[str, Any]]) -> pa.Table:
    columns = set(schema.names)
    for index, row in enumerate(rows):
        if not isinstance(row, Mapping):
            raise AtlasError(
                f"Table {name!r}, row {index}: expected a dict of column values, got {type(row).__name__}."
            )
        unknown = set(row) - columns
        if unknown:
            raise AtlasError(
                f"Table {name!r}, row {index}: unknown column(s) {', '.join(map(repr, sorted(unknown)))}; "
                f"valid columns are {', '.join(schema.names)}."
            )
    arrays = [_column(name, field, [row.get(field.name) for row in rows]) for field in schema]
    return pa.Table.from_arrays(arrays, schema=schema.remove_metadata())


def _from_table(name: str, schema: pa.Schema, table: pa.Table) -> pa.Table:
    unknown = set(table.column_names) - set(schema.names)
    if unknown:
        raise AtlasError(
            f"Table {name!r}: unknown column(s) {', '.join(map(repr, sorted(unknown)))}; "
            f"valid columns are {', '.join(schema.names)}."
        )
    arrays = []
    for field in schema:
        if field.name not in table.column_names:
            arrays.append(pa.nulls(table.num_rows, type=field.type))
            continue
        column = table.column(field.name)
        try:
            arrays.append(column.cast(field.type, safe=True))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as error:
            raise AtlasError(
                f"Table {name!r}, column {field.name!r}: type {column.type} cannot be stored as {field.type}: {error}"
            ) from None
    return pa.Table.from_arrays(arrays, schema=schema.remove_metadata())


def validate_table(name: str, rows: Sequence[Mapping[str, Any]] | pa.Table) -> pa.Table:
    """Rows (dicts) or a pyarrow table -> a table with exactly the schema of ``name``; raises AtlasError."""
    schema = table_schema(name)
    table = (
        _from_table(name, schema, rows)
        if isinstance(rows, pa.Table)
        else _from_rows(name, schema, list(rows))
    )
    for field in schema:
        column = table.column(field.name)
        if not field.nullable and column.null_count:
            row = column.to_pylist().index(None)
            raise AtlasError(
                f"Table {name!r}, column {field.name!r}: a value is required, but row {row} has none."
            )
        check = _CHECKS.get((name, field.name))
        if check is not None:
            test, valid = check
            for row, value in enumerate(column.to_pylist()):
                if value is not None and not test(value):
                    raise AtlasError(
                        f"Table {name!r}, column {field.name!r}, row {row}: {value!r} is not {valid}."
                    )
    _check_unique(name, table)
    return table


def _check_unique(name: str, table: pa.Table) -> None:
    keys = KEYS[name]
    seen: set[tuple[Any, ...]] = set()
    for row, key in enumerate(zip(*(table.column(k).to_pylist() for k in keys))):
        if key in seen:
            shown = ", ".join(f"{k}={v!r}" for k, v in zip(keys, key))
            raise AtlasError(
                f"Table {name!r}, column(s) {', '.join(keys)}: row {row} repeats the key ({shown})."
            )
        seen.add(key)


def describe_tables() -> str:
    """Markdown reference of every table's columns (the body of docs/tables.md)."""
    lines: list[str] = []
    for name, schema in SCHEMAS.items():
        key = ", ".join(KEYS[name])
        lines += [f"### `{name}` ({TABLES_DIR}/{TABLE_FILES[name]})", "", f"Key: {key}.", ""]
        lines += ["| column | type | required | meaning |", "| --- | --- | --- | --- |"]
        for field in schema:
            text = field.metadata[b"description"].decode().replace("|", "\\|")
            lines.append(
                f"| `{field.name}` | {field.type} | {'yes' if not field.nullable else 'no'} | {text} |"
            )
        lines.append("")
    return "\n".join(lines)
