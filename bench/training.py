"""Training: `training_job` (training_set -> model -> evaluation_report) with the candidates in
parallel steps (the project's executor: a forkserver process pool, one process per step) vs one
after another (the same pool limited to one step at a time), on a window of D days x N rows.

Each run is `dagster job execute` in its own process, alternately; the time is the run's own
(start to end in the Dagster instance), so process start-up is left out of both. The window's
features are written straight to the asset store beforehand.
"""

from __future__ import annotations

import datetime as dt
import statistics
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq

from bench.project import ROOT, cell, project, spread

JOBS = {"parallel steps (training_job)": "training_job", "one step at a time": "training_job_sequential"}


def _run(proj, job: str, day: str) -> float:
    job = job if job.endswith("_sequential") else f"{proj.spec.name}__{job}"
    cmd = [
        str(Path(sys.executable).parent / "dagster"),
        "job",
        "execute",
        "-m",
        "bench.training_defs",
        "-j",
        job,
        "--tags",
        f'{{"dagster/partition": "{day}"}}',
    ]
    proc = subprocess.run(cmd, cwd=ROOT, env=proj.subprocess_env(), capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{job} failed: {proc.stderr[-3000:]}")
    record = proj.instance.get_run_records(limit=1)[0]
    if record.dagster_run.job_name != job or not record.dagster_run.is_success:
        raise RuntimeError(f"{job}: the newest run is {record.dagster_run.job_name} ({record.dagster_run.status})")
    return record.end_time - record.start_time


def run(days: int, rows: int, repeats: int, log=print) -> dict:
    holdout = max(1, days // 4)
    with project("training", training={"window_days": days, "holdout_days": holdout}) as proj:
        log(f"training: writing {days} days x {rows:,} rows of features")
        proj.store_features([proj.newest - dt.timedelta(days=i) for i in range(days - 1, -1, -1)], rows)
        train_rows = sum(pq.ParquetFile(p).metadata.num_rows for p in (proj.store / "features").glob("*.parquet"))
        times = {name: [] for name in JOBS}
        for i in range(repeats):
            for name, job in JOBS.items():
                times[name].append(_run(proj, job, proj.newest.isoformat()))
            log(f"  training run {i + 1}/{repeats}: " + ", ".join(f"{n} {t[-1]:.1f} s" for n, t in times.items()))
    candidates = len(proj.spec.model.candidates)
    par, seq = (statistics.median(times[n]) for n in JOBS)
    return {
        "days": days,
        "rows": rows,
        "window_rows": train_rows,
        "holdout_days": holdout,
        "candidates": candidates,
        "times": {n: spread(t) for n, t in times.items()},
        "speedup": seq / par,
    }


def table(result: dict) -> str:
    lines = ["| window | candidates | training_job | run time, s (median, min–max) |", "|---|---:|---|---:|"]
    window = (
        f"{result['days']} days × {result['rows']:,} rows ({result['window_rows']:,} rows, last "
        f"{result['holdout_days']} days held out)"
    )
    for name, s in result["times"].items():
        lines.append(f"| {window} | {result['candidates']} | {name} | {cell(s, '.1f')} |")
    lines.append(f"\nParallel steps are **{result['speedup']:.2f}×** as fast as one step at a time (ratio of medians).")
    return "\n".join(lines)
