"""The synthetic action world: exact flow, determinism, flow coding, speeds, planted cues, probes, inputs
and the cached dataset reader."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest
import torch

from generator.errors import ConfigError
from generator.world.classes import CLASSES, PROBES
from generator.world.dataset import SyntheticClips
from generator.world.flow import FLOW_CLIP, bytes_to_code, decode_flow, encode_flow, flow_to_bytes
from generator.world.inputs import RGB_MEAN, to_network_inputs
from generator.world.render import build_scene, render_clip, render_raster
from generator.world.spec import WorldSpec

SPEC = WorldSpec()
SMALL = WorldSpec(size=32, flow_fields=2, snippets=2, snippet_gap=2)


def sprite_mask(scene, raster, prefix: str) -> np.ndarray:
    """(F, H, W) mask of pixels showing a sprite whose name starts with prefix."""
    hits = [k + 1 for k, s in enumerate(scene.sprites) if s.name.startswith(prefix)]
    return np.isin(raster.ids, hits)


def moving_flow(flow: np.ndarray) -> np.ndarray:
    """(N, 2) flow vectors of the pixels that move."""
    vectors = flow.reshape(-1, 2)
    return vectors[np.any(vectors != 0, axis=1)]


# --- flow coding ---------------------------------------------------------------------------------


def test_flow_coding_constants_and_round_trip():
    assert FLOW_CLIP == 20.0
    # code = (clip(f, -20, 20) + 20) * 255 / 40 - 128: zero -> -0.5, +-20 px -> -0.5 +- 127.5, clipped beyond
    codes = encode_flow(np.array([0.0, 20.0, -20.0, 55.0, -80.0]))
    np.testing.assert_allclose(codes, [-0.5, 127.0, -128.0, 127.0, -128.0])
    f = np.linspace(-20, 20, 101, dtype=np.float32)
    np.testing.assert_allclose(decode_flow(encode_flow(f)), f, atol=1e-4)
    t = torch.tensor([0.0, 10.0, 30.0])
    assert torch.allclose(encode_flow(t), torch.tensor([-0.5, 63.25, 127.0]))
    assert torch.allclose(decode_flow(encode_flow(t)), torch.tensor([0.0, 10.0, 20.0]), atol=1e-4)
    # 8-bit storage: within half a code unit of the exact code
    stored = flow_to_bytes(f)
    assert stored.dtype == np.uint8 and stored.min() == 0 and stored.max() == 255
    assert np.abs(bytes_to_code(stored) - encode_flow(f)).max() <= 0.5 + 1e-5


# --- spec ------------------------------------------------------------------------------------------


def test_spec_validation_names_the_field():
    assert SPEC.frames_per_clip == (3 - 1) * 4 + 4 + 1
    with pytest.raises(ConfigError, match="speed_range"):
        WorldSpec(speed_range=(1.0, 2.0))
    with pytest.raises(ConfigError, match="size"):
        WorldSpec(size=8)
    with pytest.raises(ConfigError, match="flow_noise"):
        WorldSpec(flow_noise=-1.0)
    with pytest.raises(ConfigError, match="snippets"):
        WorldSpec(snippets=0)


# --- exact flow ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", CLASSES)
def test_flow_warps_frame_t_onto_frame_t_plus_1(name):
    # Rendered large so that thin objects (sticks, bows) have interior pixels away from their edges.
    spec = WorldSpec(size=192)
    size = spec.size
    matched = total = 0
    for seed in (0, 1):
        scene, raster, _ = render_raster(name, seed, spec)
        frames, flow, ids = raster.frames, raster.flow, raster.ids
        assert np.all(flow[ids[:-1] == 0] == 0), "the static background must have zero flow"
        for t in range(len(flow)):
            same = np.ones((size - 2, size - 2), dtype=bool)  # 3x3 neighbourhood inside one sprite
            for dy in (-1, 0, 1):
                for dx in (-1, 0, 1):
                    same &= ids[t, 1 + dy : size - 1 + dy, 1 + dx : size - 1 + dx] == ids[t, 1:-1, 1:-1]
            y, x = np.nonzero(same & np.any(flow[t, 1:-1, 1:-1] != 0, axis=-1))
            y, x = y + 1, x + 1
            qx = np.rint(x + flow[t, y, x, 0]).astype(int)
            qy = np.rint(y + flow[t, y, x, 1]).astype(int)
            inside = (qx >= 0) & (qx < size) & (qy >= 0) & (qy < size)
            y, x, qx, qy = y[inside], x[inside], qx[inside], qy[inside]
            visible = ids[t + 1, qy, qx] <= ids[t, y, x]  # not hidden in t+1 by an object drawn on top
            y, x, qx, qy = y[visible], x[visible], qx[visible], qy[visible]
            matched += int(np.all(frames[t + 1, qy, qx] == frames[t, y, x], axis=-1).sum())
            total += len(y)
    assert total > 200, f"{name}: too few moving pixels to test ({total})"
    assert matched / total >= 0.98, (
        f"{name}: only {matched / total:.1%} of moving pixels land on their colour"
    )


# --- determinism -----------------------------------------------------------------------------------


def test_generation_is_deterministic():
    for name in ("Swing", "ApplyLipstick", "Billiards"):
        a, b = render_clip(name, 7, SPEC), render_clip(name, 7, SPEC)
        assert a.frames.tobytes() == b.frames.tobytes() and a.flow.tobytes() == b.flow.tobytes()
        assert a.speed == b.speed and a.label == CLASSES.index(name)
        c = render_clip(name, 8, SPEC)
        assert a.frames.tobytes() != c.frames.tobytes()
    noisy = WorldSpec(flow_noise=0.3)
    assert render_clip("Swing", 3, noisy).flow.tobytes() == render_clip("Swing", 3, noisy).flow.tobytes()


def test_clip_shapes_and_dtypes():
    clip = render_clip("Drumming", 0, SPEC)
    f = SPEC.frames_per_clip
    assert clip.frames.shape == (f, 64, 64, 3) and clip.frames.dtype == np.uint8
    assert clip.flow.shape == (f - 1, 64, 64, 2) and clip.flow.dtype == np.float32
    assert clip.class_name == "Drumming" and clip.probe is None
    with pytest.raises(ConfigError, match="Unknown action class"):
        render_clip("Juggling", 0, SPEC)


# --- speed -----------------------------------------------------------------------------------------


def test_speed_factor_spans_range_and_scales_flow():
    speeds = np.array([build_scene("JumpingJack", s, SPEC)[1] for s in range(300)])
    low, high = SPEC.speed_range
    assert high / low >= 4 and speeds.min() >= low and speeds.max() <= high
    assert speeds.max() / speeds.min() >= 3.5
    slow = render_clip("WalkingWithDog", 5, SPEC, speed=0.5)
    fast = render_clip("WalkingWithDog", 5, SPEC, speed=2.0)
    assert slow.speed == 0.5 and fast.speed == 2.0
    ratio = np.abs(moving_flow(fast.flow)[:, 0]).mean() / np.abs(moving_flow(slow.flow)[:, 0]).mean()
    assert 3.6 < ratio < 4.4
    # overriding the speed keeps every other nuisance: same background
    assert np.array_equal(
        build_scene("WalkingWithDog", 5, SPEC, speed=0.5)[0].background,
        build_scene("WalkingWithDog", 5, SPEC, speed=2.0)[0].background,
    )


# --- planted cues ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "vertical"),
    [("JumpingJack", True), ("ShavingBeard", True), ("WalkingWithDog", False), ("BrushingTeeth", False)],
)
def test_planted_motion_direction(name, vertical):
    # Over a class's clips, motion is mainly along the planted direction (a share of BrushingTeeth /
    # ShavingBeard clips strokes diagonally on purpose, so single clips may differ).
    flows = [np.abs(moving_flow(render_clip(name, seed, SPEC).flow)) for seed in range(10)]
    u, v = np.concatenate(flows).mean(axis=0)
    assert (v > 1.5 * u) if vertical else (u > 1.5 * v), f"{name}: mean |u| {u:.2f}, |v| {v:.2f}"
    along = [(f[:, 1].mean() > f[:, 0].mean()) == vertical for f in flows]
    assert np.mean(along) >= 0.6


def instrument_spread(name: str, seed: int, probe: str | None = None) -> tuple[float, float]:
    scene, raster, _ = render_raster(name, seed, SPEC, probe)
    y, x = np.nonzero(sprite_mask(scene, raster, "instrument")[0])
    return float(x.std()), float(y.std())


@pytest.mark.parametrize("seed", range(4))
def test_cello_vertical_violin_horizontal_and_swap_probe(seed):
    sx, sy = instrument_spread("PlayingCello", seed)
    assert sy > 1.5 * sx
    sx, sy = instrument_spread("PlayingViolin", seed)
    assert sx > 1.5 * sy
    sx, sy = instrument_spread("PlayingCello", seed, "cello_violin_swap")
    assert sx > 1.5 * sy
    sx, sy = instrument_spread("PlayingViolin", seed, "cello_violin_swap")
    assert sy > 1.5 * sx


def eye_flow(name: str, seed: int, probe: str | None = None) -> np.ndarray:
    scene, raster, _ = render_raster(name, seed, SPEC, probe)
    at_eyes = sprite_mask(scene, raster, "eyelid")[:-1]
    return raster.flow[at_eyes]


def test_eyemakeup_eyes_still_unless_probe_makes_them_blink():
    for seed in range(4):
        assert np.all(eye_flow("ApplyEyeMakeup", seed) == 0)
        blinking = eye_flow("ApplyEyeMakeup", seed, "eyemakeup_blink")
        assert np.any(blinking != 0)
        assert np.abs(blinking[:, 1]).mean() > 5 * np.abs(blinking[:, 0]).mean()  # lids move vertically
    # the probe changes only the eyelids: the brush is the same
    plain = build_scene("ApplyEyeMakeup", 3, SPEC)[0]
    probe = build_scene("ApplyEyeMakeup", 3, SPEC, "eyemakeup_blink")[0]
    for a, b in zip(plain.sprites, probe.sprites):
        assert a.name == b.name
        assert np.array_equal(a.poses, b.poses) == (a.name != "eyelid")


def test_lipstick_blinks_in_most_clips_other_faces_never():
    blinks = [np.any(eye_flow("ApplyLipstick", s) != 0) for s in range(40)]
    assert 0.6 <= np.mean(blinks) <= 0.95
    for name in ("BrushingTeeth", "ShavingBeard"):
        assert not any(np.any(eye_flow(name, s) != 0) for s in range(5))


def test_probe_must_apply_to_class():
    assert set(PROBES) == {"eyemakeup_blink", "cello_violin_swap"}
    with pytest.raises(ConfigError, match="applies only"):
        render_clip("Billiards", 0, SPEC, probe="eyemakeup_blink")
    with pytest.raises(ConfigError, match="Unknown probe"):
        render_clip("Billiards", 0, SPEC, probe="nonsense")


# --- network inputs --------------------------------------------------------------------------------


def test_network_inputs_layout_and_units():
    clip = render_clip("Swing", 2, SPEC)
    appearance, motion = to_network_inputs(clip, SPEC)
    t, l = SPEC.snippets, SPEC.flow_fields
    assert appearance.shape == (3, t, 64, 64) and motion.shape == (2 * l, t, 64, 64)
    assert appearance.dtype == np.float32 and motion.dtype == np.float32
    for k in range(t):
        start = k * SPEC.snippet_gap
        np.testing.assert_allclose(appearance[1, k], clip.frames[start, :, :, 1] - RGB_MEAN[1], atol=1e-4)
        for i in range(l):
            # the 8-bit stored form, which the model was trained on: zero flow is exactly 0
            np.testing.assert_array_equal(
                motion[2 * i, k], bytes_to_code(flow_to_bytes(clip.flow[start + i, :, :, 0]))
            )
            np.testing.assert_array_equal(
                motion[2 * i + 1, k], bytes_to_code(flow_to_bytes(clip.flow[start + i, :, :, 1]))
            )
    assert np.count_nonzero(motion == 0) > motion.size // 2  # the still background
    a1, m1 = to_network_inputs(clip, SPEC, start_frames=[1])
    assert a1.shape == (3, 1, 64, 64) and m1.shape == (2 * l, 1, 64, 64)
    with pytest.raises(ConfigError, match="start"):
        to_network_inputs(clip, SPEC, start_frames=[SPEC.frames_per_clip - 1])


# --- dataset reader --------------------------------------------------------------------------------


def test_dataset_renders_once_then_reads_the_cache(tmp_path):
    ds = SyntheticClips(SMALL, "train", 2, tmp_path, progress=False)
    assert ds.generated and len(ds) == 2 * len(CLASSES)
    assert ds.class_names == CLASSES and list(ds.labels) == [i for i in range(len(CLASSES)) for _ in range(2)]
    appearance, motion, label = ds[5]
    assert appearance.shape == (3, 2, 32, 32) and motion.shape == (4, 2, 32, 32)
    assert appearance.dtype == torch.float32 and motion.dtype == torch.float32 and label == ds.labels[5]
    # a clip re-rendered from its seed gives exactly what the dataset serves (the speed replay relies on it)
    exact_a, exact_m = to_network_inputs(ds.clip(5), SMALL)
    np.testing.assert_array_equal(appearance.numpy(), exact_a)
    np.testing.assert_array_equal(motion.numpy(), exact_m)
    stamps = {p.name: p.stat().st_mtime_ns for p in ds.path.iterdir()}
    again = SyntheticClips(SMALL, "train", 2, tmp_path, progress=False)
    assert not again.generated and again.path == ds.path
    assert {p.name: p.stat().st_mtime_ns for p in again.path.iterdir()} == stamps
    assert torch.equal(again[5][1], motion)


def test_interrupted_generation_is_not_used(tmp_path):
    ds = SyntheticClips(SMALL, "val", 1, tmp_path, progress=False)
    final = ds.path
    # simulate a generation killed half-way: the final folder never appeared, only a temp folder
    os.rename(final, final.parent / f".{final.name}.tmp-999-deadbeef")
    (final.parent / f".{final.name}.tmp-999-deadbeef" / "meta.json").unlink()
    again = SyntheticClips(SMALL, "val", 1, tmp_path, progress=False)
    assert again.generated and (final / "meta.json").is_file()
    assert torch.equal(again[3][0], ds[3][0])


def test_splits_do_not_overlap_and_probes_pair_with_test(tmp_path):
    splits = ("train", "val", "test")
    seeds = {s: set(SyntheticClips(SMALL, s, 2, tmp_path, progress=False).seeds.tolist()) for s in splits}
    for i, a in enumerate(splits):
        for b in splits[i + 1 :]:
            assert not seeds[a] & seeds[b], f"{a} and {b} share clips"
    probe = SyntheticClips(SMALL, "probe:cello_violin_swap", 2, tmp_path, progress=False)
    assert set(probe.clip_classes) == {"PlayingCello", "PlayingViolin"}
    assert list(probe.labels) == [CLASSES.index("PlayingCello")] * 2 + [CLASSES.index("PlayingViolin")] * 2
    assert set(probe.seeds.tolist()) <= seeds["test"]
    assert probe.clip(0).probe == "cello_violin_swap"
    with pytest.raises(ConfigError, match="Unknown data split"):
        SyntheticClips(SMALL, "probe:nothing", 2, tmp_path, progress=False)


def test_dataset_generation_is_fast_enough(tmp_path):
    start = time.perf_counter()
    SyntheticClips(SPEC, "test", 5, tmp_path, progress=False)
    assert time.perf_counter() - start < 10.0  # 60 clips of 13 frames at 64 x 64
