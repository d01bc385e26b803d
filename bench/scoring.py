"""Batch scoring: the `batch_predictions` step over one day of N rows, next to the limit measured
in the same run: the model's own `predict_proba` over the same rows already in memory.

The step runs alone (`batch_predictions` selected, its checks not), in process, in a fresh child
process per measurement (`bench.scoring_step`), against a trained champion in a local MLflow
store. Its time is Dagster's step time (start to success: champion load, Parquet read, scoring,
Parquet write); its memory is the child's peak RSS. "Fresh" is the step as the first of a new
process (what a run launched for one day pays: importing scikit-learn, skops and MLflow is most of
it at small days); "warm" is the same step again in that process (imports done, the registry open,
the champion cached: the second day of a range, or a worker that stays up). The day's features are one pool of up to 1M
generated rows written as many times as needed (the scoring cost does not depend on duplicates).
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys

from bench.project import ROOT, SMALL_WINDOW, cell, project, spread, timed, verdict

TARGET_RATIO = 0.8
TARGET_RSS = 1.5 * 2**30  # bytes, at the largest size


def _write_day(proj, day: dt.date, rows: int) -> None:
    from upath import UPath

    from ml_assets.io.parquet_parts import write_parquet_parts

    pool = proj.features(day, min(rows, 1_000_000))
    pool = pool.iloc[: min(rows, len(pool))]

    def parts():
        left = rows
        while left > 0:
            part = pool.iloc[: min(left, len(pool))]
            left -= len(part)
            yield part

    write_parquet_parts(UPath(proj.store / "features" / f"{day}.parquet"), parts())


def _bare(proj, day: dt.date) -> float:
    """Seconds of predict_proba (through `predict_scores`) over the day's model inputs, in memory."""
    import pandas as pd

    from ml_assets.core.evaluation import predict_scores
    from ml_assets.core.training import model_inputs
    from ml_assets.io.registry import Registry, default_tracking_uri

    with proj.activate():
        pipeline = Registry(default_tracking_uri(), proj.spec.name, proj.spec.registered_model_name).champion().pipeline
        x = model_inputs(pd.read_parquet(proj.store / "features" / f"{day}.parquet"), proj.spec)
        return timed(lambda: predict_scores(pipeline, x, proj.spec), 1)[0]


def _step(proj, day: dt.date) -> dict:
    proc = subprocess.run(
        [sys.executable, "-m", "bench.scoring_step", day.isoformat()],
        cwd=ROOT,
        env=proj.subprocess_env(),
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"bench.scoring_step failed: {proc.stderr[-3000:]}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    if [s.rsplit("__", 1)[-1] for s in out["steps"]] != ["batch_predictions"]:
        raise RuntimeError(f"expected only the batch_predictions step, ran {out['steps']}")
    return out


def run(sizes: list[int], repeats: int, log=print) -> list[dict]:
    rows_out = []
    with project("scoring", training=SMALL_WINDOW) as proj:
        log("scoring: training a champion")
        proj.train_champion(rows=2_000)
        day = proj.newest
        for size in sizes:
            log(f"scoring: writing {size:,} rows of features")
            _write_day(proj, day, size)
            steps, bare = [], []
            for i in range(repeats):  # side by side: the step, then the bare predict, in turn
                steps.append(_step(proj, day))
                bare.append(_bare(proj, day))
                log(
                    f"  {size:,} rows, run {i + 1}/{repeats}: step {steps[-1]['seconds']:.2f} s, warm "
                    f"{steps[-1]['warm_seconds']:.2f} s "
                    f"(peak RSS {steps[-1]['peak_rss'] / 2**20:,.0f} MiB), bare predict {bare[-1]:.2f} s"
                )
            rows_out.append(
                {
                    "rows": size,
                    "step_rate": spread([size / s["seconds"] for s in steps]),
                    "bare_rate": spread([size / b for b in bare]),
                    "ratio": spread([size / s["seconds"] / (size / b) for s, b in zip(steps, bare, strict=True)]),
                    "warm_rate": spread([size / s["warm_seconds"] for s in steps]),
                    "warm_ratio": spread([b / s["warm_seconds"] for s, b in zip(steps, bare, strict=True)]),
                    "peak_rss": spread([s["peak_rss"] / 2**20 for s in steps]),
                    "rss_before": spread([s["rss_before"] / 2**20 for s in steps]),
                }
            )
    return rows_out


def table(rows: list[dict]) -> str:
    out = [
        "| rows in the day | step, fresh process: rows/s (median, min–max) | bare predict_proba: rows/s | fresh ÷ bare "
        "(target ≥ 0.8) | "
        "step, warm process: rows/s | warm ÷ bare (target ≥ 0.8) | "
        "peak RSS of the step's process, MiB (target < 1,536 at the largest size) | RSS before the run, MiB |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    largest = max(r["rows"] for r in rows)
    for r in rows:
        ratio_cell = f"{cell(r['ratio'])} {verdict(r['ratio']['median'] >= TARGET_RATIO)}"
        rss_ok = r["peak_rss"]["max"] * 2**20 < TARGET_RSS
        rss_cell = cell(r["peak_rss"], ",.0f") + (f" {verdict(rss_ok)}" if r["rows"] == largest else "")
        warm_cell = f"{cell(r['warm_ratio'])} {verdict(r['warm_ratio']['median'] >= TARGET_RATIO)}"
        out.append(
            f"| {r['rows']:,} | {cell(r['step_rate'], ',.0f')} | {cell(r['bare_rate'], ',.0f')} | {ratio_cell} | "
            f"{cell(r['warm_rate'], ',.0f')} | {warm_cell} | {rss_cell} | "
            f"{cell(r['rss_before'], ',.0f')} |"
        )
    return "\n".join(out)
