"""Landing-to-prediction latency under the real `dagster-daemon`.

A temporary instance gets six days of history and a champion (in process); then the daemon
runs. The first measurement lands a new day: landing sensor -> raw_data run -> automation ->
features run -> automation -> batch_predictions run (three queued runs). The next ones rewrite
that day's file: raw_data run -> one automation run with features and batch_predictions (the
day's checks passed before, so both are requested on the same tick). Nobody launches anything.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
INTERVAL = 5  # seconds: the daemon's sensor loop runs at most every 5 s, so shorter intervals buy nothing


def _land(spec, day: dt.date, rows: int, seed: int) -> None:
    from ml_assets.core.demo_data import generate_day
    from ml_assets.io.landing import write_landing_file
    from ml_assets.io.paths import landing_root

    write_landing_file(landing_root(spec), day, "events", generate_day(day, rows=rows, seed=seed), spec.landing.format)


def run(repeats: int, rows: int) -> dict:
    from dagster import AssetKey, AssetRecordsFilter, DagsterInstance

    from ml_assets.core.spec import load_spec, shipped_spec
    from ml_assets.graph.context import daily_partitions
    from ml_assets.runner import run_days

    saved = dict(os.environ)
    tmp = Path(tempfile.mkdtemp(prefix="ml-assets-bench-"))
    daemon = None
    try:
        data = yaml.safe_load((shipped_spec("demo")).read_text())
        data["training"] = {"window_days": 7, "holdout_days": 2}
        data["automation"] = {"landing_sensor_interval_seconds": INTERVAL, "automation_interval_seconds": INTERVAL}
        spec_path = tmp / "spec.yaml"
        spec_path.write_text(yaml.safe_dump(data))
        (tmp / "dagster").mkdir()
        shutil.copyfile(ROOT / "dagster.yaml", tmp / "dagster" / "dagster.yaml")
        os.environ.update({"ML_ASSETS_HOME": str(tmp / "home"), "DAGSTER_HOME": str(tmp / "dagster"), "ML_ASSETS_SPEC": str(spec_path)})
        for var in ("ML_ASSETS_STORAGE", "ML_ASSETS_LANDING_ROOT", "MLFLOW_TRACKING_URI"):
            os.environ.pop(var, None)
        spec = load_spec(spec_path)
        newest = dt.date.fromisoformat(daily_partitions(spec).get_last_partition_key())
        history = [newest - dt.timedelta(days=i) for i in range(6, 0, -1)]
        instance = DagsterInstance.get()
        for day in history:
            _land(spec, day, rows, seed=7)
        run_days(spec, str(spec_path), [("ingest_job", d.isoformat()) for d in history] + [("training_job", newest.isoformat())], instance)

        log = (tmp / "daemon.log").open("wb")
        daemon = subprocess.Popen([str(Path(sys.executable).parent / "dagster-daemon"), "run", "-w", str(ROOT / "workspace.yaml")],
                                  cwd=ROOT, env=dict(os.environ), stdout=log, stderr=subprocess.STDOUT)
        # Measure from a running daemon: wait for its sensor and automation loops' first heartbeats.
        deadline = time.monotonic() + 120
        while not {"SENSOR", "ASSET"} <= set(instance.get_daemon_heartbeats()):
            if time.monotonic() > deadline or daemon.poll() is not None:
                raise RuntimeError(f"dagster-daemon did not start: {(tmp / 'daemon.log').read_text()[-3000:]}")
            time.sleep(0.5)
        predictions = AssetRecordsFilter(asset_key=AssetKey([spec.name, "batch_predictions"]), asset_partitions=[newest.isoformat()])
        latencies = []
        for i in range(repeats + 1):  # the new day, then `repeats` rewrites
            landed = time.time()
            _land(spec, newest, rows, seed=100 + i)
            deadline = time.monotonic() + 600
            while True:
                if daemon.poll() is not None:
                    raise RuntimeError(f"dagster-daemon exited: {(tmp / 'daemon.log').read_text()[-3000:]}")
                records = instance.fetch_materializations(predictions, limit=1).records
                if records and records[0].timestamp > landed:
                    latencies.append(records[0].timestamp - landed)
                    break
                if time.monotonic() > deadline:
                    raise TimeoutError("no predictions 600 s after landing")
                time.sleep(0.5)
            print(f"  landing -> predictions {'new day' if i == 0 else f'rewrite {i}/{repeats}'}: {latencies[-1]:.1f} s", flush=True)
        return {"latencies": latencies, "interval": INTERVAL, "rows": rows}
    finally:
        if daemon is not None and daemon.poll() is None:
            daemon.terminate()
            daemon.wait(timeout=60)
        os.environ.clear()
        os.environ.update(saved)
        shutil.rmtree(tmp, ignore_errors=True)


def table(result: dict) -> str:
    first, rest = result["latencies"][0], result["latencies"][1:]
    head = (
        "| file | rows in the day | landing sensor / automation interval | measurements | median (s) | min–max (s) |\n"
        "|---|---:|---:|---:|---:|---:|\n"
    )
    interval = f"{result['interval']} s / {result['interval']} s"
    rows = [f"| a new day (3 runs) | {result['rows']:,} | {interval} | 1 | {first:.1f} | |"]
    if rest:
        rows.append(f"| a rewritten day (2 runs) | {result['rows']:,} | {interval} | {len(rest)} | "
                    f"{statistics.median(rest):.1f} | {min(rest):.1f}–{max(rest):.1f} |")
    return head + "\n".join(rows)
