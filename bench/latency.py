"""Landing-to-prediction latency under the real `dagster-daemon`.

A temporary instance gets seven days of history and a champion (in process); then the daemon
runs, and nobody launches anything:

* **new day**: a file lands for a day that had none; the landing sensor's one run takes it
  through raw_data, features and their checks to batch_predictions. Timed from the file's
  write to the day's predictions, one new day after another.
* **identical file**: the last new day's file is written again with the same bytes (new
  modification time); counted: runs launched for that day besides the landing sensor's, and
  materializations below raw_data after the rewrite (both should be 0), and the time the landing
  sensor's run takes to say so.
* **six days at once beside a CPU-bound process**: six 300-row days land together while another
  process spins one core; timed until every day has its features (the daemon test's scenario,
  which timed out after 300 s under load before).
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

from bench.project import land_demo_day

ROOT = Path(__file__).resolve().parent.parent
INTERVAL = 5  # seconds: the daemon's sensor loop runs at most every 5 s, so shorter intervals buy nothing


def _wait(what: str, predicate, daemon, log: Path, timeout: float = 600):
    deadline = time.monotonic() + timeout
    while True:
        if daemon.poll() is not None:
            raise RuntimeError(f"dagster-daemon exited: {log.read_text()[-3000:]}")
        if value := predicate():
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout} s")
        time.sleep(0.25)


def _timeline(instance, model: str, day: dt.date, landed: float, scored: float) -> dict:
    """Where a new day's seconds went: until the landing sensor created the run, until the run
    started (queue, launch, the run process loading), and the run itself."""
    from dagster import RunsFilter

    record = instance.get_run_records(
        RunsFilter(tags={"dagster/partition": day.isoformat(), "dagster/sensor_name": "landing_sensor"}),
        limit=1,
    )[0]
    stats = instance.get_run_stats(record.dagster_run.run_id)
    created = record.create_timestamp.timestamp()
    return {"to_request": created - landed, "to_start": stats.start_time - created, "run": scored - stats.start_time}


def _spin() -> subprocess.Popen:
    """A CPU-bound process beside the daemon: one core busy until it is stopped."""
    # It stops by itself when this process dies (a bench killed by a timeout must not leave it spinning).
    spin = "import os\nparent = os.getppid()\nwhile os.getppid() == parent:\n    for _ in range(10**6): pass"
    return subprocess.Popen([sys.executable, "-c", spin])


def run(repeats: int, rows: int, burst: int = 6, burst_rows: int = 300) -> dict:
    from dagster import AssetKey, AssetRecordsFilter, DagsterInstance, RunsFilter

    from bench.project import demo_spec_data
    from ml_assets.graph.runtime.partitions import daily_partitions
    from ml_assets.io.paths import landing_root
    from ml_assets.io.specs import load_spec
    from ml_assets.runner import run_days

    saved = dict(os.environ)
    tmp = Path(tempfile.mkdtemp(prefix="ml-assets-bench-"))
    daemon = spinner = None
    try:
        data = demo_spec_data()
        data["training"] = {"window_days": 7, "holdout_days": 2}
        data["automation"] = {"landing_sensor_interval_seconds": INTERVAL, "automation_interval_seconds": INTERVAL}
        spec_path = tmp / "spec.yaml"
        spec_path.write_text(yaml.safe_dump(data))
        (tmp / "dagster").mkdir()
        shutil.copyfile(ROOT / "dagster.yaml", tmp / "dagster" / "dagster.yaml")
        os.environ.update(
            {
                "ML_ASSETS_HOME": str(tmp / "home"),
                "DAGSTER_HOME": str(tmp / "dagster"),
                "ML_ASSETS_SPEC": str(spec_path),
            }
        )
        for var in ("ML_ASSETS_STORAGE", "ML_ASSETS_LANDING_ROOT", "MLFLOW_TRACKING_URI"):
            os.environ.pop(var, None)
        spec = load_spec(spec_path)
        newest = dt.date.fromisoformat(daily_partitions(spec).get_last_partition_key())
        days = [newest - dt.timedelta(days=i) for i in range(7 + repeats + burst - 1, -1, -1)]
        history, fresh, together = days[:7], days[7 : 7 + repeats], days[7 + repeats :]
        instance = DagsterInstance.get()
        for day in history:
            land_demo_day(spec, day, rows, seed=7)
        run_days(
            spec,
            str(spec_path),
            [("ingest_job", d.isoformat()) for d in history] + [("training_job", history[-1].isoformat())],
            instance,
        )

        log_path = tmp / "daemon.log"
        daemon = subprocess.Popen(
            [str(Path(sys.executable).parent / "dagster-daemon"), "run", "-w", str(ROOT / "workspace.yaml")],
            cwd=ROOT,
            env=dict(os.environ),
            stdout=log_path.open("wb"),
            stderr=subprocess.STDOUT,
        )
        # Measure from a running daemon: wait for its sensor and automation loops' first heartbeats.
        _wait(
            "the daemon's first heartbeats",
            lambda: {"SENSOR", "ASSET"} <= set(instance.get_daemon_heartbeats()),
            daemon,
            log_path,
            120,
        )

        def latest(asset: str, day: dt.date):
            f = AssetRecordsFilter(asset_key=AssetKey([spec.name, asset]), asset_partitions=[day.isoformat()])
            records = instance.fetch_materializations(f, limit=1).records
            return records[0].timestamp if records else None

        latencies, timeline = [], []
        for i, day in enumerate(fresh):
            landed = time.time()
            land_demo_day(spec, day, rows, seed=100 + i)
            done = _wait(
                f"predictions for {day}",
                lambda d=day, landed=landed: (t := latest("batch_predictions", d)) and t > landed and t,
                daemon,
                log_path,
            )
            latencies.append(done - landed)
            timeline.append(_timeline(instance, spec.name, day, landed, done))
            print(f"  landing -> predictions, new day {i + 1}/{repeats}: {latencies[-1]:.1f} s", flush=True)

        # The same bytes again, once every run so far has ended (realized_quality ends its day's run).
        _wait("every run to end", lambda: all(r.is_finished for r in instance.get_runs()), daemon, log_path)
        day = fresh[-1]
        path = next(Path(str(landing_root(spec) / day.isoformat())).glob("*.csv"))
        content = path.read_bytes()
        rewritten = time.time()
        path.unlink()
        path.write_bytes(content)
        by_sensor = RunsFilter(tags={"dagster/partition": day.isoformat(), "dagster/sensor_name": "landing_sensor"})
        run = _wait(
            "the landing run of the identical file",
            lambda: [
                r.dagster_run
                for r in instance.get_run_records(by_sensor)
                if r.dagster_run.is_finished and r.create_timestamp.timestamp() > rewritten
            ],
            daemon,
            log_path,
        )[0]
        stats = instance.get_run_stats(run.run_id)
        time.sleep(3 * INTERVAL)  # ticks enough for automation to react, if it were going to
        others = [
            r
            for r in instance.get_run_records(RunsFilter(tags={"dagster/partition": day.isoformat()}))
            if r.create_timestamp.timestamp() > rewritten and r.dagster_run.run_id != run.run_id
        ]
        below = sum(
            1
            for a in ("features", "feature_drift", "batch_predictions", "realized_quality")
            if (latest(a, day) or 0) > rewritten
        )
        unchanged = {
            "runs_below": len(others),
            "materialized_below": below,
            "run_seconds": stats.end_time - stats.launch_time,
            "said_why": any("not ingested again" in (e.message or "") for e in instance.all_logs(run.run_id)),
        }
        print(f"  identical file: {unchanged}", flush=True)

        spinner = _spin()
        landed = time.time()
        for day in together:
            land_demo_day(spec, day, burst_rows, seed=300)
        done = _wait(
            "features for every day of the burst",
            lambda: (
                all((latest("features", d) or 0) > landed for d in together)
                and max(latest("features", d) for d in together)
            ),
            daemon,
            log_path,
        )
        burst_seconds = done - landed
        print(f"  {burst} days at once beside a CPU-bound process: {burst_seconds:.1f} s", flush=True)
        return {
            "latencies": latencies,
            "timeline": timeline,
            "interval": INTERVAL,
            "rows": rows,
            "unchanged": unchanged,
            "burst": {"days": burst, "rows": burst_rows, "seconds": burst_seconds},
        }
    finally:
        if spinner is not None and spinner.poll() is None:
            spinner.kill()
            spinner.wait(timeout=60)
        if daemon is not None and daemon.poll() is None:
            daemon.terminate()
            daemon.wait(timeout=60)
        os.environ.clear()
        os.environ.update(saved)
        shutil.rmtree(tmp, ignore_errors=True)


def table(result: dict) -> str:
    from bench.project import verdict

    lat, interval = result["latencies"], f"{result['interval']} s / {result['interval']} s"
    med = statistics.median(lat)
    u, b = result["unchanged"], result["burst"]
    parts = {k: statistics.median(t[k] for t in result["timeline"]) for k in ("to_request", "to_start", "run")}
    return "\n".join(
        [
            "| what | rows in the day | landing sensor / automation interval | measurements | median (s) | min–max (s) "
            "| target |",
            "|---|---:|---:|---:|---:|---:|---|",
            f"| a new day: file written → its predictions (one run) | {result['rows']:,} | {interval} | {len(lat)} | "
            f"{med:.1f} | "
            f"{min(lat):.1f}–{max(lat):.1f} | ≤ 15 s: {verdict(med <= 15)} |",
            f"| {b['days']} days at once beside a CPU-bound process: files written → features for every day | "
            f"{b['rows']:,} | {interval} | 1 | "
            f"{b['seconds']:.1f} | | ≤ 120 s: {verdict(b['seconds'] <= 120)} |",
            "",
            "Where a new day's seconds go (medians): file written → the landing sensor's run created "
            f"{parts['to_request']:.1f} s; "
            "→ the run started (queue, launch, the run process importing and loading the definitions) "
            f"{parts['to_start']:.1f} s; "
            "the run from its start to the day's predictions (raw_data → checks → features → checks → "
            f"batch_predictions) {parts['run']:.1f} s.",
            "",
            f"An identical file written again (same bytes, new modification time): the landing sensor's run took "
            f"{u['run_seconds']:.1f} s and {'said' if u['said_why'] else '**did not say**'} why it stopped at "
            "raw_data; runs launched "
            f"below raw_data afterwards: **{u['runs_below']}**, assets below raw_data materialized again: "
            f"**{u['materialized_below']}** "
            f"(target 0: {verdict(u['runs_below'] == 0 and u['materialized_below'] == 0)}).",
        ]
    )
