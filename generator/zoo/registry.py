"""The builders a checkpoint may name, each with the schema and bounds of its arguments.

A checkpoint records the architecture it was saved from ({"builder": ..., "kwargs": ...}).
That record is data from a file, so it is checked here before anything is built: the
builder must be one of the atlas's own, every argument must be one the builder takes, of
its type and within bounds, and the network is first built on PyTorch's "meta" device
(which allocates no memory) so that its parameter count is known before real weights are
made. Code named by a user (``package.module:function``) is never reachable from here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Annotated, Any

import torch
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictFloat,
    StrictInt,
    StrictStr,
    ValidationError,
    field_validator,
)
from torch import nn

from generator.errors import CheckpointError, ModelError
from generator.model_sources import FUSION_VGG16, SMALL_FUSION, TORCHVISION
from generator.zoo.checkpoint import state_dict_mismatch
from generator.zoo.fusion import fusion_vgg16, small_fusion
from generator.zoo.video_nets import VIDEO_NETS, torchvision_video

# Far above any network the atlas visualizes (fusion_vgg16 at 101 classes: ~0.3 G parameters)
# yet small enough that a hostile record cannot make the loader take more than a few GB.
MAX_PARAMETERS = 400_000_000

Width = Annotated[StrictInt, Field(ge=1, le=1024)]
ClassName = Annotated[StrictStr, Field(min_length=1, max_length=300)]


class _Arguments(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SmallFusionArguments(_Arguments):
    num_classes: Annotated[StrictInt, Field(ge=1, le=1000)] = 12
    flow_fields: Annotated[StrictInt, Field(ge=1, le=32)] = 4
    image_size: Annotated[StrictInt, Field(ge=16, le=512)] = 64
    widths: Annotated[list[Width], Field(min_length=1, max_length=6)] = [8, 16, 32, 32]
    convs_per_block: Annotated[StrictInt, Field(ge=1, le=4)] = 1
    fc: Annotated[StrictInt, Field(ge=1, le=4096)] = 32
    classes: Annotated[list[ClassName], Field(max_length=1000)] | None = None
    dropout: Annotated[StrictFloat, Field(ge=0.0, le=1.0)] | Annotated[StrictInt, Field(ge=0, le=1)] = 0.5


class FusionVgg16Arguments(_Arguments):
    num_classes: Annotated[StrictInt, Field(ge=1, le=1000)] = 101
    flow_fields: Annotated[StrictInt, Field(ge=1, le=32)] = 10
    image_size: Annotated[StrictInt, Field(ge=32, le=448)] = 224
    classes: Annotated[list[ClassName], Field(max_length=1000)] | None = None
    # Narrow copies (< 1) are for tests of the training recipe; never wider than the paper's network.
    width_multiplier: Annotated[StrictFloat, Field(gt=0.0, le=1.0)] = 1.0


class TorchvisionArguments(_Arguments):
    name: StrictStr
    frames: Annotated[StrictInt, Field(ge=1, le=128)] | None = None
    size: Annotated[StrictInt, Field(ge=1, le=512)] | None = None

    @field_validator("name")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in VIDEO_NETS:
            raise ValueError(f"must be one of {', '.join(VIDEO_NETS)}")
        return value


BUILDERS: Mapping[str, tuple[type[_Arguments], Callable[..., nn.Module]]] = {
    SMALL_FUSION: (SmallFusionArguments, small_fusion),
    FUSION_VGG16: (FusionVgg16Arguments, lambda **kw: fusion_vgg16(**kw, tower_weights="random")),
    TORCHVISION: (TorchvisionArguments, lambda **kw: torchvision_video(**kw, weights="random")),
}


def checked_arguments(architecture: Mapping[str, Any], origin: str) -> tuple[str, dict[str, Any]]:
    """(builder, kwargs) of an architecture record once its builder and arguments are valid.

    Raises CheckpointError naming ``origin``, the offending field and what is valid.
    """
    builder = architecture.get("builder")
    if builder not in BUILDERS:
        hint = (
            " A checkpoint cannot name code to import; give a user model as model.source "
            "('package.module:function') together with the checkpoint."
            if builder == "import"
            else ""
        )
        raise CheckpointError(
            f"{origin} names the architecture builder {builder!r}; a checkpoint may name only "
            f"{', '.join(BUILDERS)}.{hint}"
        )
    kwargs = architecture.get("kwargs") or {}
    if not isinstance(kwargs, Mapping):
        raise CheckpointError(
            f"{origin}: the architecture's kwargs are a {type(kwargs).__name__}, not a dict."
        )
    schema = BUILDERS[builder][0]
    try:
        schema.model_validate(dict(kwargs))
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'kwargs'}: {e['msg']} (got {_short(e.get('input'))})"
            for e in error.errors()
        )
        raise CheckpointError(f"{origin} has invalid {builder} architecture arguments: {problems}.") from None
    return builder, dict(kwargs)


def build_checked(
    architecture: Mapping[str, Any], origin: str, state: Mapping[str, Any] | None = None
) -> nn.Module:
    """The network of a checked architecture record, built for real only once its size is sane
    and, when ``state`` (the weights to load) is given, once those weights are known to fit it."""
    builder, kwargs = checked_arguments(architecture, origin)
    make = BUILDERS[builder][1]
    try:
        with torch.device("meta"):  # shapes only: nothing is allocated
            shape_only = make(**kwargs)
    except (ModelError, TypeError, ValueError) as error:
        raise CheckpointError(f"{origin}: its {builder} architecture cannot be built ({error})") from error
    shapes = shape_only.state_dict()
    count = sum(p.numel() for p in shapes.values())
    if count > MAX_PARAMETERS:
        raise CheckpointError(
            f"{origin}: its {builder} architecture would have {count:,} parameters, above the limit of "
            f"{MAX_PARAMETERS:,}; refusing to build it."
        )
    problem = state_dict_mismatch(shapes, state) if state is not None else ""
    if problem:
        raise CheckpointError(
            f"The weights in {origin} do not fit its recorded {builder} architecture: {problem} "
            "Check that the checkpoint was saved from this architecture "
            "(same widths, flow fields, image size and classes)."
        )
    return make(**kwargs)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
