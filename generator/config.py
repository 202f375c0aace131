"""The one validated configuration schema of the atlas.

``atlas_config.yaml`` at the repository root is the documented default instance of
:class:`AtlasConfig`. Command-line options override single fields through dotted keys
(``visualize.steps=50``); the merged result is validated before any work starts, and a
wrong key, type or value stops the run with a message naming the field, the value and
what is accepted.
"""

from __future__ import annotations

import hashlib
import json
import math
import typing
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from generator import model_sources
from generator.errors import ConfigError

DEFAULT_CONFIG_NAME = "atlas_config.yaml"
# The clip caches of the synthetic world (every split and probe set) may not exceed this:
# a count typed with a few zeros too many would otherwise fill the disk and memory first.
MAX_CLIP_CACHE_BYTES = 64 * 2**30
WORLD_CLASSES = 12


def _wants_number(annotation: Any) -> bool:
    """Whether a field's type is (or holds) int or float, and never bool."""
    args = typing.get_args(annotation)
    if annotation is bool or bool in args:
        return False
    if annotation in (int, float):
        return True
    return any(_wants_number(arg) for arg in args if arg is not Ellipsis)


def _holds_boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return True
    if isinstance(value, (list, tuple)):
        return any(_holds_boolean(v) for v in value)
    if isinstance(value, dict):
        return any(_holds_boolean(v) for v in value.values())
    return False


class _Section(BaseModel):
    # Unknown keys are errors: a typo must not silently fall back to a default. Infinity and
    # NaN are never a valid setting (YAML reads .inf and .nan as floats).
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _no_booleans_as_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        # YAML reads yes/true as a boolean, which pydantic would take as the number 1.
        field = cls.model_fields.get(info.field_name or "")
        if field is not None and _wants_number(field.annotation) and _holds_boolean(value):
            raise ValueError("a boolean is not a number here; give a number")
        return value


class ModelConfig(_Section):
    """Which network to explain."""

    source: str = Field(
        model_sources.DEFAULT,
        description=(
            model_sources.valid_sources("<" + "|".join(model_sources.TORCHVISION_NETS) + ">")
            + f"; '{model_sources.DEFAULT}' is the embedded model trained on the synthetic world, an import "
            "path a model of your own."
        ),
    )
    checkpoint: Path | None = Field(
        None, description="Checkpoint file to load; the default model ships its own."
    )
    weights: str | None = Field(
        None,
        description="Required for small_fusion, fusion_vgg16 and torchvision sources without a checkpoint: 'imagenet' "
        "(fusion_vgg16 towers) or 'kinetics400' (torchvision), each one fixed file from the local torch cache; "
        "a weights file; or 'random' (an untrained network).",
    )

    @field_validator("source")
    @classmethod
    def _source_shape(cls, value: str) -> str:
        if value in model_sources.NAMED_SOURCES or model_sources.is_import_path(value):
            return value  # a torchvision:<name> source has the shape of an import path too
        raise ValueError(f"must be one of {model_sources.valid_sources()}")


class FolderSampling(_Section):
    """Which snippets of a real clip the network sees."""

    snippets: int = Field(
        3,
        ge=1,
        le=64,
        description="Snippets per clip, spread evenly over the clip (first and last valid start included); "
        "predictions average them, as two-stream evaluation does.",
    )


class FolderDataConfig(_Section):
    """A data set of real videos (or precomputed frames and flow) on disk; used when data.source is 'folder'."""

    root: Path | None = Field(
        None, description="The data set's folder (videos, frames or list files live under it)."
    )
    layout: Literal["ucf101", "folders", "frames", "list"] = Field(
        "folders",
        description="'ucf101' (UCF101 / HMDB51 releases with classInd.txt and split files), 'folders' (one "
        "folder of videos per class), 'frames' (per-video folders of img_/flow_x_/flow_y_ JPEGs and a list "
        "file 'path num_frames label'), 'list' (a CSV 'path,label[,start,end]').",
    )
    split: int = Field(
        1, ge=1, le=9, description="Split number N of the split files (testlist0N.txt, _test_splitN)."
    )
    subset: Literal["test", "train"] = Field(
        "test", description="Which part of the split the atlas measures."
    )
    list_file: Path | None = Field(
        None,
        description="'frames' and 'list' layouts: the list file (relative to root); default list.txt / list.csv.",
    )
    classes: tuple[str, ...] | None = Field(
        None,
        description="Class names in label order; clips of other classes are left out. Empty = every class "
        "of classInd.txt, the split files, the class folders or the list (sorted).",
    )
    class_map: dict[str, str] = Field(
        default_factory=dict, description="Data set class name -> the model's class name, where they differ."
    )
    sampling: FolderSampling = FolderSampling()
    flow: Literal["precomputed", "tvl1", "raft"] = Field(
        "tvl1",
        description="Where motion comes from: 'precomputed' (flow JPEGs of the frames layout), 'tvl1' (OpenCV "
        "contrib, CPU workers) or 'raft' (torchvision, weights from a local file or the torch cache).",
    )
    raft_weights: Path | None = Field(None, description="RAFT weights file; empty = the torch cache.")
    workers: int = Field(2, ge=1, le=256, description="Worker processes that decode clips and compute flow.")
    max_clips_per_class: int | None = Field(
        None, ge=1, description="Cap on clips per class (first in list order)."
    )

    @field_validator("class_map")
    @classmethod
    def _class_map(cls, value: dict[str, str]) -> dict[str, str]:
        if any(not str(k).strip() or not str(v).strip() for k, v in value.items()):
            raise ValueError("class names must not be empty")
        return dict(value)


class DataConfig(_Section):
    """The synthetic action world that trains the default model and supplies held-out clips, or a folder
    of real clips (``source: folder``) that supplies the held-out clips instead."""

    source: Literal["synthetic", "folder"] = Field(
        "synthetic",
        description="'synthetic' (the rendered world) or 'folder' (a data set on disk, see data.folder).",
    )
    folder: FolderDataConfig = FolderDataConfig()
    size: int = Field(64, ge=16, le=512, description="Frame side in pixels.")
    flow_fields: int = Field(
        4, ge=1, le=20, description="Flow fields L per snippet (motion input has 2L channels)."
    )
    snippets: int = Field(3, ge=1, le=16, description="Snippets T per training clip.")
    snippet_gap: int = Field(4, ge=1, le=32, description="Frames between snippet starts.")
    speed_range: tuple[float, float] = Field((0.5, 2.5), description="Range of the random speed factor.")
    flow_noise: float = Field(
        0.0, ge=0.0, le=5.0, description="Std (px) of Gaussian noise added to the flow."
    )
    seed: int = Field(0, ge=0, description="World seed: the same seed renders the same clips everywhere.")
    train_clips_per_class: int = Field(250, ge=1, le=20_000)
    val_clips_per_class: int = Field(40, ge=1, le=20_000)
    test_clips_per_class: int = Field(60, ge=1, le=20_000)
    probe_clips_per_class: int = Field(60, ge=1, le=20_000)
    cache_dir: Path = Field(Path(".atlas_cache"), description="Where rendered clips are cached.")

    @field_validator("speed_range")
    @classmethod
    def _speed_range(cls, value: tuple[float, float]) -> tuple[float, float]:
        low, high = value
        if not 0 < low < high:
            raise ValueError("must be two numbers 0 < low < high")
        if high / low < 4.0:
            raise ValueError(
                "must span at least 4x (high / low >= 4) so that speed invariance is worth learning"
            )
        return value

    @model_validator(mode="after")
    def _cache_fits(self) -> DataConfig:
        # Each clip is stored as uint8 RGB (3 channels) and flow (2L channels), T snippets of size^2.
        per_clip = (3 + 2 * self.flow_fields) * self.snippets * self.size**2
        counts = {
            "train_clips_per_class": self.train_clips_per_class,
            "val_clips_per_class": self.val_clips_per_class,
            "test_clips_per_class": self.test_clips_per_class,
            "probe_clips_per_class": self.probe_clips_per_class,
        }
        total = sum(counts.values()) * WORLD_CLASSES * per_clip
        if total > MAX_CLIP_CACHE_BYTES:
            largest = max(counts, key=counts.__getitem__)
            raise ValueError(
                f"the clip counts ({', '.join(f'{k}={v}' for k, v in counts.items())}) at size {self.size}, "
                f"{self.snippets} snippets and {self.flow_fields} flow fields need {total / 2**30:.0f} GiB of clip "
                f"cache, above the {MAX_CLIP_CACHE_BYTES // 2**30} GiB limit; lower {largest} first"
            )
        return self

    @model_validator(mode="after")
    def _folder_root(self) -> DataConfig:
        if self.source == "folder" and self.folder.root is None:
            raise ValueError(
                "data.source is 'folder' but data.folder.root is empty: give the data set's folder"
            )
        return self


class ArchitectureConfig(_Section):
    """Sizes of the small default two-stream fusion network."""

    widths: tuple[int, ...] = Field((8, 16, 32, 32), min_length=2, max_length=5)
    convs_per_block: int = Field(1, ge=1, le=3)
    fc: int = Field(32, ge=4, le=4096)

    @field_validator("widths")
    @classmethod
    def _positive(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if any(w < 1 or w > 1024 for w in value):
            raise ValueError("every width must be between 1 and 1024")
        return value


class StageConfig(_Section):
    """One stage of the two-stream recipe (generator/training/recipe.py names the source of each default)."""

    epochs: int = Field(1, ge=1, le=10000)
    learning_rate: float = Field(1e-3, gt=0, le=1.0, description="Start of the step schedule.")
    lr_steps: tuple[float, ...] = Field(
        (0.7,), description="Fractions of the stage's steps at which the learning rate drops by lr_gamma."
    )
    dropout: float = Field(
        0.85, ge=0.0, lt=1.0, description="Dropout after fc6 and fc7 of the heads trained."
    )

    @field_validator("lr_steps")
    @classmethod
    def _fractions(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if any(not 0 < f < 1 for f in value) or list(value) != sorted(value):
            raise ValueError("must be increasing fractions strictly between 0 and 1")
        return value


class RecipeConfig(_Section):
    """Training a fusion network on the data set of data.folder (``atlas train`` with data.source folder).

    Defaults are the paper's recipe; generator/training/recipe.py gives the source of every value."""

    network: model_sources.FusionNetwork = Field(
        model_sources.FUSION_VGG16,
        description="'fusion_vgg16' (the paper's network) or 'small_fusion' (train.architecture).",
    )
    tower_weights: str = Field(
        "imagenet",
        description="fusion_vgg16 towers: a torchvision VGG-16 state-dict file, 'imagenet' (the "
        "vgg16-*.pth in the torch hub cache; never downloaded) or 'random'.",
    )
    width_multiplier: float = Field(
        1.0, gt=0.0, le=1.0, description="Scales fusion_vgg16's widths (tests only)."
    )
    image_size: int | None = Field(
        None, ge=16, le=512, description="Input side; empty = 224 (VGG) or data.size."
    )
    flow_fields: int | None = Field(None, ge=1, le=20, description="L; empty = 10 (VGG) or data.flow_fields.")
    train_root: Path | None = Field(
        None,
        description="The training split's folder when it is a separate data set in data.folder's layout "
        "(a frames or list data set holds one list); empty = data.folder.root, its train part.",
    )
    val_every: int = Field(
        10, ge=2, le=1000, description="Every n-th training clip is held out for validation."
    )
    snippets: int = Field(5, ge=1, le=16, description="T snippets per training clip.")
    positions: int = Field(
        11, ge=1, le=64, description="Snippet positions stored per training clip, evenly spread."
    )
    tau_steps: tuple[int, int] = Field(
        (1, 1), description="Range of the stride tau between sampled snippets, in stored positions."
    )
    crop_scales: tuple[float, ...] = Field((1.0, 0.875, 0.75, 0.66), min_length=1)
    store_ratio: float = Field(256 / 224, ge=1.0, le=2.0, description="Stored side / input side.")
    stages: tuple[Literal["appearance", "motion", "fusion", "joint"], ...] = Field(
        ("appearance", "motion", "fusion"),
        min_length=1,
        description="The paper's stages in order, or 'joint': the whole network end to end (not the paper's).",
    )
    appearance: StageConfig = StageConfig(epochs=30, learning_rate=1e-3, lr_steps=(0.7,), dropout=0.85)
    motion: StageConfig = StageConfig(epochs=60, learning_rate=1e-3, lr_steps=(0.625, 0.875), dropout=0.9)
    fusion: StageConfig = StageConfig(epochs=30, learning_rate=1e-3, lr_steps=(0.7,), dropout=0.85)
    joint: StageConfig = StageConfig(epochs=14, learning_rate=2e-3, lr_steps=(0.7,), dropout=0.5)
    lr_gamma: float = Field(0.1, gt=0.0, le=1.0)
    optimizer: Literal["sgd", "adamw"] = Field(
        "sgd",
        description="'sgd' (the paper's, for ImageNet-initialised towers) or 'adamw' (a small network "
        "trained from scratch, as the default model is: SGD barely moves its 0.01-scaled fc layers).",
    )
    momentum: float = Field(0.9, ge=0.0, lt=1.0)
    weight_decay: float = Field(5e-4, ge=0.0, le=1.0)
    batch_size: int = Field(96, ge=1, le=4096, description="Clips per step over all ranks.")
    loader_workers: int = Field(0, ge=0, le=64, description="DataLoader worker processes per rank.")
    checkpoint_minutes: float = Field(
        5.0, ge=0.0, le=1440.0, description="Resume state written this often; 0 = every step."
    )
    bf16: bool = Field(True, description="bf16 autocast on CUDA (fp32 on CPU).")

    @field_validator("tau_steps")
    @classmethod
    def _tau(cls, value: tuple[int, int]) -> tuple[int, int]:
        if not 1 <= value[0] <= value[1]:
            raise ValueError("must be two integers 1 <= low <= high")
        return value

    @field_validator("crop_scales")
    @classmethod
    def _scales(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if any(not 0.3 <= s <= 1.0 for s in value):
            raise ValueError("every crop scale must be between 0.3 and 1")
        return value


class TrainConfig(_Section):
    """Training of the default network on the synthetic world (``atlas train``)."""

    architecture: ArchitectureConfig = ArchitectureConfig()
    recipe: RecipeConfig = RecipeConfig()
    epochs: int = Field(14, ge=1, le=1000)
    batch_size: int = Field(32, ge=1, le=4096)
    learning_rate: float = Field(2e-3, gt=0, le=1.0)
    weight_decay: float = Field(1e-4, ge=0, le=1.0)
    seed: int = Field(0, ge=0)
    checkpoint: Path = Field(
        Path("generator/zoo/weights/default.pt"),
        description="Where the trained checkpoint is written; its model card goes beside it (.card.json).",
    )


class VisualizeConfig(_Section):
    """Activation maximisation settings; defaults are the paper's (see method.md)."""

    preset: Literal["paper", "fourier", "robust"] = "paper"
    chi: tuple[float, ...] = Field(
        (1.0, 10.0, 100.0), min_length=1, description="Temporal weights chi, fast to slow motion."
    )
    seeds: tuple[int, ...] = Field((0,), min_length=1)
    steps: int = Field(300, ge=1, le=100_000)
    alpha: float = Field(6.0, gt=0)
    bound: float = Field(80.0, gt=0, description="B: the expected pixel range.")
    tv_bound_ratio: float = Field(6.5, gt=0, description="V = B / ratio for the variation term.")
    beta: float = Field(2.0, gt=0)
    tv_scale: dict[Literal["rgb", "flow"], float] = Field(
        default_factory=lambda: {"rgb": 1.0, "flow": 10.0},
        description="Per input kind, a factor on the variation weight lam_tv = (ratio / B)^beta "
        "(1 = the paper). The default 10 = (80 / 25)^2 bounds the motion stream's variation as "
        "if B were 25 (about twice the 99th percentile of the synthetic world's flow vectors) "
        "rather than 80, the RGB range.",
    )
    lr_scale: float = Field(0.05, gt=0)
    momentum: float = Field(0.9, ge=0, lt=1)
    rms_decay: float = Field(0.9, ge=0, lt=1, description="Decay of the optimiser's running mean square.")
    norm_projection: bool = Field(
        True, description="Project each input onto the norm ball of radius 2B after every step."
    )
    alpha_scale: dict[Literal["rgb", "flow"], float] = Field(
        default_factory=lambda: {"rgb": 1.0, "flow": 1.0},
        description="Per input kind, a factor on the alpha-norm weight lam_alpha = (1 / B)^alpha (1 = the paper).",
    )
    jitter: bool = True
    leaky_slope: float = Field(0.05, ge=0, lt=1)
    leaky_fraction: float = Field(
        2 / 3,
        ge=0,
        le=1,
        description="Share of the steps run with leaky ReLUs; the rest use the network's own (1 = the paper).",
    )
    temporal_basis: Literal["pixel", "dct"] = Field(
        "dct",
        description="Basis of the optimised time axis: 'dct' (same optimum, steps not throttled by "
        "the chi term) or 'pixel' (the paper's optimisation path).",
    )
    spatial_decay: float = Field(1.0, ge=0, le=4, description="'fourier' preset: spatial 1/f exponent.")
    temporal_decay: float = Field(0.5, ge=0, le=4, description="'fourier' preset: temporal 1/f exponent.")
    decorrelate_colour: bool = Field(
        True, description="'fourier' preset: optimise RGB in a decorrelated colour basis."
    )
    robust_scale: float | None = Field(
        None,
        ge=0,
        lt=0.5,
        description="Largest relative random scale per step; empty = the preset's (0.1 for 'robust').",
    )
    robust_rotation: float | None = Field(
        None,
        ge=0,
        le=45,
        description="Largest random rotation in degrees per step; empty = the preset's (10 for 'robust').",
    )
    objective: Literal["centre", "mean"] = "centre"
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    channels_last: bool = True
    batch_size: int | None = Field(None, ge=1, description="Rows per batch; empty = chosen for the device.")
    compile: bool = False
    device: str = Field("auto", description="'auto', 'cpu', 'cuda' or 'cuda:N'.")
    stream_views: bool = Field(
        True,
        description="Also visualize fusion units and class outputs with all inputs but one held at "
        "their data mean (one view per stream).",
    )

    @field_validator("chi")
    @classmethod
    def _chi_positive(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if any(not math.isfinite(c) or c < 0 for c in value):
            raise ValueError("every chi must be a finite number >= 0")
        if len(set(value)) != len(value):
            raise ValueError("chi values must be distinct")
        return value

    @field_validator("seeds")
    @classmethod
    def _seeds(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if any(seed < 0 for seed in value):
            raise ValueError("every seed must be >= 0")
        if len(set(value)) != len(value):
            raise ValueError("seeds must be distinct (each (unit, chi, seed) is stored once)")
        return value

    @field_validator("tv_scale", "alpha_scale")
    @classmethod
    def _tv_scale(cls, value: dict[str, float]) -> dict[str, float]:
        if set(value) != {"rgb", "flow"}:
            raise ValueError(f"give both input kinds, rgb and flow (got {sorted(value)})")
        if any(not math.isfinite(v) or v <= 0 for v in value.values()):
            raise ValueError("every factor must be a finite number > 0")
        return dict(value)

    @field_validator("device")
    @classmethod
    def _device(cls, value: str) -> str:
        if value in {"auto", "cpu", "cuda"} or (value.startswith("cuda:") and value[5:].isdigit()):
            return value
        raise ValueError("must be 'auto', 'cpu', 'cuda' or 'cuda:N'")


class SiteConfig(_Section):
    """The published site."""

    title: str = "Video Feature Atlas"
    site_url: str | None = Field(None, description="Public URL, used in permalinks and citations.")
    author: str = "The Video Feature Atlas authors"
    top_clips: int = Field(8, ge=1, le=100)
    clip_overlays: bool = Field(
        True,
        description="Draw where each unit with positions fires in every real clip its page shows "
        "(one heat-map MP4 and poster per unit and clip).",
    )
    publish: bool = Field(
        False,
        description="The site is published: site_url must then be set (permalinks, "
        "citations and the unit JSON files carry it).",
    )

    @model_validator(mode="after")
    def _published_sites_have_a_url(self) -> SiteConfig:
        if self.publish and not self.site_url:
            raise ValueError(
                "site.publish is true but site.site_url is empty: give the public base URL of the "
                "published atlas (e.g. https://example.org/atlas/), or set site.publish to false"
            )
        if self.site_url and not self.site_url.startswith(("https://", "http://")):
            raise ValueError(
                f"site.site_url {self.site_url!r} must be an absolute http(s) URL, e.g. "
                f"https://example.org/atlas/"
            )
        return self


class AtlasConfig(_Section):
    """The whole configuration of one atlas build."""

    model: ModelConfig = ModelConfig()
    data: DataConfig = DataConfig()
    train: TrainConfig = TrainConfig()
    layers: Literal["all"] | tuple[str, ...] = Field("all", description="Layer names to visualize, or 'all'.")
    max_units_per_layer: int | None = Field(
        None, ge=1, description="Cap on units per layer; empty = every unit."
    )
    visualize: VisualizeConfig = VisualizeConfig()
    output: Path = Field(Path("atlas_out"), description="Output folder of the build.")
    site: SiteConfig = SiteConfig()

    @model_validator(mode="after")
    def _layers_not_empty(self) -> AtlasConfig:
        if self.layers != "all" and len(self.layers) == 0:
            raise ValueError("layers: give at least one layer name, or 'all'")
        return self


def config_hash(config: AtlasConfig, *sections: str) -> str:
    """A short, stable hash of the whole configuration or of the named top-level sections."""
    data = config.model_dump(mode="json")
    if sections:
        data = {name: data[name] for name in sections}
    blob = json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def load_config(path: Path | None = None, overrides: dict[str, Any] | None = None) -> AtlasConfig:
    """Read ``path`` (or only defaults when None), apply dotted-key ``overrides``, validate.

    Raises ConfigError with a one-paragraph message on any problem.
    """
    source = str(path) if path is not None else "the built-in defaults"
    if overrides:  # the faulty value may come from an override (--set), not from the file
        source += f" with the overrides of {', '.join(sorted(overrides))}"
    raw: dict[str, Any] = {}
    if path is not None:
        raw = _read_yaml(Path(path))
    merged = _apply_overrides(raw, overrides or {})
    try:
        return AtlasConfig.model_validate(merged)
    except ValidationError as error:
        raise ConfigError(_describe(error, source)) from None


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """Turn ``["visualize.steps=50", "layers=[head/fc6]"]`` into a dict; values are read as YAML."""
    result: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(
                f"Cannot read the override {item!r}: write it as KEY=VALUE with a dotted key, "
                "for example visualize.steps=50."
            )
        try:
            result[key.strip()] = yaml.safe_load(value) if value.strip() else None
        except yaml.YAMLError:
            result[key.strip()] = value
    return result


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(
            f"The configuration file {path} does not exist. Pass an existing file with --config, "
            f"or copy {DEFAULT_CONFIG_NAME} from the repository as a starting point."
        )
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"The configuration file {path} is not valid YAML{where}: {error}.") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"The configuration file {path} must hold a mapping of sections (model, data, train, visualize, "
            f"output, site, ...), but it holds a {type(data).__name__}."
        )
    return data


def _apply_overrides(raw: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """A new nested dict with the dotted-key overrides applied (``raw`` is left untouched)."""
    merged = json.loads(json.dumps(raw, default=str))
    for dotted, value in overrides.items():
        parts = dotted.split(".")
        node = merged
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = {}
                node[part] = child
            node = child
        node[parts[-1]] = value
    return merged


def _describe(error: ValidationError, source: str) -> str:
    problems = []
    for item in error.errors():
        field = ".".join(str(p) for p in item["loc"]) or "(top level)"
        if item["type"] == "extra_forbidden":
            parent = _section_model(item["loc"][:-1])
            valid = ", ".join(parent.model_fields) if parent else "see atlas_config.yaml"
            problems.append(f"'{field}' is not a known key (valid keys here: {valid})")
        else:
            value = item.get("input")
            shown = "" if isinstance(value, dict) else f" = {value!r}"
            message = item["msg"].removeprefix("Value error, ").rstrip(".")
            problems.append(f"'{field}'{shown}: {message}")
    return (
        f"Invalid configuration in {source}: "
        + "; ".join(problems)
        + ". Fix these fields (atlas_config.yaml documents every key and its accepted values)."
    )


def _section_model(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    model: type[BaseModel] = AtlasConfig
    for part in loc:
        field = model.model_fields.get(str(part))
        if field is None:
            return None
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            model = annotation
        else:
            return None
    return model
