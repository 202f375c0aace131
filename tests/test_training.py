"""Training a fusion network on a data set on disk with the paper's recipe: the augmentation's known
geometry, every stage of the recipe on a tiny fusion_vgg16, exact resume, and data parallel = one process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from generator.config import AtlasConfig, load_config
from generator.data.export import export_world
from generator.train import card_path, world_spec
from generator.training.data import Crop, augment, choose_crop, choose_snippets
from generator.training.recipe import learning_rate
from generator.training.run import build_network, resume_path, train_on_folder
from generator.zoo import load
from generator.zoo.fusion import VGG16_BLOCKS, fusion_init_weight
from generator.zoo.weight_files import fold_normalization

REPO = Path(__file__).resolve().parents[1]
WORLD = {"data.size": 32, "data.flow_fields": 2, "data.snippets": 2, "data.snippet_gap": 2}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny synthetic world exported as frames data sets: 3 train and 1 test clip per class."""
    tmp = tmp_path_factory.mktemp("world")
    spec = world_spec(load_config(None, dict(WORLD)))
    export_world(spec, "train", 3, tmp / "cache", tmp / "train", "frames", progress=False)
    export_world(spec, "test", 1, tmp / "cache", tmp / "test", "frames", progress=False)
    return tmp


def recipe_config(world: Path, tmp: Path, **sets) -> AtlasConfig:
    base = {
        **WORLD,
        "data.source": "folder",
        "data.folder.root": str(world / "test"),
        "data.folder.layout": "frames",
        "data.folder.flow": "precomputed",
        "data.folder.workers": 1,
        "data.folder.sampling.snippets": 2,
        "data.folder.classes": ["JumpingJack", "Swing", "Billiards", "PlayingCello"],
        "data.cache_dir": str(world / "cache"),
        "train.recipe.train_root": str(world / "train"),
        "train.recipe.network": "small_fusion",
        "train.architecture.widths": [4, 8],
        "train.architecture.fc": 8,
        "train.recipe.positions": 4,
        "train.recipe.snippets": 2,
        "train.recipe.tau_steps": [1, 2],
        "train.recipe.val_every": 4,
        "train.recipe.batch_size": 4,
        "train.recipe.appearance.epochs": 1,
        "train.recipe.motion.epochs": 1,
        "train.recipe.fusion.epochs": 1,
        "train.recipe.checkpoint_minutes": 0.0,
        "train.checkpoint": str(tmp / "net.pt"),
    }
    base.update(sets)
    return load_config(None, base)


# --- augmentation and schedule ---------------------------------------------------------------------


def test_a_flip_mirrors_the_frame_and_negates_only_u() -> None:
    flow = torch.zeros(4, 1, 8, 8)  # (u1, v1, u2, v2)
    flow[0], flow[1], flow[2], flow[3] = 3.0, -2.0, 1.0, 5.0
    flow[0, 0, :, 0] = 7.0  # a marker in the left column of u1
    out = augment(flow, Crop(0, 0, 8, 8, flip=True), 8, flow=True)
    assert torch.equal(out[0, 0, :, -1], torch.full((8,), -7.0))  # mirrored and negated
    assert torch.all(out[0, 0, :, :-1] == -3.0) and torch.all(out[2] == -1.0)
    assert torch.all(out[1] == -2.0) and torch.all(out[3] == 5.0)  # v unchanged
    rgb = torch.arange(8.0).expand(3, 1, 8, 8)
    assert torch.equal(
        augment(rgb, Crop(0, 0, 8, 8, flip=True), 8, flow=False)[0, 0, 0], torch.arange(7.0, -1, -1)
    )


def test_a_crop_resized_up_scales_the_flow_vectors_with_the_image() -> None:
    flow = torch.ones(2, 1, 16, 16)
    out = augment(flow, Crop(8, 0, 8, 4, flip=False), 16, flow=True)  # 4 wide -> 16: x4; 8 high -> 16: x2
    assert out.shape == (2, 1, 16, 16)
    assert torch.allclose(out[0], torch.full_like(out[0], 4.0)) and torch.allclose(
        out[1], torch.full_like(out[1], 2.0)
    )


def test_crops_are_corners_or_centre_at_the_recipe_scales() -> None:
    rng = np.random.default_rng(0)
    scales = (1.0, 0.875, 0.75, 0.66)
    seen = set()
    for _ in range(400):
        crop = choose_crop(rng, 256, scales)
        assert crop.height in (256, 224, 192, 169) and crop.width in (256, 224, 192, 169)
        assert abs([256, 224, 192, 169].index(crop.height) - [256, 224, 192, 169].index(crop.width)) <= 1
        corner = crop.top in (0, 256 - crop.height) and crop.left in (0, 256 - crop.width)
        centre = (crop.top, crop.left) == ((256 - crop.height) // 2, (256 - crop.width) // 2)
        assert corner or centre
        seen.add((crop.top == 0, crop.left == 0, crop.flip))
    assert len(seen) == 8  # every corner, both flips


def test_snippets_are_tau_apart_and_inside_the_clip() -> None:
    rng = np.random.default_rng(1)
    strides = set()
    for _ in range(200):
        picked = choose_snippets(rng, 11, 5, (1, 2))
        assert len(picked) == 5 and picked.min() >= 0 and picked.max() <= 10
        strides.add(int(np.diff(picked)[0]))
        assert len(set(np.diff(picked))) == 1
    assert strides == {1, 2}
    assert list(choose_snippets(rng, 4, 5, (3, 3))) == [0, 0, 0, 0, 0]  # too few positions: stride 0


def test_the_step_schedule_drops_by_gamma_at_each_fraction() -> None:
    lrs = [learning_rate(1e-3, 0.1, (0.5, 0.75), step, 8) for step in range(8)]
    assert lrs == pytest.approx([1e-3] * 4 + [1e-4] * 2 + [1e-5] * 2)


# --- the paper's recipe on a tiny fusion_vgg16 -------------------------------------------------------


def fake_vgg16(path: Path, multiplier: float) -> dict:
    """A torchvision-shaped VGG-16 state dict at a reduced width (stands in for the ImageNet file)."""
    torch.manual_seed(3)
    state, index, channels = {}, 0, 3
    for block in VGG16_BLOCKS:
        for width in block:
            width = max(1, round(width * multiplier))
            state[f"features.{index}.weight"] = torch.randn(width, channels, 3, 3)
            state[f"features.{index}.bias"] = torch.randn(width)
            channels, index = width, index + 2
        index += 1
    torch.save(state, path)
    return state


def test_tiny_fusion_vgg16_runs_every_stage_of_the_recipe(world: Path, tmp_path: Path) -> None:
    multiplier = 1 / 16
    vgg = fake_vgg16(tmp_path / "vgg16-tiny.pth", multiplier)
    config = recipe_config(
        world,
        tmp_path,
        **{
            "train.recipe.network": "fusion_vgg16",
            "train.recipe.tower_weights": str(tmp_path / "vgg16-tiny.pth"),
            "train.recipe.width_multiplier": multiplier,
            "train.recipe.image_size": 32,
            "train.recipe.flow_fields": 2,
        },
    )
    classes = tuple(config.data.folder.classes)
    fresh = build_network(config, classes)
    # Cross-modality init: motion conv1_1 = the (normalization-folded) RGB filters averaged over colour, x 2L.
    folded, _ = fold_normalization(vgg["features.0.weight"], vgg["features.0.bias"], fresh.config.rgb_mean)
    motion = fresh.motion.conv1_1.weight
    assert motion.shape[1] == 2 * config.data.flow_fields
    assert torch.allclose(motion, folded.mean(1, keepdim=True).expand_as(motion), atol=1e-6)
    assert torch.allclose(fresh.appearance.conv1_1.weight, folded, atol=1e-6)
    assert torch.equal(fresh.motion.conv2_1.weight, vgg["features.5.weight"])
    # The fusion conv: 0.25 / 0.75 identity times a normalized Gaussian.
    assert torch.equal(fresh.fusion[0].weight, fusion_init_weight(fresh.config.width))
    before = {k: v.clone() for k, v in fresh.state_dict().items()}

    steps: list[int] = []
    card = train_on_folder(config, progress=False, log=lambda _: None, after_step=steps.append)
    trained = load("fusion_vgg16", Path(config.train.checkpoint)).model.state_dict()
    changed = {k.split(".")[0] for k in before if not torch.equal(before[k], trained[k])}
    assert changed == {"appearance", "motion", "fusion", "head", "motion_head"}
    assert len(steps) == 3 * 3  # 3 stages x 1 epoch x ceil(9 clips / 4)
    assert [h["stage"] for h in card["history"]] == ["appearance", "motion", "fusion"]
    assert card["architecture"]["kwargs"]["width_multiplier"] == multiplier
    assert card["recipe_sources"]["cross_modality"] and card["recipe"]["momentum"] == 0.9


def test_the_card_describes_the_test_split(world: Path, tmp_path: Path) -> None:
    from generator.training.data import split_listings

    config = recipe_config(world, tmp_path, **{"train.recipe.stages": ["motion"]})
    card = train_on_folder(config, progress=False, log=lambda _: None)
    assert json.loads(card_path(config.train.checkpoint).read_text()) == json.loads(json.dumps(card))
    matrix = np.array(card["confusion_matrix"])
    assert (
        matrix.shape == (4, 4) and matrix.sum() == card["test_clips"] == 4
    )  # 1 test clip of each of 4 classes
    assert card["test_accuracy"] == pytest.approx(np.trace(matrix) / matrix.sum())
    assert [card["per_class_accuracy"][c] for c in card["classes"]] == [float(matrix[i, i]) for i in range(4)]
    splits = split_listings(config)
    hashes = card["data"]["file_list_hash"]
    assert hashes == {
        "train": splits.train.file_list_hash(),
        "val": splits.val.file_list_hash(),
        "test": splits.test.file_list_hash(),
    }
    assert len(set(hashes.values())) == 3  # each split named by its own file list
    fewer = type(splits.test)(splits.test.root, splits.test.classes, splits.test.clips[1:])
    assert fewer.file_list_hash() != hashes["test"]  # a clip less is another data set
    assert card["data"]["clips"] == {"train": 9, "val": 3, "test": 4}
    assert card["device"].startswith("cpu") and card["training_seconds"] > 0 and card["ranks"] == 1
    assert card["recipe"] == config.train.recipe.model_dump(mode="json")
    assert {"stages", "optimizer", "crops", "flips", "dropout", "learning_rate"} <= set(
        card["recipe_sources"]
    )
    assert [h["stage"] for h in card["history"]] == ["motion"]
    rates = matrix / matrix.sum(axis=1, keepdims=True)
    pairs = card["most_confused_pairs"]
    assert len(pairs) == 5 and [p["rate"] for p in pairs] == sorted((p["rate"] for p in pairs), reverse=True)
    index = {c: i for i, c in enumerate(card["classes"])}
    for pair in pairs:
        a, b = (index[c] for c in pair["classes"])
        assert (pair["a_as_b"], pair["b_as_a"]) == (rates[a, b], rates[b, a])
        assert pair["rate"] == pytest.approx(rates[a, b] + rates[b, a])
    listed = {tuple(p["classes"]) for p in pairs}
    for a in range(4):  # no pair left out is more confused than the least confused listed
        for b in range(a + 1, 4):
            if (card["classes"][a], card["classes"][b]) not in listed:
                assert rates[a, b] + rates[b, a] <= pairs[-1]["rate"]
    loaded = load("small_fusion", Path(config.train.checkpoint))
    assert list(loaded.description.classes) == card["classes"] == list(config.data.folder.classes)


def test_each_stage_trains_only_its_own_parameters(world: Path, tmp_path: Path) -> None:
    for stage, moved in (
        ("appearance", {"appearance", "head"}),
        ("motion", {"motion", "motion_head"}),
        ("fusion", {"fusion", "head"}),
        ("joint", {"appearance", "motion", "fusion", "head", "motion_head"}),
    ):
        config = recipe_config(world, tmp_path / stage, **{"train.recipe.stages": [stage]})
        with torch.random.fork_rng():
            torch.manual_seed(config.train.seed)
            before = build_network(config, tuple(config.data.folder.classes)).state_dict()
        train_on_folder(config, progress=False, log=lambda _: None)
        after = load("small_fusion", Path(config.train.checkpoint)).model.state_dict()
        assert {k.split(".")[0] for k in before if not torch.equal(before[k], after[k])} == moved, stage


# --- runs as a GPU box needs them ---------------------------------------------------------------------


class Killed(Exception):
    pass


def test_a_killed_run_resumes_to_the_weights_of_an_uninterrupted_run(world: Path, tmp_path: Path) -> None:
    sets = {"train.recipe.motion.epochs": 2, "train.recipe.optimizer": "adamw"}  # Adam's moments resume too
    whole = recipe_config(world, tmp_path / "whole", **sets)
    train_on_folder(whole, progress=False, log=lambda _: None)

    broken = recipe_config(world, tmp_path / "broken", **sets)

    def kill(step: int) -> None:
        if step == 5:  # mid-epoch of the motion stage
            raise Killed

    with pytest.raises(Killed):
        train_on_folder(broken, progress=False, log=lambda _: None, after_step=kill)
    assert resume_path(broken.train.checkpoint).is_file() and not Path(broken.train.checkpoint).exists()
    steps: list[int] = []
    card = train_on_folder(broken, progress=False, log=lambda _: None, after_step=steps.append)
    assert steps[0] == 6  # resumed after step 5, which it saved, not from the start
    a = load("small_fusion", Path(whole.train.checkpoint)).model.state_dict()
    b = load("small_fusion", Path(broken.train.checkpoint)).model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert [h["stage"] for h in card["history"]] == ["appearance", "motion", "motion", "fusion"]
    assert not resume_path(broken.train.checkpoint).exists()


def test_a_resume_state_of_other_settings_is_not_resumed(world: Path, tmp_path: Path) -> None:
    config = recipe_config(world, tmp_path, **{"train.recipe.motion.epochs": 2})

    def kill(step: int) -> None:
        if step == 5:
            raise Killed

    with pytest.raises(Killed):
        train_on_folder(config, progress=False, log=lambda _: None, after_step=kill)
    other = recipe_config(
        world, tmp_path, **{"train.recipe.stages": ["joint"], "train.recipe.joint.epochs": 1}
    )
    steps: list[int] = []
    said: list[str] = []
    card = train_on_folder(other, progress=False, log=said.append, after_step=steps.append)
    assert steps[0] == 1 and any("other settings" in line for line in said)  # afresh, and says why
    assert [h["stage"] for h in card["history"]] == ["joint"]


def test_two_gloo_ranks_match_one_process(world: Path, tmp_path: Path) -> None:
    sets = {
        "train.recipe.appearance.dropout": 0.0,
        "train.recipe.motion.dropout": 0.0,
        "train.recipe.fusion.dropout": 0.0,
    }  # dropout masks are per rank; without them the runs agree
    single = recipe_config(world, tmp_path / "one", **sets)
    train_on_folder(single, progress=False, log=lambda _: None)
    overrides = {
        **WORLD,
        **sets,
        "data.source": "folder",
        "data.folder.root": str(world / "test"),
        "data.folder.layout": "frames",
        "data.folder.flow": "precomputed",
        "data.folder.workers": 1,
        "data.folder.sampling.snippets": 2,
        "data.folder.classes": "[JumpingJack, Swing, Billiards, PlayingCello]",
        "data.cache_dir": str(world / "cache"),
        "train.recipe.train_root": str(world / "train"),
        "train.recipe.network": "small_fusion",
        "train.architecture.widths": "[4, 8]",
        "train.architecture.fc": 8,
        "train.recipe.positions": 4,
        "train.recipe.snippets": 2,
        "train.recipe.tau_steps": "[1, 2]",
        "train.recipe.val_every": 4,
        "train.recipe.batch_size": 4,
        "train.recipe.appearance.epochs": 1,
        "train.recipe.motion.epochs": 1,
        "train.recipe.fusion.epochs": 1,
        "train.checkpoint": str(tmp_path / "two" / "net.pt"),
    }
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")
    }
    env.update(PYTHONPATH=str(REPO), CUDA_VISIBLE_DEVICES="")
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "generator.cli",
        "train",
        *[i for k, v in overrides.items() for i in ("--set", f"{k}={v}")],
    ]
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    a = load("small_fusion", Path(single.train.checkpoint)).model.state_dict()
    b = load("small_fusion", tmp_path / "two" / "net.pt").model.state_dict()
    for key in a:  # the same steps; sums of gradients in another order
        assert torch.allclose(a[key], b[key], rtol=1e-4, atol=1e-6), key
    card = json.loads(card_path(tmp_path / "two" / "net.pt").read_text())
    assert card["ranks"] == 2


# --- the exported world folder feeds what the world does ------------------------------------------


def test_the_exported_world_folder_feeds_the_network_the_worlds_own_tensors(tmp_path: Path) -> None:
    """The root-cause check of training from ``atlas world export``: for every exported clip the folder
    path serves the world's label and class order, RGB less the same mean, flow in the same coding and
    sign, from the same snippets; only JPEG's rounding differs. A training draw at crop scale 1 is that
    tensor exactly, mirrored with u negated when the draw flips it."""
    from generator.data.dataset import FolderClips
    from generator.data.snippets import ClipPlan
    from generator.training.data import TrainingClips, choose_snippets, split_listings
    from generator.world import CLASSES, SyntheticClips

    spec = world_spec(load_config(None, dict(WORLD)))
    export_world(spec, "train", 2, tmp_path / "cache", tmp_path / "world", "frames", progress=False)
    gap, snippets = WORLD["data.snippet_gap"], WORLD["data.snippets"]
    config = load_config(
        None,
        {
            **WORLD,
            "data.source": "folder",
            "data.folder.root": str(tmp_path / "world"),
            "data.folder.layout": "frames",
            "data.folder.flow": "precomputed",
            "data.folder.workers": 1,
            "data.folder.sampling.snippets": snippets,
            "data.cache_dir": str(tmp_path / "cache"),
            "train.recipe.train_root": str(tmp_path / "world"),
            "train.recipe.network": "small_fusion",
            "train.recipe.val_every": 1000,  # every clip trains
            "train.recipe.snippets": snippets,
            "train.recipe.positions": gap * (snippets - 1) + 1,  # a position at every start frame
            "train.recipe.tau_steps": [gap, gap],  # the world's snippet gap
            "train.recipe.crop_scales": [1.0],
            "train.recipe.store_ratio": 1.0,
        },
    )
    splits = split_listings(config)
    assert splits.classes == CLASSES
    inputs = tuple(build_network(config, splits.classes).describe().inputs)
    world = SyntheticClips(spec, "train", 2, tmp_path / "cache", progress=False)
    held = FolderClips(
        splits.train,
        ClipPlan(inputs, snippets, "precomputed"),
        tmp_path / "cache",
        splits.class_index,
        splits.classes,
        progress=False,
    )
    drawn = TrainingClips(splits.train, inputs, config, splits.class_index, splits.classes, progress=False)
    assert len(held) == len(drawn) == len(world) == 2 * len(CLASSES)
    assert list(held.labels) == list(drawn.labels) == list(world.labels)
    flips, moved = set(), 0
    for i in range(len(world)):
        rgb, flow, label = held[i]
        world_rgb, world_flow, world_label = world[i]
        assert label == world_label and rgb.shape == world_rgb.shape and flow.shape == world_flow.shape
        assert (rgb - world_rgb).abs().mean() < 0.1 * world_rgb.std()  # JPEG at quality 95: a few levels
        assert abs(float((rgb - world_rgb).mean())) < 0.5
        assert (flow - world_flow).abs().max() <= 2 and (flow == world_flow).float().mean() > 0.9
        moving = world_flow.abs() > 3
        moved += int(moving.sum())
        assert torch.equal(
            torch.sign(flow[moving]), torch.sign(world_flow[moving])
        )  # u and v keep their sign
        for epoch in range(3):
            draw_rgb, draw_flow, draw_label = drawn.draw(i, 0, epoch)
            rng = np.random.default_rng([0, epoch, i])
            choose_snippets(rng, config.train.recipe.positions, snippets, (gap, gap))
            flip = choose_crop(rng, 8, (1.0,)).flip  # the draw's crop, from the same stream
            flips.add(flip)
            if flip:
                draw_rgb = draw_rgb.flip(-1)
                draw_flow = (
                    draw_flow.flip(-1)
                    * torch.tensor([-1.0, 1.0]).repeat(len(draw_flow) // 2)[:, None, None, None]
                )
            assert draw_label == label and torch.equal(draw_rgb, rgb) and torch.equal(draw_flow, flow)
    assert flips == {False, True} and moved > 100
