"""Facts every stage must agree on, checked through the stages' own functions: the flow coding,
the RGB mean, the media kinds and the model sources. Each is defined once; these tests fail when two stages
stop agreeing, whatever the reason."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from generator.config import ModelConfig, load_config
from generator.errors import ConfigError, ModelError
from generator.media import flow_fields, motion_frames, write_frame_set
from generator.media.frames import appearance_frames
from generator.media.kinds import FLOW_CODES, MEDIA_KINDS, kinds_written
from generator.model_sources import (
    FUSION_NETWORKS,
    NAMED_SOURCES,
    SMALL_FUSION,
    TORCHVISION,
    TORCHVISION_NETS,
    torchvision_name,
    torchvision_source,
)
from generator.pipeline.media_stage import expected_media
from generator.world import CLASSES, WorldSpec, render_clip
from generator.world.flow import CODE_RANGE, bytes_to_code, code_to_bytes, encode_flow, flow_to_bytes
from generator.world.inputs import stored_inputs, to_network_inputs
from generator.zoo import build_from_architecture, load
from generator.zoo.fusion import small_fusion
from generator.zoo.registry import BUILDERS
from generator.zoo.video_nets import VIDEO_NETS

SMALL = WorldSpec(size=32, flow_fields=2, snippets=2, snippet_gap=2)


def test_media_decodes_the_flow_the_world_codes_for_the_network() -> None:
    """Pixels -> network units (world) -> pixels (media) is the identity inside the coding range,
    through both the exact code and the stored 8-bit form; beyond it the media show the clipped
    flow the network saw, not the original."""
    rng = np.random.default_rng(3)
    f = rng.uniform(-20, 20, size=(4, 2, 5, 6)).astype(np.float32)  # 2L = 4, T = 2
    fields = flow_fields(encode_flow(f))  # (T, L, H, W, 2)
    np.testing.assert_allclose(fields[..., 0].transpose(1, 0, 2, 3), f[0::2], atol=1e-4)
    np.testing.assert_allclose(fields[..., 1].transpose(1, 0, 2, 3), f[1::2], atol=1e-4)
    stored = flow_fields(bytes_to_code(flow_to_bytes(f)))
    assert np.abs(stored - fields).max() <= 40 / 255 / 2 + 1e-5  # half a byte step
    beyond = flow_fields(encode_flow(np.full((2, 1, 1, 1), 35.0, dtype=np.float32)))
    np.testing.assert_allclose(beyond, 20.0, atol=1e-4)
    every_byte = np.arange(256, dtype=np.uint8)
    np.testing.assert_array_equal(code_to_bytes(bytes_to_code(every_byte)), every_byte)
    assert (bytes_to_code(every_byte).min(), bytes_to_code(every_byte).max()) == CODE_RANGE
    np.testing.assert_array_equal(code_to_bytes(np.array([-500.0, 500.0])), [0, 255])


def test_media_show_the_rendered_frames_the_world_gave_the_network() -> None:
    """The world subtracts the same RGB mean the model declares and the media add back, so a
    clip's network input is shown as exactly the frames that were rendered."""
    clip = render_clip(CLASSES[0], 5, SMALL)
    appearance, motion = to_network_inputs(clip, SMALL)
    stored_rgb, _ = stored_inputs(clip, SMALL)
    np.testing.assert_array_equal(appearance_frames(appearance), stored_rgb.transpose(1, 2, 3, 0))
    spec = small_fusion(image_size=32, widths=(4, 4), fc=8).describe().input("appearance")
    np.testing.assert_array_equal(appearance_frames(appearance, spec.mean), stored_rgb.transpose(1, 2, 3, 0))
    assert motion_frames(motion, FLOW_CODES[0]).shape == (SMALL.snippets * SMALL.flow_fields, 32, 32, 3)


def test_the_media_a_set_writes_are_the_media_the_pipeline_expects(tmp_path: Path) -> None:
    """write_frame_set (the producer) and expected_media (what the stages check and link) name
    the same files for every combination of inputs, and only kinds from MEDIA_KINDS."""
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, size=(2, 16, 16, 3), dtype=np.uint8)
    flow = rng.normal(size=(2, 1, 16, 16, 2)).astype(np.float32)
    for has_rgb, has_flow in ((True, True), (True, False), (False, True)):
        folder = f"media/{int(has_rgb)}{int(has_flow)}"
        written = write_frame_set(
            tmp_path / folder,
            "v",
            rgb=rgb if has_rgb else None,
            flow=flow if has_flow else None,
            factor=1,
            root=tmp_path,
        )
        assert written == expected_media(folder, "v", has_rgb, has_flow)
        assert all((tmp_path / path).is_file() for path in written.values())
        kinds = {key.removesuffix("_poster") for key in written}
        assert kinds <= set(MEDIA_KINDS) and set(kinds_written(has_rgb, has_flow)) <= kinds


def test_the_configuration_the_loader_and_the_checkpoint_registry_know_the_same_model_sources() -> None:
    torchvision = [torchvision_source(name) for name in TORCHVISION_NETS]
    for source in (*NAMED_SOURCES, *torchvision):
        assert ModelConfig(source=source).source == source
    assert tuple(VIDEO_NETS) == TORCHVISION_NETS
    assert set(BUILDERS) == {*FUSION_NETWORKS, TORCHVISION}  # what a checkpoint may name
    assert [torchvision_name(s) for s in torchvision] == list(TORCHVISION_NETS)
    net = small_fusion(image_size=32, widths=(4, 4), fc=8)
    assert net.architecture["builder"] == SMALL_FUSION
    rebuilt = build_from_architecture(net.architecture)
    assert {k: v.shape for k, v in rebuilt.state_dict().items()} == {
        k: v.shape for k, v in net.state_dict().items()
    }
    with pytest.raises(ConfigError, match="model.source"):
        load_config(None, {"model.source": "nonsense"})
    with pytest.raises(ModelError) as error:
        load("nonsense")
    assert all(repr(source) in str(error.value) for source in NAMED_SOURCES)
    assert all(name in str(error.value) for name in TORCHVISION_NETS)
