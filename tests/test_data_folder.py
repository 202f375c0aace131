"""Real data sets on disk: the configuration, the four layouts, faults, and the folder path
measured against the synthetic world it was exported from."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from generator.config import AtlasConfig, FolderDataConfig, load_config
from generator.data.classes import map_classes
from generator.data.dataset import prepare_all
from generator.data.export import export_world
from generator.data.layouts import list_clips
from generator.data.source import folder_clips
from generator.errors import ConfigError, DataError
from generator.measures.selectivity import class_selectivity
from generator.pipeline.statistics import load_statistics
from generator.train import world_spec
from generator.world import CLASSES, SyntheticClips, WorldSpec
from generator.zoo import load

REPO = Path(__file__).resolve().parents[1]


def folder_config(tmp: Path, root: Path, others: dict | None = None, **folder) -> AtlasConfig:
    """A configuration reading the data set at ``root`` (``folder``: data.folder settings; ``others``:
    any other settings), caching under ``tmp/cache``."""
    sets = {"data.source": "folder", "data.folder.root": str(root), "data.cache_dir": str(tmp / "cache")}
    sets.update({f"data.folder.{k}": v for k, v in folder.items()})
    return load_config(None, sets | (others or {}))


def exported_frames(tmp: Path, spec: WorldSpec, clips_per_class: int, workers: int) -> AtlasConfig:
    """The world's test clips exported to ``tmp/frames`` as JPEG frames with precomputed flow
    (``tmp/cache`` caching the rendered clips), and the configuration that reads them back."""
    export_world(spec, "test", clips_per_class, tmp / "cache", tmp / "frames", "frames", progress=False)
    return folder_config(tmp, tmp / "frames", layout="frames", flow="precomputed", workers=workers)


# --- configuration -------------------------------------------------------------------------------


def test_synthetic_is_the_default_and_a_folder_source_needs_a_root() -> None:
    assert AtlasConfig().data.source == "synthetic"
    with pytest.raises(ConfigError, match="data.folder.root"):
        load_config(None, {"data.source": "folder"})
    with pytest.raises(ConfigError, match="'data.folder.layout' = 'kinetics'"):
        load_config(None, {"data.folder.layout": "kinetics"})
    with pytest.raises(ConfigError, match="data.folder.flow"):
        load_config(None, {"data.folder.flow": "farneback"})


# --- layouts -------------------------------------------------------------------------------------


def touch(path: Path, text: str = "") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_ucf101_layout_reads_class_index_and_split_lists(tmp_path: Path) -> None:
    touch(tmp_path / "ucfTrainTestlist/classInd.txt", "1 Archery\n2 Bowling\n")
    touch(
        tmp_path / "ucfTrainTestlist/testlist01.txt",
        "Archery/v_Archery_g01_c01.avi\nBowling/v_Bowling_g02_c01.avi\nv_Archery_g03_c02.avi\n",
    )
    touch(tmp_path / "ucfTrainTestlist/trainlist01.txt", "Bowling/v_Bowling_g08_c01.avi 2\n")
    touch(tmp_path / "Archery/v_Archery_g01_c01.avi")
    touch(tmp_path / "v_Archery_g03_c02.avi")  # flat: the class is in the name
    listing = list_clips(FolderDataConfig(root=tmp_path, layout="ucf101"))
    assert listing.classes == ("Archery", "Bowling")
    assert [(c.path.relative_to(tmp_path).as_posix(), c.label) for c in listing.clips] == [
        ("Archery/v_Archery_g01_c01.avi", "Archery"),
        ("Bowling/v_Bowling_g02_c01.avi", "Bowling"),
        ("v_Archery_g03_c02.avi", "Archery"),
    ]
    with pytest.raises(DataError, match="'Archery' has no clips in the train part"):  # only Bowling is listed
        list_clips(FolderDataConfig(root=tmp_path, layout="ucf101", subset="train"))
    with pytest.raises(DataError, match=str(tmp_path / "ucfTrainTestlist" / "testlist02.txt")):
        list_clips(FolderDataConfig(root=tmp_path, layout="ucf101", split=2))


def test_hmdb51_split_files_mark_test_clips_with_2(tmp_path: Path) -> None:
    touch(tmp_path / "splits/brush_hair_test_split1.txt", "a.avi 1\nb.avi 2\nc.avi 0\n")
    touch(tmp_path / "splits/cartwheel_test_split1.txt", "d.avi 2\n")
    listing = list_clips(FolderDataConfig(root=tmp_path, layout="ucf101"))
    assert listing.classes == ("brush_hair", "cartwheel")
    assert [(c.path.name, c.label) for c in listing.clips] == [
        ("b.avi", "brush_hair"),
        ("d.avi", "cartwheel"),
    ]
    assert [
        c.path.name
        for c in list_clips(
            FolderDataConfig(root=tmp_path, layout="ucf101", subset="train").model_copy(
                update={"classes": ("brush_hair",)}
            )
        ).clips
    ] == ["a.avi"]


def test_folders_layout_and_an_empty_class_folder(tmp_path: Path) -> None:
    touch(tmp_path / "run/1.mp4")
    touch(tmp_path / "run/notes.txt")
    touch(tmp_path / "jump/2.avi")
    listing = list_clips(FolderDataConfig(root=tmp_path, layout="folders"))
    assert listing.classes == ("jump", "run") and [c.path.name for c in listing.clips] == ["2.avi", "1.mp4"]
    (tmp_path / "swim").mkdir()
    with pytest.raises(DataError, match=f"class folder {tmp_path / 'swim'} holds no video"):
        list_clips(FolderDataConfig(root=tmp_path, layout="folders"))


def test_list_and_frames_layouts_and_an_unreadable_root(tmp_path: Path) -> None:
    touch(tmp_path / "list.csv", "path,label\nvids/a.mp4,run,1.5,3\nvids/b.mp4,jump\n")
    listing = list_clips(FolderDataConfig(root=tmp_path, layout="list"))
    assert listing.classes == ("jump", "run")
    assert [(c.label, c.start, c.end) for c in listing.clips] == [("run", 1.5, 3.0), ("jump", None, None)]
    touch(tmp_path / "bad.csv", "vids/a.mp4,run,4,2\n")
    with pytest.raises(DataError, match="0 <= start < end"):
        list_clips(FolderDataConfig(root=tmp_path, layout="list", list_file=Path("bad.csv")))
    touch(tmp_path / "list.txt", "clips/a 13 1\nclips/b 9 0\n")
    frames = list_clips(FolderDataConfig(root=tmp_path, layout="frames", classes=("run", "jump")))
    assert [(c.label, c.num_frames) for c in frames.clips] == [("jump", 13), ("run", 9)]
    missing = tmp_path / "nowhere"
    with pytest.raises(DataError, match=str(missing)):
        list_clips(FolderDataConfig(root=missing, layout="frames"))


def test_class_mismatch_names_both_lists_and_the_unmatched(tmp_path: Path) -> None:
    model = ("ApplyEyeMakeup", "PlayingCello")
    assert map_classes(["apply_eye_makeup", "Cello"], model, {"Cello": "PlayingCello"}) == {
        "apply_eye_makeup": 0,
        "Cello": 1,
    }
    with pytest.raises(DataError) as error:
        map_classes(["ApplyEyeMakeup", "Juggling"], model, {})
    message = str(error.value)
    assert "Unmatched data set classes: Juggling." in message
    assert "Model classes (2): ApplyEyeMakeup, PlayingCello" in message
    assert "Data set classes (2): ApplyEyeMakeup, Juggling" in message


# --- the exported world read back ----------------------------------------------------------------


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("exported")
    spec = world_spec(AtlasConfig())
    export_world(spec, "test", 1, tmp / "cache", tmp / "frames", "frames", progress=False)
    export_world(spec, "test", 1, tmp / "cache", tmp / "ucf", "ucf101", progress=False)
    return tmp


def test_exported_frames_give_the_synthetic_inputs(exported: Path) -> None:
    loaded = load("default")
    config = folder_config(exported, exported / "frames", layout="frames", flow="precomputed", workers=1)
    clips = folder_clips(loaded, config, progress=False)
    synthetic = SyntheticClips(world_spec(config), "test", 1, exported / "cache", progress=False)
    assert len(clips) == len(synthetic) == len(CLASSES) and not clips.skipped
    assert list(clips.labels) == list(synthetic.labels)
    for i in range(len(clips)):
        app, mot, _ = clips[i]
        app_s, mot_s, _ = synthetic[i]
        assert mot.shape == mot_s.shape and app.shape == app_s.shape
        assert (mot - mot_s).abs().max() <= 2  # flow JPEGs at quality 100: codes within 2 of the exact bytes
        assert (app - app_s).abs().mean() < 4  # RGB JPEGs at quality 95
    again = folder_clips(loaded, config, progress=False)
    assert again.computed == 0  # a rerun prepares nothing


def test_ucf101_mp4_layout_with_tvl1_flow(exported: Path) -> None:
    loaded = load("default")
    config = folder_config(
        exported, exported / "ucf", layout="ucf101", flow="tvl1", workers=1, classes=["JumpingJack", "Swing"]
    )
    clips = folder_clips(loaded, config, progress=False)
    synthetic = SyntheticClips(world_spec(config), "test", 1, exported / "cache", progress=False)
    assert clips.names == ("JumpingJack/v_JumpingJack_g01_c01.mp4", "Swing/v_Swing_g01_c01.mp4")
    assert list(clips.labels) == [CLASSES.index("JumpingJack"), CLASSES.index("Swing")] and not clips.skipped
    _, mot, _ = clips[0]
    _, mot_s, _ = synthetic[CLASSES.index("JumpingJack")]
    moving = mot_s.abs() > 8  # where the exact flow is more than ~1 px
    # TV-L1 on the decoded MP4 agrees with the exact flow in sign where things move.
    assert (torch.sign(mot[moving]) == torch.sign(mot_s[moving])).float().mean() > 0.7


# --- faults --------------------------------------------------------------------------------------


def test_bad_clips_are_skipped_with_their_reason(exported: Path, tmp_path: Path) -> None:
    import shutil

    root = tmp_path / "frames"
    shutil.copytree(exported / "frames", root)
    list_file = (root / "list.txt").read_text().splitlines()
    truncated = root / list_file[0].split()[0] / "img_00005.jpg"
    truncated.write_bytes(truncated.read_bytes()[:200])
    wrong_count = list_file[1].split()
    list_file[1] = f"{wrong_count[0]} 20 {wrong_count[2]}"
    (root / "list.txt").write_text("\n".join(list_file) + "\n")
    ucf = tmp_path / "ucf"
    shutil.copytree(exported / "ucf", ucf)
    corrupt = next((ucf / "Billiards").glob("*.mp4"))
    corrupt.write_bytes(b"\x00not a video" * 50)
    loaded = load("default")
    clips = folder_clips(
        loaded, folder_config(tmp_path, root, layout="frames", flow="precomputed", workers=1), progress=False
    )
    reasons = {s.path: s.reason for s in clips.skipped}
    assert len(clips) == len(CLASSES) - 2 and len(reasons) == 2
    assert "cannot read the image" in reasons[list_file[0].split()[0]]
    assert "gives 20 frames" in reasons[wrong_count[0]]
    videos = folder_clips(
        loaded,
        folder_config(tmp_path, ucf, layout="ucf101", flow="tvl1", workers=1, classes=["Billiards", "Swing"]),
        progress=False,
    )
    assert [s.path for s in videos.skipped] == [corrupt.relative_to(ucf).as_posix()]
    assert "ffmpeg" in videos.skipped[0].reason


def test_a_class_the_model_does_not_know_stops_before_any_work(exported: Path, tmp_path: Path) -> None:
    root = tmp_path / "frames"
    root.mkdir()
    (root / "list.txt").write_text((exported / "frames" / "list.txt").read_text())
    classes = [line.split()[1] for line in (exported / "frames" / "classInd.txt").read_text().splitlines()]
    classes[3] = "Juggling"
    (root / "classInd.txt").write_text("".join(f"{i + 1} {c}\n" for i, c in enumerate(classes)))
    config = folder_config(tmp_path, root, layout="frames", flow="precomputed")
    with pytest.raises(DataError, match="Unmatched data set classes: Juggling"):
        load_statistics(load("default"), config, tmp_path / "out", torch.device("cpu"), progress=False)
    assert not (tmp_path / "cache").exists()  # nothing was decoded


KILLED_RUN = textwrap.dedent("""
    import sys
    from pathlib import Path
    from generator.config import FolderDataConfig
    from generator.data.dataset import prepare_all
    from generator.data.layouts import list_clips
    from generator.data.snippets import ClipPlan
    from generator.zoo import load
    listing = list_clips(FolderDataConfig(root=Path(sys.argv[1]), layout="ucf101", classes=sys.argv[3].split(",")))
    plan = ClipPlan(tuple(load("default").description.inputs), 3, "tvl1")
    prepare_all(listing.clips, plan, Path(sys.argv[2]), workers=1, progress=False)
""")


def test_a_kill_during_flow_then_a_rerun_recomputes_nothing_finished(exported: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    classes = CLASSES[:5]
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED_RUN, str(exported / "ucf"), str(cache), ",".join(classes)], env=env
    )
    deadline = time.monotonic() + 120
    entries: list[Path] = []
    while time.monotonic() < deadline and len(entries) < 2 and proc.poll() is None:
        time.sleep(0.05)
        entries = list(cache.glob("folder_clips/*/*/meta.json"))
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    finished = {p.parent: p.stat().st_mtime_ns for p in cache.glob("folder_clips/*/*/meta.json")}
    assert 2 <= len(finished) < len(classes), "the kill came in the middle of the run"
    loaded = load("default")
    listing = list_clips(FolderDataConfig(root=exported / "ucf", layout="ucf101", classes=classes))
    from generator.data.snippets import ClipPlan

    outcomes = prepare_all(
        listing.clips, ClipPlan(tuple(loaded.description.inputs), 3, "tvl1"), cache, workers=1, progress=False
    )
    assert sum(o.computed for o in outcomes) == len(classes) - len(finished)
    assert all(p.stat().st_mtime_ns == finished[p.parent] for p in (f / "meta.json" for f in finished))
    assert all(o.folder is not None for o in outcomes)


# --- a model without class outputs ---------------------------------------------------------------


class _MotionCues(torch.nn.Module):
    """A phantom network without class outputs: unit 0 is the flow's vertical speed |v| at each
    position, unit 1 its horizontal speed |u| (averaged over the stacked fields). In the world the
    strongest vertical motion is JumpingJack's bouncing body, the strongest horizontal motion the
    Swing's arc (synthetic_world.md)."""

    def __init__(self) -> None:
        super().__init__()
        self.cue = torch.nn.Identity()

    def forward(self, motion: torch.Tensor) -> torch.Tensor:
        speeds = torch.stack([motion[:, 1::2].abs().mean(dim=1), motion[:, 0::2].abs().mean(dim=1)], dim=1)
        return self.cue(speeds).mean(dim=(2, 3, 4))  # features, not class scores


def test_a_model_without_class_outputs_gets_selectivity_from_the_labels(
    exported: Path, tmp_path: Path
) -> None:
    from generator.measures.selectivity import preferred_class
    from generator.pipeline.tables_stage import class_rows, confusion_rows
    from generator.zoo.loading import LoadedModel
    from generator.zoo.spec import InputSpec, LayerInfo, ModelDescription

    motion = next(s for s in load("default").description.inputs if s.kind == "flow")
    spec = InputSpec("motion", "flow", motion.channels, motion.frames, motion.height, motion.width)
    layer = LayerInfo("cue", "cue", "conv3d", 2, 1, 1, 1, ("motion",))
    description = ModelDescription("motion-cues", (spec,), (layer,), ())
    loaded = LoadedModel(_MotionCues(), description, "motion-cues", {})
    config = folder_config(tmp_path, exported / "frames", layout="frames", flow="precomputed", workers=1)
    stats = load_statistics(loaded, config, tmp_path / "out", torch.device("cpu"), progress=False)
    assert stats is not None and stats.classes == CLASSES  # the data set's classes, in its class list order
    assert not stats.predicted and np.array_equal(stats.test.labels, np.arange(len(CLASSES)))
    means = stats.layers["cue"].class_means
    assert means.shape == (len(CLASSES), 2)
    selectivity = class_selectivity(means)
    assert np.all(np.isfinite(selectivity)) and np.all(selectivity > 0.2)
    assert [CLASSES[i] for i in preferred_class(means)] == ["JumpingJack", "Swing"]
    # Nothing was predicted, so nothing is scored: no accuracy, confusions or class rows.
    assert confusion_rows(description, stats) == [] and class_rows(description, stats) == []
    again = load_statistics(loaded, config, tmp_path / "out", torch.device("cpu"), progress=False)
    assert again is not None and again.classes == CLASSES and not again.predicted  # read back from the cache


# --- where units fire in a folder clip: heat-map overlays -----------------------------------------

FOLDER_SNIPPETS = 4  # starts 0, 3, 5, 8 of a 13-frame clip: not the world's own 0, 4, 8


class _MotionCuesOnFrames(_MotionCues):
    """The same motion cues in a model that also takes the RGB frames (and ignores them)."""

    def forward(self, appearance: torch.Tensor, motion: torch.Tensor) -> torch.Tensor:
        return super().forward(motion)


def _cue_model(with_frames: bool):
    from generator.zoo.loading import LoadedModel
    from generator.zoo.spec import InputSpec, LayerInfo, ModelDescription

    inputs = load("default").description.inputs
    rgb, motion = (next(s for s in inputs if s.kind == kind) for kind in ("rgb", "flow"))
    flow = InputSpec("motion", "flow", motion.channels, motion.frames, motion.height, motion.width)
    layer = LayerInfo("cue", "cue", "conv3d", 2, 1, 1, 1, ("motion",))
    specs = (rgb, flow) if with_frames else (flow,)
    description = ModelDescription("motion-cues", specs, (layer,), ())
    net = _MotionCuesOnFrames() if with_frames else _MotionCues()
    return LoadedModel(net, description, f"motion-cues-{with_frames}", {})


@pytest.mark.parametrize("with_frames", [True, False], ids=["rgb-and-flow", "flow-only"])
def test_overlays_of_folder_clips_show_where_the_planted_motion_is(
    exported: Path, tmp_path: Path, with_frames: bool
) -> None:
    """Unit 0 is the flow's vertical speed at each position: on its top clip the overlay is drawn where
    the world rendered vertical motion, on the frames of the folder clip's own snippets."""
    from generator.data.snippets import even_starts
    from generator.measures.response_map import upsample_map
    from generator.media import display_factor, read_mp4
    from generator.media.frames import upscale
    from generator.media.heatmap import overlay_frames
    from generator.media.video import mp4_frame_count
    from generator.pipeline.held_out import held_out_clips
    from generator.pipeline.overlays import shown_clips, write_overlays
    from generator.world.flow import bytes_to_code, flow_to_bytes

    loaded = _cue_model(with_frames)
    desc = loaded.description
    config = folder_config(
        tmp_path,
        exported / "frames",
        {"data.folder.sampling.snippets": FOLDER_SNIPPETS, "site.top_clips": 2},
        layout="frames",
        flow="precomputed",
        workers=1,
    )
    cpu = torch.device("cpu")
    stats = load_statistics(loaded, config, tmp_path / "out", cpu, progress=False)
    assert stats is not None and stats.source["source"] == "folder"
    units = [{"unit_id": desc.unit_id("cue", c), "layer": "cue", "channel": c, "dead": False} for c in (0, 1)]
    clips = held_out_clips(config, stats.source, desc)
    part = write_overlays(loaded, clips, stats, units, tmp_path / "atlas", cpu, progress=False, workers=1)
    shown = shown_clips({"cue": "conv3d"}, units, stats)
    keys = {(u["unit_id"], clip) for clip, wanted in shown.items() for u in wanted}
    assert len(keys) >= 2 * 2 and set(part.overlays) == keys  # every shown clip of every unit
    assert part.written == len(keys) and part.cached == 0 and not part.failed

    fields = desc.inputs[-1].flow_fields
    count = FOLDER_SNIPPETS * (1 if with_frames else fields)  # the frames the folder clip's media show
    for (unit_id, clip), overlay in part.overlays.items():
        channel = int(unit_id.rsplit("/", 1)[1])
        assert overlay is not None and overlay.high == pytest.approx(
            stats.layers["cue"].top_values[channel][0]
        )
        played, _ = read_mp4(tmp_path / "atlas" / overlay.video)
        assert played.shape == (mp4_frame_count(count), 128, 128, 3), (unit_id, clip)
        assert (tmp_path / "atlas" / overlay.poster).is_file()

    # The truth: the world's own vertical flow (in network units, as the unit reads it) over each of the
    # folder clip's snippets, brought to the display size as every response map is.
    top = int(stats.layers["cue"].top_clips[0][0])
    world = SyntheticClips(world_spec(AtlasConfig()), "test", 1, exported / "cache", progress=False).clip(top)
    starts = even_starts(len(world.frames), fields + 1, FOLDER_SNIPPETS)
    assert starts == (0, 3, 5, 8)
    coded = bytes_to_code(flow_to_bytes(world.flow))
    frames = clips.frames(top)
    size = frames.shape[1] * display_factor(*frames.shape[1:3])
    vertical = np.stack([np.abs(coded[s : s + fields, ..., 1]).mean(axis=0) for s in starts])
    truth = upsample_map(vertical, len(starts), size, size)
    overlay = part.overlays[(units[0]["unit_id"], top)]
    assert overlay is not None
    played = read_mp4(tmp_path / "atlas" / overlay.video)[0].astype(np.float64)
    background = upscale(frames, size // frames.shape[1]).astype(np.float64)
    compared = 0
    for k in range(len(starts)):
        shown = k if with_frames else k * fields  # the first frame of snippet k
        # The overlay is drawn where the world moves vertically and not where it stands still...
        change = np.abs(played[shown] - background[shown]).sum(axis=-1)
        hot, still = truth[k] >= 0.5 * truth[k].max(), truth[k] <= 0.02 * truth[k].max()
        assert change[hot].mean() > 3 * change[still].mean() + 1, (
            k,
            change[hot].mean(),
            change[still].mean(),
        )
        # ... and it is snippet k's motion, not another snippet's, on the frame where snippet k starts.
        drawn = [overlay_frames(background[shown][None], t[None], 0.0, overlay.high)[0] for t in truth]
        for j in range(len(starts)):
            differ = np.abs(truth[k] - truth[j]) > 0.25 * overlay.high
            if j != k and differ.sum() >= 20:
                own, other = (np.abs(played[shown] - drawn[i])[differ].mean() for i in (k, j))
                assert own < 0.5 * other, (k, j, own, other)
                compared += 1
    assert compared >= len(starts)


# --- RAFT from a local weights file (never downloaded) -------------------------------------------


def test_raft_flow_from_a_local_weights_file_and_a_missing_one(tmp_path: Path) -> None:
    """torchvision's raft_small with random weights, saved as the local weights file: the flow stage
    runs on the CPU, stores RAFT's flow in the paper's 8-bit coding, and its cache key names the
    method and the file's hash; a missing file is one clear error naming it and how to get it."""
    import hashlib

    from torchvision.models.optical_flow import raft_small

    from generator.data.cache import content_digest, entry_key, load_inputs
    from generator.data.dataset import plan_settings
    from generator.data.decode import read_video
    from generator.data.flow import raft_flow
    from generator.data.layouts import ClipEntry
    from generator.data.snippets import ClipPlan, fit_frames
    from generator.media.video import write_mp4
    from generator.world.flow import flow_to_bytes
    from generator.zoo.spec import InputSpec

    weights = tmp_path / "raft_small.pth"
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        torch.save(raft_small(weights=None).state_dict(), weights)
    frames = np.zeros((6, 48, 64, 3), np.uint8)
    for t in range(6):  # a bright square moving right on a dark field
        frames[t, 16:32, 8 + 4 * t : 24 + 4 * t] = 230
    video = tmp_path / "v_Move_g01_c01.mp4"
    write_mp4(frames, video, fps=8, min_seconds=0.0)
    entry = ClipEntry(video, "Move")
    spec = InputSpec("motion", "flow", 4, 1, 32, 32)  # L = 2 flow fields, one snippet: pairs 0 and 1
    plan = ClipPlan((spec,), 1, "raft", weights)

    (outcome,) = prepare_all([entry], plan, tmp_path / "cache", workers=1, progress=False)
    assert outcome.folder is not None and outcome.computed, outcome
    stored = np.asarray(load_inputs(outcome.folder, ["motion"])["motion"])
    pairs = raft_flow(fit_frames(read_video(video), 32, 32), [0, 1], weights)
    expected = flow_to_bytes(pairs)  # (2, 32, 32, 2): u, v per pair in the paper's coding
    assert stored.dtype == np.uint8 and stored.shape == (4, 1, 32, 32)
    assert np.array_equal(
        stored[:, 0],
        np.stack([expected[0, ..., 0], expected[0, ..., 1], expected[1, ..., 0], expected[1, ..., 1]]),
    )
    settings = plan_settings(plan)["flow_settings"]
    assert settings == {
        "method": "raft",
        "weights": str(weights),
        "weights_sha256": hashlib.sha256(weights.read_bytes()).hexdigest(),
    }
    # Other weights in the same file give another cache entry: the key holds the file's hash.
    key = entry_key(content_digest(entry), entry, plan_settings(plan))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(1)
        torch.save(raft_small(weights=None).state_dict(), weights)
    os.utime(weights, ns=(time.time_ns(), time.time_ns() + 10**9))
    assert entry_key(content_digest(entry), entry, plan_settings(plan)) != key

    missing = tmp_path / "absent" / "raft_large.pth"
    with pytest.raises(DataError) as error:
        prepare_all([entry], ClipPlan((spec,), 1, "raft", missing), tmp_path / "cache", progress=False)
    message = str(error.value)
    assert str(missing) in message and "data.folder.raft_weights" in message
    assert "https://download.pytorch.org/models/raft_" in message and "state_dict" in message


# --- the folder path measures what the synthetic path measures ------------------------------------

EQUIVALENCE_CLIPS = 10  # per class: 120 held-out clips


@pytest.fixture(scope="module")
def both_paths(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("equivalence")
    synthetic = load_config(
        None,
        {
            "data.test_clips_per_class": EQUIVALENCE_CLIPS,
            "data.probe_clips_per_class": 1,
            "data.cache_dir": str(tmp / "cache"),
        },
    )
    folder = exported_frames(tmp, world_spec(synthetic), EQUIVALENCE_CLIPS, workers=2)
    loaded = load("default")
    cpu = torch.device("cpu")
    ours = load_statistics(loaded, folder, tmp / "out_folder", cpu, progress=False)
    theirs = load_statistics(loaded, synthetic, tmp / "out_synthetic", cpu, progress=False)
    assert ours is not None and theirs is not None
    return loaded, ours, theirs


def test_folder_and_synthetic_paths_agree_on_accuracy(both_paths) -> None:
    _, ours, theirs = both_paths
    assert np.array_equal(ours.test.labels, theirs.test.labels)
    assert abs(ours.test.accuracy - theirs.test.accuracy) <= 0.01 + 1e-9
    assert ours.source["source"] == "folder" and ours.source["skipped"] == [] and not ours.probes


def test_folder_and_synthetic_paths_agree_on_selectivity_and_top_clips(both_paths) -> None:
    loaded, ours, theirs = both_paths
    overlaps = []
    for name, item in theirs.layers.items():
        mine = ours.layers[name]
        a, b = class_selectivity(mine.class_means), class_selectivity(item.class_means)
        live = np.isfinite(a) & np.isfinite(b)
        if live.sum() > 2:
            assert np.corrcoef(a[live], b[live])[0, 1] >= 0.95, name
        k = item.top_clips.shape[1]
        overlaps += [len(set(x) & set(y)) / k for x, y in zip(mine.top_clips, item.top_clips)]
    assert np.mean(overlaps) >= 0.8


@pytest.mark.slow
def test_atlas_builds_from_an_exported_ucf101_folder_with_tvl1_flow(tmp_path: Path) -> None:
    import json
    import shutil

    from typer.testing import CliRunner

    from generator.cli import app

    runner = CliRunner()
    root = tmp_path / "ucf"
    result = runner.invoke(
        app,
        [
            "world",
            "export",
            str(root),
            "--layout",
            "ucf101",
            "--clips-per-class",
            "1",
            "--set",
            f"data.cache_dir={tmp_path / 'cache'}",
        ],
    )
    assert result.exit_code == 0, result.output
    assert (root / "classInd.txt").is_file() and (root / "testlist01.txt").is_file()
    (root / "Swing" / "v_Swing_g01_c01.mp4").write_bytes(b"truncated")  # a clip that cannot be decoded
    out = tmp_path / "atlas"
    sets = [
        "data.source=folder",
        f"data.folder.root={root}",
        "data.folder.layout=ucf101",
        "data.folder.flow=tvl1",
        "data.folder.classes=[JumpingJack, Billiards, Swing]",
        "data.folder.workers=1",
        f"data.cache_dir={tmp_path / 'cache'}",
        "max_units_per_layer=1",
        "visualize.steps=5",
        "visualize.chi=[1.0]",
        "layers=[motion/conv1_1, class]",
    ]
    args = ["build", "--output", str(out), *[item for s in sets for item in ("--set", s)]]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text())
    data = manifest["data"]
    assert (
        data["source"] == "folder" and data["flow"]["method"] == "tvl1" and len(data["file_list_hash"]) == 64
    )
    assert (data["listed"], data["measured"]) == (3, 2)
    assert (
        data["skipped"][0]["path"] == "Swing/v_Swing_g01_c01.mp4" and "ffmpeg" in data["skipped"][0]["reason"]
    )
    home = (out / "site" / "index.html").read_text()
    assert "2 of 3 clips measured, 1 skipped" in home
    assert any((out / "clips").iterdir())  # the real clips' media for the top-clips table
    # Stream reliance is measured on the data set's own clips: a rate for every class with a measured clip.
    import pyarrow.parquet as pq

    from generator.store.schema import table_path

    classes = {r["class_name"]: r for r in pq.read_table(table_path(out, "classes")).to_pylist()}
    for name in ("JumpingJack", "Billiards"):
        assert 0.0 <= classes[name]["accuracy_motion_zeroed"] <= 1.0, classes[name]
        assert 0.0 <= classes[name]["accuracy_appearance_zeroed"] <= 1.0, classes[name]
    # Where the spatial unit fires in each clip its page shows: one overlay per clip, over the clip's
    # snippets (3 by default), on the unit's scale (its top clip's response).
    from generator.media import read_mp4
    from generator.media.video import mp4_frame_count

    tops = pq.read_table(table_path(out, "top_clips")).to_pylist()
    shown = tops + pq.read_table(table_path(out, "clip_samples")).to_pylist()
    spatial = [r for r in shown if r["unit_id"].startswith("motion/")]
    assert spatial and all(r["overlay"] and (out / r["overlay_poster"]).is_file() for r in spatial)
    for row in spatial:
        top = next(r for r in tops if r["unit_id"] == row["unit_id"] and r["rank"] == 1)
        assert row["overlay_high"] == pytest.approx(top["activation"])
        assert read_mp4(out / row["overlay"])[0].shape[0] == mp4_frame_count(3)
    assert f"overlays of where units fire written {len({r['overlay'] for r in spatial})}" in result.output
    shutil.rmtree(out / "site")


# --- speed: real clips resampled in time ----------------------------------------------------------


def test_skipping_frames_replays_a_clip_faster() -> None:
    from generator.data.speed import faster_flow_bytes, faster_frames, slower_flow_bytes
    from generator.world import render_clip
    from generator.world.flow import flow_to_bytes

    spec = world_spec(AtlasConfig())
    slow, fast = (
        render_clip("JumpingJack", 7, spec, speed=0.6),
        render_clip("JumpingJack", 7, spec, speed=1.2),
    )
    kept = faster_frames(slow.frames, 2)
    assert np.array_equal(kept, fast.frames[: len(kept)])  # the world moves with speed x time
    summed = faster_flow_bytes(flow_to_bytes(slow.flow), 2).astype(int)
    exact = flow_to_bytes(fast.flow[: len(summed)]).astype(int)
    moving = exact != 128
    assert moving.mean() > 0.01 and (summed[~moving] == 128).mean() > 0.99  # still pixels stay still
    assert np.abs(summed - exact)[moving].mean() < 0.25 * np.abs(exact - 128)[moving].mean()
    halved = slower_flow_bytes(flow_to_bytes(fast.flow), 0.5).astype(int)
    assert np.abs(halved - 128).max() <= np.abs(flow_to_bytes(fast.flow).astype(int) - 128).max() // 2 + 1
    with pytest.raises(DataError, match="integer speed factor"):
        faster_frames(slow.frames, 1.5)


def test_speed_invariance_from_a_folder(tmp_path: Path) -> None:
    from generator.pipeline.speed import speed_invariance

    config = exported_frames(tmp_path, world_spec(AtlasConfig()), 2, workers=1)
    loaded = load("default")
    cpu = torch.device("cpu")
    stats = load_statistics(loaded, config, tmp_path / "out", cpu, progress=False)
    speed = speed_invariance(loaded, config, stats, tmp_path / "out", cpu, progress=False)
    # Appearance filters see still frames: speed hardly matters; first motion filters see flow that
    # grows with speed.
    assert np.nanmean(speed["appearance/conv1_1"]) > 0.95 > 0.5 > np.nanmean(speed["motion/conv1_1"])
    entries = len(list((tmp_path / "cache").glob("folder_clips/*/*")))
    again = speed_invariance(loaded, config, stats, tmp_path / "out", cpu, progress=False)
    assert all(np.array_equal(again[k], v, equal_nan=True) for k, v in speed.items())
    assert len(list((tmp_path / "cache").glob("folder_clips/*/*"))) == entries


# --- torchrun ------------------------------------------------------------------------------------


@pytest.mark.slow
def test_two_ranks_on_a_folder_equal_one_process(tmp_path: Path) -> None:
    import json

    import pyarrow.parquet as pq

    from generator.store.schema import table_path

    root = tmp_path / "frames"
    export_world(world_spec(AtlasConfig()), "test", 2, tmp_path / "cache", root, "frames", progress=False)
    sets = [
        "data.source=folder",
        f"data.folder.root={root}",
        "data.folder.layout=frames",
        "data.folder.flow=precomputed",
        "data.folder.classes=[JumpingJack, Swing, Billiards]",
        "data.folder.workers=1",
        "data.cache_dir=cache",
        "site.top_clips=2",
    ]
    # measure: statistics (each rank prepares and measures its share of clips), speed invariance, tables,
    # manifest.
    args = ["-m", "generator.cli", "measure", "--output", "atlas", *[i for s in sets for i in ("--set", s)]]
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")
    }
    env["PYTHONPATH"] = str(REPO)
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    runs, logs = {}, {}
    for name, command in (("single", [sys.executable, *args]), ("multi", [*torchrun, *args])):
        (tmp_path / name).mkdir()
        done = subprocess.run(
            command, cwd=tmp_path / name, env=env, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, done.stdout + done.stderr
        runs[name], logs[name] = tmp_path / name / "atlas", done.stdout
    # Each rank sent only its share of the clips through the model (counted in the measuring loop).
    for rank in (0, 1):
        assert logs["multi"].count(f"[rank {rank}/2] measured 3 of 6 test clips") == 1, logs["multi"]
    assert "[rank" not in logs["single"]
    # Both caches hold every clip at every replay speed, the multi-rank one prepared by two processes.
    for name in runs:
        assert len(list((tmp_path / name / "cache").glob("folder_clips/*/*/meta.json"))) == 6 * 4
    stats = {r: sorted((runs[r] / "statistics").glob("*.npz")) for r in runs}
    # activations, interventions (the edited clips' answers), speed replays and direction tuning
    names = [p.name.split("_")[0] for p in stats["single"]]
    assert [p.name for p in stats["multi"]] == [p.name for p in stats["single"]]
    assert names == ["activations", "interventions", "speed", "tuning"]
    for mine, theirs in zip(stats["multi"], stats["single"]):
        with np.load(mine) as a, np.load(theirs) as b:
            assert a.files == b.files
            for key in (k for k in a.files if k != "source"):
                if a[key].dtype.kind == "f":  # torchrun runs one thread per rank: sums in another order
                    assert np.allclose(a[key], b[key], rtol=1e-5, atol=1e-6, equal_nan=True), (mine.name, key)
                else:
                    assert np.array_equal(a[key], b[key]), (mine.name, key)
    for name in ("classes", "confusions"):
        single, multi = (pq.read_table(table_path(runs[r], name)).to_pylist() for r in ("single", "multi"))
        assert multi == single and single, name
    single, multi = (json.loads((runs[r] / "manifest.json").read_text()) for r in ("single", "multi"))
    assert multi["data"] == single["data"] and multi["data"]["measured"] == 6
