"""The atlas's JSON manifest: the model, configuration, layers, chis, counts and failure cases
of one build (fields in :data:`MANIFEST_KEYS`), validated on writing and on reading.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from generator.errors import AtlasError
from generator.store.atomic import write_json
from generator.store.keys import safe_segment
from generator.store.provenance import now_iso, package_versions

MANIFEST_FORMAT = 1
MANIFEST_FILE = "manifest.json"


def manifest_path(atlas_dir: Path | str) -> Path:
    """Where the manifest lives inside an atlas folder."""
    return Path(atlas_dir) / MANIFEST_FILE


MANIFEST_KEYS: dict[str, str] = {
    "format": "manifest format version (int)",
    "created": "ISO 8601 creation time",
    "versions": "package versions {name: version}",
    "model": "{name, hash, card}: the model and its model card (test accuracy, confusions, probes)",
    "config": "the configuration used (dict)",
    "config_hash": "hash of the configuration",
    "layers": "list of {name, kind, units, depth, stride, receptive_field, streams} "
    "(and input_size: the side in pixels of the inputs it sees)",
    "chis": "the chi values visualized (list of numbers)",
    "counts": "numbers of units, visualizations, failed visualizations, classes",
    "failure_cases": "list of {slug, kind (pair|probe), title, classes, numbers, ...}",
}
_LAYER_KEYS = ("name", "kind", "units", "depth", "stride", "receptive_field", "streams")
_FAILURE_KEYS = ("slug", "kind", "title", "classes", "numbers")


def make_manifest(
    *,
    model: Mapping[str, Any],
    config: Mapping[str, Any],
    config_hash: str,
    layers: Sequence[Mapping[str, Any]],
    chis: Sequence[float],
    counts: Mapping[str, int],
    failure_cases: Sequence[Mapping[str, Any]] = (),
    data: Mapping[str, Any] | None = None,
    created: str | None = None,
    versions: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """A manifest record (validated); see :data:`MANIFEST_KEYS` and docs/tables.md for the fields."""
    manifest = {
        "format": MANIFEST_FORMAT,
        "created": created or now_iso(),
        "versions": dict(versions) if versions is not None else package_versions(),
        "model": dict(model),
        "config": dict(config),
        "config_hash": config_hash,
        "layers": [dict(layer) for layer in layers],
        "chis": [float(c) for c in chis],
        "counts": dict(counts),
        "failure_cases": [dict(case) for case in failure_cases],
        "data": dict(data) if data is not None else {"source": "synthetic"},
    }
    validate_manifest(manifest)
    return manifest


def validate_manifest(manifest: Mapping[str, Any], source: str = "manifest") -> None:
    """Raise AtlasError naming the first missing or malformed manifest field."""
    missing = [k for k in MANIFEST_KEYS if k not in manifest]
    if missing:
        raise AtlasError(
            f"{source} lacks field(s) {', '.join(missing)}; a manifest needs "
            + "; ".join(f"{k}: {v}" for k, v in MANIFEST_KEYS.items())
            + "."
        )
    if manifest["format"] != MANIFEST_FORMAT:
        raise AtlasError(
            f"{source} has format {manifest['format']!r}; this version reads format {MANIFEST_FORMAT}."
        )
    model = manifest["model"]
    if not isinstance(model, Mapping) or not all(k in model for k in ("name", "hash", "card")):
        raise AtlasError(f"{source}: field 'model' must be a dict with name, hash and card.")
    for index, layer in enumerate(manifest["layers"]):
        absent = [k for k in _LAYER_KEYS if k not in layer]
        if absent:
            raise AtlasError(
                f"{source}: layers[{index}] lacks {', '.join(absent)} (needs {', '.join(_LAYER_KEYS)})."
            )
    if not all(isinstance(c, (int, float)) and math.isfinite(c) for c in manifest["chis"]):
        raise AtlasError(
            f"{source}: field 'chis' must be a list of finite numbers, got {manifest['chis']!r}."
        )
    for index, case in enumerate(manifest["failure_cases"]):
        absent = [k for k in _FAILURE_KEYS if k not in case]
        if absent:
            raise AtlasError(
                f"{source}: failure_cases[{index}] lacks {', '.join(absent)} (needs {', '.join(_FAILURE_KEYS)})."
            )
        if case["kind"] not in ("pair", "probe"):
            raise AtlasError(
                f"{source}: failure_cases[{index}].kind is {case['kind']!r}; valid: 'pair', 'probe'."
            )


def write_manifest(path: Path | str, manifest: Mapping[str, Any]) -> Path:
    """Validate and write the manifest atomically as indented JSON."""
    validate_manifest(manifest)
    write_json(path, dict(manifest))
    return Path(path)


def read_manifest(path: Path | str) -> dict[str, Any]:
    """Read and validate a manifest."""
    target = Path(path)
    if not target.is_file():
        raise AtlasError(f"Manifest {target} does not exist; is this an atlas output folder (atlas build)?")
    try:
        manifest = json.loads(target.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as error:
        raise AtlasError(
            f"Manifest {target} is not valid JSON ({error}); rerun the stage that writes it."
        ) from None
    if not isinstance(manifest, dict):
        raise AtlasError(f"Manifest {target} must hold a JSON object.")
    validate_manifest(manifest, str(target))
    return manifest


def failure_slug(parts: Sequence[str]) -> str:
    """The slug of a failure case (page name and site_src/failures/<slug>.md), e.g. brushingteeth-shavingbeard."""
    return safe_segment("-".join(p.lower() for p in parts))
