"""The measure stage: media, measures, tables and manifest from stored results, end to end through the CLI."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from generator.cli import app
from generator.config import load_config, parse_overrides
from generator.measures.invariance import chi_invariance, converged, response_flatness
from generator.measures.response_map import response_map, upsample_map
from generator.media import display_factor, read_mp4
from generator.media.frames import upscale
from generator.media.video import mp4_frame_count
from generator.pipeline.build import build
from generator.pipeline.reports import built_lines
from generator.site.paths import unit_folder
from generator.store.manifest import manifest_path, read_manifest
from generator.store.parquet import read_metadata
from generator.store.results import load_result, save_result
from generator.store.schema import SCHEMAS, table_path
from generator.train import world_spec
from generator.world import CLASSES, PROBES, SyntheticClips
from generator.world.inputs import snippet_starts
from generator.zoo import load, save_checkpoint, small_fusion
from generator.zoo.loading import fixed_init_seed
from tests.support.cli import one_class_unit, set_options
from tests.support.tables import VISUALIZATION_FILES

runner = CliRunner()
SIZE = 64
FIELDS = 4
TOP = 3
CHIS = (0.1, 1.0, 10.0)


# ----------------------------------------------------------------------------- definitions on known numbers


def test_invariance_across_chi_is_weakest_over_strongest_seed_mean() -> None:
    # chi 0.1: seeds 2 and 4 -> 3; chi 1: 6; chi 10: negative clipped to 0 and 3 -> 1.5.
    assert chi_invariance({0.1: [2.0, 4.0], 1.0: [6.0], 10.0: [-3.0, 3.0]}) == pytest.approx(1.5 / 6.0)
    assert chi_invariance({0.1: [5.0], 1.0: [5.0]}) == pytest.approx(1.0)
    assert chi_invariance({0.1: [-1.0], 1.0: [0.0]}) is None  # the strongest is not positive
    assert chi_invariance({0.1: [2.0], 1.0: [None, float("nan")]}) is None  # one chi left: undefined
    assert chi_invariance({0.1: [2.0], 1.0: [-4.0], 10.0: [None]}) == pytest.approx(0.0)


def test_speed_flatness_averages_clips_then_compares_speeds() -> None:
    responses = np.array(
        [
            [[1.0, 2.0, 4.0], [3.0, 2.0, 0.0]],  # means per speed 2, 2, 2 -> flat
            [[1.0, 2.0, 4.0], [1.0, 2.0, 4.0]],  # 1, 2, 4 -> 0.25
            [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]],  # silent -> undefined
            [[-1.0, 1.0, 2.0], [-1.0, 1.0, 2.0]],  # negative mean clipped to 0 -> 0
        ]
    )
    flat = response_flatness(responses)
    assert flat[:2] == pytest.approx([1.0, 0.25])
    assert np.isnan(flat[2]) and flat[3] == 0.0


def test_converged_compares_the_last_window_with_the_objective_term() -> None:
    # The first steps collapse the noise (250 energy units); then the energy settles near -2.
    settled = np.concatenate([np.linspace(250, -2, 80), np.full(20, -2.0)])
    assert converged(settled, objective_term=2.0) is True
    # Still gaining 0.5 % of w a per step: 5 % of it between the last two windows of 10 steps.
    creeping = np.concatenate([np.linspace(250, -2, 50), -2 - 0.01 * np.arange(50)])
    assert converged(creeping, objective_term=2.0) is False
    # Settled at zero with jitter noise far below 1 % of w a: its relative change is meaningless.
    noise = 0.001 * np.random.default_rng(0).standard_normal(100)
    assert converged(np.r_[np.linspace(-5, 0, 50), np.zeros(50)] + noise, objective_term=3.0) is True
    assert converged([3.0], 1.0) is None and converged([1.0, float("nan")], 1.0) is None
    assert converged(settled, None) is None


# ----------------------------------------------------------------------------- end to end


def _options(
    root: Path, checkpoint: Path | None, select: bool = True, output: Path | None = None
) -> list[str]:
    sets = {
        "model.source": "small_fusion",
        "data.size": SIZE,
        "data.flow_fields": FIELDS,
        "data.test_clips_per_class": 3,
        "data.probe_clips_per_class": 2,
        "data.cache_dir": str(root / "cache"),
        "visualize.steps": 3,
        "visualize.chi": json.dumps(list(CHIS)),
        "site.top_clips": TOP,
        "site.title": "Test atlas",
    }
    if checkpoint is not None:
        sets["model.checkpoint"] = str(checkpoint)
    args = set_options(sets)
    if select:
        args += ["--layers", "motion/conv2_1,class", "--units", "0-1"]
    return [*args, "--output", str(output or root / "atlas")]


def _world_checkpoint(path: Path) -> Path:
    """small_fusion with seeded random weights and the world's class names (so the world feeds it)."""
    with fixed_init_seed():
        net = small_fusion(classes=CLASSES, image_size=SIZE, flow_fields=FIELDS)
    return save_checkpoint(path, net, net.architecture, CLASSES)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One build, called from Python as a notebook would (the CLI's build is this call and a print)."""
    root = tmp_path_factory.mktemp("assemble")
    checkpoint = _world_checkpoint(root / "world.pt")
    options = _options(root, checkpoint, select=False)
    sets = [value for flag, value in zip(options, options[1:], strict=False) if flag == "--set"]
    config = load_config(None, {**parse_overrides(sets), "output": root / "atlas"})
    lines: list[str] = []
    summary = build(config, "motion/conv2_1,class", "0-1", log=lines.append, warn=lines.append)
    assert summary is not None
    output = "\n".join(lines + built_lines(summary))
    return {
        "root": root,
        "atlas": root / "atlas",
        "checkpoint": checkpoint,
        "output": output,
        "summary": summary,
    }


def _tables(atlas: Path) -> dict[str, list[dict]]:
    return {name: pq.read_table(table_path(atlas, name)).to_pylist() for name in SCHEMAS}


@pytest.mark.slow
def test_build_writes_tables_with_measures(built: dict) -> None:
    tables = _tables(built["atlas"])
    units, vis = tables["units"], tables["visualizations"]
    # Class outputs, fed by both streams, also get one view per stream (the other input held at zero).
    assert len(units) == 4 and len(vis) == (4 + 2 * 2) * len(CHIS)
    views = {(r["unit_id"].split("/")[0], r["view"]) for r in vis}
    assert views == {
        ("motion", "joint"),
        ("class", "joint"),
        ("class", "appearance_only"),
        ("class", "motion_only"),
    }
    for row in vis:
        if row["view"] != "joint":
            held = "motion" if row["view"] == "appearance_only" else "appearance"
            with np.load(built["atlas"] / row["array"]) as data:
                assert not data[f"input_{held}"].any() and data[f"input_{row['view'].split('_')[0]}"].any()
    vis = [r for r in vis if r["view"] == "joint"]
    assert {u["unit_id"] for u in units} == {
        "motion/conv2_1/0000",
        "motion/conv2_1/0001",
        "class/ApplyEyeMakeup",
        "class/ApplyLipstick",
    }
    live = [u for u in units if not u["dead"]]
    assert live, "a random network still has live units"
    for unit in live:
        assert 0.0 <= unit["selectivity"] <= 1.0
        assert unit["preferred_class"] in CLASSES and len(unit["class_means"]) == len(CLASSES)
        assert unit["act_peak"] is not None and unit["act_mean"] >= 0
        assert unit["invariance_speed"] is None or 0.0 <= unit["invariance_speed"] <= 1.0
        assert unit["invariance_chi"] is None or 0.0 <= unit["invariance_chi"] <= 1.0
    assert any(u["invariance_speed"] is not None for u in live)
    assert {u["class_name"] for u in units if u["layer"] == "class"} == {"ApplyEyeMakeup", "ApplyLipstick"}
    for unit in units:
        if unit["layer"] != "class":  # rho of a rectified response: never negative
            assert unit["act_peak"] >= 0 and unit["rho_reduction"] == "centre neuron"
    for row in vis:
        assert row["steps"] == 3 and row["converged"] in (True, False) and row["array"]
        assert row["temporal_variation"] is not None
        peak = next(u["act_peak"] for u in units if u["unit_id"] == row["unit_id"])
        if peak > 0:
            assert row["normalised_activation"] == pytest.approx(row["activation"] / peak)
        # An honest status: failed when the unit stays off, weak below half of rho.
        if row["activation"] <= 0 and not row["unit_id"].startswith("class/"):
            assert row["status"] == "failed: activation <= 0" and row["composite"] is None
        elif peak > 0 and row["activation"] < 0.5 * peak:
            assert row["status"] == "weak" and row["composite"]
        else:
            assert row["status"] == "ok" and row["composite"]
    for unit in units:
        mine = [r for r in vis if r["unit_id"] == unit["unit_id"]]
        assert unit["ok_visualizations"] == sum(r["status"] == "ok" for r in mine)
        # A motion-tower unit does not see the appearance: chi cannot change it.
        if unit["layer"] == "motion/conv2_1" and any(r["status"] != "failed: activation <= 0" for r in mine):
            assert unit["appearance_chi_change"] == 0.0

    classes, confusions = tables["classes"], tables["confusions"]
    assert [c["class_name"] for c in classes] == list(CLASSES)
    assert sum(c["count"] for c in confusions) == 3 * len(CLASSES)
    assert all(c["clips"] == 3 and 0 <= c["accuracy"] <= 1 for c in classes)
    assert len(tables["top_clips"]) == TOP * len(live)
    assert all(r["predicted_class"] in CLASSES for r in tables["top_clips"])
    metadata = read_metadata(table_path(built["atlas"], "units"))
    assert metadata["model_hash"] and metadata["config_hash"]


@pytest.mark.slow
def test_every_media_path_exists_and_every_video_decodes(built: dict) -> None:
    atlas = built["atlas"]
    tables = _tables(atlas)
    manifest = read_manifest(manifest_path(atlas))
    side = SIZE * display_factor(SIZE, SIZE)
    paths = {row[k] for rows in tables.values() for row in rows for k in VISUALIZATION_FILES if row.get(k)}
    paths |= {
        clip[k]
        for case in manifest["failure_cases"]
        for clip in case["clips"]
        for k in ("composite", "poster")
    }
    assert all((atlas / p).is_file() for p in paths)
    videos = sorted(p for p in paths if p.endswith(".mp4"))
    assert any(p.startswith("clips/") for p in videos) and any(p.startswith("media/") for p in videos)
    frames_of = {  # source frames per kind: one snippet of L flow fields, or a whole real clip
        "media": {"appearance": 1, "colorwheel": FIELDS, "xymag": FIELDS, "composite": FIELDS},
        "clips": {"appearance": 13, "colorwheel": 12, "xymag": 12, "composite": 13},
    }
    for path in videos:
        kind = Path(path).stem.rsplit("_", 1)[1]
        frames, _ = read_mp4(atlas / path)
        assert frames.shape[0] == mp4_frame_count(frames_of[path.split("/")[0]][kind]), path
        width = 3 * side + 2 * 4 if kind == "composite" else side
        assert frames.shape[1:] == (side, width, 3), path


@pytest.mark.slow
def test_spatial_units_show_where_they_fire_in_every_shown_clip(built: dict) -> None:
    atlas, root = built["atlas"], built["root"]
    tables = _tables(atlas)
    rows = tables["top_clips"] + tables["clip_samples"]
    spatial = [r for r in rows if r["unit_id"].startswith("motion/")]
    assert spatial and all(r["overlay"] and r["overlay_poster"] for r in spatial)
    overlays = {r["overlay"] for r in spatial}
    assert f"overlays of where units fire written {len(overlays)}, reused 0" in built["output"]
    assert all(
        r["overlay"] is None and r["overlay_high"] is None for r in rows if r["unit_id"].startswith("class/")
    )
    options = _options(root, built["checkpoint"], select=False)
    sets = [value for flag, value in zip(options, options[1:], strict=False) if flag == "--set"]
    config = load_config(None, {**parse_overrides(sets), "output": atlas})
    spec = world_spec(config)
    clips = SyntheticClips(
        spec, "test", config.data.test_clips_per_class, config.data.cache_dir, progress=False
    )
    factor = display_factor(SIZE, SIZE)
    for row in spatial:  # one scale per unit: its largest response at any position of any clip (top clip 1's)
        top = next(r for r in tables["top_clips"] if r["unit_id"] == row["unit_id"] and r["rank"] == 1)
        assert row["overlay_high"] == pytest.approx(top["activation"])
        played, _ = read_mp4(atlas / row["overlay"])
        assert played.shape == (
            mp4_frame_count(len(clips.clip(row["clip_index"]).frames)),
            SIZE * factor,
            SIZE * factor,
            3,
        )
        assert (atlas / row["overlay_poster"]).is_file()

    # The hottest place of the overlay is where the unit's response map, measured afresh on the clip, is hottest.
    loaded = load("small_fusion", built["checkpoint"])
    row = next(r for r in tables["top_clips"] if r["unit_id"] == "motion/conv2_1/0001" and r["rank"] == 1)
    layer = loaded.description.layer("motion/conv2_1")
    inputs = [x[None] for x in clips[row["clip_index"]][:-1]]
    maps = response_map(loaded.model, layer, 1, inputs)
    assert maps is not None and float(maps.max()) == pytest.approx(row["activation"], rel=1e-4)
    frames = upscale(clips.clip(row["clip_index"]).frames, factor).astype(np.float64)
    played, _ = read_mp4(atlas / row["overlay"])
    heat = upsample_map(maps, maps.shape[0], SIZE * factor, SIZE * factor)
    checked = 0
    for step, start in enumerate(snippet_starts(spec)):  # the frames the network's snippets start at
        change = np.abs(played[start].astype(np.float64) - frames[start]).sum(axis=-1)
        level = heat[step]
        if level.max() < 0.5 * row["overlay_high"]:
            continue  # too faint on this frame to stand out of the video coding's noise
        hot, cold = level >= 0.8 * level.max(), level <= 0.1 * row["overlay_high"]
        assert change[hot].mean() > 3 * change[cold].mean() + 1, (
            step,
            change[hot].mean(),
            change[cold].mean(),
        )
        y, x = np.unravel_index(np.argmax(change), change.shape)
        assert level[y, x] >= 0.4 * level.max(), (step, (y, x))
        checked += 1
    assert checked >= 1

    # The unit page shows each overlay with its label and colour scale; a class unit's page shows none.
    site = atlas / "site"
    page = (site / unit_folder("motion/conv2_1/0001") / "index.html").read_text(encoding="utf-8")
    assert row["overlay"] in page and "where this unit fires: its rectified response, 0 to ρ = " in page
    assert 'class="atlas-heat-legend"' in page
    for clip in (r for r in spatial if r["unit_id"] == "motion/conv2_1/0001"):
        assert clip["overlay"] in page
    classes = [u["unit_id"] for u in tables["units"] if u["unit_id"].startswith("class/")]
    assert classes and all(
        "where this unit fires" not in (site / unit_folder(u) / "index.html").read_text(encoding="utf-8")
        for u in classes
    )


@pytest.mark.slow
def test_the_dry_run_counts_the_overlays_the_build_draws(built: dict, tmp_path: Path) -> None:
    from generator.pipeline.overlay_cost import OVERLAY_BYTES, SAMPLED_CLIPS, SECONDS_PER_OVERLAY
    from generator.pipeline.plan import format_plan, make_plan

    atlas, root = built["atlas"], built["root"]
    tables = _tables(atlas)
    drawn = {r["overlay"] for r in tables["top_clips"] + tables["clip_samples"] if r["overlay"]}
    assert drawn and len(list((atlas / "clips").glob("*/where/**/*.mp4"))) == len(drawn)
    options = _options(root, built["checkpoint"], select=False)
    sets = parse_overrides(
        [value for flag, value in zip(options, options[1:], strict=False) if flag == "--set"]
    )

    def estimate(output: Path, **more: object):
        config = load_config(None, {**sets, **more, "output": output})
        plan, _ = make_plan(config, "motion/conv2_1,class", "0-1", timing=False)
        return plan

    # Statistics and overlays on disk: the exact count, nothing left to draw.
    done = estimate(atlas).overlays
    assert done is not None and done.exact and (done.units, done.total, done.todo) == (2, len(drawn), 0)
    # The statistics alone (a fresh folder): every overlay still to draw, with its time and space.
    shutil.copytree(atlas / "statistics", tmp_path / "fresh" / "statistics")
    plan = estimate(tmp_path / "fresh")
    fresh = plan.overlays
    assert fresh is not None and fresh.exact and fresh.todo == fresh.total == len(drawn)
    assert fresh.seconds == pytest.approx(len(drawn) * SECONDS_PER_OVERLAY)
    assert fresh.bytes == len(drawn) * OVERLAY_BYTES
    assert any(
        f"for {len(drawn)} of the {len(drawn)} heat-map overlays of 2 units" in line
        for line in format_plan(plan, True)
    )
    # No statistics yet: at most every unit with positions times its top and sampled clips.
    bound = estimate(tmp_path / "empty").overlays
    assert bound is not None and not bound.exact and bound.total == 2 * (TOP + SAMPLED_CLIPS) >= len(drawn)
    assert estimate(atlas, **{"site.clip_overlays": False}).overlays is None
    assert not (tmp_path / "empty").exists() or not any((tmp_path / "empty").iterdir())  # nothing written


@pytest.mark.slow
def test_manifest_has_model_layers_and_failure_cases(built: dict) -> None:
    manifest = read_manifest(manifest_path(built["atlas"]))
    assert manifest["model"]["card"]["test_accuracy"] is not None
    assert [layer["name"] for layer in manifest["layers"]] == ["motion/conv2_1", "class"]
    assert manifest["chis"] == list(CHIS)
    vis = _tables(built["atlas"])["visualizations"]
    assert manifest["counts"]["units"] == 4
    assert manifest["counts"]["failed"] == sum(r["status"].startswith("failed") for r in vis)
    assert manifest["counts"]["weak"] == sum(r["status"] == "weak" for r in vis)
    cases = {case["slug"]: case for case in manifest["failure_cases"]}
    assert {"probe-eyemakeup_blink", "probe-cello_violin_swap"} <= set(cases)
    assert cases["probe-eyemakeup_blink"]["classes"] == ["ApplyEyeMakeup", "ApplyLipstick"]
    assert set(cases["probe-eyemakeup_blink"]["numbers"]) >= {
        "accuracy",
        "clean_accuracy",
        "accuracy_drop_points",
    }
    pairs = [case for case in cases.values() if case["kind"] == "pair"]
    assert 1 <= len(pairs) <= 2
    for case in cases.values():
        for clip in case["clips"]:
            assert clip["true_class"] != clip["predicted_class"] and clip["composite"]
        if case["kind"] == "probe":
            assert all(clip["composite"].startswith("clips/probe-") for clip in case["clips"])
            assert all(clip["true_class"] in PROBES[case["probe"]] for clip in case["clips"])


@pytest.mark.slow
def test_build_summary_tells_what_is_on_disk(built: dict) -> None:
    summary, atlas = built["summary"], built["atlas"]
    tables = _tables(atlas)
    units, vis = tables["units"], tables["visualizations"]
    assert summary.output == atlas and summary.tables == atlas / "tables" and summary.manifest.is_file()
    assert summary.units == len(units) == 4 and summary.visualizations == len(vis)
    failed = [r for r in vis if r["status"].startswith("failed")]
    assert summary.ok == sum(r["status"] == "ok" for r in vis) and summary.weak == sum(
        r["status"] == "weak" for r in vis
    )
    assert summary.failed == len(failed) and summary.ok + summary.weak + summary.failed == len(vis)
    assert {what.split(" ")[0] for what, _ in summary.failures} == {r["unit_id"] for r in failed}
    assert summary.units_done == len({u["unit_id"] for u in units} - {r["unit_id"] for r in failed})
    assert summary.computed == len(vis) and summary.cached == 0  # a first build computes every row
    # Every unit has its page; the site's size is what its files hold.
    site = summary.site
    assert summary.index.is_file() and site == (atlas / "site").resolve()
    assert all((site / unit_folder(unit["unit_id"]) / "index.html").is_file() for unit in units)
    html = list(site.rglob("*.html"))
    assert summary.pages == len(html) > len(units)
    assert summary.site_bytes == sum(p.lstat().st_size for p in site.rglob("*") if not p.is_dir())
    assert summary.skipped_clips == () and summary.damaged == ()  # the synthetic world skips no clip
    assert {"visualize", "measure", "site"} <= set(summary.seconds) and min(summary.seconds.values()) >= 0
    with pytest.raises(dataclasses.FrozenInstanceError):
        summary.units = 0


@pytest.mark.slow
def test_site_builds_strictly_and_is_reported(built: dict) -> None:
    assert "Open " in built["output"] and (built["atlas"] / "site" / "index.html").is_file()
    root = built["root"]
    result = runner.invoke(app, ["site", *_options(root, built["checkpoint"], select=False)])
    assert result.exit_code == 0, result.output
    assert "index.html" in result.output
    assert (built["atlas"] / "site" / "failures" / "probe-eyemakeup_blink" / "index.html").is_file()


@pytest.mark.slow
def test_measure_rerun_rewrites_no_media_and_keeps_failed_rows(built: dict) -> None:
    atlas, root = built["atlas"], built["root"]
    media = sorted(p for folder in ("media", "clips") for p in (atlas / folder).rglob("*") if p.is_file())
    stamps = {p: p.stat().st_mtime_ns for p in media}

    # Mark one stored visualization as failed: its row stays, without media, and nothing stops.
    result_path = next((atlas / "results" / "motion" / "conv2_1" / "0001").glob("chi10_*.npz"))
    stored = load_result(result_path)
    failed_meta = {**stored.meta, "status": "failed: non-finite values at step 2"}
    save_result(result_path, stored.inputs, stored.loss, failed_meta)

    rerun = runner.invoke(app, ["measure", *_options(root, built["checkpoint"])])
    assert rerun.exit_code == 0, rerun.output
    assert "written 0" in rerun.output
    after = sorted(p for folder in ("media", "clips") for p in (atlas / folder).rglob("*") if p.is_file())
    assert after == media and {p: p.stat().st_mtime_ns for p in after} == stamps

    vis = _tables(atlas)["visualizations"]
    assert len(vis) == (4 + 2 * 2) * len(CHIS)
    failed = [row for row in vis if row["status"] == "failed: non-finite values at step 2"]
    assert len(failed) == 1 and failed[0]["unit_id"] == "motion/conv2_1/0001" and failed[0]["chi"] == 10.0
    assert failed[0]["composite"] is None and failed[0]["converged"] is None
    all_failed = sum(row["status"].startswith("failed") for row in vis)
    assert read_manifest(manifest_path(atlas))["counts"]["failed"] == all_failed


@pytest.mark.slow
def test_dry_run_prints_the_plan_and_computes_nothing(built: dict, tmp_path: Path) -> None:
    options = _options(built["root"], built["checkpoint"], output=tmp_path / "none")
    result = runner.invoke(app, ["build", "--dry-run", *options])
    assert result.exit_code == 0, result.output
    assert "motion/conv2_1" in result.output and "class" in result.output
    # The class layer's 2 units have a joint and two per-stream views: 2 x 3 x 3 chi rows.
    assert f"{'class':<28}{2:>7}{2 * 3 * len(CHIS):>8}" in result.output
    assert "24 rows, 0 cached, 24 to compute" in result.output
    assert "Estimated device time" in result.output and "Estimated media time" in result.output
    assert not (tmp_path / "none").exists()


def test_model_without_world_gets_tables_without_data(tmp_path: Path) -> None:
    # Plain small_fusion has placeholder class names, so the synthetic world cannot label its outputs.
    args = one_class_unit(tmp_path / "cache", tmp_path / "atlas")
    assert runner.invoke(app, ["visualize", *args]).exit_code == 0
    result = runner.invoke(app, ["measure", *args])
    assert result.exit_code == 0, result.output
    tables = _tables(tmp_path / "atlas")
    (unit,) = tables["units"]
    assert unit["selectivity"] is None and unit["act_peak"] is None and unit["invariance_speed"] is None
    assert unit["dead"] is False and unit["composite"]
    assert len(tables["classes"]) == 12 and all(c["accuracy"] is None for c in tables["classes"])
    assert tables["confusions"] == [] and tables["top_clips"] == []
    assert all(row["normalised_activation"] is None for row in tables["visualizations"])
    assert read_manifest(manifest_path(tmp_path / "atlas"))["failure_cases"] == []
    assert not (tmp_path / "cache").exists()  # no clips were rendered
