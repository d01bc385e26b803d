"""The production topology of docker-compose.yml, as processes on loopback: Postgres (this machine's
server), the S3 endpoint standing in for MinIO, `mlflow server` on Postgres + S3, a gRPC code
server, `dagster-webserver` and `dagster-daemon` reading deploy/dagster.yaml and
deploy/workspace.yaml. It follows the README's walkthrough: demo files land in S3, the landing
sensor and automation ingest them, `dagster job launch` runs the whole graph for the newest day;
every run goes through the queue."""

from __future__ import annotations

import io
import json
import os
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest
import requests
from dagster import AssetKey

from ml_assets_tests.conftest import (
    DEMO,
    PG,
    PROJECT_ROOT,
    VENV_BIN,
    day_keys,
    free_port,
    model_job,
    postgres_uri,
    production_env,
    small_demo_spec,
    start_logged,
    start_mlflow_server,
    stop_process,
    wait_until,
)

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.s3,
    pytest.mark.mlflow_server,
    pytest.mark.daemon,
    pytest.mark.webserver,
    pytest.mark.cli,
]
# Four days: the shortest window that trains with a held-out day; each day costs a landing run and
# an automation run on this topology.
DAYS = day_keys(4)
WORKSPACE = PROJECT_ROOT / "deploy" / "workspace.yaml"


def _launch(job: str, day: str, env: dict) -> subprocess.Popen:
    return subprocess.Popen(
        [
            str(VENV_BIN / "dagster"),
            "job",
            "launch",
            "-w",
            str(WORKSPACE),
            "-j",
            job,
            "--tags",
            json.dumps({"dagster/partition": day}),
        ],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _launched(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        out, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0, f"{proc.args} exited {proc.returncode}:\n{out[-3000:]}"


def _runs(pg) -> list[tuple[str, str, dict]]:
    """(job, status, tags) of every run, read from Postgres itself."""
    with pg.cursor() as cur:
        cur.execute("SELECT pipeline_name, status, run_body FROM runs ORDER BY create_timestamp")
        return [(job, status, json.loads(body)["tags"]) for job, status, body in cur.fetchall()]


def _wait(what: str, predicate, timeout: float, pg, procs: dict[str, subprocess.Popen], logs: Path):
    """Poll until `predicate()` is truthy; fail at once if a process died or a run failed."""

    def check():
        for name, proc in procs.items():
            if proc.poll() is not None:
                raise AssertionError(
                    f"{name} exited ({proc.returncode}):\n{(logs / f'{name}.log').read_text()[-4000:]}"
                )
        failed = [r for r in _runs(pg) if r[1] in ("FAILURE", "CANCELED")]
        assert not failed, f"runs failed: {failed}\n{(logs / 'daemon.log').read_text()[-3000:]}"
        return predicate()

    return wait_until(f"{what} (runs: {_runs(pg)})", check, timeout, log=logs / "daemon.log", interval=1)


def _materialized(pg, asset: str) -> set[str]:
    """Partitions of `asset` with a materialization in the Postgres event log."""
    with pg.cursor() as cur:
        cur.execute(
            "SELECT DISTINCT partition FROM event_logs WHERE dagster_event_type = 'ASSET_MATERIALIZATION' AND "
            "asset_key = %s",
            (AssetKey([DEMO, asset]).to_string(),),
        )
        return {row[0] for row in cur.fetchall()}


def _settled(pg) -> bool:
    """Every run finished, and none started over two more ticks of the daemon's loop (5 s)."""

    def finished():
        return all(status in ("SUCCESS", "FAILURE", "CANCELED") for _, status, _ in _runs(pg))

    if not finished():
        return False
    before = len(_runs(pg))
    time.sleep(12)
    return finished() and len(_runs(pg)) == before


def _run_spans(pg) -> list[tuple[float, float]]:
    """(start, end) of every run from its RUN_START / RUN_SUCCESS events in the Postgres event log."""
    with pg.cursor() as cur:
        cur.execute(
            "SELECT run_id, dagster_event_type, extract(epoch from timestamp) FROM event_logs "
            "WHERE dagster_event_type IN ('PIPELINE_START', 'PIPELINE_SUCCESS')"
        )
        rows = cur.fetchall()
    start = {r: t for r, kind, t in rows if kind == "PIPELINE_START"}
    end = {r: t for r, kind, t in rows if kind == "PIPELINE_SUCCESS"}
    return [(float(start[r]), float(end[r])) for r in start if r in end]


def test_full_pipeline_through_the_queue_on_the_production_topology(postgres_database, s3_env, tmp_path):
    import psycopg2
    from mlflow import MlflowClient

    client, bucket = s3_env
    dagster_db, mlflow_db = postgres_database("dagster"), postgres_database("mlflow")
    # The shipped spec's automation, with the sensors looking every 2 s instead of 30 s.
    spec, spec_path = small_demo_spec(
        tmp_path,
        landing={"uri": f"s3://{bucket}/landing/demo_churn", "format": "csv"},
        training={"window_days": len(DAYS), "holdout_days": 1},
        automation={
            "landing_sensor_interval_seconds": 2,
            "automation_interval_seconds": 2,
            "retries": {"max_retries": 1, "delay_seconds": 0.2},
        },
    )
    env = production_env(tmp_path, dagster_db, bucket, spec_path)
    mlflow_port, code_port, web_port = free_port(), free_port(), free_port()
    env.update(
        {
            "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{mlflow_port}",
            "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
            "MLFLOW_HTTP_REQUEST_TIMEOUT": "30",
            "MLFLOW_S3_ENDPOINT_URL": os.environ["AWS_ENDPOINT_URL"],
            "DAGSTER_CODE_SERVER_HOST": "127.0.0.1",
            "DAGSTER_CODE_SERVER_PORT": str(code_port),
        }
    )
    logs = tmp_path / "logs"
    logs.mkdir()
    procs: dict[str, subprocess.Popen] = {}
    pg = psycopg2.connect(dbname=dagster_db, **PG)
    pg.autocommit = True
    try:
        # In docker-compose.yml's start order.
        procs["mlflow"] = start_mlflow_server(
            postgres_uri(mlflow_db), f"s3://{bucket}/mlflow", mlflow_port, env, logs / "mlflow.log"
        )
        procs["code-server"] = start_logged(
            [
                VENV_BIN / "dagster",
                "code-server",
                "start",
                "-m",
                "ml_assets.definitions",
                "-h",
                "127.0.0.1",
                "-p",
                str(code_port),
                "--location-name",
                "ml_assets",
            ],
            env,
            logs / "code-server.log",
            port=code_port,
            timeout=120,
        )
        procs["webserver"] = start_logged(
            [VENV_BIN / "dagster-webserver", "-w", WORKSPACE, "-h", "127.0.0.1", "-p", str(web_port)],
            env,
            logs / "webserver.log",
            port=web_port,
            timeout=120,
        )
        procs["daemon"] = start_logged([VENV_BIN / "dagster-daemon", "run", "-w", WORKSPACE], env, logs / "daemon.log")

        # docker-compose.yml's health checks, against the same processes.
        assert requests.get(f"{env['MLFLOW_TRACKING_URI']}/health", timeout=10).ok
        assert requests.get(f"http://127.0.0.1:{web_port}/server_info", timeout=10).ok
        health = subprocess.run(
            [VENV_BIN / "dagster", "api", "grpc-health-check", "-p", str(code_port)],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert health.returncode == 0, health.stdout + health.stderr

        # README: `ml-assets generate` writes demo files into the landing prefix; the landing sensor
        # and automation ingest and check every day with no launch from here.
        generate = subprocess.run(
            [VENV_BIN / "ml-assets", "generate", "--days", str(len(DAYS)), "--rows-per-day", "300"],
            cwd=PROJECT_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert generate.returncode == 0, generate.stderr
        _wait("features of every landed day", lambda: set(DAYS) <= _materialized(pg, "features"), 300, pg, procs, logs)
        # README: then the whole graph for the newest day, with `dagster job launch` (queued).
        _launched([_launch(model_job("full_pipeline_job"), DAYS[-1], env)])
        _wait(
            "the full_pipeline_job run",
            lambda: any(job == model_job("full_pipeline_job") and status == "SUCCESS" for job, status, _ in _runs(pg)),
            400,
            pg,
            procs,
            logs,
        )
        _wait("automation to settle", lambda: _settled(pg), 300, pg, procs, logs)
        runs = _runs(pg)

        # Runs are in Postgres: the landing sensor's, automation's and the one launched here; all
        # went through the queue, and the coordinator's limit held.
        launched_by = {tags.get("dagster/sensor_name", "cli") for _, _, tags in runs}
        assert launched_by == {"landing_sensor", "automation_condition_sensor", "cli"}, runs
        full = [tags for job, _, tags in runs if job == model_job("full_pipeline_job")]
        assert len(full) == 1 and full[0]["ml_assets/trains"] == DEMO and full[0]["dagster/partition"] == DAYS[-1]
        assert {status for _, status, _ in runs} == {"SUCCESS"}
        with pg.cursor() as cur:
            cur.execute("SELECT count(DISTINCT run_id) FROM event_logs WHERE dagster_event_type = 'PIPELINE_ENQUEUED'")
            assert cur.fetchone()[0] == len(runs)
        spans = _run_spans(pg)
        assert len(spans) == len(runs)
        overlap = max(sum(1 for s, e in spans if s <= t < e) for t, _ in spans)
        assert overlap <= 2, f"more runs at once than DAGSTER_MAX_CONCURRENT_RUNS=2: {spans}"

        liveness = subprocess.run(
            [VENV_BIN / "dagster-daemon", "liveness-check"], env=env, capture_output=True, text=True, timeout=60
        )
        assert liveness.returncode == 0, liveness.stdout + liveness.stderr

        # Predictions landed in S3, written by the run worker the code server started.
        body = client.get_object(Bucket=bucket, Key=f"storage/{spec.name}/batch_predictions/{DAYS[-1]}.parquet")[
            "Body"
        ].read()
        preds = pd.read_parquet(io.BytesIO(body))
        assert len(preds) > 0 and preds["model_version"].nunique() == 1

        # The model is in the MLflow server's registry (Postgres), its artifacts in S3.
        mlflow = MlflowClient(tracking_uri=env["MLFLOW_TRACKING_URI"])
        champion = mlflow.get_model_version_by_alias(spec.registered_model_name, "champion")
        versions = {v.version for v in mlflow.search_model_versions(f"name='{spec.registered_model_name}'")}
        assert champion.version in versions and str(preds["model_version"].iloc[0]) in versions
        assert client.list_objects_v2(Bucket=bucket, Prefix="mlflow/")["KeyCount"] > 0

        # Step logs went to S3 (S3ComputeLogManager), and the webserver serves the same runs.
        logs_in_s3 = client.list_objects_v2(Bucket=bucket, Prefix="dagster-compute-logs/")
        assert logs_in_s3["KeyCount"] > 0
        query = "{ runsOrError { ... on Runs { results { jobName status } } } }"
        answer = requests.post(f"http://127.0.0.1:{web_port}/graphql", json={"query": query}, timeout=30).json()
        served = answer["data"]["runsOrError"]["results"]
        assert sorted(r["jobName"] for r in served) == sorted(job for job, _, _ in runs)
        print(
            f"\n{len(runs)} runs: "
            + ", ".join(f"{job}<-{tags.get('dagster/sensor_name', 'cli')}" for job, _, tags in runs)
        )
        assert {r["status"] for r in served} == {"SUCCESS"}
    finally:
        for proc in reversed(list(procs.values())):
            stop_process(proc)
        pg.close()
