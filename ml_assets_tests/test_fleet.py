"""Many models, one landing sensor, under the real `dagster-daemon`: six models' new day lands at
once and becomes two runs (their partitions are alike; at most four models a run here); one model's
files are bad. That model's day fails alone, with its own blocking check, and the alert names it and
only it; the five others' predictions land, each in its own partition, in its run and in the other."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
import yaml
from dagster import AssetKey, AssetRecordsFilter, DagsterInstance, DagsterRunStatus, RunsFilter

from ml_assets.core.demo_data import generate_day
from ml_assets.io.landing import write_landing_file
from ml_assets.io.paths import landing_root
from ml_assets.io.specs import load_spec
from ml_assets_tests.conftest import (
    MISCALIBRATED,
    PROJECT_ROOT,
    land_demo_days,
    start_daemon,
    stop_process,
    wait_until,
)

pytestmark = pytest.mark.daemon
# Fixed days in the past: the same data whatever the date the suite runs on.
HISTORY = ["2024-05-01", "2024-05-02"]
NEW_DAY = "2024-05-03"
MODELS = [f"fleet_{i:02d}" for i in range(6)]
BAD = "fleet_01"
PER_RUN = 4


class _Alerts(BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):  # noqa: N802 (http.server's naming)
        _Alerts.received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def _write_fleet(root, base) -> None:
    for name in MODELS:
        data = {
            **base,
            "name": name,
            "landing": {**base["landing"], "uri": f"landing/{name}"},
            "partitions": {**base["partitions"], "start_date": HISTORY[0], "end_date": NEW_DAY},
            "training": {"window_days": 2, "holdout_days": 1},
            "model": {**base["model"], "candidates": MISCALIBRATED},
            "registry": {"model_name": name, "tolerance": 0.0},
            # Sensors as often as the daemon allows; alerts and automation every 2 s.
            "automation": {
                **base["automation"],
                "landing_sensor_interval_seconds": 2,
                "automation_interval_seconds": 2,
            },
        }
        data.pop("labels", None)
        (root / name).mkdir(parents=True)
        (root / name / "spec.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
        (root / name / "defs.yaml").write_text(
            "type: ml_assets.graph.component.MLPipeline\nattributes:\n  spec_file: spec.yaml\n"
        )


def _keys(*assets: str) -> list[AssetKey]:
    return [AssetKey([m, a]) for m in MODELS for a in assets]


def _scored(instance) -> set[str]:
    out = set()
    for m in MODELS:
        f = AssetRecordsFilter(asset_key=AssetKey([m, "batch_predictions"]), asset_partitions=[NEW_DAY])
        if instance.fetch_materializations(f, limit=1).records:
            out.add(m)
    return out


def test_a_day_of_many_models_is_few_runs_and_a_bad_model_fails_alone(home, tmp_path, monkeypatch):
    root = tmp_path / "models"
    _write_fleet(root, yaml.safe_load((PROJECT_ROOT / "ml_assets/defs/demo/spec.yaml").read_text()))
    dagster_home = tmp_path / "dagster_home"
    dagster_home.mkdir()
    shutil.copyfile(PROJECT_ROOT / "dagster.yaml", dagster_home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(dagster_home))
    monkeypatch.setenv("ML_ASSETS_DEFS", str(root))
    monkeypatch.delenv("ML_ASSETS_SPEC", raising=False)
    specs = {m: load_spec(root / m / "spec.yaml") for m in MODELS}
    for spec in specs.values():
        land_demo_days(spec, HISTORY, rows=300)

    # Every model's history and champion, in process: one run a day for all six, one training run.
    from ml_assets.definitions import defs

    loaded = defs()
    job = loaded.resolve_implicit_global_asset_job_def()
    instance = DagsterInstance.get()
    for day in HISTORY:
        result = job.execute_in_process(
            instance=instance, partition_key=day, asset_selection=_keys("raw_data", "features"), raise_on_error=False
        )
        assert result.success, day
    result = job.execute_in_process(
        instance=instance, partition_key=HISTORY[-1], asset_selection=_keys("training_set", "model")
    )
    assert result.success

    server = HTTPServer(("127.0.0.1", 0), _Alerts)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Alerts.received.clear()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MLFLOW_"))}
    env["ML_ASSETS_ALERT_WEBHOOK"] = f"http://127.0.0.1:{server.server_port}/hook"
    env["ML_ASSETS_MODELS_PER_RUN"] = str(PER_RUN)
    log = tmp_path / "daemon.log"
    daemon = start_daemon(env, log)
    try:
        # The new day lands for all six; the bad model's file has no tenure_days at all.
        for name, spec in specs.items():
            frame = generate_day(dt.date.fromisoformat(NEW_DAY), rows=300)
            if name == BAD:
                frame["tenure_days"] = None
            write_landing_file(landing_root(spec), dt.date.fromisoformat(NEW_DAY), "events", frame, "csv")
        good = set(MODELS) - {BAD}
        wait_until("the good models' predictions", lambda: _scored(instance) >= good, 300, daemon, log, interval=1)
        wait_until(
            "the landing runs to end",
            lambda: all(
                r.is_finished for r in instance.get_runs(RunsFilter(tags={"dagster/sensor_name": "landing_sensor"}))
            ),
            120,
            daemon,
            log,
            interval=1,
        )
        wait_until("the alert", lambda: _Alerts.received, 120, daemon, log, interval=1)
    finally:
        stop_process(daemon)
        server.shutdown()

    # Two runs for the day of all six: their partitions are alike, at most PER_RUN models a run.
    runs = {
        r.tags["ml_assets/models"]: r
        for r in instance.get_runs(RunsFilter(tags={"dagster/sensor_name": "landing_sensor"}))
    }
    assert sorted(runs) == [",".join(MODELS[:PER_RUN]), ",".join(MODELS[PER_RUN:])], runs
    assert {r.tags["dagster/partition"] for r in runs.values()} == {NEW_DAY}
    run, other = runs[",".join(MODELS[:PER_RUN])], runs[",".join(MODELS[PER_RUN:])]
    assert run.status == DagsterRunStatus.FAILURE, "the bad model's failed check fails the run it shares"
    assert other.status == DagsterRunStatus.SUCCESS
    assert _scored(instance) == set(MODELS) - {BAD}, "the bad model's day is not scored; every other one is"
    for m in MODELS:  # each model's day is its own partition of its own assets
        f = AssetRecordsFilter(asset_key=AssetKey([m, "features"]), asset_partitions=[NEW_DAY])
        assert bool(instance.fetch_materializations(f, limit=1).records) == (m != BAD), m
    # Alerts: the bad model by name, with its check's reason; never another model.
    assert {a["pipeline"] for a in _Alerts.received} == {BAD}, _Alerts.received
    alert = next(a for a in _Alerts.received if a["run_id"] == run.run_id)
    assert f"shared with {PER_RUN - 1} other model(s)" in alert["text"] and "tenure_days" in alert["text"], alert[
        "text"
    ]
    assert all(s["step"].startswith(f"{BAD}__") for s in alert["failed_steps"]), alert
