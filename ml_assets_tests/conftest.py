"""Shared fixtures. Tests start what they need and stop only what they started, by process id."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from ml_assets.core.demo_data import generate_day
from ml_assets.core.spec import PipelineSpec, load_spec
from ml_assets.storage import write_landing_file

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SPECS = PROJECT_ROOT / "specs"
VENV_BIN = Path(sys.executable).parent
# `model` always trains on the newest training window, so the tests' data ends on the newest
# complete day (the data for each day is the same whatever the date: it depends on the day only).
LAST_DAY = dt.date.fromisoformat(
    __import__("ml_assets.defs.assets", fromlist=["daily_partitions"])
    .daily_partitions(load_spec(SPECS / "demo.yaml"))
    .get_last_partition_key()
)


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """A fresh $ML_ASSETS_HOME; no S3 or spec settings leak in from the caller's environment."""
    home = tmp_path / "home"
    monkeypatch.setenv("ML_ASSETS_HOME", str(home))
    for var in ("ML_ASSETS_STORAGE", "ML_ASSETS_LANDING", "ML_ASSETS_SPEC", "DAGSTER_HOME", "MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"):
        monkeypatch.delenv(var, raising=False)
    return home


@pytest.fixture
def instance():
    """An ephemeral Dagster instance (in memory), for in-process runs."""
    from dagster import DagsterInstance

    with DagsterInstance.ephemeral() as inst:
        yield inst


def write_spec(tmp_path: Path, base: str = "demo", **overrides) -> tuple[PipelineSpec, Path]:
    """A copy of a shipped spec with some top-level sections replaced/merged; returns (spec, path)."""
    data = yaml.safe_load((SPECS / f"{base}.yaml").read_text())
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    path = tmp_path / f"{base}-{len(list(tmp_path.glob('*.yaml')))}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return load_spec(path), path


def small_demo_spec(tmp_path: Path, **overrides) -> tuple[PipelineSpec, Path]:
    """The demo spec with a short window so the graph runs in seconds."""
    overrides.setdefault("training", {"window_days": 6, "holdout_days": 2})
    # Transient failures retry fast in tests (the shipped default backs off from 10 s).
    overrides.setdefault("automation", {"retries": {"max_retries": 1, "delay_seconds": 0.2}})
    return write_spec(tmp_path, "demo", **overrides)


def day_keys(n: int, last: dt.date = LAST_DAY) -> list[str]:
    return [(last - dt.timedelta(days=n - 1 - i)).isoformat() for i in range(n)]


def land_demo_days(spec: PipelineSpec, days: list[str], rows: int = 300, landing=None) -> None:
    from ml_assets.storage import landing_root

    landing = landing or landing_root(spec)
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


def stop_process(proc: subprocess.Popen) -> None:
    """Stop a process this test session started (by its pid), then reap it."""
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture(scope="session")
def s3_endpoint():
    """A real S3 HTTP endpoint on loopback: moto's server as a separate process."""
    exe = shutil.which("moto_server", path=str(VENV_BIN)) or shutil.which("moto_server")
    if exe is None:
        pytest.skip("moto_server is not installed (the dev dependency group installs it)")
    port = free_port()
    proc = subprocess.Popen([exe, "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
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
