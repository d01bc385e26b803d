"""`dagster-webserver` on the project's workspace shows the automation: sensors (running by
default), schedules (stopped by default: the fallback path), automation conditions and
freshness policies, read back through the webserver's own GraphQL API."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import urllib.request

import pytest

from ml_assets_tests.conftest import PROJECT_ROOT, VENV_BIN, free_port, stop_process, wait_for_port

pytestmark = pytest.mark.webserver

QUERY = """
{ repositoriesOrError { ... on RepositoryConnection { nodes {
    name
    sensors { name sensorState { status } }
    schedules { name cronSchedule executionTimezone scheduleState { status } }
    assetNodes { assetKey { path } automationCondition { label } internalFreshnessPolicy { __typename } }
} } } }
"""


def test_webserver_lists_sensors_schedules_and_automation(home, tmp_path):
    dagster_home = tmp_path / "dagster_home"
    dagster_home.mkdir()
    shutil.copyfile(PROJECT_ROOT / "dagster.yaml", dagster_home / "dagster.yaml")
    env = {**os.environ, "DAGSTER_HOME": str(dagster_home)}
    port = free_port()
    proc = subprocess.Popen(
        [
            str(VENV_BIN / "dagster-webserver"),
            "-w",
            str(PROJECT_ROOT / "workspace.yaml"),
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
        ],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, proc, timeout=90)
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/graphql",
            data=json.dumps({"query": QUERY}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            data = json.load(response)
    finally:
        stop_process(proc)
    (repo,) = data["data"]["repositoriesOrError"]["nodes"]
    sensors = {s["name"]: s["sensorState"]["status"] for s in repo["sensors"]}
    models = ("demo_churn", "breast_cancer", "diabetes")  # every shipped model, in one code location
    expected = {"landing_sensor": "RUNNING"}
    assert sensors == {
        **expected,
        "demo_churn__labels_sensor": "RUNNING",
        "automation_condition_sensor": "RUNNING",
        "run_failure_alert_sensor": "RUNNING",
        "dead_run_sensor": "RUNNING",
    }
    schedules = {
        s["name"]: (s["cronSchedule"], s["executionTimezone"], s["scheduleState"]["status"]) for s in repo["schedules"]
    }
    assert {k: v for k, v in schedules.items() if k.startswith("demo_churn__")} == {
        "demo_churn__retraining_schedule": ("0 3 * * 1", "UTC", "STOPPED"),
        "demo_churn__scoring_schedule": ("0 6 * * *", "UTC", "STOPPED"),
        "demo_churn__retention_schedule": ("30 4 * * *", "UTC", "STOPPED"),
    }, "retention is off in the demo spec"
    assert len(schedules) == 3 * len(models)
    assets = {
        "/".join(a["assetKey"]["path"][1:]): a for a in repo["assetNodes"] if a["assetKey"]["path"][0] == "demo_churn"
    }
    conditions = {k: (a["automationCondition"] or {}).get("label") for k, a in assets.items()}
    assert conditions["raw_data"] is None
    assert conditions["features"] == "day updated, checks passed"
    assert conditions["training_set"] == "retrain: cron, drift, quality drop or stale model"
    assert all(
        conditions[k]
        for k in (
            "batch_predictions",
            "model",
            "evaluation_report",
            "monitoring_report",
            "realized_quality",
            "feature_drift",
        )
    )
    assert {k for k, a in assets.items() if a["internalFreshnessPolicy"]} == {"model", "batch_predictions"}
