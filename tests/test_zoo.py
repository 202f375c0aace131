"""The zoo: fusion networks, their layer registry, discovery, checkpoints and loading."""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from generator.errors import CheckpointError, ModelError
from generator.zoo import (
    LoadedModel,
    ReLU,
    build_from_architecture,
    discover_layers,
    fusion_init_weight,
    fusion_vgg16,
    load,
    loading,
    model_hash,
    read_checkpoint,
    save_checkpoint,
    small_fusion,
    torchvision_video,
    with_negative_slope,
)
from generator.zoo.fusion import gaussian_kernel_3d
from generator.zoo.spec import ModelDescription
from generator.zoo.weight_files import imagenet_tower_state
from tests import fixtures_user_model

CLASSES = tuple(f"Action{i}" for i in range(12))


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Iterator[None]:
    # The test machine is shared: one thread avoids oversubscription stalls.
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def vgg() -> nn.Module:
    torch.manual_seed(0)
    return fusion_vgg16(image_size=64, tower_weights="random").eval()


@pytest.fixture()
def small() -> nn.Module:
    torch.manual_seed(1)
    return small_fusion(classes=CLASSES).eval()


def _inputs(description: ModelDescription, frames: int = 1, batch: int = 1) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(3)
    return [
        torch.randn(batch, s.channels, frames, s.height, s.width, generator=generator) * 50
        for s in description.inputs
    ]


def _responses(
    model: nn.Module, description: ModelDescription, inputs: list[torch.Tensor]
) -> dict[str, torch.Tensor]:
    seen: dict[str, torch.Tensor] = {}
    handles = [
        model.get_submodule(layer.module).register_forward_hook(
            lambda _m, _a, out, name=layer.name: seen.__setitem__(name, out.detach())
        )
        for layer in description.layers
    ]
    try:
        with torch.no_grad():
            model(*inputs)
    finally:
        for handle in handles:
            handle.remove()
    return seen


# --- the paper's VGG-16 fusion network -------------------------------------------------


@pytest.mark.parametrize("frames", [1, 2])
def test_vgg16_fusion_runs_at_reduced_resolution(vgg: nn.Module, frames: int) -> None:
    description = vgg.describe()
    scores = _responses(vgg, description, _inputs(description, frames))
    assert scores["class"].shape == (1, 101)
    assert scores["appearance/conv5_3"].shape == (frames, 512, 4, 4)  # towers fold T into the batch
    assert scores["fusion/conv5_fusion"].shape == (1, 512, frames, 4, 4)
    for layer in description.layers:  # every registry hook fires with `units` channels
        response = scores[layer.name]
        assert response.shape[1] == layer.units, layer.name


def test_vgg16_fusion_registry(vgg: nn.Module) -> None:
    d = vgg.describe()
    widths = [64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512]
    names = ["1_1", "1_2", "2_1", "2_2", "3_1", "3_2", "3_3", "4_1", "4_2", "4_3", "5_1", "5_2", "5_3"]
    strides = [1, 1, 2, 2, 4, 4, 4, 8, 8, 8, 16, 16, 16]
    fields = [3, 5, 10, 14, 24, 32, 40, 60, 64, 64, 64, 64, 64]  # VGG-16's, clipped to the 64 px input
    for stream in ("appearance", "motion"):
        for depth, (name, width, stride, field) in enumerate(zip(names, widths, strides, fields), 1):
            layer = d.layer(f"{stream}/conv{name}")
            assert (layer.units, layer.stride, layer.receptive_field, layer.depth) == (
                width,
                stride,
                field,
                depth,
            )
            assert layer.streams == (stream,) and layer.kind == "conv2d"
    fusion = d.layer("fusion/conv5_fusion")
    assert (fusion.kind, fusion.units, fusion.stride, fusion.depth) == ("conv3d", 512, 16, 14)
    assert fusion.streams == ("appearance", "motion")
    for name in ("head/fc6", "head/fc7", "motion/fc6", "motion/fc7"):
        assert d.layer(name).units == 4096 and d.layer(name).kind == "fc"
    assert d.layer("head/fc6").depth == d.layer("motion/fc6").depth == 15
    assert d.layer("motion/fc7").streams == ("motion",)
    assert d.layer("class").units == 101 and d.layers[-1].name == "class"
    assert [s.channels for s in d.inputs] == [3, 20] and d.input("motion").kind == "flow"
    assert d.input("motion").flow_fields == 10 and d.input("appearance").frames == 1
    assert sum(layer.units for layer in d.layers if layer.kind == "conv2d") == 2 * 4224


def test_full_scale_vgg16_geometry() -> None:
    from generator.zoo.fusion import VGG16_BLOCKS, FusionConfig, describe_fusion

    config = FusionConfig(
        "fusion_vgg16", VGG16_BLOCKS, 10, 224, 4096, 101, tuple(f"c{i}" for i in range(101))
    )
    d = describe_fusion(config)
    assert d.layer("appearance/conv5_3").receptive_field == 196  # the textbook VGG-16 value
    assert d.layer("motion/conv4_3").stride == 8
    assert config.pooled_size == 7  # fc6 takes 512 x 7 x 7, as in VGG-16


def test_fusion_conv_starts_as_weighted_identity_times_gaussian(vgg: nn.Module) -> None:
    weight = vgg.get_submodule("fusion.conv5_fusion").weight
    g = gaussian_kernel_3d(3, 1.0)
    assert g.sum().item() == pytest.approx(1.0)
    assert g[1, 1, 1] > g[0, 1, 1] > g[0, 0, 1] > g[0, 0, 0]
    assert torch.allclose(weight[7, 7], 0.25 * g) and torch.allclose(weight[7, 512 + 7], 0.75 * g)
    assert weight[7, 8].abs().sum() == 0 and weight[7, 512 + 8].abs().sum() == 0
    assert torch.allclose(weight.sum(dim=(1, 2, 3, 4)), torch.ones(512))
    assert vgg.get_submodule("fusion.conv5_fusion").bias.abs().sum() == 0
    # At initialisation the fusion passes 0.25 x appearance + 0.75 x motion for smooth inputs.
    conv = nn.Conv3d(4, 2, 3, padding=1)
    with torch.no_grad():
        conv.weight.copy_(fusion_init_weight(2))
        conv.bias.zero_()
        x = torch.cat([torch.full((1, 2, 3, 5, 5), 4.0), torch.full((1, 2, 3, 5, 5), 8.0)], dim=1)
        assert conv(x)[0, :, 1, 2, 2].tolist() == pytest.approx([7.0, 7.0])


def test_imagenet_tower_initialisation(vgg: nn.Module) -> None:
    torch.manual_seed(5)
    fake = {}
    index, channels = 0, 3
    for block in ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512)):
        for width in block:
            fake[f"features.{index}.weight"] = torch.randn(width, channels, 3, 3) * 0.01
            fake[f"features.{index}.bias"] = torch.randn(width) * 0.01
            index, channels = index + 2, width
        index += 1
    state = imagenet_tower_state(fake, vgg.state_dict(), vgg.config)
    # Cross-modality: conv1_1's RGB filters averaged over channels, replicated to the 20 flow channels.
    flow = state["motion.conv1_1.weight"]
    assert flow.shape == (64, 20, 3, 3) and torch.allclose(flow[:, 0], flow[:, 19])
    assert torch.equal(state["motion.conv2_1.weight"], fake["features.5.weight"])
    assert torch.equal(state["appearance.conv5_3.weight"], fake["features.28.weight"])
    assert "head.fc6.weight" not in state  # 64 px input: fc6 has another shape than ImageNet's
    # The appearance tower on network units equals torchvision's conv1_1 on its normalized input.
    x = torch.rand(1, 3, 8, 8) * 255
    mean, std = torch.tensor([0.485, 0.456, 0.406]), torch.tensor([0.229, 0.224, 0.225])
    ours_in = x - torch.tensor([123.68, 116.78, 103.94]).view(1, 3, 1, 1)
    normalized = (x / 255 - mean.view(1, 3, 1, 1)) / std.view(1, 3, 1, 1)
    theirs = F.conv2d(normalized, fake["features.0.weight"], fake["features.0.bias"])
    ours = F.conv2d(ours_in, state["appearance.conv1_1.weight"], state["appearance.conv1_1.bias"])
    assert torch.allclose(ours, theirs, atol=1e-4)


def test_tower_weights_are_explicit_and_never_read_from_whatever_the_cache_holds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No choice is an error naming the CLI key, even with VGG-16 weights in the cache; 'imagenet'
    reads only torchvision's one published file, never another vgg16-*.pth that happens to be there."""
    from generator.zoo.weight_files import VGG16_FILE, vgg16_file

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    hub = tmp_path / "hub" / "checkpoints"
    hub.mkdir(parents=True)
    (hub / "vgg16-0123abcd.pth").write_bytes(b"another VGG-16")
    with pytest.raises(CheckpointError, match="imagenet") as error:
        vgg16_file("imagenet")
    assert VGG16_FILE in str(error.value)
    (hub / VGG16_FILE).write_bytes(b"stand-in")
    with pytest.raises(ModelError, match=r"model\.weights is not set for fusion_vgg16.*imagenet.*random"):
        vgg16_file(None)
    assert vgg16_file("imagenet") == hub / VGG16_FILE
    assert vgg16_file("random") is None
    with pytest.raises(ModelError, match=r"model\.weights is not set"):
        load("fusion_vgg16")
    with pytest.raises(ModelError, match=r"model\.weights = 'kinetics400' does not apply to fusion_vgg16"):
        vgg16_file("kinetics400")


def test_imagenet_towers_are_never_downloaded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(CheckpointError, match="hub cache") as error:
        fusion_vgg16(tower_weights="imagenet")
    assert str(tmp_path) in str(error.value) and "\n" not in str(error.value)
    with pytest.raises(CheckpointError, match="nowhere.pth"):
        fusion_vgg16(tower_weights=tmp_path / "nowhere.pth")


# --- the small default architecture ----------------------------------------------------


def test_small_fusion_forward_and_registry(small: nn.Module) -> None:
    d = small.describe()
    names = [layer.name for layer in d.layers]
    assert len(names) == len(set(names))
    assert names[:2] == ["appearance/conv1_1", "motion/conv1_1"] and "fusion/conv4_fusion" in names
    assert names[-5:] == ["head/fc6", "motion/fc6", "head/fc7", "motion/fc7", "class"]
    depths = [layer.depth for layer in d.layers]
    assert depths == sorted(depths) and depths[-1] == 8
    assert d.layer("class").unit_names == CLASSES == d.classes
    assert d.unit_id("motion/conv3_1", 7) == "motion/conv3_1/0007"
    assert d.unit_id("fusion/conv4_fusion", 31) == "fusion/conv4_fusion/0031"
    assert d.unit_id("class", 3) == "class/Action3"
    with pytest.raises(ModelError, match="appearance/conv1_1"):
        d.layer("appearance/conv9_9")
    for frames, batch in ((1, 2), (3, 2)):
        responses = _responses(small, d, _inputs(d, frames, batch))
        assert responses["class"].shape == (batch, 12)
        assert responses["motion/conv1_1"].shape == (batch * frames, 8, 64, 64)
        assert responses["fusion/conv4_fusion"].shape == (batch, 32, frames, 8, 8)
        assert all(responses[layer.name].shape[1] == layer.units for layer in d.layers)


def test_towers_fold_snippets_snippet_major(small: nn.Module) -> None:
    d = small.describe()
    appearance, motion = _inputs(d, frames=3, batch=2)
    folded = _responses(small, d, [appearance, motion])["appearance/conv2_1"]
    tower = small.get_submodule("appearance")
    with torch.no_grad():
        for b in range(2):
            for t in range(3):
                alone = tower[:3](appearance[b : b + 1, :, t])  # conv1_1, relu1_1, pool1
                alone = tower.conv2_1(alone)
                assert torch.allclose(folded[b * 3 + t], alone[0], atol=1e-4)


def test_score_is_the_mean_of_the_two_heads(small: nn.Module) -> None:
    d = small.describe()
    inputs = _inputs(d)
    heads: dict[str, torch.Tensor] = {}
    hooks = [
        small.get_submodule(f"{head}.fc8").register_forward_hook(
            lambda _m, _a, out, h=head: heads.__setitem__(h, out)
        )
        for head in ("head", "motion_head")
    ]
    with torch.no_grad():
        scores = small(*inputs)
    for hook in hooks:
        hook.remove()
    assert torch.allclose(scores, (heads["head"] + heads["motion_head"]) / 2)


def test_with_negative_slope_copies(small: nn.Module) -> None:
    leaky = with_negative_slope(small, 0.05)
    relus = [m for m in leaky.modules() if isinstance(m, ReLU)]
    assert relus and all(m.negative_slope == 0.05 for m in relus)
    assert all(m.negative_slope == 0.0 for m in small.modules() if isinstance(m, ReLU))
    assert leaky is not small
    assert torch.equal(leaky.state_dict()["head.fc6.weight"], small.state_dict()["head.fc6.weight"])


def test_architecture_rebuilds_the_same_network(small: nn.Module) -> None:
    rebuilt = build_from_architecture(small.architecture)
    assert rebuilt.architecture == small.architecture
    assert {k: v.shape for k, v in rebuilt.state_dict().items()} == {
        k: v.shape for k, v in small.state_dict().items()
    }
    with pytest.raises(ModelError, match="multiple of 16"):
        small_fusion(image_size=60)


# --- checkpoints and loading -------------------------------------------------------------


def test_save_and_load_round_trip(small: nn.Module, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = save_checkpoint(tmp_path / "sub" / "model.pt", small, small.architecture, CLASSES, {"epochs": 3})
    assert not [p for p in path.parent.iterdir() if p.name != "model.pt"]  # no temporary left behind
    data = read_checkpoint(path)
    assert data["format"] == "atlas-checkpoint/1" and data["classes"] == list(CLASSES)
    loaded = load("small_fusion", path)
    assert isinstance(loaded, LoadedModel) and not loaded.model.training
    assert not any(p.requires_grad for p in loaded.model.parameters())
    assert loaded.extra == {"epochs": 3} and loaded.description.classes == CLASSES
    inputs = _inputs(loaded.description, frames=2)
    with torch.no_grad():
        assert torch.equal(loaded.model(*inputs), small(*inputs))
    assert loaded.model_hash == model_hash(small, small.architecture)
    monkeypatch.setattr(loading, "DEFAULT_CHECKPOINT", path)
    assert load("default").model_hash == loaded.model_hash  # same weights, same hash
    # A plain state dict loads too, and any change of weights changes the hash.
    plain = tmp_path / "plain.pt"
    torch.save(small_fusion(classes=CLASSES).state_dict(), plain)
    assert load("small_fusion", plain).model_hash != loaded.model_hash


def test_small_fusion_weights_are_explicit(tmp_path: Path) -> None:
    """Without a checkpoint, small_fusion is never silently random: model.weights says random or names a
    file, and the error names the CLI key with the valid values."""
    with pytest.raises(
        ModelError, match=r"model\.weights is not set for small_fusion.*model\.checkpoint.*random"
    ):
        load("small_fusion")
    with pytest.raises(ModelError, match=r"model\.weights = 'imagenet' does not apply to small_fusion"):
        load("small_fusion", weights="imagenet")
    with pytest.raises(CheckpointError, match=r"model\.weights = .*nowhere\.pt.*does not exist"):
        load("small_fusion", weights=str(tmp_path / "nowhere.pt"))
    # random: the seeded initialisation, the same network every time.
    first, second = load("small_fusion", weights="random"), load("small_fusion", weights="random")
    assert first.model_hash == second.model_hash and first.checkpoint is None
    # A weights file given as model.weights loads exactly as the same file given as model.checkpoint.
    trained = small_fusion(classes=CLASSES)
    with torch.no_grad():
        for parameter in trained.parameters():
            parameter.add_(0.01)
    path = save_checkpoint(tmp_path / "net.pt", trained, trained.architecture, CLASSES)
    by_weights, by_checkpoint = load("small_fusion", weights=str(path)), load("small_fusion", path)
    assert by_weights.model_hash == by_checkpoint.model_hash == model_hash(trained, trained.architecture)
    assert by_weights.model_hash != first.model_hash and by_weights.description.classes == CLASSES
    with pytest.raises(ModelError, match=r"model\.checkpoint .* and model\.weights .* set only one"):
        load("small_fusion", path, weights="random")


def test_wrong_shapes_name_the_keys(small: nn.Module, tmp_path: Path) -> None:
    other = small_fusion(widths=(8, 16, 32, 64))
    path = tmp_path / "other.pt"
    torch.save(other.state_dict(), path)
    with pytest.raises(CheckpointError) as error:
        load("small_fusion", path)
    message = str(error.value)
    assert "appearance.conv4_1.weight (expected (32, 32, 3, 3), found (64, 32, 3, 3))" in message
    assert str(path) in message and "\n" not in message
    atlas = save_checkpoint(tmp_path / "mixed.pt", other, small.architecture, CLASSES)
    with pytest.raises(CheckpointError, match="head.fc6.weight"):
        load("small_fusion", atlas)
    del_key = {k: v for k, v in small.state_dict().items() if k != "motion.conv2_1.bias"}
    torch.save({**del_key, "extra.weight": torch.zeros(1)}, path)
    with pytest.raises(
        CheckpointError, match=r"missing keys: motion\.conv2_1\.bias; unexpected keys: extra\.weight"
    ):
        load("small_fusion", path)


def test_missing_and_unreadable_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = tmp_path / "nowhere.pt"
    with pytest.raises(CheckpointError, match="nowhere.pt"):
        load("small_fusion", missing)
    monkeypatch.setattr(loading, "DEFAULT_CHECKPOINT", missing)
    with pytest.raises(CheckpointError, match="atlas train"):
        load("default")
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        read_checkpoint(garbage)
    with pytest.raises(ModelError, match="Unknown model source"):
        load("resnet")


_UNPICKLED: list[str] = []


def _record_unpickling() -> str:
    _UNPICKLED.append("ran")
    return "payload"


class _Payload:
    def __reduce__(self) -> tuple:
        return (_record_unpickling, ())


def test_checkpoints_load_weights_only(tmp_path: Path) -> None:
    path = tmp_path / "evil.pt"
    payload = {
        "format": "atlas-checkpoint/1",
        "architecture": {},
        "classes": [],
        "state_dict": {},
        "x": _Payload(),
    }
    torch.save(payload, path)
    assert pickle.loads(pickle.dumps(_Payload())) == "payload" and _UNPICKLED == ["ran"]  # it would run code
    with pytest.raises(CheckpointError, match="refused"):
        load("small_fusion", path)
    assert _UNPICKLED == ["ran"]  # ... but loading the checkpoint did not run it
    with pytest.raises(TypeError):
        save_checkpoint(
            tmp_path / "bad.pt", small_fusion(), {"builder": "small_fusion"}, [], {"x": _Payload()}
        )


# --- discovery and user models --------------------------------------------------------------


def test_discovered_geometry_matches_the_analytic_values() -> None:
    model, inputs, classes = fixtures_user_model.build()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    layers = discover_layers(model, inputs, classes)
    assert [layer.name for layer in layers] == ["a1", "a2", "b1", "mix", "class"]
    for layer in layers[:-1]:
        geometry = (layer.units, layer.stride, layer.receptive_field, layer.streams)
        assert geometry == fixtures_user_model.EXPECTED[layer.name]
    assert [layer.kind for layer in layers] == ["conv2d", "conv2d", "conv2d", "conv3d", "class"]
    class_layer = layers[-1]
    assert (class_layer.module, class_layer.units, class_layer.unit_names) == ("fc", 5, classes)
    assert class_layer.streams == ("appearance", "motion") and class_layer.receptive_field == 48
    assert [layer.depth for layer in layers] == [1, 2, 3, 4, 5]
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())  # weights untouched
    assert not any(m._forward_hooks for m in model.modules())  # hooks removed


def test_discovery_agrees_with_the_fusion_description(small: nn.Module) -> None:
    d = small.describe()
    discovered = {layer.module: layer for layer in discover_layers(small, d.inputs, d.classes)}
    for layer in d.layers:
        found = discovered[layer.module]
        assert (found.units, found.stride, found.receptive_field, found.streams) == (
            layer.units,
            layer.stride,
            layer.receptive_field,
            layer.streams,
        ), layer.name


def test_user_model_by_import_path(tmp_path: Path) -> None:
    loaded = load("tests.fixtures_user_model:build")
    d = loaded.description
    assert d.classes == fixtures_user_model.CLASSES and d.layer("mix").streams == ("appearance", "motion")
    assert d.unit_id("class", 1) == "class/Right"
    with torch.no_grad():
        assert loaded.model(*_inputs(d)).shape == (1, 5)
    described = load("tests.fixtures_user_model:build_described")
    assert described.description.name == "tiny" and described.description.layer("a2").receptive_field == 23
    path = tmp_path / "user.pt"
    torch.save(loaded.model.state_dict(), path)
    reloaded = load("tests.fixtures_user_model:build", path)
    assert reloaded.model_hash == loaded.model_hash
    with pytest.raises(ModelError, match="no function 'nothing'"):
        load("tests.fixtures_user_model:nothing")
    with pytest.raises(ModelError, match="Cannot import module"):
        load("tests.no_such_module:build")


# --- torchvision video networks -----------------------------------------------------------


def test_r3d_18_random_weights_describe_and_run() -> None:
    torch.manual_seed(0)
    net = torchvision_video("r3d_18", weights="random", frames=4, size=32).eval()
    d = net.describe()
    assert d.inputs[0].name == "video" and d.inputs[0].shape == (3, 4, 32, 32)
    assert d.inputs[0].mean == pytest.approx((110.2008, 100.6398, 95.9948), abs=1e-3)
    assert d.layers[0].name == "stem.0" and d.layers[0].module == "net.stem.0"
    assert (d.layers[0].units, d.layers[0].stride, d.layers[0].receptive_field) == (64, 2, 7)
    assert d.layer("layer4.1.conv2.0").stride == 16 and d.layer("layer4.1.conv2.0").units == 512
    assert d.layers[-1].name == "class" and d.layers[-1].units == 400 and "fc" not in d.layer_names
    assert len(d.classes) == 400 and len(d.layers) == 21
    assert d.unit_id("class", 0) == "class/abseiling" and "hurling_sport" in d.classes  # URL-safe unit ids
    assert all(c.replace("_", "").isalnum() for c in d.classes)
    video = torch.randn(1, 3, 4, 32, 32) * 50
    responses = _responses(net, d, [video])
    assert all(responses[layer.name].shape[1] == layer.units for layer in d.layers)
    # Network units (0..255 minus the mean) become torchvision's normalized input inside forward.
    mean = torch.tensor([0.43216, 0.394666, 0.37645]).view(1, 3, 1, 1, 1)
    std = torch.tensor([0.22803, 0.22145, 0.216989]).view(1, 3, 1, 1, 1)
    pixels = video + 255 * mean
    with torch.no_grad():
        assert torch.allclose(net(video), net.net((pixels / 255 - mean) / std), atol=1e-4)


def test_torchvision_weights_are_never_downloaded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(
        ModelError, match=r"model\.weights is not set for torchvision:r3d_18.*kinetics400.*random"
    ):
        load("torchvision:r3d_18")
    with pytest.raises(CheckpointError, match=r"r3d_18-b3b3357e\.pth.*model\.weights to random"):
        load("torchvision:r3d_18", weights="kinetics400")
    with pytest.raises(ModelError, match="r2plus1d_18"):
        load("torchvision:resnet50")
