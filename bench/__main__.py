"""Run the benchmarks side by side in one process tree and write BENCHMARKS.md.

uv run python -m bench            # full sizes, 5 runs each (about 45 minutes on 2 cores)
uv run python -m bench --quick    # tiny sizes, 1 run: a smoke run, not a measurement
uv run python -m bench --only scoring,storage   # some of them (the file then holds only those)
uv run python -m bench --only checks --merge    # re-measure some, replacing only their sections
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import time
from pathlib import Path

from bench import (
    backfill,
    checks,
    day100,
    estimates,
    incremental,
    latency,
    models,
    orchestration,
    rollout,
    rollout_flights,
    scoring,
    storage,
    training,
)
from bench.project import LAST_DAY_ENV, SMALL_WINDOW
from ml_assets.io.specs import load_spec, shipped_spec

ROOT = Path(__file__).resolve().parent.parent
NAMES = [
    "scoring",
    "incremental",
    "orchestration",
    "storage",
    "training",
    "checks",
    "latency",
    "backfill",
    "models",
    "rollout",
    "estimates",
    "day100",
]


UNTIMED = {
    "rollout",
    "estimates",
}  # sections that count or measure errors, not time: "medians of N runs" does not apply
ONCE = {"day100"}  # measured once per run of the benchmark (it takes half an hour)


def machine() -> str:
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores, {mem:.0f} GiB memory, Python {platform.python_version()}, {platform.machine()}"


SECTIONS = {
    "scoring": ("1. Batch scoring: the `batch_predictions` step next to the model's own predict", scoring.__doc__),
    "incremental": ("2. Incremental cost: one new day with 30 vs 365 days of history", incremental.__doc__),
    "orchestration": (
        "3. Orchestration overhead: `dagster asset materialize` vs a plain script",
        orchestration.__doc__,
    ),
    "storage": ("4. Storage on S3: the Parquet IO manager vs dagster-aws `S3PickleIOManager`", storage.__doc__),
    "training": ("5. Training: candidates in parallel steps vs one after another", training.__doc__),
    "checks": ("6. Checks: cost per daily partition next to feature computation", checks.__doc__),
    "latency": ("7. Automation: landing-to-prediction latency under the real daemon", latency.__doc__),
    "backfill": (
        "8. Backfill: a history from landing files to a champion, `ml-assets run` vs one run per day",
        backfill.__doc__,
    ),
    "models": ("9. Many models: one code location with 1, 10 and 100 models", models.__doc__),
    "rollout": (
        "10. Live comparison of a challenger: the sequential test's error rates, in simulation and on real flights",
        rollout.__doc__ + "\n" + rollout_flights.__doc__,
    ),
    "estimates": (
        "11. Label-free estimates (CBPE, binned error model) against the labels that landed, on real flights",
        estimates.__doc__,
    ),
    "day100": (
        "12. A day for a hundred models: landing to every model's predictions, under the daemon",
        day100.__doc__,
    ),
}


def merged(existing: str, parts: list[str]) -> str:
    """`existing` with each of its "## " sections that `parts` measured again replaced, in place."""
    head, *sections = existing.split("\n## ")
    new = {p.split("\n", 1)[0].removeprefix("## "): p.removeprefix("## ") for p in parts}
    out = [new.pop(sec.split("\n", 1)[0], sec).rstrip("\n") + "\n" for sec in sections]
    return "\n## ".join([head, *out, *(p.rstrip("\n") + "\n" for p in new.values())])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one run (smoke run)")
    parser.add_argument("--repeats", type=int, default=5, help="runs per measurement (default 5)")
    parser.add_argument("--only", default=",".join(NAMES), help=f"comma-separated, of: {', '.join(NAMES)}")
    parser.add_argument("--output", default=str(ROOT / "BENCHMARKS.md"))
    parser.add_argument(
        "--last-day", help="YYYY-MM-DD: the projects' newest day (default: the newest complete day); same data any date"
    )
    parser.add_argument(
        "--merge",
        action="store_true",
        help="replace only the measured sections in the existing output file, each saying when it was measured",
    )
    args = parser.parse_args(argv)
    only = [n.strip() for n in args.only.split(",") if n.strip()]
    if unknown := sorted(set(only) - set(NAMES)):
        parser.error(f"--only: unknown benchmark(s) {unknown}; choose from {NAMES}")
    if args.last_day:
        os.environ[LAST_DAY_ENV] = dt.date.fromisoformat(args.last_day).isoformat()  # children inherit it
    quick = args.quick
    repeats = 1 if quick else args.repeats
    if repeats < 1:
        parser.error("--repeats must be at least 1")
    spec = load_spec(shipped_spec("demo"))
    runs = {
        "scoring": lambda: scoring.table(scoring.run([2_000] if quick else [1_000, 1_000_000, 10_000_000], repeats)),
        "incremental": lambda: incremental.table(
            incremental.run((2, 3) if quick else (30, 365), repeats, rows=300 if quick else 2_000)
        ),
        "orchestration": lambda: orchestration.table(
            orchestration.run([1_000] if quick else [1_000, 1_000_000], repeats)
        ),
        "storage": lambda: storage.table(storage.run([2_000] if quick else [100_000, 1_000_000], repeats)),
        "training": lambda: training.table(training.run(4 if quick else 30, 300 if quick else 100_000, repeats)),
        "checks": lambda: checks.table(checks.run(spec, [2_000] if quick else [100_000, 1_000_000], repeats)),
        "latency": lambda: latency.table(latency.run(repeats, rows=200 if quick else 2_000, burst=2 if quick else 6)),
        "backfill": lambda: (
            backfill.table(backfill.run(10, 200, 1, 1, training=SMALL_WINDOW))
            if quick
            else backfill.table(backfill.run(90, 1_000, 5, min(repeats, 3)))
        ),
        "models": lambda: models.table(models.run([1, 2] if quick else [1, 10, 100], repeats)),
        "rollout": lambda: (
            rollout.table(rollout.run(50 if quick else 1_000, 1_000), 1_000)
            + "\n\n"
            + rollout_flights.table(rollout_flights.run(every=70 if quick else 7))
        ),
        "day100": lambda: day100.table(
            [day100.measure(4)] if quick else [day100.measure(100, topology=t) for t in day100.TOPOLOGIES]
        ),
        "estimates": lambda: estimates.table(
            estimates.run([2], resampled_days=6, calendar_days=4) if quick else estimates.run(list(range(2, 13)))
        ),
    }
    started = time.monotonic()
    parts = []
    for name in [n for n in NAMES if n in only]:
        print(f"== {name}", flush=True)
        t0 = time.monotonic()
        result = runs[name]()
        title, doc = SECTIONS[name]
        when = (
            (
                f"This section alone: `uv run python -m bench --only {name}{' --quick' if quick else ''}`, "
                f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, {(time.monotonic() - t0) / 60:.0f} min, on "
                f"{machine()}; "
                + (
                    "not timed (counts and errors).\n\n"
                    if name in UNTIMED
                    else "one run (a day of the whole fleet).\n\n"
                    if name in ONCE
                    else f"medians of {repeats} run(s).\n\n"
                )
            )
            if args.merge
            else ""
        )
        parts.append(f"## {title}\n\n{doc.strip()}\n\n{when}{result}\n")
        print(f"{result}\n({name}: {time.monotonic() - t0:.0f} s)\n", flush=True)
        if args.merge and Path(args.output).exists():
            # Section by section: a later benchmark that fails does not lose this one.
            Path(args.output).write_text(merged(Path(args.output).read_text(), parts[-1:]))
            print(f"updated {args.output}: {title}", flush=True)
    if args.merge and Path(args.output).exists():
        return
    text = f"""# Benchmarks

Written by `uv run python -m bench{" --quick" if quick else ""}` on {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC in
{(time.monotonic() - started) / 60:.0f} min; machine: {machine()}.
Every figure is from this one run: medians of {repeats} run(s), min–max in brackets, the compared
cases measured side by side (in turn, in the same run). Targets are stated in the column or line
of their figure; a missed target says **missed**.
{"**Quick smoke run: tiny sizes, one run each: not a measurement.**" if quick else ""}

""" + "\n".join(parts)
    Path(args.output).write_text(text)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
