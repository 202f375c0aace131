"""The dry-run time estimate against the measured visualization, on the default model and on
the example user model (with channels-last on and off).

    python bench/dry_run_estimate.py [--units 8] [--steps 60] [--workers 2] [--device cpu]
                                     [--save bench/results/dry_run_estimate.txt]

For each case it runs ``make_plan`` (the calibration behind ``atlas build --dry-run``), then
the real optimisation stage of the same selection into an empty folder, and prints the
ratio estimate / measured (within 0.5-2 is the goal). Data statistics are not part of
either time: the stage runs without rho (it only scales the objective).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from engine_common import header  # type: ignore[import-not-found]  # noqa: E402

from generator.config import load_config  # noqa: E402
from generator.pipeline.plan import make_plan  # noqa: E402
from generator.pipeline.select import resolve_device  # noqa: E402
from generator.pipeline.visualize import visualize_stage  # noqa: E402
from generator.zoo import load  # noqa: E402

CASES = (
    ("default model", "default", True),
    ("default model, channels_last=false", "default", False),
    ("example user model", "examples.two_stream:build", True),
    ("example user model, channels_last=false", "examples.two_stream:build", False),
)


def measure(name: str, source: str, channels_last: bool, args: argparse.Namespace, folder: Path) -> str:
    overrides = {
        "model.source": source,
        "max_units_per_layer": args.units,
        "visualize.steps": args.steps,
        "visualize.channels_last": channels_last,
        "visualize.device": args.device,
        "output": str(folder / name.replace(" ", "_").replace(",", "").replace("=", "-")),
    }
    config = load_config(None, overrides)
    clock = time.perf_counter()
    plan, selection = make_plan(config, workers=args.workers)
    calibration = time.perf_counter() - clock
    estimate = plan.estimate_seconds
    assert estimate is not None
    loaded = load(source)
    device = resolve_device(args.device)
    clock = time.perf_counter()
    summary = visualize_stage(
        loaded, config, selection, Path(config.output), device, None, progress=False, workers=args.workers
    )
    measured = time.perf_counter() - clock
    return (
        f"{name}: {plan.rows} rows in {len(plan.layers)} layers, {args.steps} steps, {summary.computed} computed; "
        f"estimate {estimate:.1f} s (calibration took {calibration:.1f} s), measured {measured:.1f} s, "
        f"ratio estimate/measured {estimate / measured:.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=8, help="max_units_per_layer")
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument(
        "--workers", type=int, default=2, help="CPU worker processes, as `atlas build --workers`"
    )
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--cases", default="all", help="comma-separated case numbers (1-based) or all")
    parser.add_argument("--save", type=Path)
    args = parser.parse_args()
    chosen = CASES if args.cases == "all" else [CASES[int(i) - 1] for i in args.cases.split(",")]
    lines = [
        header(resolve_device(args.device)),
        f"workers: {args.workers}, max_units_per_layer: {args.units}",
    ]
    print("\n".join(lines), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        for case in chosen:
            lines.append(measure(*case, args, Path(tmp)))
            print(lines[-1], flush=True)
    if args.save:
        args.save.parent.mkdir(parents=True, exist_ok=True)
        args.save.write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
