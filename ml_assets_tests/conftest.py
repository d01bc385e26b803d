"""Shared fixtures. Tests start what they need and stop only what they started, by process id."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import NamedTuple

import pytest
import yaml

from ml_assets.core.demo_data import generate_day
from ml_assets.core.spec import PipelineSpec
from ml_assets.io.landing import write_landing_file
from ml_assets.io.specs import load_spec, shipped_spec

# No pooled MLflow connections: a SQLite store restored between tests (`trained`) is read afresh
# by a client that is still open (MLflow caches its store per URI for the process's life).
os.environ.setdefault("MLFLOW_SQLALCHEMYSTORE_POOLCLASS", "NullPool")

PROJECT_ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
# The tests' newest day: fixed, so every test sees the same data whatever the date (each day's demo
# data is seeded by its date). The specs that tests write end on it (`partitions.end_date`); a test
# about "today" (a spec without an end date) fixes the clock itself (`frozen_today`).
LAST_DAY = dt.date(2026, 11, 29)


DEMO = "demo_churn"  # the demo spec's name: the prefix of its asset keys and job names


def model_key(asset: str, model: str = DEMO):
    """A model's asset key: `<model>/<asset>`."""
    from dagster import AssetKey

    return AssetKey([model, asset])


def model_job(name: str, model: str = DEMO) -> str:
    """A model's job (or sensor, schedule, op) name: `<model>__<name>`."""
    return f"{model}__{name}"


LEAKING_VARS = (
    "ML_ASSETS_STORAGE",
    "ML_ASSETS_LANDING_ROOT",
    "ML_ASSETS_LABELS_ROOT",
    "ML_ASSETS_SPEC",
    "DAGSTER_HOME",
    "MLFLOW_TRACKING_URI",
    "MLFLOW_REGISTRY_URI",
)


def _use_home(monkeypatch: pytest.MonkeyPatch, home: Path) -> Path:
    monkeypatch.setenv("ML_ASSETS_HOME", str(home))
    for var in LEAKING_VARS:
        monkeypatch.delenv(var, raising=False)
    return home


@pytest.fixture(scope="session")
def _empty_mlflow_store(tmp_path_factory) -> Path:
    """An empty MLflow SQLite store with its schema migrated, made once per worker: creating one
    costs 2-4 s of migrations, paid otherwise by every test that tracks a run."""
    from mlflow.tracking import MlflowClient

    db = tmp_path_factory.getbasetemp() / "empty-mlflow" / "mlflow.db"
    db.parent.mkdir()
    MlflowClient(f"sqlite:///{db}").search_experiments()
    return db


@pytest.fixture
def home(tmp_path, monkeypatch, _empty_mlflow_store) -> Path:
    """A fresh $ML_ASSETS_HOME; no S3 or spec settings leak in from the caller's environment. Its
    MLflow store starts as a copy of the pre-migrated empty one (the path ml-assets would create)."""
    return _with_mlflow_store(_use_home(monkeypatch, tmp_path / "home"), _empty_mlflow_store)


def _with_mlflow_store(home: Path, empty_store: Path) -> Path:
    (home / "mlflow").mkdir(parents=True)
    shutil.copyfile(empty_store, home / "mlflow" / "mlflow.db")
    return home


class Trained(NamedTuple):
    spec: PipelineSpec
    path: Path
    days: list[str]
    instance: object  # a DagsterInstance on SQLite, beside the store


TRAINED_DAYS = 6


@pytest.fixture(scope="session")
def _trained_project(tmp_path_factory, _empty_mlflow_store) -> tuple[Path, Path]:
    """Built once per worker: 6 demo days ingested, a model trained and promoted, the newest day
    scored, in a SQLite Dagster instance and MLflow store at a fixed path (MLflow records absolute
    artifact paths). Returns (that path, a copy of it to restore from)."""
    from dagster import DagsterInstance

    from ml_assets.runner import run_days

    live = tmp_path_factory.getbasetemp() / "trained"
    template = tmp_path_factory.getbasetemp() / "trained-template"
    (live / "dagster").mkdir(parents=True)
    with pytest.MonkeyPatch.context() as mp:
        _with_mlflow_store(_use_home(mp, live / "home"), _empty_mlflow_store)
        spec, path = small_demo_spec(live)
        days = day_keys(TRAINED_DAYS)
        land_demo_days(spec, days)
        with DagsterInstance.local_temp(str(live / "dagster")) as inst:
            run_days(spec, str(path), graph_steps(days), inst)
    shutil.copytree(live, template, symlinks=True)
    return live, template


@pytest.fixture
def trained(_trained_project, monkeypatch):
    """A store with 6 good days ingested, a model (v1, champion) and the newest day's predictions,
    restored fresh for each test (it may change anything). Yields (spec, path, days, instance)."""
    from dagster import DagsterInstance

    live, template = _trained_project
    shutil.rmtree(live)
    shutil.copytree(template, live, symlinks=True)
    _use_home(monkeypatch, live / "home")
    path = next(live.glob("*.yaml"))
    with DagsterInstance.local_temp(str(live / "dagster")) as inst:
        yield Trained(load_spec(path), path, day_keys(TRAINED_DAYS), inst)


@pytest.fixture
def instance():
    """An ephemeral Dagster instance (in memory), for in-process runs."""
    from dagster import DagsterInstance

    with DagsterInstance.ephemeral() as inst:
        yield inst


def write_spec(tmp_path: Path, base: str = "demo", **overrides) -> tuple[PipelineSpec, Path]:
    """A copy of a shipped spec with some top-level sections replaced/merged; returns (spec, path).
    Its partitions end on LAST_DAY unless the spec or `partitions=` says otherwise (`end_date: None`:
    up to yesterday, for a test about "today")."""
    data = yaml.safe_load((shipped_spec(base)).read_text())
    data["partitions"].setdefault("end_date", LAST_DAY.isoformat())
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    path = tmp_path / f"{base}-{len(list(tmp_path.glob('*.yaml')))}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return load_spec(path), path


@contextlib.contextmanager
def frozen_today(day: dt.date, hour: int = 12):
    """Dagster's clock (partitions, sensors, automation) at `hour` UTC on `day`, in this process."""
    from dagster._core.test_utils import freeze_time

    with freeze_time(dt.datetime.combine(day, dt.time(hour), dt.UTC)):
        yield


@pytest.fixture
def day_after_last_day():
    """For a test about "today": Dagster's clock at noon on the day after LAST_DAY, so a spec without
    an end date has LAST_DAY as its newest complete day."""
    with frozen_today(LAST_DAY + dt.timedelta(days=1)):
        yield


# Candidates of a worse model: well ranked but badly calibrated (class weights push every score toward
# 0.5). Its ROC AUC passes the holdout gate; its per-row loss on live days is far worse than the demo's.
MISCALIBRATED = [
    {
        "name": f"balanced_{int(c * 10)}",
        "estimator": "sklearn.linear_model.LogisticRegression",
        "params": {"C": c, "max_iter": 500, "class_weight": "balanced"},
    }
    for c in (0.5, 1.0)
]


def small_demo_spec(tmp_path: Path, **overrides) -> tuple[PipelineSpec, Path]:
    """The demo spec with a short window so the graph runs in seconds."""
    overrides.setdefault("training", {"window_days": 6, "holdout_days": 2})
    # Transient failures retry fast in tests (the shipped default backs off from 10 s).
    overrides.setdefault("automation", {"retries": {"max_retries": 1, "delay_seconds": 0.2}})
    return write_spec(tmp_path, "demo", **overrides)


def day_keys(n: int, last: dt.date = LAST_DAY) -> list[str]:
    return [(last - dt.timedelta(days=n - 1 - i)).isoformat() for i in range(n)]


def land_demo_days(
    spec: PipelineSpec, days: list[str], rows: int = 300, landing=None, flip_labels_from: str | None = None
) -> None:
    """Demo landing files for `days`; with the spec's `labels` section, also every delayed label file."""
    from ml_assets.cli import write_demo_days

    if landing is None:
        flip = dt.date.fromisoformat(flip_labels_from) if flip_labels_from else None
        write_demo_days(spec, [dt.date.fromisoformat(d) for d in days], rows, flip_labels_from=flip)
        return
    for day in days:
        d = dt.date.fromisoformat(day)
        write_landing_file(landing, d, "events", generate_day(d, rows=rows), spec.landing.format)


def graph_steps(days: list[str]) -> list[tuple[str, str]]:
    return [("ingest_job", d) for d in days] + [("training_job", days[-1]), ("scoring_job", days[-1])]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process {proc.args} exited with {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout} s")


def wait_until(
    what: str, predicate, timeout: float, proc: subprocess.Popen | None = None, log: Path | None = None, interval=0.2
):
    """Poll `predicate()` until it is truthy and return its value. Fails naming `what`, with the
    tail of `log`, on the time-out, or at once when `proc` (a process the test waits on) has exited."""
    deadline = time.monotonic() + timeout
    tail = lambda: log.read_text()[-4000:] if log is not None and log.exists() else ""  # noqa: E731
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        if proc is not None and proc.poll() is not None:
            raise AssertionError(
                f"{Path(str(proc.args[0])).name} exited ({proc.returncode}) while waiting for {what}:\n{tail()}"
            )
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}:\n{tail()}")


def start_daemon(env: dict, log: Path, workspace: Path = PROJECT_ROOT / "workspace.yaml") -> subprocess.Popen:
    """A real `dagster-daemon run` on `workspace` (output appended to `log`)."""
    return subprocess.Popen(
        [str(VENV_BIN / "dagster-daemon"), "run", "-w", str(workspace)],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


class StartedHere(list):
    """Processes a test started, stopped at its teardown (last started, first stopped)."""

    def append(self, proc: subprocess.Popen) -> subprocess.Popen:
        super().append(proc)
        return proc


@pytest.fixture
def started_here():
    """Register each process the test starts (`started_here.append(Popen(...))` returns it); every
    one is stopped by its pid when the test ends, whatever happened."""
    procs = StartedHere()
    yield procs
    for proc in reversed(procs):
        stop_process(proc)


def stop_process(proc: subprocess.Popen, group: bool = False, timeout: float = 10) -> None:
    """Stop a process this test session started (by its pid), then reap it. `group`: also its
    children, when it was started as the leader of a session of its own (start_new_session)."""
    kill = os.killpg if group else os.kill
    if proc.poll() is None:
        kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            kill(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture(scope="session")
def s3_endpoint():
    """A real S3 HTTP endpoint on loopback: moto's server as a separate process."""
    exe = shutil.which("moto_server", path=str(VENV_BIN)) or shutil.which("moto_server")
    if exe is None:
        pytest.skip("moto_server is not installed (the dev dependency group installs it)")
    port = free_port()
    proc = subprocess.Popen(
        [exe, "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_for_port(port, proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_process(proc)


@pytest.fixture
def s3_env(s3_endpoint, monkeypatch):
    """Environment for the project's S3 code: endpoint and (dummy) credentials, as a user sets them."""
    import boto3

    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    client = boto3.client("s3", endpoint_url=s3_endpoint)
    bucket = f"ml-assets-{os.getpid()}-{time.monotonic_ns()}"
    client.create_bucket(Bucket=bucket)
    return client, bucket


def start_logged(
    args: list[str], env: dict, log: Path, port: int | None = None, timeout: float = 60.0
) -> subprocess.Popen:
    """Start a server process (output appended to `log`); wait until it listens on `port`."""
    proc = subprocess.Popen(
        [str(a) for a in args], cwd=PROJECT_ROOT, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT
    )
    if port is not None:
        try:
            wait_for_port(port, proc, timeout=timeout)
        except Exception as exc:
            stop_process(proc)
            raise RuntimeError(f"{args[0]} did not start: {exc}\n{log.read_text()[-3000:]}") from None
    return proc


# The PostgreSQL server of this machine kind (loopback, trust auth); override for another server.
PG = {
    "host": os.environ.get("ML_ASSETS_TEST_PG_HOST", "127.0.0.1"),
    "port": int(os.environ.get("ML_ASSETS_TEST_PG_PORT", "5432")),
    "user": os.environ.get("ML_ASSETS_TEST_PG_USER", "postgres"),
    "password": os.environ.get("ML_ASSETS_TEST_PG_PASSWORD", ""),
}


@pytest.fixture
def postgres_database():
    """Creates empty databases on the PostgreSQL server (`make(name)` -> database name) and drops
    them, and only them, afterwards."""
    import psycopg2

    try:
        admin = psycopg2.connect(dbname="postgres", connect_timeout=5, **PG)
    except psycopg2.OperationalError as exc:
        pytest.skip(f"no PostgreSQL server at {PG['host']}:{PG['port']} as {PG['user']}: {exc}".strip())
    admin.autocommit = True
    made: list[str] = []

    def make(name: str) -> str:
        db = f"mla_test_{name}_{os.getpid()}_{time.monotonic_ns() % 10**9}"
        with admin.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{db}"')
        made.append(db)
        return db

    try:
        yield make
    finally:
        with admin.cursor() as cur:
            for db in made:
                cur.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        admin.close()


def postgres_uri(db: str) -> str:
    auth = PG["user"] + (f":{PG['password']}" if PG["password"] else "")
    return f"postgresql+psycopg2://{auth}@{PG['host']}:{PG['port']}/{db}"


def production_env(tmp_path: Path, dagster_db: str, bucket: str, spec_path: Path) -> dict:
    """The environment of the production topology (see .env.example), on loopback: a
    DAGSTER_HOME holding deploy/dagster.yaml, Postgres, the S3 endpoint of `s3_env`."""
    home = tmp_path / "dagster_home"
    home.mkdir(exist_ok=True)
    shutil.copyfile(PROJECT_ROOT / "deploy" / "dagster.yaml", home / "dagster.yaml")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ML_ASSETS_", "DAGSTER_", "MLFLOW_"))}
    env.update(
        {
            "DAGSTER_HOME": str(home),
            "DAGSTER_PG_HOST": PG["host"],
            "DAGSTER_PG_PORT": str(PG["port"]),
            "DAGSTER_PG_DB": dagster_db,
            "DAGSTER_PG_USER": PG["user"],
            "DAGSTER_PG_PASSWORD": PG["password"],
            "DAGSTER_MAX_CONCURRENT_RUNS": "2",
            "DAGSTER_COMPUTE_LOGS_BUCKET": bucket,
            "ML_ASSETS_HOME": str(tmp_path / "ml_assets_home"),
            "ML_ASSETS_SPEC": str(spec_path),
            "ML_ASSETS_STORAGE": f"s3://{bucket}/storage",
            # Tools that start other tools by name (dagster-celery starts `celery`) find this
            # environment's, whatever PATH the tests were started with.
            "PATH": os.pathsep.join([str(VENV_BIN), env.get("PATH", "")]),
        }
    )
    return env


def start_mlflow_server(backend_uri: str, artifacts: str, port: int, env: dict, log: Path) -> subprocess.Popen:
    """A real `mlflow server` (one worker, no job runner: ~0.5 GB instead of ~2.4 GB)."""
    return start_logged(
        [
            VENV_BIN / "mlflow",
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
            "--backend-store-uri",
            backend_uri,
            "--artifacts-destination",
            artifacts,
        ],
        {**env, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
        log,
        port=port,
        timeout=90,
    )


# The Redis server of this machine kind (loopback); override for another server.
REDIS = os.environ.get("ML_ASSETS_TEST_REDIS_URL", "redis://127.0.0.1:6379")


@pytest.fixture
def redis_db() -> str:
    """The URL of a database of its own on the Redis server (by pid, so no other client's keys
    are touched); skips when no server answers."""
    import redis

    url = f"{REDIS}/{1 + os.getpid() % 15}"
    try:
        redis.Redis.from_url(url, socket_connect_timeout=3).ping()
    except redis.RedisError as exc:
        pytest.skip(f"no Redis server at {REDIS}: {exc}")
    return url


# The slowest tests, longest first, as measured on a 2-core machine (`--durations=25`, seconds).
# Two workers take tests one at a time in this order (`--maxschedchunk 1`), so the longest start
# first and the short ones fill in at the end: the order changes the suite's wall time, never a result.
SLOWEST = {
    "test_production.py::test_full_pipeline_through_the_queue": 195,
    "test_bench.py::test_data_benchmarks_smoke": 180,
    "test_cli.py::test_demo_then_dagster_cli": 160,
    "test_daemon.py::test_landed_file_becomes_predictions": 123,
    "test_fleet.py::test_a_day_of_many_models": 75,
    "test_bench.py::test_checks_and_latency_benchmarks_smoke": 95,
    "test_celery.py::test_full_pipeline_steps_run_on_a_celery_worker": 58,
    "test_bench.py::test_backfill_and_models_benchmarks_smoke": 50,
    "test_init_spec.py::test_init_spec_then_validate_then_run": 45,
    "test_faults.py::test_two_trainings_at_once": 43,
    "test_faults.py::test_runs_killed_at_several_points": 42,
    "test_faults.py::test_a_training_killed_mid_run": 40,
    "test_own_data.py::test_ml_assets_run_trains_on_history": 38,
    "test_rollout.py::test_shadow": 35,
    "test_faults.py::test_an_s3_endpoint_that_stops": 33,
    "test_browser.py::test_ui_lists": 28,
    "test_reproduce.py::test_a_trained_version_is_reproduced": 26,
    "test_mlflow_server.py::test_training_promotion_scoring": 26,
    "test_registry.py::test_gate_promotes_better": 22,
    "test_retention.py::test_retention_deletes": 21,
    "test_own_data.py::test_a_spec_that_breaks_the_contract": 20,
}


def _expected_seconds(item: pytest.Item) -> float:
    name = item.nodeid.rsplit("/", 1)[-1]
    return next((s for prefix, s in SLOWEST.items() if name.startswith(prefix)), 0)


def pytest_collection_modifyitems(config, items: list[pytest.Item]) -> None:
    items.sort(key=_expected_seconds, reverse=True)  # stable: the rest keep their order


def requested(result) -> dict[str, list[str] | str]:
    """What an automation tick requested: {asset name: its partitions, or "all"}."""
    out = {}
    for res in result.results:
        if res.true_subset.size:
            subset = res.true_subset
            out[res.key.path[-1]] = (
                sorted(subset.expensively_compute_partition_keys()) if subset.is_partitioned else "all"
            )
    return out


def materialize(defs, instance, names, day=None):
    """Materialize some of the demo model's assets (by name) in process, for a day."""
    job = defs.resolve_implicit_global_asset_job_def().get_subset(asset_selection={model_key(n) for n in names})
    return job.execute_in_process(partition_key=day, instance=instance, raise_on_error=False)
