"""Build or load a network by name and hand it over frozen, described and hashed.

Sources: "default" (the embedded trained small model), "small_fusion", "fusion_vgg16",
"torchvision:<name>" and "package.module:function" (a user model). A plain ``architecture``
dict (builder name + keyword arguments) rebuilds any of the atlas's own networks; user code
is imported only when the user names it as the source, never because a checkpoint says so.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from generator.errors import CheckpointError, ModelError
from generator.model_sources import (
    DEFAULT,
    FUSION_NETWORKS,
    FUSION_VGG16,
    SMALL_FUSION,
    TORCHVISION,
    torchvision_name,
    valid_sources,
)
from generator.zoo.checkpoint import is_atlas_checkpoint, load_state, model_hash, read_checkpoint
from generator.zoo.discover import describe_by_probe
from generator.zoo.fusion import fusion_vgg16, small_fusion
from generator.zoo.registry import build_checked, checked_arguments
from generator.zoo.spec import InputSpec, ModelDescription
from generator.zoo.video_nets import VIDEO_NETS, torchvision_video
from generator.zoo.weights_choice import KEY, Weights, resolve

DEFAULT_CHECKPOINT = Path(__file__).parent / "weights" / "default.pt"


@dataclass(frozen=True)
class LoadedModel:
    """A network ready for the engine: eval mode, no parameter requires grad."""

    model: nn.Module
    description: ModelDescription
    model_hash: str
    architecture: dict[str, Any]
    checkpoint: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # the checkpoint's "extra" (training record)

    @property
    def hash(self) -> str:
        return self.model_hash


RANDOM_INIT_SEED = 0


@contextmanager
def fixed_init_seed() -> Iterator[None]:
    """Seed weight initialisation without touching the caller's random state."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(RANDOM_INIT_SEED)
        yield


def build_from_architecture(architecture: Mapping[str, Any]) -> nn.Module:
    """A freshly initialised network (seeded random weights) for an architecture dict."""
    return _instantiate(architecture, "architecture")[0]


def _instantiate(
    architecture: Mapping[str, Any], origin: str, state: Mapping[str, Any] | None = None
) -> tuple[nn.Module, ModelDescription]:
    """The network an architecture record names, from the atlas's own builders only (never an
    import): its arguments are checked and its size bounded before anything is allocated."""
    # Fresh weights come from a fixed seed so an untrained network (a speed benchmark,
    # a random baseline) is the same network, with the same hash, on every run.
    with fixed_init_seed():
        net = build_checked(architecture, origin, state)
    return net, net.describe()


def load(source: str, checkpoint: Path | str | None = None, *, weights: str | None = None) -> LoadedModel:
    """Load the network named by ``source``.

    * "default": the embedded checkpoint generator/zoo/weights/default.pt (or ``checkpoint``).
    * "small_fusion" / "fusion_vgg16": an atlas checkpoint or a plain state dict, or fresh
      weights when ``checkpoint`` is None, which then need ``weights``: for small_fusion a
      weights file or "random"; for fusion_vgg16 "imagenet", "random" or a VGG-16 file for
      the towers (see ``fusion_vgg16``).
    * "torchvision:<name>": weights from ``checkpoint``, or ``weights`` (required otherwise):
      "kinetics400" (the torch hub cache's file), a file, or "random" (untrained).
    * "package.module:function": the function returns (module, ModelDescription) or
      (module, inputs[, classes]); ``checkpoint`` optionally holds its weights.
    """
    checkpoint = Path(checkpoint) if checkpoint is not None else None
    if weights is not None and source not in FUSION_NETWORKS and torchvision_name(source) is None:
        raise ModelError(
            f"model.weights = {weights!r} applies only to 'small_fusion', 'fusion_vgg16' (tower weights) and "
            f"'torchvision:<name>'; give the weights of {source!r} as model.checkpoint instead."
        )
    if source == DEFAULT:
        path = checkpoint or DEFAULT_CHECKPOINT
        if not path.is_file():
            raise CheckpointError(
                f"The default model's checkpoint {str(path)!r} does not exist yet. Run `atlas train` to train the "
                "default model (it writes that file), or choose another model source."
            )
        return _from_atlas_checkpoint(path, read_checkpoint(path), expected_builder=None)
    if source in FUSION_NETWORKS:
        return _load_fusion(source, checkpoint, weights)
    name = torchvision_name(source)
    if name is not None:
        return _load_torchvision(name, checkpoint, weights)
    if ":" in source:
        return _load_import(source, checkpoint)
    raise ModelError(
        f"Unknown model source {source!r}. Use {valid_sources('<' + '|'.join(VIDEO_NETS) + '>')}."
    )


def _freeze(model: nn.Module) -> nn.Module:
    # The model was built here, so freezing it in place changes nothing of the caller's.
    model.eval()
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    return model


def _finish(
    model: nn.Module,
    description: ModelDescription,
    architecture: Mapping[str, Any],
    checkpoint: Path | None,
    extra: Mapping[str, Any] | None = None,
) -> LoadedModel:
    plain = dict(architecture)
    return LoadedModel(
        _freeze(model), description, model_hash(model, plain), plain, checkpoint, dict(extra or {})
    )


def _from_atlas_checkpoint(path: Path, data: Mapping[str, Any], expected_builder: str | None) -> LoadedModel:
    if not is_atlas_checkpoint(data):
        raise CheckpointError(
            f"{str(path)!r} is a plain state dict, not an atlas checkpoint: it does not record its architecture. "
            "Load it with the source naming its architecture (e.g. 'small_fusion'), or save it with save_checkpoint."
        )
    architecture = data["architecture"]
    builder, _ = checked_arguments(architecture, repr(str(path)))  # before anything else reads the record
    if expected_builder is not None and builder != expected_builder:
        raise CheckpointError(
            f"{str(path)!r} holds a {builder!r} network, not {expected_builder!r}; load it with source {builder!r}."
        )
    model, description = _instantiate(architecture, repr(str(path)), data["state_dict"])
    load_state(model, data["state_dict"], repr(str(path)), str(builder))
    classes = tuple(data.get("classes") or ())
    if classes and classes != description.classes:
        raise CheckpointError(
            f"{str(path)!r} lists classes {list(classes)} but its architecture has {list(description.classes)}."
        )
    # The rebuilt network's own record has every default filled in, so equal networks hash equally.
    canonical = getattr(model, "architecture", None) or architecture
    return _finish(model, description, canonical, path, data.get("extra"))


def _load_fusion(source: str, checkpoint: Path | None, weights: str | None) -> LoadedModel:
    if source == SMALL_FUSION:
        checkpoint = _small_fusion_file(checkpoint, weights)
        if checkpoint is None:  # model.weights: random, said explicitly
            with fixed_init_seed():
                net = small_fusion()
            return _finish(net, net.describe(), net.architecture or {}, None)
    if checkpoint is None:
        with fixed_init_seed():
            net = fusion_vgg16(tower_weights=weights) if source == FUSION_VGG16 else small_fusion()
        return _finish(net, net.describe(), net.architecture or {}, None)
    data = read_checkpoint(checkpoint)
    if is_atlas_checkpoint(data):
        return _from_atlas_checkpoint(checkpoint, data, expected_builder=source)
    net = fusion_vgg16(tower_weights="random") if source == FUSION_VGG16 else small_fusion()
    load_state(net, data, repr(str(checkpoint)), source)
    return _finish(net, net.describe(), net.architecture or {}, checkpoint)


def _small_fusion_file(checkpoint: Path | None, weights: str | None) -> Path | None:
    """The file small_fusion's weights come from (model.checkpoint, or model.weights as a path), or
    None for model.weights = random. Unset is an error: an untrained network never passes for a
    trained one."""
    if checkpoint is not None:
        if weights is not None:
            raise ModelError(
                f"model.checkpoint ({str(checkpoint)!r}) and model.weights ({weights!r}) both give small_fusion's "
                "weights; set only one of them."
            )
        return checkpoint
    choice = resolve(weights, network="small_fusion without model.checkpoint", named=None)
    if choice is Weights.RANDOM:
        return None
    if not Path(choice).is_file():
        raise CheckpointError(
            f"{KEY} = {weights!r}: the weights file {str(choice)!r} does not exist; give the path of a "
            "small_fusion checkpoint or state dict, or random for an untrained network."
        )
    return Path(choice)


def _load_torchvision(name: str, checkpoint: Path | None, weights: str | None) -> LoadedModel:
    if name not in VIDEO_NETS:
        raise ModelError(
            f"Unknown torchvision video network {name!r}; choose one of {', '.join(VIDEO_NETS)}."
        )
    if checkpoint is not None:
        data = read_checkpoint(checkpoint)
        if is_atlas_checkpoint(data):
            return _from_atlas_checkpoint(checkpoint, data, expected_builder=TORCHVISION)
    with fixed_init_seed():
        net = torchvision_video(name, weights=checkpoint if checkpoint is not None else weights)
    return _finish(net, net.describe(), net.architecture, checkpoint)


def _load_import(target: str, checkpoint: Path | None) -> LoadedModel:
    model, description = _import_model(target)
    architecture = {"builder": "import", "kwargs": {"target": target}}
    extra: Mapping[str, Any] = {}
    if checkpoint is not None:
        data = read_checkpoint(checkpoint)
        state = data["state_dict"] if is_atlas_checkpoint(data) else data
        extra = data.get("extra", {}) if is_atlas_checkpoint(data) else {}
        load_state(model, state, repr(str(checkpoint)), target)
    return _finish(model, description, architecture, checkpoint, extra)


def _import_model(target: str) -> tuple[nn.Module, ModelDescription]:
    """Call ``package.module:function`` and turn its result into (module, description)."""
    module_name, _, function_name = target.partition(":")
    if not module_name or not function_name:
        raise ModelError(f"Model import path {target!r} must look like 'package.module:function'.")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise ModelError(
            f"Cannot import module {module_name!r} for model {target!r} ({error}); is it on PYTHONPATH?"
        ) from error
    except Exception as error:  # noqa: BLE001 - the user's module failed while being imported
        raise _user_code_error(target, f"importing module {module_name!r}", error) from error
    function = getattr(module, function_name, None)
    if not callable(function):
        raise ModelError(
            f"Module {module_name!r} has no function {function_name!r} (from model path {target!r})."
        )
    try:
        result = function()
    except Exception as error:  # noqa: BLE001 - whatever the user's function raises, say where it came from
        raise _user_code_error(target, f"calling {function_name}()", error) from error
    if not isinstance(result, tuple) or len(result) not in (2, 3) or not isinstance(result[0], nn.Module):
        raise ModelError(
            f"{target} must return (nn.Module, ModelDescription) or (nn.Module, tuple[InputSpec, ...][, classes]); "
            f"it returned {type(result).__name__}."
        )
    model, second = result[0], result[1]
    if isinstance(second, ModelDescription):
        return model, _checked_description(target, model, second)
    if isinstance(second, InputSpec):
        second = (second,)
    if isinstance(second, Sequence) and second and all(isinstance(s, InputSpec) for s in second):
        inputs = tuple(second)
        classes = tuple(result[2]) if len(result) == 3 and result[2] is not None else None
        return model, describe_by_probe(target, model, inputs, classes)
    raise ModelError(
        f"{target} returned {type(second).__name__} as its second item; expected a ModelDescription or InputSpecs."
    )


def _user_code_error(target: str, doing: str, error: Exception) -> ModelError:
    """One paragraph for a failure inside the user's model code (its traceback is kept as the cause)."""
    first = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return ModelError(
        f"The model given as model.source = {target!r} failed while {doing}: {type(error).__name__}"
        f"{': ' + first if first else ''}. This is an error in that code, not in the atlas; fix it there "
        "(run with `atlas --debug ...` to see its traceback)."
    )


def _checked_description(target: str, model: nn.Module, description: ModelDescription) -> ModelDescription:
    """A user's description, checked: unique layer names, each pointing at an existing module."""
    names = description.layer_names
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ModelError(
            f"The description returned by {target} repeats layer names: {', '.join(duplicates)}."
        )
    modules = dict(model.named_modules())
    missing = [
        f"{layer.name} -> {layer.module!r}" for layer in description.layers if layer.module not in modules
    ]
    if missing:
        raise ModelError(
            f"The description returned by {target} points at modules the model does not have: {'; '.join(missing)}."
        )
    return description


__all__ = ["DEFAULT_CHECKPOINT", "LoadedModel", "build_from_architecture", "load"]
