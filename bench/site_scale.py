"""Site generation at the scale of the paper's model: can one build render every unit?

A fake atlas with the unit count of the VGG-16 two-stream fusion network (2 x 4,224 conv
channels in 13 layers per tower, 512 fusion units, 2 x 4,096 fc units, 101 classes; three
chi values, so 51,759 visualizations) is rendered and built with MkDocs. Media are shared
placeholder files, so the numbers measure the site generator, not video encoding. A
1,000-unit atlas of the same shape is built first, in the same run, as the baseline.

    python bench/site_scale.py                    # print the report
    python bench/site_scale.py --save bench/results/site_scale.txt
    python bench/site_scale.py --scale 0.1        # a tenth of the units, for a quick check
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import resource
import shlex
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from generator.site.build import render_site  # noqa: E402
from generator.site.parallel import site_workers  # noqa: E402
from generator.store.provenance import package_versions  # noqa: E402
from tests.support.site_data import make_fake_atlas  # noqa: E402

VGG16 = [
    ("conv1_1", 64),
    ("conv1_2", 64),
    ("conv2_1", 128),
    ("conv2_2", 128),
    ("conv3_1", 256),
    ("conv3_2", 256),
    ("conv3_3", 256),
    ("conv4_1", 512),
    ("conv4_2", 512),
    ("conv4_3", 512),
    ("conv5_1", 512),
    ("conv5_2", 512),
    ("conv5_3", 512),
]
CHIS = [0.1, 1.0, 10.0]
CLASSES = [f"Class{i:03d}" for i in range(101)]


def paper_layers(scale: float = 1.0) -> list[tuple[str, int]]:
    """The VGG-16 fusion model's layers in depth order, unit counts times ``scale`` (at least 1)."""

    def n(units: int) -> int:
        return max(1, round(units * scale))

    layers = []
    for name, units in VGG16:
        layers += [(f"appearance/{name}", n(units)), (f"motion/{name}", n(units))]
    layers += [("fusion/conv5_fusion", n(512)), ("head/fc6", n(4096)), ("head/fc7", n(4096)), ("class", 0)]
    return layers


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def peak_mb() -> tuple[float, float]:
    """Peak resident memory (MiB) of this process and of its largest finished child (MkDocs)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return own, child


def folder_size(path: Path) -> tuple[int, float]:
    files = [p for p in path.rglob("*") if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files) / 2**20


def build(
    work: Path, name: str, layers: list[tuple[str, int]], classes: list[str], workers: int | None = None
) -> dict:
    """Make a fake atlas and render it; return stage times and sizes."""
    started = time.perf_counter()
    atlas = make_fake_atlas(work / f"{name}_atlas", layers, CHIS, classes, with_media=False, seed=0)
    fake_s = time.perf_counter() - started
    lines: list[str] = []
    started = time.perf_counter()
    site = render_site(
        atlas,
        work / f"{name}_site",
        title="Scale test",
        site_url="https://example.org/atlas/",
        log=lines.append,
        workers=workers,
    )
    total_s = time.perf_counter() - started
    files, mib = folder_size(site)
    units = sum(len(classes) if n == "class" else u for n, u in layers)
    return {
        "units": units,
        "fake_s": fake_s,
        "render_s": total_s,
        "stages": lines,
        "files": files,
        "mib": mib,
    }


def report(name: str, result: dict) -> list[str]:
    out = [f"{name}: {result['units']} units, {result['units'] * len(CHIS)} visualizations"]
    out.append(f"  fake atlas written in {result['fake_s']:.1f} s (not part of the site build)")
    out += [f"  {line}" for line in result["stages"]]
    out.append(
        f"  site build total {result['render_s']:.1f} s "
        f"({1000 * result['render_s'] / result['units']:.1f} ms per unit)"
    )
    out.append(
        f"  output: {result['files']} files, {result['mib']:.0f} MiB (media shared, so nearly all pages)"
    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the paper model's units")
    parser.add_argument("--save", type=Path, help="also write the report to this file")
    parser.add_argument(
        "--keep", type=Path, help="build in this folder and keep it (default: a temporary folder)"
    )
    parser.add_argument(
        "--workers", type=int, help="processes writing pages and files (default: the site's own choice)"
    )
    args = parser.parse_args()

    work = args.keep or Path(tempfile.mkdtemp(prefix="site_scale_"))
    work.mkdir(parents=True, exist_ok=True)
    versions = package_versions()
    lines = [
        "Site generation at the scale of the paper's VGG-16 fusion model",
        f"date: {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}",
        f"device: {cpu_model()}, {len(os.sched_getaffinity(0))} usable cores, "
        f"Python {platform.python_version()}, mkdocs {versions.get('mkdocs')}, "
        f"mkdocs-material {versions.get('mkdocs-material')}",
        f"command: python {' '.join(shlex.quote(a) for a in sys.argv)}",
        f"load average at start (1, 5, 15 min): {', '.join(f'{x:.2f}' for x in os.getloadavg())}",
        f"site writer processes: {site_workers(10_000, args.workers)} (MkDocs runs beside them)",
        "",
    ]
    try:
        paper_units = sum(len(CLASSES) if n == "class" else u for n, u in paper_layers(1.0))
        baseline = build(work, "baseline", paper_layers(1000 / paper_units), CLASSES[:20], args.workers)
        lines += report("baseline", baseline)
        full = build(work, "full", paper_layers(args.scale), CLASSES, args.workers)
        lines += report("paper scale", full)
        own, child = peak_mb()
        unit_ratio = full["units"] / baseline["units"]
        time_ratio = full["render_s"] / baseline["render_s"]
        lines += [
            "",
            f"peak memory: {own:.0f} MiB (generator process), {child:.0f} MiB (MkDocs subprocess)",
            f"ratio paper scale / baseline: {unit_ratio:.1f}x the units took {time_ratio:.1f}x the time "
            f"({'linear or better' if time_ratio <= 1.15 * unit_ratio else 'worse than linear'})",
            f"target <= 180 s: {'met' if full['render_s'] <= 180 else 'NOT met'} ({full['render_s']:.0f} s)",
            f"load average at end (1, 5, 15 min): {', '.join(f'{x:.2f}' for x in os.getloadavg())}",
        ]
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    text = "\n".join(lines) + "\n"
    print(text, end="")
    if args.save:
        args.save.parent.mkdir(parents=True, exist_ok=True)
        args.save.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
