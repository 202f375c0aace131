"""Checkpoint files: atomic saving, safe reading, fitting a state dict, and the model hash.

An atlas checkpoint is a dict {"format": "atlas-checkpoint/1", "architecture": {...},
"classes": [...], "state_dict": {...}, "extra": {...}} saved with torch.save and read with
``torch.load(weights_only=True)``, so a file cannot run code when it is opened.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from generator.errors import CheckpointError
from generator.store.atomic import atomic_path

CHECKPOINT_FORMAT = "atlas-checkpoint/1"
_SAFE_SCALARS = (str, int, float, bool, type(None))


def save_checkpoint(
    path: Path | str,
    model: nn.Module,
    architecture: Mapping[str, Any],
    classes: Sequence[str],
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Write an atlas checkpoint atomically (temporary file + rename); returns the path.

    ``architecture`` and ``extra`` may hold only str/int/float/bool/None, lists, tuples,
    str-keyed dicts and tensors, so that the file reads back with ``weights_only=True``.
    """
    path = Path(path)
    payload = {
        "format": CHECKPOINT_FORMAT,
        "architecture": _checked("architecture", architecture),
        "classes": [str(c) for c in classes],
        "state_dict": {key: value.detach().cpu() for key, value in model.state_dict().items()},
        "extra": _checked("extra", extra or {}),
    }
    with atomic_path(path) as temporary:
        with open(temporary, "wb") as stream:
            torch.save(payload, stream)
            stream.flush()
            os.fsync(stream.fileno())
    return path


def _checked(field: str, value: Any) -> Any:
    """A plain copy of ``value``; TypeError if it holds objects a weights-only load would refuse."""
    if isinstance(value, Mapping):
        if not all(isinstance(k, str) for k in value):
            raise TypeError(f"Checkpoint field {field!r} needs string keys, got {list(value)!r}.")
        return {k: _checked(f"{field}.{k}", v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_checked(f"{field}[{i}]", v) for i, v in enumerate(value)]
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, _SAFE_SCALARS):
        return value
    raise TypeError(
        f"Checkpoint field {field!r} holds a {type(value).__name__}, which a weights-only load refuses."
    )


def read_checkpoint(path: Path | str) -> dict[str, Any]:
    """The dict stored in ``path`` (an atlas checkpoint or a plain state dict), loaded safely."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"Checkpoint file {str(path)!r} does not exist.")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - every failure means the same thing to the user
        raise CheckpointError(
            f"{str(path)!r} is not a readable checkpoint: it is not a torch.save file, is damaged, or holds "
            f"objects other than tensors and plain values, which are refused because loading them could run "
            f"code ({type(error).__name__}: {_first_line(error)})."
        ) from error
    if not isinstance(data, dict):
        raise CheckpointError(
            f"{str(path)!r} holds a {type(data).__name__}, not a checkpoint dict or state dict."
        )
    if "format" in data:
        if data["format"] != CHECKPOINT_FORMAT:
            raise CheckpointError(
                f"{str(path)!r} has checkpoint format {data['format']!r}; this version reads {CHECKPOINT_FORMAT!r}."
            )
        missing = [k for k in ("architecture", "classes", "state_dict") if k not in data]
        if (
            missing
            or not isinstance(data["architecture"], dict)
            or not isinstance(data["state_dict"], Mapping)
        ):
            raise CheckpointError(
                f"{str(path)!r} is an incomplete atlas checkpoint (missing or malformed: "
                f"{', '.join(missing) or 'architecture/state_dict'})."
            )
    return data


def read_state_dict(path: Path | str) -> dict[str, torch.Tensor]:
    """The tensors of ``path``: an atlas checkpoint's state dict, or a plain state dict as it is."""
    data = read_checkpoint(path)
    return dict(data["state_dict"]) if is_atlas_checkpoint(data) else data


def _first_line(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else ""


def is_atlas_checkpoint(data: Mapping[str, Any]) -> bool:
    """True for the dict of an atlas checkpoint, False for a plain state dict."""
    return data.get("format") == CHECKPOINT_FORMAT


def state_dict_mismatch(
    expected: Mapping[str, torch.Tensor], found: Mapping[str, Any], limit: int = 12
) -> str:
    """A sentence naming missing keys, unexpected keys and shape mismatches; "" if ``found`` fits."""
    missing = [k for k in expected if k not in found]
    unexpected = [k for k in found if k not in expected]
    shapes = [
        f"{k} (expected {tuple(expected[k].shape)}, found {_shape(found[k])})"
        for k in expected
        if k in found and _shape(found[k]) != str(tuple(expected[k].shape))
    ]
    parts = []
    for label, items in (
        ("missing keys", missing),
        ("unexpected keys", unexpected),
        ("shape mismatches", shapes),
    ):
        if items:
            more = f" and {len(items) - limit} more" if len(items) > limit else ""
            parts.append(f"{label}: {', '.join(items[:limit])}{more}")
    return "; ".join(parts) + ("." if parts else "")


def _shape(value: Any) -> str:
    return str(tuple(value.shape)) if isinstance(value, torch.Tensor) else f"a {type(value).__name__}"


def load_state(model: nn.Module, state: Mapping[str, Any], origin: str, architecture: str) -> None:
    """Load ``state`` into ``model`` (a freshly built network) or raise a CheckpointError naming the keys."""
    problem = state_dict_mismatch(model.state_dict(), state)
    if problem:
        raise CheckpointError(
            f"The weights in {origin} do not fit the {architecture} architecture: {problem} "
            "Check that the checkpoint was saved from this architecture "
            "(same widths, flow fields, image size and classes)."
        )
    model.load_state_dict(dict(state), strict=True)


def model_hash(model: nn.Module, architecture: Mapping[str, Any]) -> str:
    """sha256 hex of the architecture JSON and every state-dict tensor's name, dtype, shape and bytes."""
    digest = hashlib.sha256()
    digest.update(json.dumps(architecture, sort_keys=True, default=str).encode())
    for name, tensor in model.state_dict().items():
        tensor = tensor.detach().cpu().contiguous()
        digest.update(f"\n{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        if tensor.numel():
            digest.update(tensor.reshape(-1).view(torch.uint8).numpy())
    return digest.hexdigest()
