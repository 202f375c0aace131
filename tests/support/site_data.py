"""A fake atlas folder: valid tables, manifest and media with made-up numbers.

Used by the site tests and the scale benchmark, and handy when working on templates: it
needs no model, no data and no GPU. The numbers follow the trends the paper reports
(selectivity and invariance grow with depth; temporal variation falls as chi rises) so the
findings page has something to show. ``hostile=True`` adds class and layer names holding
HTML, Markdown table characters, quotes and ``../`` to test escaping and path safety.
"""

from __future__ import annotations

import io
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from generator.measures.evidence import histogram_bins, quantile_samples
from generator.measures.tuning import SPEEDS, directions, summarise
from generator.media import write_frame_set
from generator.media.kinds import MEDIA_KINDS, PANEL_KINDS
from generator.store.atomic import write_bytes
from generator.store.keys import unit_path
from generator.store.manifest import failure_slug, make_manifest, manifest_path, write_manifest
from generator.store.parquet import write_table
from generator.store.schema import STREAMS, table_path
from generator.store.table_set import write_table_set

HOSTILE_CLASSES = ("<script>alert(1)</script>", "Pipe|Class", "Quote\"'Class", "../../escape")
HOSTILE_LAYER = ("motion/../<script>alert(2)</script>|\"q'", 3)
MODEL_HASH = "fake0123456789abcdef"
CONFIG_HASH = "fakeconfig000001"
TOP_CLIPS = 3
SEED = 0  # the optimisation seed recorded in the visualizations table


def _reduction(stream: str, layer: str) -> str:
    if stream == "class":
        return "score"
    if "fc" in layer.rsplit("/", 1)[-1]:
        return "value"
    return "channel mean" if stream == "fusion" else "centre neuron"


def _stream(layer: str) -> str:
    prefix = layer.split("/", 1)[0]
    return prefix if prefix in STREAMS else "fusion"


def _kind(layer: str) -> str:
    if layer == "class":
        return "class"
    if "fc" in layer.rsplit("/", 1)[-1]:
        return "fc"
    return "conv3d" if _stream(layer) == "fusion" else "conv2d"


def _pool_frames(
    rng: np.random.Generator, index: int, size: int, fields: int
) -> tuple[np.ndarray, np.ndarray]:
    """One tiny RGB frame (1, H, W, 3) and flow (1, L, H, W, 2) pixels: a coloured blob drifting and turning."""
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32) - (size - 1) / 2
    blob = np.exp(-(xs**2 + ys**2) / (0.08 * size**2))
    colour = rng.uniform(40, 255, size=3)
    rgb = (0.3 * 128 + blob[..., None] * colour[None, None] * 0.7).astype(np.uint8)[None]
    angle = index * 0.9
    flow = np.zeros((1, fields, size, size, 2), np.float32)
    for f in range(fields):
        turn = angle + f * (0.6 / (1 + index))  # faster turning for small chi (index 0)
        flow[0, f, ..., 0] = 6 * blob * np.cos(turn)
        flow[0, f, ..., 1] = 6 * blob * np.sin(turn)
    return rgb, flow


def _write_pool(root: Path, count: int, prefix: str, rng: np.random.Generator) -> list[dict[str, str]]:
    """``count`` real media sets (tiny MP4s + PNG posters) shared by many rows."""
    pool = []
    for index in range(count):
        rgb, flow = _pool_frames(rng, index, size=12, fields=2)
        pool.append(
            write_frame_set(root / "media" / "shared", f"{prefix}{index}", rgb=rgb, flow=flow, root=root)
        )
    return pool


def _link(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        target.unlink()
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def _npz(inputs: dict[str, np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **{f"input_{k}": v.astype(np.float16) for k, v in inputs.items()})
    return buffer.getvalue()


def _media_for(root: Path, shared: dict[str, str], folder: str, stem: str, per_unit: bool) -> dict[str, str]:
    """Media paths of one row: the shared files themselves, or per-unit hard links to them."""
    if not per_unit:
        return dict(shared)
    paths = {}
    for key, relative in shared.items():
        target = f"{folder}/{stem}_{key.removesuffix('_poster')}{Path(relative).suffix}"
        _link(root / relative, root / target)
        paths[key] = target
    return paths


def _fake_overlay(media: dict[str, str], is_class: bool, high: float) -> dict[str, Any]:
    """The overlay columns of a fake clip row: the clip's appearance video stands in for the heat
    map of a unit with positions; a class unit has none."""
    if is_class:
        return {"overlay": None, "overlay_poster": None, "overlay_high": None}
    return {
        "overlay": media.get("appearance", media["composite"]),
        "overlay_poster": media.get("appearance_poster", media["composite_poster"]),
        "overlay_high": high,
    }


def _tuning_grid(rng: np.random.Generator, level: float) -> np.ndarray:
    """A planted tuning grid (directions, speeds): a von Mises bump around a random direction,
    sharper in early layers, times a bump around a random speed, over a baseline."""
    angles = np.radians(directions())
    preferred = rng.uniform(0, 2 * np.pi)
    sharpness = rng.uniform(0.5, 4.0) * (1.5 - level)
    best = rng.integers(len(SPEEDS))
    by_direction = np.exp(sharpness * (np.cos(angles - preferred) - 1))
    by_speed = np.exp(-0.5 * (np.arange(len(SPEEDS)) - best) ** 2)
    return 0.1 + rng.uniform(0.5, 2.0) * by_direction[:, None] * by_speed[None, :]


def _tuning_summary(grid: np.ndarray | None) -> dict[str, float | None]:
    if grid is None:
        return {"preferred_direction": None, "preferred_speed": None, "direction_selectivity": None}
    found = summarise(grid[None], directions(), SPEEDS)
    return {key: float(value[0]) for key, value in found.items()}


def _confusion_matrix(classes: Sequence[str], rng: np.random.Generator, clips: int) -> np.ndarray:
    n = len(classes)
    matrix = np.zeros((n, n), dtype=np.int64)
    for i in range(n):
        wrong = int(rng.integers(0, max(clips // 6, 1) + 1))
        matrix[i, i] = clips - wrong
        for _ in range(wrong):
            matrix[i, int(rng.choice([j for j in range(n) if j != i]))] += 1
    if n >= 2:  # the first two classes are the most confused pair, like BrushingTeeth / ShavingBeard
        matrix[0] = 0
        matrix[1] = 0
        matrix[0, 0], matrix[0, 1] = clips - clips // 3, clips // 3
        matrix[1, 1], matrix[1, 0] = clips - clips // 4, clips // 4
    return matrix


def _class_profile(rng: np.random.Generator, classes: int, preferred: int, selectivity: float) -> np.ndarray:
    """Class means whose selectivity index is ``selectivity`` and whose maximum is ``preferred``."""
    rest = rng.uniform(0.85, 1.15, size=classes)
    rest /= rest[np.arange(classes) != preferred].mean()
    rest[preferred] = (1 + selectivity) / (1 - selectivity)
    return rest * rng.uniform(0.5, 2.0)


def _selectivity(profile: np.ndarray) -> float:
    top = float(profile.max())
    others = (float(profile.sum()) - top) / (len(profile) - 1)
    return (top - others) / (top + others)


def make_fake_atlas(
    out_dir: Path | str,
    layers: Sequence[tuple[str, int]],
    chis: Sequence[float],
    classes: Sequence[str],
    with_media: bool = True,
    seed: int = 0,
    hostile: bool = False,
) -> Path:
    """Write a fake atlas into ``out_dir`` (tables, manifest, media) and return the folder.

    ``layers``: (registry name, units) in depth order; a layer named ``class`` gets one unit per
    class. ``with_media``: every visualization and clip gets its own media files (hard links to a
    few real tiny encodes) and .npz; otherwise all rows share one set of placeholder files.
    ``hostile``: add hostile class names and a hostile layer (see HOSTILE_CLASSES, HOSTILE_LAYER).
    """
    root = Path(out_dir)
    rng = np.random.default_rng(seed)
    classes = list(classes) + (list(HOSTILE_CLASSES) if hostile else [])
    layers = list(layers)
    if hostile:
        layers.insert(max(len(layers) - 1, 0), HOSTILE_LAYER)
    layers = [(name, len(classes) if name == "class" else units) for name, units in layers]
    chis = [float(c) for c in chis]
    n_classes = len(classes)

    vis_pool = _write_pool(root, len(chis), "vis_chi", rng)
    clip_pool = _write_pool(root, 2, "clip", rng)
    shared_npz = "media/shared/placeholder.npz"
    write_bytes(
        root / shared_npz, _npz({"appearance": np.zeros((3, 1, 4, 4)), "motion": np.zeros((4, 1, 4, 4))})
    )

    clips_per_class = 20
    matrix = _confusion_matrix(classes, rng, clips_per_class)
    depth_count = len(layers)
    units_rows: list[dict[str, Any]] = []
    vis_rows: list[dict[str, Any]] = []
    clip_rows: list[dict[str, Any]] = []
    tuning_rows: list[dict[str, Any]] = []
    hist_rows: list[dict[str, Any]] = []
    sample_rows: list[dict[str, Any]] = []
    for depth, (layer, count) in enumerate(layers, start=1):
        stream = _stream(layer)
        level = (depth - 1) / max(depth_count - 1, 1)  # 0 at the input, 1 at the output
        for channel in range(count):
            is_class = layer == "class"
            unit_id = f"class/{classes[channel]}" if is_class else f"{layer}/{channel:04d}"
            dead = (not is_class) and rng.random() < 0.05
            preferred = channel if is_class else int(rng.integers(n_classes))
            target_si = float(np.clip(rng.beta(2 + 6 * level, 6 - 3 * level), 0.12, 0.95))
            profile = np.zeros(n_classes) if dead else _class_profile(rng, n_classes, preferred, target_si)
            invariance = float(np.clip(0.25 + 0.6 * level + rng.normal(0, 0.08), 0.02, 1.0))
            peaks = np.array([invariance ** (abs(i - len(chis) // 2)) for i in range(len(chis))])
            peaks = peaks * rng.uniform(0.7, 1.1)
            folder = f"media/units/{unit_path(unit_id)}"
            unit_vis = []
            for index, chi in enumerate(chis):
                failed = (not dead) and rng.random() < 0.02
                stem = f"chi{chi:g}_seed{SEED}"
                media = {} if failed else _media_for(root, vis_pool[index], folder, stem, with_media)
                array = shared_npz
                if with_media and not failed:
                    array = f"results/{unit_path(unit_id)}/chi{chi:g}_seed{SEED}.npz"
                    noise = rng.normal(0, 20, size=(4, 1, 6, 6))
                    write_bytes(root / array, _npz({"appearance": noise[:3], "motion": noise}))
                activation = float(peaks[index] * (2 + depth))
                row = {
                    "unit_id": unit_id,
                    "view": "joint",
                    "chi": chi,
                    "seed": SEED,
                    "objective": None if failed else -float(peaks[index]) + 0.1,
                    "activation": None if failed else activation,
                    "normalised_activation": None if failed else float(peaks[index]),
                    "steps": 300,
                    "converged": not failed and rng.random() > 0.1,
                    "wall_seconds": float(rng.uniform(0.5, 2.0)),
                    "status": "failed: objective became NaN" if failed else "ok",
                    "array": None if failed else array,
                    "temporal_variation": None
                    if failed
                    else float(4.0 / (1.0 + chi) * rng.uniform(0.8, 1.2)),
                    **{k: media.get(k) for k in MEDIA_KINDS},
                    "poster": media.get("composite_poster"),
                    **{f"{k}_poster": media.get(f"{k}_poster") for k in PANEL_KINDS},
                }
                vis_rows.append(row)
                unit_vis.append(row)
                if stream in ("fusion", "class"):  # per-stream views, with the joint row's media
                    for view, share in (("appearance_only", 0.4), ("motion_only", 0.7)):
                        scaled = None if failed else activation * share
                        vis_rows.append(
                            {
                                **row,
                                "view": view,
                                "activation": scaled,
                                "normalised_activation": None if failed else float(peaks[index]) * share,
                            }
                        )
            middle = unit_vis[len(unit_vis) // 2]
            # Its own generator, so the other fake numbers stay what they were before tuning existed.
            tuning = _tuning_grid(np.random.default_rng([seed, depth, channel]), level)
            units_rows.append(
                {
                    "unit_id": unit_id,
                    "stream": stream,
                    "layer": layer,
                    "layer_depth": depth,
                    "channel": channel,
                    "class_name": classes[channel] if is_class else None,
                    "selectivity": None if dead else _selectivity(profile),
                    "preferred_class": None if dead else classes[int(profile.argmax())],
                    "invariance_chi": None if dead else float(peaks.min() / peaks.max()),
                    "invariance_speed": None
                    if dead
                    else float(np.clip(invariance + rng.normal(0, 0.1), 0, 1)),
                    "dead": dead,
                    "act_peak": float(2 + depth) if not dead else 0.0,
                    "act_mean": float(profile.mean()),
                    "class_means": profile.astype(np.float32).tolist(),
                    "poster": middle["poster"],
                    "composite": middle["composite"],
                    "rho_reduction": _reduction(stream, layer),
                    "ok_visualizations": sum(r["status"] == "ok" for r in unit_vis),
                    "appearance_chi_change": float(rng.uniform(0.05, 0.3)) if stream == "fusion" else 0.0,
                    **_tuning_summary(None if dead or stream == "appearance" else tuning),
                }
            )
            if tuning is not None and not dead and stream != "appearance":
                tuning_rows.extend(
                    {
                        "unit_id": unit_id,
                        "direction": float(a),
                        "speed": float(v),
                        "response": float(tuning[i, j]),
                    }
                    for i, a in enumerate(directions())
                    for j, v in enumerate(SPEEDS)
                )
            if dead:
                continue
            # Responses of every held-out clip (own generator, as above): histogram and quantile samples.
            responses = np.random.default_rng([seed, depth, channel, 1]).gamma(
                2.0, profile.max() / 4 + 0.01, size=n_classes * clips_per_class
            )
            hist_rows.extend(histogram_bins(unit_id, responses))
            for quantile, clip, value in quantile_samples(responses):
                media = _media_for(
                    root, clip_pool[clip % len(clip_pool)], f"media/clips/test_{clip}", "clip", with_media
                )
                sample_rows.append(
                    {
                        "unit_id": unit_id,
                        "quantile": quantile,
                        "clip_index": clip,
                        "class_name": classes[clip // clips_per_class],
                        "predicted_class": classes[clip // clips_per_class],
                        "activation": value,
                        "composite": media["composite"],
                        "poster": media["composite_poster"],
                    }
                    | _fake_overlay(media, is_class, float(profile.max() * 1.1))
                )
            for rank in range(1, TOP_CLIPS + 1):
                true = preferred if rng.random() < 0.7 else int(rng.integers(n_classes))
                predicted = true if rng.random() < 0.85 else int(rng.integers(n_classes))
                clip_index = int(true * clips_per_class + rng.integers(clips_per_class))
                clip_folder = f"media/clips/{unit_path(unit_id)}"
                media = _media_for(
                    root, clip_pool[rank % len(clip_pool)], clip_folder, f"top{rank}", with_media
                )
                clip_rows.append(
                    {
                        "unit_id": unit_id,
                        "rank": rank,
                        "clip_index": clip_index,
                        "class_name": classes[true],
                        "predicted_class": classes[predicted],
                        "activation": float(profile.max() * (1.2 - 0.1 * rank)),
                        "composite": media["composite"],
                        "poster": media["composite_poster"],
                    }
                    | _fake_overlay(media, is_class, float(profile.max() * 1.1))
                )

    class_rows, confusion_rows = [], []
    for i, name in enumerate(classes):
        wrong = matrix[i].copy()
        wrong[i] = 0
        worst = int(wrong.argmax())
        class_rows.append(
            {
                "class_name": name,
                "class_index": i,
                "accuracy": float(matrix[i, i] / clips_per_class),
                "most_confused_with": classes[worst] if wrong.sum() else None,
                "confusion_rate": float(wrong[worst] / clips_per_class),
                "unit_id": f"class/{name}",
                "clips": clips_per_class,
            }
        )
        for j, other in enumerate(classes):
            if matrix[i, j]:
                confusion_rows.append(
                    {
                        "true_class": name,
                        "predicted_class": other,
                        "count": int(matrix[i, j]),
                        "rate": float(matrix[i, j] / clips_per_class),
                    }
                )

    metadata = {"model_hash": MODEL_HASH, "config_hash": CONFIG_HASH}
    for name, rows in (
        ("units", units_rows),
        ("visualizations", vis_rows),
        ("classes", class_rows),
        ("confusions", confusion_rows),
        ("top_clips", clip_rows),
        ("tuning", tuning_rows),
        ("activation_histograms", hist_rows),
        ("clip_samples", sample_rows),
    ):
        write_table(name, rows, table_path(root, name), metadata)

    cases = _failure_cases(classes, matrix, clips_per_class, clip_pool)
    accuracy = float(np.trace(matrix) / matrix.sum())
    card = {
        "model": "fake two-stream network",
        "parameters": 123456,
        "classes": classes,
        "test_accuracy": accuracy,
        "per_class_accuracy": {c: r["accuracy"] for c, r in zip(classes, class_rows)},
        "most_confused_pairs": [
            c["numbers"] | {"classes": c["classes"]} for c in cases if c["kind"] == "pair"
        ],
        "probes": {c["probe"]: c["numbers"] for c in cases if c["kind"] == "probe"},
        "data": {"world": {"size": 64, "flow_fields": 4}, "clips_per_class": clips_per_class},
    }
    layer_records = [
        {
            "name": name,
            "kind": _kind(name),
            "units": count,
            "depth": depth,
            "stride": 2 ** min(depth - 1, 4) if _kind(name) in ("conv2d", "conv3d") else 1,
            "receptive_field": 3 + 4 * depth,
            "input_size": 64,
            "streams": ["appearance", "motion"]
            if _stream(name) in ("fusion", "head", "class")
            else [_stream(name)],
        }
        for depth, (name, count) in enumerate(layers, start=1)
    ]
    manifest = make_manifest(
        model={"name": "fake_fusion", "hash": MODEL_HASH, "card": card},
        config={"visualize": {"chi": chis, "seeds": [SEED], "steps": 300}, "site": {"top_clips": TOP_CLIPS}},
        config_hash=CONFIG_HASH,
        layers=layer_records,
        chis=chis,
        counts={
            "units": len(units_rows),
            "visualizations": len(vis_rows),
            "failed": sum(r["status"].startswith("failed") for r in vis_rows),
            "weak": sum(r["status"] == "weak" for r in vis_rows),
            "classes": len(classes),
        },
        failure_cases=cases,
    )
    write_manifest(manifest_path(root), manifest)
    write_table_set(root)
    return root


def _failure_cases(
    classes: Sequence[str], matrix: np.ndarray, clips: int, pool: Sequence[dict[str, str]]
) -> list[dict[str, Any]]:
    """The two most confused pairs and one bias probe, in the manifest's failure-case format."""
    n = len(classes)
    pairs = sorted(
        ((matrix[i, j] + matrix[j, i], i, j) for i in range(n) for j in range(i + 1, n)), key=lambda t: -t[0]
    )
    cases: list[dict[str, Any]] = []
    for _, i, j in pairs[:2]:
        a, b = classes[i], classes[j]
        misclassified = [
            {
                "clip_index": i * clips + k,
                "true_class": a,
                "predicted_class": b,
                "composite": pool[k % len(pool)]["composite"],
                "poster": pool[k % len(pool)]["composite_poster"],
            }
            for k in range(min(int(matrix[i, j]), 2))
        ]
        cases.append(
            {
                "slug": failure_slug([a, b]),
                "kind": "pair",
                "title": f"{a} vs {b}",
                "classes": [a, b],
                "numbers": {
                    "rate": float((matrix[i, j] + matrix[j, i]) / (2 * clips)),
                    "a_as_b": float(matrix[i, j] / clips),
                    "b_as_a": float(matrix[j, i] / clips),
                },
                "clips": misclassified,
            }
        )
    if n >= 4:
        a, b = classes[2], classes[3]
        cases.append(
            {
                "slug": failure_slug(["probe", a]),
                "kind": "probe",
                "probe": "fake_bias_probe",
                "title": f"Bias probe: {a} clips with a cue of {b}",
                "classes": [a, b],
                "description": f"{a} clips rendered with the cue that only {b} clips carry in training.",
                "numbers": {
                    "accuracy": 0.55,
                    "clean_accuracy": 0.9,
                    "accuracy_drop_points": 35.0,
                    "errors_to_b": 0.8,
                },
                "clips": [
                    {
                        "clip_index": 2 * clips,
                        "true_class": a,
                        "predicted_class": b,
                        "composite": pool[0]["composite"],
                        "poster": pool[0]["composite_poster"],
                    }
                ],
            }
        )
    return cases
