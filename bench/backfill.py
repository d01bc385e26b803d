"""Backfill: a user's history from landing files to a champion and predictions. `ml-assets run`
(ranges of days in one run, then a run per scored day, all in one process, in the persistent
instance) against the per-day path it replaces: one `dagster asset materialize --select
raw_data,features --partition D` per day, each a fresh process; and the Dagster CLI's own range,
`dagster asset materialize --select raw_data,features,feature_drift --partition-range A...B`
(ingest only, one run).

`ml-assets run` is timed whole, from an empty home with the days landed (the run creates its MLflow
store): ingest every day, train on the window ending the last day, score it, build the monitoring
page. The per-day path is timed on a
sample of days and its ingest alone is projected to all the days (median × days): a lower bound,
since it still has to train and score. The three are measured in turn in each round (at most 3
rounds: a whole run takes minutes); each starts from a fresh project.
"""

from __future__ import annotations

import datetime as dt
import statistics
import sys
from pathlib import Path

from bench.project import cell, project, spread, timed_command, verdict

TARGET_SECONDS = 180


def _land(proj, days: int, rows: int) -> list[dt.date]:
    from ml_assets.cli import write_demo_days

    dates = [proj.newest - dt.timedelta(days=days - 1 - i) for i in range(days)]
    with proj.activate():
        write_demo_days(proj.spec, dates, rows)
    return dates


def run(days: int, rows: int, sample_days: int, repeats: int, log=print, **spec_changes) -> dict:
    """`spec_changes`: top-level spec sections replaced (the smoke run uses a short window)."""
    bin_dir = Path(sys.executable).parent
    whole, per_day, ranged = [], [], []
    for i in range(repeats):
        with project("backfill", fresh_mlflow=True, **spec_changes) as proj:
            _land(proj, days, rows)
            seconds = timed_command([str(bin_dir / "ml-assets"), "run"], proj.subprocess_env())
            whole.append(seconds)
            if not (proj.store / "batch_predictions" / f"{proj.newest}.parquet").exists():
                raise RuntimeError("ml-assets run left no predictions for the last day")
        with project("backfill-per-day", **spec_changes) as proj:
            dates = _land(proj, sample_days, rows)
            for day in dates:
                per_day.append(
                    timed_command(
                        [
                            str(bin_dir / "dagster"),
                            "asset",
                            "materialize",
                            "-m",
                            "ml_assets.definitions",
                            "--select",
                            f"{proj.spec.name}/raw_data,{proj.spec.name}/features",
                            "--partition",
                            day.isoformat(),
                        ],
                        proj.subprocess_env(),
                    )
                )
        with project("backfill-range", **spec_changes) as proj:
            dates = _land(proj, days, rows)
            ranged.append(
                timed_command(
                    [
                        str(bin_dir / "dagster"),
                        "asset",
                        "materialize",
                        "-m",
                        "ml_assets.definitions",
                        "--select",
                        ",".join(f"{proj.spec.name}/{a}" for a in ("raw_data", "features", "feature_drift")),
                        "--partition-range",
                        f"{dates[0]}...{dates[-1]}",
                    ],
                    proj.subprocess_env(),
                )
            )
            if len(proj.instance.get_runs()) != 1 or len(list((proj.store / "features").glob("*.parquet"))) != days:
                raise RuntimeError("the --partition-range run did not write every day in one run")
        log(
            f"  run {i + 1}/{repeats}: ml-assets run {whole[-1]:.1f} s; dagster asset materialize per day "
            f"{statistics.median(per_day[-sample_days:]):.1f} s (median of {sample_days}); --partition-range "
            f"{ranged[-1]:.1f} s"
        )
    return {
        "days": days,
        "rows": rows,
        "whole": spread(whole),
        "per_day": spread(per_day),
        "ranged": spread(ranged),
        "sample_days": sample_days,
    }


def table(r: dict) -> str:
    whole, per_day = r["whole"], r["per_day"]
    projected = per_day["median"] * r["days"]
    return "\n".join(
        [
            f"| {r['days']} days × {r['rows']:,} rows, landing → champion + predictions | seconds | target ≤ "
            f"{TARGET_SECONDS} s |",
            "|---|---|---|",
            f"| `ml-assets run` (ingest every day, train, score the last day, page) | {cell(whole, '.1f')} | "
            f"{verdict(whole['median'] <= TARGET_SECONDS)} |",
            "| per-day path: one `dagster asset materialize --select raw_data,features` per day | "
            f"{cell(per_day, '.1f')} a day "
            f"({per_day['runs']} days) | |",
            f"| per-day path, ingest alone projected to {r['days']} days (median × days) | ≥ {projected:.0f} | |",
            f"| ratio (projected per-day ingest / `ml-assets run`) | {projected / whole['median']:.1f}× | |",
            f"| `dagster asset materialize --partition-range` over the {r['days']} days (ingest only, one run) | "
            f"{cell(r['ranged'], '.1f')} | |",
        ]
    )
