"""Incremental cost: the time to process one new day (`scoring_job`: raw_data -> features (+
feature_drift) -> batch_predictions -> realized_quality, with every check) with 30 days of
history vs with 365.

Two projects side by side in this process, each with a champion and its history materialized
day by day through the same job (so the Dagster instance, the asset store and the landing
folder hold that much history). Then new days land, one at a time, alternately in each project;
each is timed from run start to run end (in process, warm imports).
"""

from __future__ import annotations

import datetime as dt
import statistics

from bench.project import SMALL_WINDOW, cell, project, spread, verdict

TARGET = 1.2


def _history(proj, days: int, new_days: int, rows: int, log) -> list[dt.date]:
    """Materialize `days` days of history ending before the last `new_days` days; the new days."""
    proj.train_champion(rows=2_000)
    last = proj.newest
    history = [last - dt.timedelta(days=new_days + i) for i in range(days - 1, -1, -1)]
    for day in history:
        proj.land(day, rows)
    log(f"incremental: materializing {days} days of history")
    proj.run([("scoring_job", d.isoformat()) for d in history])
    return [last - dt.timedelta(days=i) for i in range(new_days - 1, -1, -1)]


def run(histories: tuple[int, int], repeats: int, rows: int, log=print) -> dict:
    short, long = histories
    with (
        project("incremental-short", training=SMALL_WINDOW) as a,
        project("incremental-long", training=SMALL_WINDOW) as b,
    ):
        new_a = _history(a, short, repeats, rows, log)
        new_b = _history(b, long, repeats, rows, log)
        times = {short: [], long: []}
        for i, (da, db) in enumerate(zip(new_a, new_b, strict=True)):
            for proj, day, hist in ((a, da, short), (b, db, long)):
                proj.land(day, rows, seed=100 + i)
                times[hist] += proj.run([("scoring_job", day.isoformat())])
            log(
                f"  new day {i + 1}/{repeats}: {times[short][-1]:.2f} s with {short} days, {times[long][-1]:.2f} s "
                f"with {long} days"
            )
    return {
        "rows": rows,
        "histories": histories,
        short: spread(times[short]),
        long: spread(times[long]),
        "ratio": statistics.median(times[long]) / statistics.median(times[short]),
    }


def table(result: dict) -> str:
    short, long = result["histories"]
    ok = result["ratio"] <= TARGET
    return (
        "| history | rows in the new day | new day, s (median, min–max) | ratio to the shorter history (target ≤ 1.2) "
        "|\n"
        "|---:|---:|---:|---:|\n"
        f"| {short} days | {result['rows']:,} | {cell(result[short])} | 1.00 |\n"
        f"| {long} days | {result['rows']:,} | {cell(result[long])} | {result['ratio']:.2f} {verdict(ok)} |"
    )
