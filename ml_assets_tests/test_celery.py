"""Scale-out on Celery (dagster-celery's executor): a real `dagster-celery` worker process takes the
steps of the whole graph from the Redis broker on this machine; runs and events are in Postgres,
data in S3, as on several machines."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest
from dagster import DagsterEventType, DagsterInstance

from ml_assets.runner import run_days
from ml_assets_tests.conftest import (
    PROJECT_ROOT,
    VENV_BIN,
    day_keys,
    land_demo_days,
    production_env,
    small_demo_spec,
    stop_process,
)

pytestmark = [pytest.mark.celery, pytest.mark.redis, pytest.mark.postgres, pytest.mark.s3, pytest.mark.cli]
DAYS = day_keys(6)


def _parent(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def _wait_ready(worker: subprocess.Popen, log: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if worker.poll() is not None:
            raise AssertionError(f"celery worker exited ({worker.returncode}):\n{log.read_text()[-3000:]}")
        if " ready." in log.read_text():
            return
        time.sleep(0.5)
    raise AssertionError(f"celery worker not ready after {timeout} s:\n{log.read_text()[-3000:]}")


def test_full_pipeline_steps_run_on_a_celery_worker(postgres_database, s3_env, redis_db, tmp_path, monkeypatch):
    broker = redis_db
    client, bucket = s3_env
    spec, spec_path = small_demo_spec(
        tmp_path,
        landing={"uri": f"s3://{bucket}/landing/demo_churn", "format": "csv"},
        automation={"enabled": False, "retries": {"max_retries": 1, "delay_seconds": 0.2}},
    )
    env = production_env(tmp_path, postgres_database("dagster"), bucket, spec_path)
    env.update(
        {
            "ML_ASSETS_EXECUTOR": "celery",
            "ML_ASSETS_CELERY_BROKER": broker,
            "ML_ASSETS_CELERY_BACKEND": broker,
            # A file store every worker on this machine reaches (an MLflow server across machines).
            "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
        }
    )
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    land_demo_days(spec, DAYS)
    instance = DagsterInstance.get()
    # The window's earlier days, in process (the executor setting does not apply there).
    run_days(spec, str(spec_path), [("ingest_job", d) for d in DAYS[:-1]], instance)

    log = tmp_path / "celery-worker.log"
    worker = subprocess.Popen(
        [
            str(VENV_BIN / "dagster-celery"),
            "worker",
            "start",
            "-A",
            "dagster_celery.app",
            "-y",
            str(PROJECT_ROOT / "deploy" / "celery.yaml"),
            "--name",
            "ml-assets-test",
        ],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        _wait_ready(worker, log)
        proc = subprocess.run(
            [
                str(VENV_BIN / "dagster"),
                "job",
                "execute",
                "-m",
                "ml_assets.definitions",
                "-j",
                "demo_churn__full_pipeline_job",
                "--tags",
                json.dumps({"dagster/partition": DAYS[-1]}),
            ],
            cwd=PROJECT_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert proc.returncode == 0, f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}\nworker:\n{log.read_text()[-3000:]}"

        run = instance.get_runs(limit=1)[0]
        assert run.job_name == "demo_churn__full_pipeline_job" and run.is_success
        starts = [r.dagster_event for r in instance.all_logs(run.run_id, of_type={DagsterEventType.STEP_START})]
        delegated = [
            r
            for r in instance.all_logs(run.run_id, of_type={DagsterEventType.ENGINE_EVENT})
            if "in celery worker" in r.message
        ]
        steps = {e.step_key for e in starts}
        assert {
            f"demo_churn__{s}"
            for s in (
                "raw_data",
                "features",
                "model.demo_churn__train_logistic_regression",
                "model.demo_churn__train_gradient_boosting",
                "batch_predictions",
            )
        } <= steps
        # Every step was handed to Celery, and ran in a process of the worker this test started:
        # its pool processes are children of the `celery worker` that `dagster-celery` started.
        assert {r.step_key for r in delegated} == steps
        assert {r.dagster_event.engine_event_data.metadata["Celery worker"].value for r in delegated} == {
            f"ml-assets-test@{os.uname().nodename}"
        }
        celery_main = {_parent(e.pid) for e in starts}
        assert len(celery_main) == 1 and _parent(celery_main.pop()) == worker.pid
        assert os.getpid() not in {e.pid for e in starts}

        key = f"storage/{spec.name}/batch_predictions/{DAYS[-1]}.parquet"
        assert client.head_object(Bucket=bucket, Key=key)["ContentLength"] > 0
    finally:
        # `dagster-celery worker start` runs `celery worker` as its child, in the session started
        # for it here: stop that process group (warm shutdown, then kill).
        stop_process(worker, group=True, timeout=30)
