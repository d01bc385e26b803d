"""Run the benchmarks side by side in one process and write BENCHMARKS.md.

    uv run python -m bench            # full sizes, 5 runs each (minutes)
    uv run python -m bench --quick    # tiny sizes, 1 run: a smoke run, not a measurement
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
from pathlib import Path

from bench import checks, latency
from ml_assets.core.spec import load_spec

ROOT = Path(__file__).resolve().parent.parent


def machine() -> str:
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores, {mem:.0f} GiB memory, Python {platform.python_version()}, {platform.machine()}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one run (smoke run)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--output", default=str(ROOT / "BENCHMARKS.md"))
    args = parser.parse_args(argv)
    spec = load_spec(ROOT / "specs" / "demo.yaml")
    sizes, repeats = ([2_000], 1) if args.quick else ([100_000, 1_000_000], args.repeats)
    check_rows = checks.run(spec, sizes, repeats)
    print("landing -> predictions under dagster-daemon ...", flush=True)
    landing = latency.run(repeats, rows=200 if args.quick else 2_000)
    text = f"""# Benchmarks

Written by `uv run python -m bench` on {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC; machine: {machine()}.
Medians of {repeats} run(s), min–max beside them, all measured side by side in one process.
{"**Quick smoke run: tiny sizes, not a measurement.**" if args.quick else ""}

## Checks: cost per daily partition next to feature computation

The demo dataset's day (7 features + 2 derived), in memory. The checks run on every partition
materialization (see README, "Data checks").

{checks.table(check_rows)}

## Automation: landing-to-prediction latency under the real daemon

`dagster-daemon` on a temporary SQLite instance with the project's `dagster.yaml` (run queue);
each measurement drops a file for the newest day and waits for that day's `batch_predictions`.
A new day is three queued runs (landing sensor: `raw_data`; automation: `features` +
`feature_drift`; automation: `batch_predictions`), a rewritten day two (`raw_data`; then
`features` and `batch_predictions` together, since that day's checks had passed), with up to
one interval before each run. The new day is measured once per bench run.

{latency.table(landing)}
"""
    Path(args.output).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
