"""Flow codes, frame conversion and atomic MP4/PNG writing (generator.media)."""

from __future__ import annotations

import colorsys
import struct
import subprocess
import zlib
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest

from generator.media import (
    EncodeError,
    appearance_frames,
    colorwheel_legend,
    composite,
    display_factor,
    flow_fields,
    flow_to_colorwheel,
    flow_to_xymag,
    motion_frames,
    read_mp4,
    upscale,
    write_media_set,
    write_mp4,
    write_png,
    write_poster,
)
from generator.media.video import mp4_frame_count
from generator.world.flow import decode_flow


def _code(u: float, v: float, max_magnitude: float | None = 1.0) -> np.ndarray:
    return flow_to_colorwheel(np.array([[u]]), np.array([[v]]), max_magnitude)[0, 0]


def _hsv(rgb: np.ndarray) -> tuple[float, float, float]:
    h, s, v = colorsys.rgb_to_hsv(*(np.asarray(rgb, dtype=float) / 255.0))
    return h * 360.0, s, v


def _encode(f: np.ndarray) -> np.ndarray:
    """The paper's flow coding, written out independently of the package."""
    return (np.clip(f, -20, 20) + 20) * 255 / 40 - 128


# ---------------------------------------------------------------- colour wheel


def test_colorwheel_cardinal_directions_follow_middlebury_convention() -> None:
    # Image axes: u > 0 is rightward, v > 0 is downward. Middlebury: right red,
    # down yellow-orange, left cyan-blue, up blue-violet.
    right, down, left, up = _code(1, 0), _code(0, 1), _code(-1, 0), _code(0, -1)
    assert tuple(right) == (255, 0, 0)
    assert down[0] == 255 and down[1] > 200 and down[2] == 0
    assert left[0] == 0 and left[1] > 150 and left[2] == 255
    assert up[2] == 255 and up[1] == 0 and up[0] < 128
    hues = [_hsv(c)[0] for c in (right, down, left, up)]
    assert hues[0] == pytest.approx(0.0, abs=1)
    assert 45 < hues[1] < 65  # yellow-orange
    assert 185 < hues[2] < 200  # cyan-blue
    assert 250 < hues[3] < 275  # blue-violet
    for i in range(4):
        for j in range(i + 1, 4):
            d = abs(hues[i] - hues[j]) % 360
            assert min(d, 360 - d) > 40


@pytest.mark.parametrize(
    ("index", "rgb"),
    [(15, (255, 255, 0)), (21, (0, 255, 0)), (25, (0, 255, 255)), (36, (0, 0, 255)), (49, (255, 0, 255))],
)
def test_colorwheel_segment_anchors(index: int, rgb: tuple[int, int, int]) -> None:
    # The 55-colour Middlebury wheel (RY 15, YG 6, GC 4, CB 11, BM 13, MR 6) is indexed by
    # (atan2(-v, -u) / pi + 1) / 2 * 54; pick the flow direction that lands on each anchor.
    angle = (index / 27.0 - 1.0) * np.pi
    u, v = -np.cos(angle), -np.sin(angle)
    np.testing.assert_allclose(_code(u, v).astype(int), rgb, atol=2)


def test_colorwheel_zero_is_white_and_saturation_grows_with_magnitude() -> None:
    assert tuple(_code(0, 0)) == (255, 255, 255)
    assert tuple(flow_to_colorwheel(np.zeros((3, 4)), np.zeros((3, 4)))[1, 2]) == (255, 255, 255)
    sats = [_hsv(_code(m * 0.6, m * 0.8))[1] for m in (0.1, 0.3, 0.6, 1.0)]
    assert all(a < b for a, b in zip(sats, sats[1:]))
    assert sats[-1] == pytest.approx(1.0, abs=0.02)
    hues = [_hsv(_code(m * 0.6, m * 0.8))[0] for m in (0.3, 0.6, 1.0)]
    assert max(hues) - min(hues) < 3


def test_colorwheel_out_of_range_is_darkened() -> None:
    assert tuple(_code(2.0, 0.0, max_magnitude=1.0)) == (191, 0, 0)


def test_colorwheel_normalizes_by_own_max_or_given_max() -> None:
    u = np.array([[0.0, 2.0, 4.0]])
    own = flow_to_colorwheel(u, np.zeros_like(u))
    assert tuple(own[0, 2]) == (255, 0, 0)  # the largest vector is fully saturated
    assert tuple(own[0, 1]) == (255, 127, 127)  # half of it is half saturated
    shared = flow_to_colorwheel(u, np.zeros_like(u), max_magnitude=8.0)
    assert tuple(shared[0, 2]) == (255, 127, 127)


def test_motion_frames_share_one_normalization_across_fields() -> None:
    # Two flow fields: a slow one and a fast one, same direction.
    slow, fast = np.full((4, 4), 1.0), np.full((4, 4), 4.0)
    x = _encode(np.stack([slow, 0 * slow, fast, 0 * fast])[:, None])  # (2L=4, T=1, 4, 4)
    frames = motion_frames(x, "colorwheel")
    assert frames.shape == (2, 4, 4, 3) and frames.dtype == np.uint8
    assert _hsv(frames[0, 0, 0])[1] < 0.5 * _hsv(frames[1, 0, 0])[1]
    assert tuple(frames[1, 0, 0]) == (255, 0, 0)


# ---------------------------------------------------------------- x, y, magnitude


def test_xymag_zero_is_mid_grey_and_channels_follow_components() -> None:
    zero = flow_to_xymag(np.zeros((1, 1)), np.zeros((1, 1)), 1.0)[0, 0]
    assert tuple(zero) == (128, 128, 0)
    right = flow_to_xymag(np.array([[0.5]]), np.array([[0.0]]), 1.0)[0, 0]
    left = flow_to_xymag(np.array([[-0.5]]), np.array([[0.0]]), 1.0)[0, 0]
    down = flow_to_xymag(np.array([[0.0]]), np.array([[0.5]]), 1.0)[0, 0]
    assert right[0] > 128 and right[1] == 128
    assert left[0] < 128 and left[1] == 128
    assert down[1] > 128 and down[0] == 128
    assert right[2] == left[2] == down[2] > 100
    big = flow_to_xymag(np.array([[1.0]]), np.array([[0.0]]), 1.0)[0, 0]
    assert tuple(big) == (255, 128, 255)


# ---------------------------------------------------------------- legend


@pytest.mark.parametrize("size", [33, 64])
def test_legend_white_centre_and_directional_rim(size: int) -> None:
    legend = colorwheel_legend(size)
    assert legend.shape == (size, size, 3) and legend.dtype == np.uint8
    c = size // 2
    if size % 2:
        assert tuple(legend[c, c]) == (255, 255, 255)
    else:
        assert legend[c - 1 : c + 1, c - 1 : c + 1].min() >= 245
    right, down = legend[c, size - 4], legend[size - 4, c]
    assert right[0] > 200 and right[1] < 80 and right[2] < 80
    assert down[0] > 200 and down[1] > 150 and down[2] < 80


# ---------------------------------------------------------------- frames


def test_flow_decode_round_trip_and_coding_constants() -> None:
    assert decode_flow(-0.5) == pytest.approx(0.0)
    assert decode_flow(127.0) == pytest.approx(20.0)  # +20 px -> 255 - 128
    assert decode_flow(-128.0) == pytest.approx(-20.0)
    rng = np.random.default_rng(0)
    f = rng.uniform(-20, 20, size=(6, 2, 5, 7))  # 2L = 6, T = 2
    fields = flow_fields(_encode(f).astype(np.float32))
    assert fields.shape == (2, 3, 5, 7, 2) and fields.dtype == np.float32
    for t in range(2):
        for layer in range(3):
            np.testing.assert_allclose(fields[t, layer, ..., 0], f[2 * layer, t], atol=1e-4)
            np.testing.assert_allclose(fields[t, layer, ..., 1], f[2 * layer + 1, t], atol=1e-4)


def test_appearance_frames_add_mean_back_and_clip() -> None:
    mean = (123.68, 116.78, 103.94)
    x = np.zeros((3, 2, 4, 5), dtype=np.float32)
    x[:, 1] = 500.0
    x[0, 0, 0, 0] = -500.0
    frames = appearance_frames(x, mean)
    assert frames.shape == (2, 4, 5, 3) and frames.dtype == np.uint8
    assert tuple(frames[0, 1, 1]) == (124, 117, 104)
    assert frames[0, 0, 0, 0] == 0
    assert (frames[1] == 255).all()


def test_display_factor_and_upscale() -> None:
    assert display_factor(64, 64) == 2
    assert display_factor(112, 112) == 2
    assert display_factor(224, 224) == 1
    assert display_factor(64, 200) == 2
    assert display_factor(32, 32) == 4
    img = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(1, 2, 3, 3)
    big = upscale(img, 4)
    assert big.shape == (1, 8, 12, 3)
    np.testing.assert_array_equal(big[0, ::4, ::4], img[0])
    np.testing.assert_array_equal(big[0, 3, 7], img[0, 0, 1])


def test_composite_holds_appearance_and_draws_legend() -> None:
    app = np.full((1, 64, 64, 3), 10, dtype=np.uint8)
    wheel = np.full((4, 64, 64, 3), 255, dtype=np.uint8)
    xy = np.full((4, 64, 64, 3), 128, dtype=np.uint8)
    out = composite(app, wheel, xy, gap=4)
    assert out.shape == (4, 64, 3 * 64 + 2 * 4, 3)
    assert (out[:, :, :64] == 10).all()  # the single appearance frame is held for all flow frames
    assert (out[:, :, -64:] == 128).all()
    panel = out[:, :, 68:132]
    assert (panel[:, :8, :8] == 255).all()  # top-left untouched
    corner = panel[0, 40:, 40:]
    assert (corner != 255).any()  # the legend sits in the bottom-right corner
    assert (wheel == 255).all()  # inputs are not modified
    no_legend = composite(None, wheel, xy, legend=None, gap=0)
    assert no_legend.shape == (4, 64, 128, 3) and (no_legend[:, :, :64] == 255).all()


# ---------------------------------------------------------------- MP4


def _probe(path: Path) -> str:
    result = subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-i", str(path)], capture_output=True
    )
    return result.stderr.decode("utf-8", "replace")


def _top_level_atoms(data: bytes) -> list[bytes]:
    atoms, pos = [], 0
    while pos + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[pos : pos + 8])
        if size == 1:
            size = struct.unpack(">Q", data[pos + 8 : pos + 16])[0]
        atoms.append(kind)
        if size == 0:
            break
        pos += size
    return atoms


def _test_frames(n: int, h: int, w: int) -> np.ndarray:
    frames = np.zeros((n, h, w, 3), dtype=np.uint8)
    for i in range(n):
        frames[i, :, : w // 2] = (200, 40, 40)
        frames[i, :, w // 2 :] = (40, 40, 200)
        frames[i, : h // 4] = (30 * i % 256, 180, 90)
    return frames


def test_mp4_round_trip_is_h264_yuv420p_faststart(tmp_path: Path) -> None:
    frames = _test_frames(12, 64, 96)
    path = write_mp4(frames, tmp_path / "clip.mp4", fps=8)
    decoded, fps = read_mp4(path)
    assert decoded.shape == (12, 64, 96, 3)
    assert fps == pytest.approx(8.0)
    assert np.abs(decoded.astype(int) - frames.astype(int)).mean() < 3
    info = _probe(path)
    assert "Video: h264" in info and "yuv420p" in info and "bt709" in info
    atoms = _top_level_atoms(path.read_bytes())
    assert b"moov" in atoms and b"mdat" in atoms
    assert atoms.index(b"moov") < atoms.index(b"mdat")
    assert [p.name for p in tmp_path.iterdir()] == ["clip.mp4"]


def test_mp4_short_clips_last_a_second_and_odd_sizes_are_padded(tmp_path: Path) -> None:
    still = write_mp4(_test_frames(1, 31, 45), tmp_path / "still.mp4", fps=8)
    decoded, _ = read_mp4(still)
    assert decoded.shape == (8, 32, 46, 3)
    assert mp4_frame_count(1, 8) == 8
    short = write_mp4(_test_frames(3, 32, 32), tmp_path / "short.mp4", fps=8)
    decoded, _ = read_mp4(short)
    assert decoded.shape[0] == mp4_frame_count(3, 8) == 9  # looped whole: 3 x 3 frames
    loop_gap = np.abs(decoded[0].astype(int) - decoded[3].astype(int)).mean()
    step = np.abs(decoded[0].astype(int) - decoded[1].astype(int)).mean()
    assert loop_gap < 1.0 < step  # frame 3 starts the second pass of the clip


def test_mp4_failure_leaves_no_file(tmp_path: Path) -> None:
    target = tmp_path / "out.mp4"
    with pytest.raises(EncodeError):
        write_mp4(_test_frames(4, 32, 32), target, preset="no-such-preset")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError):
        write_mp4(np.zeros((4, 32, 32, 3), dtype=np.float32), target)
    assert list(tmp_path.iterdir()) == []
    # A failed rewrite keeps the previous complete file.
    write_mp4(_test_frames(4, 32, 32), target)
    before = target.read_bytes()
    with pytest.raises(EncodeError):
        write_mp4(_test_frames(4, 32, 32), target, preset="no-such-preset")
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["out.mp4"]


# ---------------------------------------------------------------- PNG


def _decode_png(data: bytes) -> np.ndarray:
    """Minimal PNG reader for 8-bit RGB files with filter types None/Sub/Up."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", b""
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        crc = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])[0]
        assert zlib.crc32(kind + body) & 0xFFFFFFFF == crc
        header = body if kind == b"IHDR" else header
        idat += body if kind == b"IDAT" else b""
        pos += 12 + length
    w, h, depth, colour = struct.unpack(">IIBB", header[:10])
    assert (depth, colour) == (8, 2)
    raw = np.frombuffer(zlib.decompress(idat), dtype=np.uint8).reshape(h, 1 + 3 * w)
    rows = np.zeros((h, 3 * w), dtype=np.uint8)
    for y in range(h):
        kind, line = raw[y, 0], raw[y, 1:].copy()
        if kind == 1:
            for x in range(3, 3 * w):
                line[x] = (int(line[x]) + int(line[x - 3])) % 256
        elif kind == 2 and y:
            line = line + rows[y - 1]
        else:
            assert kind in (0, 2)
        rows[y] = line
    return rows.reshape(h, w, 3)


def test_png_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, size=(17, 23, 3), dtype=np.uint8)
    path = write_png(image, tmp_path / "img.png")
    np.testing.assert_array_equal(_decode_png(path.read_bytes()), image)
    reader = imageio_ffmpeg.read_frames(str(path))
    meta = next(reader)
    decoded = np.frombuffer(next(reader), dtype=np.uint8).reshape(17, 23, 3)
    reader.close()
    assert tuple(meta["size"]) == (23, 17)
    np.testing.assert_array_equal(decoded, image)
    assert [p.name for p in tmp_path.iterdir()] == ["img.png"]


def test_poster_is_the_middle_frame(tmp_path: Path) -> None:
    frames = _test_frames(5, 8, 10)
    path = write_poster(frames, tmp_path / "poster.png")
    np.testing.assert_array_equal(_decode_png(path.read_bytes()), frames[2])


# ---------------------------------------------------------------- media set


def test_media_set_writes_all_videos_and_posters(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    appearance = rng.normal(0, 40, size=(3, 1, 64, 64)).astype(np.float32)
    flow = rng.normal(0, 3, size=(8, 1, 64, 64))  # L = 4
    motion = _encode(flow).astype(np.float32)
    paths = write_media_set(tmp_path / "unit", "chi1", appearance=appearance, motion=motion, root=tmp_path)
    kinds = ("appearance", "colorwheel", "xymag", "composite")
    assert set(paths) == {k for kind in kinds for k in (kind, f"{kind}_poster")}
    assert paths["composite"] == "unit/chi1_composite.mp4"
    for rel in paths.values():
        assert (tmp_path / rel).is_file()
    comp, _ = read_mp4(tmp_path / paths["composite"])
    assert comp.shape == (mp4_frame_count(4, 8), 128, 3 * 128 + 2 * 4, 3)
    app, _ = read_mp4(tmp_path / paths["appearance"])
    assert app.shape == (8, 128, 128, 3)
    poster = _decode_png((tmp_path / paths["colorwheel_poster"]).read_bytes())
    assert poster.shape == (128, 128, 3)
    expected = upscale(motion_frames(motion, "colorwheel"), 2)[2]
    np.testing.assert_array_equal(poster, expected)
    assert not [p for p in (tmp_path / "unit").iterdir() if p.name.startswith(".")]


def test_media_set_single_stream(tmp_path: Path) -> None:
    appearance = np.zeros((3, 16, 32, 32), dtype=np.float32)  # e.g. a 3D CNN's 16-frame clip
    paths = write_media_set(tmp_path, "rgb", appearance=appearance)
    assert paths["composite"] == paths["appearance"] == "rgb_appearance.mp4"
    frames, _ = read_mp4(tmp_path / paths["appearance"])
    assert frames.shape == (16, 128, 128, 3)
    motion = _encode(np.ones((4, 1, 32, 32)))
    paths = write_media_set(tmp_path, "flow", motion=motion)
    assert "appearance" not in paths
    frames, _ = read_mp4(tmp_path / paths["composite"])
    assert frames.shape[1:] == (128, 2 * 128 + 4, 3)
