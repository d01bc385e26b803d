"""Training, promotion and scoring through a real `mlflow server` process with its artifacts on the
loopback S3 endpoint; and what a server that is down or refuses a write does to a training run."""

from __future__ import annotations

import pandas as pd
import pytest
from dagster import DagsterInstance

from ml_assets.io.paths import storage_root
from ml_assets.io.registry import CHAMPION, Registry
from ml_assets.runner import JobFailed, run_days
from ml_assets_tests.conftest import (
    day_keys,
    free_port,
    graph_steps,
    land_demo_days,
    small_demo_spec,
    start_mlflow_server,
    stop_process,
)

pytestmark = [pytest.mark.mlflow_server, pytest.mark.s3]
DAYS = day_keys(6)


@pytest.fixture
def server_env(home, s3_env, monkeypatch):
    import os

    client, bucket = s3_env
    # Fail fast instead of MLflow's default of 7 retries with exponential backoff.
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_TRACKING")}
    env["MLFLOW_S3_ENDPOINT_URL"] = os.environ["AWS_ENDPOINT_URL"]
    return client, bucket, env


def test_training_promotion_scoring_through_a_tracking_server(server_env, tmp_path, monkeypatch):
    client, bucket, env = server_env
    port = free_port()
    uri = f"http://127.0.0.1:{port}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    spec, path = small_demo_spec(tmp_path)
    land_demo_days(spec, DAYS)
    backend = tmp_path / "mlflow-backend.db"
    log = tmp_path / "mlflow-server.log"

    server = start_mlflow_server(f"sqlite:///{backend}", f"s3://{bucket}/mlflow", port, env, log)
    try:
        with DagsterInstance.ephemeral() as instance:
            run_days(spec, str(path), graph_steps(DAYS), instance)
        registry = Registry(uri, spec.name, spec.registered_model_name)
        assert registry.alias_version(CHAMPION) == "1"
        preds = pd.read_parquet(storage_root() / spec.name / "batch_predictions" / f"{DAYS[-1]}.parquet")
        assert set(preds["model_version"]) == {"1"}
        keys = [o["Key"] for o in client.list_objects_v2(Bucket=bucket, Prefix="mlflow/").get("Contents", [])]
        assert any(k.endswith("model.skops") for k in keys), keys  # the model's bytes are in S3
        assert any(k.endswith("evaluation_report/report.html") for k in keys)
    finally:
        stop_process(server)

    # Server down: the training run fails with a message naming MLflow; nothing is trained.
    with DagsterInstance.ephemeral() as instance, pytest.raises(JobFailed) as exc:
        run_days(spec, str(path), [("training_job", DAYS[-1])], instance)
    assert f"cannot start tracking, so training does not start: MLflow at {uri}" in str(exc.value)

    # A server that takes metadata but refuses artifact writes (its bucket is gone): clear failure,
    # and the champion is untouched.
    broken = start_mlflow_server(f"sqlite:///{backend}", "s3://no-such-bucket-for-ml-assets/mlflow", port, env, log)
    try:
        with DagsterInstance.ephemeral() as instance, pytest.raises(JobFailed) as exc:
            run_days(spec, str(path), [("training_job", DAYS[-1])], instance)
        assert f"MLflow at {uri}" in str(exc.value) and "failed" in str(exc.value)
        registry = Registry(uri, spec.name, spec.registered_model_name)
        assert registry.alias_version(CHAMPION) == "1"
        assert [v["version"] for v in registry.versions()] == ["1"]
        failed_runs = registry.client.search_runs(
            [registry.experiment_id()], filter_string="attributes.status = 'FAILED'"
        )
        assert len(failed_runs) == 1  # the failure hook ended the broken training's run as FAILED
    finally:
        stop_process(broken)
