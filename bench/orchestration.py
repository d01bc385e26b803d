"""Orchestration overhead: the same daily update for one day (raw_data -> features ->
batch_predictions) through `dagster asset materialize` vs the same core functions from a plain
Python script (`bench.plain_daily`), each a fresh process, alternately.

`dagster asset materialize --select raw_data,features,batch_predictions` runs the three assets
and their five checks (the CLI includes a selected asset's checks); the plain script runs the
same checks through the same core functions. The fixed per-run cost is the difference at a tiny
day, where the data work is negligible.

**One tiny day**: `dagster asset materialize --select raw_data,features --partition D` (with their
four checks) for a 200-row day, a fresh process each time, wall clock: what a user or an
ingest run pays for a small day. Target ≤ 6 s.
"""

from __future__ import annotations

import datetime as dt
import statistics
import sys
from pathlib import Path

from bench.project import SMALL_WINDOW, cell, project, spread, timed_command, verdict

TARGET = 1.3
TINY_TARGET = 6.0
TINY_ROWS = 200
ASSETS = ("raw_data", "features", "batch_predictions")


def _dagster_steps(proj) -> set[str]:
    from dagster import DagsterRunStatus, RunsFilter

    runs = proj.instance.get_runs(RunsFilter(statuses=[DagsterRunStatus.SUCCESS]), limit=1)
    return {e.step_key for e in proj.instance.all_logs(runs[0].run_id) if e.step_key}


def run(sizes: list[int], repeats: int, log=print) -> list[dict]:
    out = []
    with project("orchestration", training=SMALL_WINDOW) as proj:
        log("orchestration: training a champion")
        proj.train_champion(rows=2_000)
        day = proj.newest.isoformat()
        select = ",".join(f"{proj.spec.name}/{a}" for a in ASSETS)
        dagster = [
            str(Path(sys.executable).parent / "dagster"),
            "asset",
            "materialize",
            "-m",
            "ml_assets.definitions",
            "--select",
            select,
            "--partition",
            day,
        ]
        plain = [sys.executable, "-m", "bench.plain_daily", day, str(proj.root / "plain")]
        env = proj.subprocess_env()
        tiny_day = proj.newest - dt.timedelta(days=1)
        proj.land(tiny_day, TINY_ROWS)
        tiny = [
            *dagster[:-4],
            "--select",
            ",".join(f"{proj.spec.name}/{a}" for a in ("raw_data", "features")),
            "--partition",
            tiny_day.isoformat(),
        ]
        times = [timed_command(tiny, env) for _ in range(repeats)]
        log(f"  one tiny day ({TINY_ROWS} rows), raw_data+features+checks: {', '.join(f'{t:.2f}' for t in times)} s")
        out.append({"tiny": spread(times), "rows": TINY_ROWS})
        for size in sizes:
            proj.land(proj.newest, size)
            times = {"dagster": [], "plain": []}
            for i in range(repeats):
                times["dagster"].append(timed_command(dagster, env))
                times["plain"].append(timed_command(plain, env))
                log(
                    f"  {size:,} rows, run {i + 1}/{repeats}: dagster asset materialize {times['dagster'][-1]:.2f} s, "
                    f"plain script {times['plain'][-1]:.2f} s"
                )
            steps = _dagster_steps(proj)
            local = {s.removeprefix(f"{proj.spec.name}__") for s in steps}
            if {s.split("_", 1)[0] for s in local} - {"raw", "features", "batch"} or not set(ASSETS) <= local:
                raise RuntimeError(f"dagster asset materialize ran {sorted(steps)}, expected {select} and their checks")
            out.append(
                {
                    "rows": size,
                    "dagster": spread(times["dagster"]),
                    "plain": spread(times["plain"]),
                    "ratio": statistics.median(times["dagster"]) / statistics.median(times["plain"]),
                }
            )
    return out


def table(rows: list[dict]) -> str:
    tiny = next(r for r in rows if "tiny" in r)
    rows = [r for r in rows if "tiny" not in r]
    lines = [
        f"One tiny day ({tiny['rows']} rows): `dagster asset materialize --select raw_data,features` with their "
        "checks, "
        f"a fresh process, wall clock: **{cell(tiny['tiny'])} s** (target ≤ {TINY_TARGET:.0f} s: "
        f"{verdict(tiny['tiny']['median'] <= TINY_TARGET)}).",
        "",
        "| rows in the day | `dagster asset materialize`, s | plain script, s | ratio (target ≤ 1.3 at the largest "
        "size) | difference, s |",
        "|---:|---:|---:|---:|---:|",
    ]
    largest = max(r["rows"] for r in rows)
    for r in rows:
        mark = f" {verdict(r['ratio'] <= TARGET)}" if r["rows"] == largest else ""
        lines.append(
            f"| {r['rows']:,} | {cell(r['dagster'])} | {cell(r['plain'])} | {r['ratio']:.2f}{mark} | "
            f"{r['dagster']['median'] - r['plain']['median']:.2f} |"
        )
    smallest = min(rows, key=lambda r: r["rows"])
    lines.append(
        f"\nFixed per-run cost of going through Dagster (difference at {smallest['rows']:,} rows): "
        f"**{smallest['dagster']['median'] - smallest['plain']['median']:.2f} s**."
    )
    return "\n".join(lines)
