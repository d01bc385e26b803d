"""A day for a hundred models, under the real `dagster-daemon` with the shipped `dagster.yaml`.

N models in one code location (`$ML_ASSETS_DEFS`, one folder each), generated from the demo's
churn data but not alike: three in four are classifiers (the churn label) and one in four a
regressor (the monthly charge, from the other columns, the plan always among them); 500 to 5,000
rows a day; each drops one or two of the demo's features. Each gets a trained champion in process
first (three days of history, a window of three days with one held out). The specs' automation is
as shipped (the landing sensor every 30 s, automation every 30 s).

Then one new day lands for all N at once and the daemon runs alone, for at most ten minutes
(twice the target; what is not scored by then is counted as such). Measured from the moment the
last file was written: each model's first `batch_predictions` of that day (median, slowest), runs
launched and how they ended (runs still going when the benchmark stops the daemon, after the last
model's predictions and two more minutes, are counted as cut off, not failed), and per landing run
where its wall time went: queued (created until the daemon launched it), launch (until the run's
start: a new Python process imports Dagster and loads every model's definitions), steps (the start
to the last step's end: the imports paid inside steps, the work, and Dagster's own work around
it), and the end. Peak resident memory of the code server and of the largest run process (or
Celery worker) are sampled from /proc once a second. The daemon's log is searched for `database is
locked` (SQLite under concurrent writers) and for the code server shutting down because the
daemon's heartbeat came late.

Two shapes: the embedded default (SQLite instance, steps in the run's process) and the production
shape on loopback (`--production`: the instance in Postgres with deploy/dagster.yaml and
`ML_ASSETS_EXECUTOR=celery`: training steps are tasks of two `dagster-celery` workers on Redis, a
day's steps run in their run's process).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import yaml

from bench.project import ROOT, demo_spec_data, land_demo_day, restore_env, verdict

DAY = dt.date(2025, 3, 10)  # the new day; the history is the three days before it
HISTORY = [DAY - dt.timedelta(days=i) for i in (3, 2, 1)]
FEATURES = ["tenure_days", "monthly_charges", "support_calls", "last_login_days", "plan", "region", "device"]


def fleet(n: int) -> list[dict]:
    """Each model's name, task, rows a day and features (deterministic in its index)."""
    out = []
    for i in range(n):
        regression = i % 4 == 3
        # A regressor predicts the monthly charge, which the plan sets: it keeps the plan (without
        # it, no model beats the mean and the gate rightly promotes none).
        usable = [f for f in FEATURES if not (regression and f in ("monthly_charges", "plan"))]
        dropped = {usable[i % len(usable)], usable[(i * 3) % len(usable)]} if i % 2 else {usable[i % len(usable)]}
        rows = 500 + (4500 * i) // max(n - 1, 1)
        out.append(
            {
                "name": f"m{i:03d}",
                "task": "regression" if regression else "classification",
                "rows": rows,
                "features": [f for f in usable if f not in dropped] + (["plan"] if regression else []),
            }
        )
    return out


def _spec_data(model: dict) -> dict:
    base = demo_spec_data()
    name = model["name"]
    by_name = {f["name"]: f for f in base["features"]}
    spec = {
        **base,
        "name": name,
        "landing": {**base["landing"], "uri": f"landing/{name}"},
        "partitions": {**base["partitions"], "start_date": HISTORY[0].isoformat(), "end_date": DAY.isoformat()},
        "features": [by_name[f] for f in model["features"]],
        "training": {"window_days": 3, "holdout_days": 1},
        "registry": {**base.get("registry", {}), "model_name": name},
    }
    spec.pop("labels", None)  # no delayed labels here: the day's predictions are what is timed
    if model["task"] == "regression":
        spec["columns"] = {**base["columns"], "label": "monthly_charges"}
        spec["task"] = {"type": "regression"}
        spec["model"] = {
            "candidates": [
                {"name": "ridge", "estimator": "sklearn.linear_model.Ridge", "params": {"alpha": 1.0}},
                {
                    "name": "gradient_boosting",
                    "estimator": "sklearn.ensemble.HistGradientBoostingRegressor",
                    "params": {"max_iter": 100},
                },
            ],
            "metric": "rmse",
        }
    return spec


def write_fleet(root: Path, n: int) -> list[dict]:
    models = fleet(n)
    for model in models:
        folder = root / model["name"]
        folder.mkdir(parents=True)
        (folder / "spec.yaml").write_text(yaml.safe_dump(_spec_data(model), sort_keys=False))
        (folder / "defs.yaml").write_text(
            "type: ml_assets.graph.component.MLPipeline\nattributes:\n  spec_file: spec.yaml\n"
        )
        (folder / "bench.json").write_text(json.dumps(model))
    return models


def setup(defs: Path, part: int = 0, parts: int = 1, chunk: int = 25) -> None:
    """In this process (`python -m bench.day100 setup DEFS PART PARTS`): the history and champion of
    every `parts`-th model from the `part`-th, `chunk` models a run (the code location's global asset
    job, in process). The first model of part 0 goes alone first: it creates the MLflow store."""
    from dagster import AssetKey, DagsterInstance

    from ml_assets.definitions import defs as location
    from ml_assets.graph.automation.jobs import INGEST, TRAINING
    from ml_assets.io.specs import load_spec

    instance = DagsterInstance.get()
    job = location().resolve_implicit_global_asset_job_def()
    mine = [(i, f) for i, f in enumerate(sorted(p for p in defs.iterdir() if p.is_dir())) if i % parts == part]
    for i, folder in mine:
        rows = json.loads((folder / "bench.json").read_text())["rows"]
        for day in HISTORY:
            land_demo_day(load_spec(folder / "spec.yaml"), day, rows, seed=i)
    groups = [mine[:1], *(mine[1 + k : 1 + k + chunk] for k in range(0, len(mine) - 1, chunk))] if mine else []
    for group in groups:
        names = [f.name for _, f in group]
        steps = [(INGEST, d.isoformat()) for d in HISTORY] + [(TRAINING, HISTORY[-1].isoformat())]
        for assets, day in steps:
            keys = [AssetKey([n, a]) for n in names for a in assets]
            result = job.execute_in_process(instance=instance, partition_key=day, asset_selection=keys)
            assert result.success, (names, day)
        print(f"  day100 setup: {len(names)} model(s) trained ({names[0]} ..)", flush=True)


def _setup_all(defs: Path, env: dict, parts: int = 2) -> None:
    """Every model's champion, `parts` processes side by side (one per core). The first creates the
    MLflow store and the instance's tables alone: the others start once it has trained one model."""
    procs: list[subprocess.Popen] = []
    for part in range(parts):
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "bench.day100", "setup", str(defs), str(part), str(parts)],
                cwd=ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
        if part == 0 and parts > 1:
            assert procs[0].stdout is not None
            procs[0].stdout.readline()
    for proc in procs:
        _, err = proc.communicate()
        if proc.returncode != 0:
            raise RuntimeError(f"day100 setup failed:\n{err[-4000:]}")


class _Memory:
    """Peak resident memory (VmHWM) of the code server and of the run processes, sampled from /proc."""

    def __init__(self):
        self.code_server = 0
        self.run = 0

    def sample(self) -> None:
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                status = (proc / "status").read_text()
            except OSError:
                continue
            peak = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM")), 0)
            if "api grpc" in cmd:
                self.code_server = max(self.code_server, peak)
            elif "spawn_main" in cmd or "dagster_celery" in cmd:  # a run's process, or a Celery worker's
                self.run = max(self.run, peak)


def _first_predictions(instance, names: list[str]) -> dict[str, float]:
    from dagster import AssetKey, AssetRecordsFilter

    out = {}
    for name in names:
        f = AssetRecordsFilter(asset_key=AssetKey([name, "batch_predictions"]), asset_partitions=[DAY.isoformat()])
        records = instance.fetch_materializations(f, limit=1, ascending=True).records
        if records:
            out[name] = records[0].timestamp
    return out


def _run_split(instance, run) -> dict:
    """Seconds of one run: queued (created until the daemon launched it), launch (until the run's
    start: a new Python process imports Dagster and loads the definitions), steps (the start to the
    last step's end: imports paid inside steps, the work, and Dagster's own work around it), end."""
    from dagster import DagsterEventType as E

    kinds = {E.RUN_STARTING, E.RUN_START, E.STEP_SUCCESS, E.STEP_FAILURE, E.RUN_SUCCESS, E.RUN_FAILURE}
    at: dict[str, list[float]] = {}
    for e in instance.all_logs(run.run_id, of_type=kinds):
        at.setdefault(e.dagster_event.event_type_value, []).append(e.timestamp)
    created = instance.get_run_record_by_id(run.run_id).create_timestamp.timestamp()
    launched = min(at.get(E.RUN_STARTING.value, [created]))
    started = min(at.get(E.RUN_START.value, [launched]))
    steps_end = max(at.get(E.STEP_SUCCESS.value, []) + at.get(E.STEP_FAILURE.value, []), default=started)
    ended = max(at.get(E.RUN_SUCCESS.value, []) + at.get(E.RUN_FAILURE.value, []), default=steps_end)
    return {
        "queued": launched - created,
        "launch": started - launched,
        "steps": steps_end - started,
        "end": ended - steps_end,
    }


def _failure(instance, run) -> str:
    """The first error a failed run logged (its step's or the run's), cut to one line."""
    from dagster import DagsterEventType as E

    for e in instance.all_logs(run.run_id, of_type={E.STEP_FAILURE, E.RUN_FAILURE, E.ENGINE_EVENT}):
        data = e.dagster_event.event_specific_data if e.dagster_event else None
        error = getattr(data, "error", None)
        if error is not None:
            return f"{error.cls_name}: {error.message.splitlines()[0][:200]}"
    return "no error recorded"


def _stop_group(leader: subprocess.Popen) -> None:
    """Stop the process group this benchmark started `leader` in: SIGTERM, then SIGKILL for whatever
    is left once the leader has ended (a code server the daemon started while it was stopping
    outlived it once, loading all 100 models beside the next measurement)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(leader.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        leader.wait(30)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(leader.pid, signal.SIGKILL)
    leader.wait()


EMBEDDED, PRODUCTION = "SQLite, in-process steps", "Postgres, in-process daily steps, training on Celery (2 workers)"
TOPOLOGIES = (EMBEDDED, PRODUCTION)


def _production(tmp: Path, env: dict, log) -> Callable[[], None]:
    """The production shape on loopback: the Dagster instance in a new Postgres database (the
    shipped deploy/dagster.yaml, compute logs left local), the Celery executor on this machine's
    Redis, and two `dagster-celery` workers. Returns what stops them and drops the database."""
    import psycopg2

    db = f"mla_bench_day100_{os.getpid()}"
    admin = psycopg2.connect(dbname="postgres", host="127.0.0.1", port=5432, user="postgres", connect_timeout=5)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{db}"')
    text = (ROOT / "deploy" / "dagster.yaml").read_text()
    (tmp / "dagster" / "dagster.yaml").write_text(
        text[: text.index("compute_logs:")] + text[text.index("run_monitoring:") :]
    )
    broker = f"redis://127.0.0.1:6379/{1 + os.getpid() % 15}"
    bin_dir = Path(sys.executable).parent
    env.update(
        {
            **{
                f"DAGSTER_PG_{k}": v
                for k, v in (("HOST", "127.0.0.1"), ("PORT", "5432"), ("DB", db), ("USER", "postgres"))
            },
            "DAGSTER_PG_PASSWORD": "",
            "DAGSTER_MAX_CONCURRENT_RUNS": "4",
            "ML_ASSETS_EXECUTOR": "celery",
            "ML_ASSETS_CELERY_BROKER": broker,
            "ML_ASSETS_CELERY_BACKEND": broker,
            "PATH": os.pathsep.join([str(bin_dir), env.get("PATH", "")]),
        }
    )
    workers = []
    for i in range(2):
        out = (tmp / f"worker-{i}.log").open("w")
        args = [
            "worker",
            "start",
            "-A",
            "dagster_celery.app",
            "-y",
            str(ROOT / "deploy" / "celery.yaml"),
            "--name",
            f"bench{i}",
        ]
        workers.append(
            subprocess.Popen(
                [str(bin_dir / "dagster-celery"), *args],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
    deadline = time.monotonic() + 120
    while not all(" ready." in (tmp / f"worker-{i}.log").read_text() for i in range(2)):
        if time.monotonic() > deadline or any(w.poll() is not None for w in workers):
            raise RuntimeError(f"celery workers not ready: {(tmp / 'worker-0.log').read_text()[-2000:]}")
        time.sleep(0.5)
    log(f"  two dagster-celery workers ready on {broker}; the instance in Postgres database {db}")

    def stop() -> None:
        for w in workers:
            _stop_group(w)
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        admin.close()

    return stop


def measure(n: int, log=print, timeout: float = 600, topology: str = EMBEDDED) -> dict:
    """The whole benchmark for `n` models in a temporary home, on the embedded default or the
    production shape; returns the figures."""
    from dagster import DagsterInstance, DagsterRunStatus

    tmp = Path(tempfile.mkdtemp(prefix=f"ml-assets-bench-day{n}-"))
    stack = contextlib.ExitStack()
    try:
        defs = tmp / "models"
        models = write_fleet(defs, n)
        names = [m["name"] for m in models]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ML_ASSETS_", "DAGSTER_", "AWS_", "MLFLOW_"))}
        (tmp / "dagster").mkdir()
        shutil.copyfile(ROOT / "dagster.yaml", tmp / "dagster" / "dagster.yaml")
        env.update(
            {"ML_ASSETS_DEFS": str(defs), "ML_ASSETS_HOME": str(tmp / "home"), "DAGSTER_HOME": str(tmp / "dagster")}
        )
        if topology == PRODUCTION:
            stack.callback(_production(tmp, env, log))
        t0 = time.monotonic()
        _setup_all(defs, env)
        log(f"  day{n}: {n} champions trained in {time.monotonic() - t0:.0f} s")
        saved = {k: os.environ.get(k) for k in env if k.startswith(("ML_ASSETS_", "DAGSTER_"))}
        os.environ.update({k: env[k] for k in saved})
        instance = DagsterInstance.get()
        before = {r.run_id for r in instance.get_runs()}
        daemon_log = tmp / "daemon.log"
        with daemon_log.open("w") as out:
            daemon = subprocess.Popen(
                [str(Path(sys.executable).parent / "dagster-daemon"), "run", "-w", str(ROOT / "workspace.yaml")],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        memory = _Memory()
        try:
            time.sleep(5)  # the daemon's first ticks see an empty landing folder
            from ml_assets.io.specs import load_spec

            for i, m in enumerate(models):
                land_demo_day(load_spec(defs / m["name"] / "spec.yaml"), DAY, m["rows"], seed=i)
            landed = time.time()
            deadline = time.monotonic() + timeout
            done: dict[str, float] = {}
            while len(done) < n:
                if daemon.poll() is not None:
                    raise RuntimeError(f"dagster-daemon exited: {daemon_log.read_text()[-3000:]}")
                if time.monotonic() > deadline:  # reported as it stands: how many made it
                    log(f"  day{n}: {len(done)} of {n} models scored after {timeout:.0f} s: stopped there")
                    break
                memory.sample()
                done.update(_first_predictions(instance, [m for m in names if m not in done]))
                time.sleep(2)
            # Let the runs started by then end (automation may ask for more: counted, not awaited).
            end = time.monotonic() + 120
            while time.monotonic() < end and any(
                not r.is_finished for r in instance.get_runs() if r.run_id not in before
            ):
                memory.sample()
                time.sleep(1)
        finally:
            # Runs still going now are stopped with the daemon's process group: not the system's failures.
            cut_off = {r.run_id for r in instance.get_runs() if r.run_id not in before and not r.is_finished}
            _stop_group(daemon)
            restore_env(saved)
        runs = [r for r in instance.get_runs() if r.run_id not in before]
        said = daemon_log.read_text()
        if keep := os.environ.get("ML_ASSETS_BENCH_KEEP_LOGS"):  # a folder to keep the daemon's log in
            Path(keep).mkdir(parents=True, exist_ok=True)
            shutil.copyfile(daemon_log, Path(keep) / f"day{n}-{topology.split(',')[0].lower()}-daemon.log")
        statuses: dict[str, int] = {}
        for r in runs:
            status = "cut off by the benchmark's end" if r.run_id in cut_off else r.status.value
            statuses[status] = statuses.get(status, 0) + 1
        failed = [r for r in runs if r.status == DagsterRunStatus.FAILURE and r.run_id not in cut_off]
        landing = [
            r
            for r in runs
            if r.tags.get("dagster/sensor_name", "").endswith("landing_sensor") and r.status == DagsterRunStatus.SUCCESS
        ]
        splits = [_run_split(instance, r) for r in landing] or [
            dict.fromkeys(("queued", "launch", "steps", "end"), 0.0)
        ]
        latencies = sorted(t - landed for t in done.values()) or [float("inf")]
        result = {
            "topology": topology,
            "models": n,
            "scored": len(done),
            "timeout_s": timeout,
            "median_s": statistics.median(latencies) if len(done) * 2 > n else float("inf"),
            "last_s": latencies[-1] if len(done) == n else float("inf"),
            "locked": said.count("database is locked"),
            "code_server_restarts": said.count("No heartbeat received"),
            "runs": len(runs),
            "statuses": statuses,
            "split": {k: statistics.median(s[k] for s in splits) for k in ("queued", "launch", "steps", "end")},
            "code_server_mib": memory.code_server / 1024,
            "run_mib": memory.run / 1024,
            "failed": [r.job_name for r in failed],
            "why": sorted({_failure(instance, r) for r in failed}),
        }
        log(f"  day{n}: last model scored {result['last_s']:.0f} s after landing; runs {statuses}")
        return result
    finally:
        stack.close()
        shutil.rmtree(tmp, ignore_errors=True)


def _seconds(x: float) -> str:
    return "not all" if x == float("inf") else f"{x:.0f} s"


def table(results: list[dict], target_s: float = 300) -> str:
    lines = [
        "| instance, steps | models | scored (of them) | landing → predictions: median, slowest "
        "| runs launched (how they ended) | per landing run, median s: queued / launch and code load / steps / end "
        "| peak RSS: code server, largest run or worker | `database is locked` in the daemon's log "
        "| code server shut down (no heartbeat) |",
        "|---|---:|---:|---:|---|---|---:|---:|---:|",
    ]
    for r in results:
        s = r["split"]
        ends = ", ".join(f"{k.lower()} {v}" for k, v in sorted(r["statuses"].items()))
        lines.append(
            f"| {r.get('topology', EMBEDDED)} | {r['models']} | {r['scored']} within {r['timeout_s']:.0f} s "
            f"| {_seconds(r['median_s'])}, **{_seconds(r['last_s'])}** | {r['runs']} ({ends}) "
            f"| {s['queued']:.1f} / {s['launch']:.1f} / {s['steps']:.1f} / {s['end']:.1f} "
            f"| {r['code_server_mib']:.0f} MiB, {r['run_mib']:.0f} MiB | {r['locked']} | {r['code_server_restarts']} |"
        )
    lines.append("")
    for r in results:
        lines.append(
            f"- {r.get('topology', EMBEDDED)}: {r['models']} models' predictions within {target_s / 60:.0f} minutes "
            f"of landing, no failed run: {verdict(r['last_s'] <= target_s and not r['failed'])} "
            f"({_seconds(r['last_s'])}"
            + (f"; failed: {', '.join(sorted(set(r['failed'])))}" if r["failed"] else "")
            + ")."
            + "".join(f"\n  - failed run: {why}" for why in r.get("why", []))
        )
    return "\n".join(lines)


if __name__ == "__main__":
    if sys.argv[1:2] == ["setup"]:
        setup(Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
    else:
        topology = PRODUCTION if "--production" in sys.argv else EMBEDDED
        sizes = [int(x) for x in sys.argv[1:] if x.isdigit()] or [100]
        print(json.dumps([measure(n, topology=topology) for n in sizes], indent=2))
