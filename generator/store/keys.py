"""Result keys and safe file names.

A finished visualization is found by the hash of what produced it: the model's weights,
the settings that change the optimisation, the unit, chi and seed. Unit ids become folder
names, so every path segment is made safe first: a class called ``../x`` or ``<b>`` can
never leave the output folder or break a URL.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

_SAFE = re.compile(r"[^A-Za-z0-9_.-]")


def digest(payload: Any, length: int = 16) -> str:
    """Short sha256 hex digest of a JSON-serialisable payload (key order does not matter)."""
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:length]


# File systems allow 255 bytes per name; results add "chi..._seed..._<key>.npz" and media
# "<stem>_colorwheel.mp4" inside a unit's folder, and pages ".md"; 80 leaves room for all.
MAX_SEGMENT = 80


def safe_segment(name: str) -> str:
    """A file-name-safe version of ``name``; names that had to change (unsafe characters, or longer
    than MAX_SEGMENT) keep their first 60 characters and get a hash suffix to stay unique."""
    cleaned = _SAFE.sub("_", name).strip("._") or "_"
    if cleaned != name or len(cleaned) > MAX_SEGMENT:
        cleaned = f"{cleaned[:60]}-{digest(name, 8)}"
    return cleaned


def unit_path(unit_id: str) -> str:
    """Relative folder path of a unit id such as ``motion/conv3_1/0017`` (each segment made safe)."""
    return "/".join(safe_segment(part) for part in unit_id.split("/"))


def result_key(model_hash: str, settings: dict[str, Any], unit_id: str, chi: float, seed: int) -> str:
    """The key of one (unit, chi, seed) visualization under the given model and settings."""
    return digest(
        {"model": model_hash, "settings": settings, "unit": unit_id, "chi": float(chi), "seed": int(seed)}
    )
