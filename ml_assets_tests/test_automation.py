"""Automation, evaluated in process: the landing sensor and its cursor, the automation conditions
tick by tick, schedules, freshness policies, retries and failure alerts. The daemon itself runs
in test_daemon.py."""

from __future__ import annotations

import datetime as dt
import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from dagster import (
    DagsterEventType,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    build_run_status_sensor_context,
    build_schedule_context,
    build_sensor_context,
    evaluate_automation_conditions,
)

from ml_assets.core.demo_data import generate_day
from ml_assets.graph.automation.alerts import failure_text
from ml_assets.graph.pipeline import build_definitions
from ml_assets.io.arrivals import Cursor
from ml_assets.io.landing import write_landing_file
from ml_assets.io.paths import landing_root, resolve_uri
from ml_assets.runner import run_days
from ml_assets_tests.conftest import (
    LAST_DAY,
    day_keys,
    free_port,
    land_demo_days,
    materialize,
    model_job,
    model_key,
    requested,
    small_demo_spec,
)

DAYS = day_keys(6)


def _tick(defs, instance, cursor=None):
    sensor = defs.resolve_sensor_def("landing_sensor")
    result = sensor(build_sensor_context(instance=instance, cursor=cursor, definitions=defs))
    requests = {r.partition_key: r.run_key for r in (result.run_requests or [])}
    return requests, result.cursor


def _touch_later(path):
    # A later modification time than anything seen, whatever the file system's clock granularity.
    later = time.time() + 2
    os.utime(path, (later, later))


def test_landing_sensor_requests_each_changed_day_once(home, tmp_path, instance, day_after_last_day):
    # About "today": a spec without an end date, the clock fixed the day after LAST_DAY.
    spec, path = small_demo_spec(tmp_path, partitions={"end_date": None})
    defs = build_definitions(spec, str(path))
    landing = landing_root(spec)
    land_demo_days(spec, DAYS[-2:])
    # Not landing files: other formats, uploads in progress, folders that are not days.
    (landing / DAYS[-1] / "notes.txt").write_text("x")
    (landing / DAYS[-1] / ".events.csv.part").write_text("x")
    (landing / "archive").mkdir()
    (landing / "archive" / "old.csv").write_text("x")

    first, cursor = _tick(defs, instance)
    assert set(first) == set(DAYS[-2:])
    again, cursor2 = _tick(defs, instance, cursor)
    assert again == {}, "files already seen are not requested again"

    # A daemon that died before saving its cursor evaluates the same files again: the same run
    # keys, so Dagster launches nothing twice.
    replay, _ = _tick(defs, instance, None)
    assert replay == first

    # A rewritten file, and a late file for an older day, each request their own day only.
    rewritten = landing / DAYS[-1] / "events.csv"
    rewritten.write_text(rewritten.read_text().replace("north", "south", 1))
    _touch_later(rewritten)
    write_landing_file(
        landing, dt.date.fromisoformat(DAYS[0]), "late", generate_day(dt.date.fromisoformat(DAYS[0]), rows=50), "csv"
    )
    _touch_later(landing / DAYS[0] / "late.csv")
    changed, cursor3 = _tick(defs, instance, cursor2)
    assert set(changed) == {DAYS[-1], DAYS[0]}
    assert changed[DAYS[-1]] != first[DAYS[-1]], "new content, new run key"

    # Files for a day that is not over yet wait in the cursor until its partition exists.
    today = (LAST_DAY + dt.timedelta(days=1)).isoformat()
    land_demo_days(spec, [today], rows=20)
    _touch_later(landing / today / "events.csv")
    early, cursor4 = _tick(defs, instance, cursor3)
    assert early == {}
    assert Cursor.from_json(json.loads(cursor4)[spec.name]).pending == (today,)
    # Before the start date: ignored, not an error.
    land_demo_days(spec, ["2024-12-31"], rows=20)
    _touch_later(landing / "2024-12-31" / "events.csv")
    assert _tick(defs, instance, cursor4)[0] == {}


def test_landing_sensor_first_look_skips_days_already_ingested(home, tmp_path, instance):
    spec, path = small_demo_spec(tmp_path)
    land_demo_days(spec, DAYS[-2:])
    run_days(spec, str(path), [("ingest_job", DAYS[-2])], instance)
    defs = build_definitions(spec, str(path))
    requests, _ = _tick(defs, instance)
    assert set(requests) == {DAYS[-1]}
    assert "does not exist" in str(_missing_landing_reason(tmp_path, instance))


def _missing_landing_reason(tmp_path, instance):
    spec, path = small_demo_spec(tmp_path, landing={"uri": str(tmp_path / "nowhere"), "format": "csv"})
    defs = build_definitions(spec, str(path))
    result = defs.resolve_sensor_def("landing_sensor")(build_sensor_context(instance=instance, definitions=defs))
    return result.skip_reason


@pytest.mark.s3
def test_landing_sensor_on_s3(home, tmp_path, instance, s3_env):
    client, bucket = s3_env
    spec, path = small_demo_spec(tmp_path, landing={"uri": f"s3://{bucket}/landing", "format": "parquet"})
    defs = build_definitions(spec, str(path))
    land_demo_days(spec, DAYS[-2:])
    client.put_object(Bucket=bucket, Key=f"landing/{DAYS[-1]}/_SUCCESS", Body=b"")
    first, cursor = _tick(defs, instance)
    assert set(first) == set(DAYS[-2:])
    assert _tick(defs, instance, cursor)[0] == {}
    # Re-writing the same content (same ETag) is no change; new content is.
    land_demo_days(spec, [DAYS[-2]])
    assert _tick(defs, instance, cursor)[0] == {}
    day = dt.date.fromisoformat(DAYS[-2])
    write_landing_file(landing_root(spec), day, "events", generate_day(day, rows=300, seed=8), "parquet")
    changed, _ = _tick(defs, instance, cursor)
    assert set(changed) == {DAYS[-2]} and changed[DAYS[-2]] != first[DAYS[-2]]

    missing, path2 = small_demo_spec(tmp_path, landing={"uri": "s3://no-such-bucket-here/landing", "format": "parquet"})
    defs2 = build_definitions(missing, str(path2))
    result = defs2.resolve_sensor_def("landing_sensor")(build_sensor_context(instance=instance, definitions=defs2))
    assert "no-such-bucket-here does not exist" in str(result.skip_reason)


def test_new_and_late_days_flow_to_predictions_only_through_passed_checks(home, tmp_path, instance):
    spec, path = small_demo_spec(tmp_path)
    defs = build_definitions(spec, str(path))
    land_demo_days(spec, DAYS[:-1])
    run_days(spec, str(path), [("ingest_job", d) for d in DAYS[:-1]], instance)

    tick = evaluate_automation_conditions(defs, instance)
    assert requested(tick) == {}, "the first evaluation starts nothing"
    # No model yet: a new day is ingested and featurized, but not scored.
    land_demo_days(spec, [DAYS[-1]])
    materialize(defs, instance, ["raw_data"], DAYS[-1])
    tick = evaluate_automation_conditions(defs, instance, cursor=tick.cursor)
    assert requested(tick) == {"features": [DAYS[-1]], "feature_drift": [DAYS[-1]]}
    materialize(defs, instance, ["features", "feature_drift"], DAYS[-1])
    tick = evaluate_automation_conditions(defs, instance, cursor=tick.cursor)
    assert "batch_predictions" not in requested(tick), "nothing to score with before a model exists"

    # Once a model exists, the day that waited for one is scored; the older days are not re-scored.
    run_days(spec, str(path), [("training_job", DAYS[-1])], instance)
    tick = evaluate_automation_conditions(defs, instance, cursor=tick.cursor)
    assert requested(tick) == {"batch_predictions": [DAYS[-1]], "realized_quality": [DAYS[-1]]}, (
        "realized quality rides along"
    )
    assert materialize(defs, instance, ["batch_predictions", "realized_quality"], DAYS[-1]).success

    # A late file for an older day: that day is re-built and re-scored (checks ride along).
    materialize(defs, instance, ["raw_data"], DAYS[1])
    tick = evaluate_automation_conditions(defs, instance, cursor=tick.cursor)
    # (and the monitoring page follows the newest day's realized quality)
    assert requested(tick) == {
        "features": [DAYS[1]],
        "feature_drift": [DAYS[1]],
        "batch_predictions": [DAYS[1]],
        "realized_quality": [DAYS[1]],
        "monitoring_report": "all",
    }
    materialize(defs, instance, ["monitoring_report"])
    tick = evaluate_automation_conditions(defs, instance, cursor=tick.cursor)
    materialize(defs, instance, ["features", "feature_drift", "batch_predictions", "realized_quality"], DAYS[1])
    tick = evaluate_automation_conditions(defs, instance, cursor=tick.cursor)
    # realized_quality changed, so the monitoring page follows; nothing else.
    assert requested(tick) == {"monitoring_report": "all"}

    # A day whose raw data breaks the contract (blocking check) goes no further.
    bad = generate_day(dt.date.fromisoformat(DAYS[2]), rows=300)
    bad["tenure_days"] = -5
    folder = landing_root(spec) / DAYS[2]
    for old in folder.iterdir():
        old.unlink()
    write_landing_file(landing_root(spec), dt.date.fromisoformat(DAYS[2]), "events", bad, "csv")
    result = materialize(defs, instance, ["raw_data"], DAYS[2])
    assert not result.success
    tick = evaluate_automation_conditions(defs, instance, cursor=tick.cursor)
    assert DAYS[2] not in requested(tick).get("features", [])


def test_retraining_on_cron_then_on_drift(home, tmp_path, instance):
    spec, path = small_demo_spec(tmp_path, automation={"retrain_cron": "* * * * *"})
    defs = build_definitions(spec, str(path))
    land_demo_days(spec, DAYS)
    run_days(spec, str(path), [("ingest_job", d) for d in DAYS], instance)
    noon = dt.datetime.combine(LAST_DAY + dt.timedelta(days=1), dt.time(12, 0), dt.UTC)

    tick = evaluate_automation_conditions(defs, instance, evaluation_time=noon)
    assert requested(tick) == {}
    tick = evaluate_automation_conditions(
        defs, instance, cursor=tick.cursor, evaluation_time=noon + dt.timedelta(seconds=90)
    )
    assert requested(tick) == {"training_set": [DAYS[-1]]}, "the cron tick passed: the newest window is rebuilt"
    materialize(defs, instance, ["training_set"], DAYS[-1])
    tick = evaluate_automation_conditions(
        defs, instance, cursor=tick.cursor, evaluation_time=noon + dt.timedelta(seconds=100)
    )
    assert requested(tick) == {"model": "all", "evaluation_report": "all"}
    assert materialize(defs, instance, ["model", "evaluation_report"]).success
    tick = evaluate_automation_conditions(
        defs, instance, cursor=tick.cursor, evaluation_time=noon + dt.timedelta(seconds=110)
    )
    assert requested(tick) == {}

    # The newest day drifts (blocking drift check fails): retrain, and do not score that day.
    drifted = generate_day(LAST_DAY, rows=300, drift_from=LAST_DAY)
    folder = landing_root(spec) / DAYS[-1]
    for old in folder.iterdir():
        old.unlink()
    write_landing_file(landing_root(spec), LAST_DAY, "events", drifted, "csv")
    result = materialize(defs, instance, ["raw_data", "features", "feature_drift"], DAYS[-1])
    assert not result.success, "the blocking drift check failed the run"
    tick = evaluate_automation_conditions(
        defs, instance, cursor=tick.cursor, evaluation_time=noon + dt.timedelta(seconds=115)
    )
    asked = requested(tick)
    assert asked.get("training_set") == [DAYS[-1]], asked
    assert "batch_predictions" not in asked


def test_policies_and_default_statuses_come_from_the_spec(home, tmp_path):
    spec, path = small_demo_spec(tmp_path)
    defs = build_definitions(spec, str(path))
    graph = defs.resolve_asset_graph()
    model = graph.get(model_key("model"))
    preds = graph.get(model_key("batch_predictions"))
    assert model.freshness_policy.fail_window.to_timedelta() == dt.timedelta(days=8)
    assert preds.freshness_policy.fail_window.to_timedelta() == dt.timedelta(hours=26)
    assert preds.freshness_policy.warn_window.to_timedelta() == dt.timedelta(hours=24)
    assert graph.get(model_key("raw_data")).automation_condition is None, "raw_data is the landing sensor's"
    for name in (
        "features",
        "feature_drift",
        "batch_predictions",
        "training_set",
        "model",
        "evaluation_report",
        "realized_quality",
        "monitoring_report",
    ):
        assert graph.get(model_key(name)).automation_condition is not None, name
    for name in ("landing_sensor", "automation_condition_sensor", "run_failure_alert_sensor"):
        assert defs.resolve_sensor_def(name).default_status == DefaultSensorStatus.RUNNING
    assert defs.resolve_sensor_def("landing_sensor").minimum_interval_seconds == 30
    for name in ("retraining_schedule", "scoring_schedule"):
        assert defs.resolve_schedule_def(model_job(name)).default_status == DefaultScheduleStatus.STOPPED
    retry = defs.resolve_assets_def(model_key("raw_data")).op.retry_policy
    assert (retry.max_retries, retry.delay, retry.backoff.value) == (1, 0.2, "EXPONENTIAL")

    off, path = small_demo_spec(
        tmp_path,
        automation={
            "enabled": False,
            "schedules_enabled": True,
            "timezone": "Europe/Paris",
            "freshness": {"model": {"fail_after_hours": 48}},
        },
    )
    defs = build_definitions(off, str(path))
    assert defs.resolve_sensor_def("automation_condition_sensor").default_status == DefaultSensorStatus.STOPPED
    # A model with automation off carries no conditions: the shared sensor has nothing of it to evaluate.
    assert all(
        defs.resolve_asset_graph().get(k).automation_condition is None
        for k in defs.resolve_asset_graph().get_all_asset_keys()
    )
    schedule = defs.resolve_schedule_def(model_job("retraining_schedule"))
    assert schedule.default_status == DefaultScheduleStatus.RUNNING
    assert (schedule.cron_schedule, schedule.execution_timezone) == ("0 3 * * 1", "Europe/Paris")
    assert defs.resolve_asset_graph().get(
        model_key("model")
    ).freshness_policy.fail_window.to_timedelta() == dt.timedelta(hours=48)


def test_schedules_run_the_newest_complete_day(home, tmp_path):
    spec, path = small_demo_spec(tmp_path)
    defs = build_definitions(spec, str(path))
    monday = dt.datetime(2026, 3, 2, 3, 0, tzinfo=dt.UTC)
    for name, job in (("retraining_schedule", "training_job"), ("scoring_schedule", "scoring_job")):
        schedule = defs.resolve_schedule_def(model_job(name))
        context = build_schedule_context(scheduled_execution_time=monday, repository_def=defs.get_repository_def())
        data = schedule.evaluate_tick(context)
        (request,) = data.run_requests
        assert schedule.job_name == model_job(job) and request.partition_key == "2026-03-01"
    early = build_schedule_context(
        scheduled_execution_time=dt.datetime(2025, 1, 1, 3, tzinfo=dt.UTC), repository_def=defs.get_repository_def()
    )
    assert (
        "no complete day yet"
        in defs.resolve_schedule_def(model_job("scoring_schedule")).evaluate_tick(early).skip_message
    )


class _Hook(BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):  # noqa: N802 (http.server's naming)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Hook.received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_failed_run_alerts_by_log_and_webhook(home, tmp_path, instance, monkeypatch, caplog):
    spec, path = small_demo_spec(tmp_path)
    defs = build_definitions(spec, str(path))
    land_demo_days(spec, [DAYS[-1]])
    failed = materialize(defs, instance, ["raw_data", "features", "batch_predictions"], DAYS[-1])
    assert not failed.success  # no champion yet
    run = instance.get_run_by_id(failed.run_id)
    failure_event = next(e for e in failed.all_events if e.event_type == DagsterEventType.RUN_FAILURE)

    server = HTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Hook.received.clear()
    monkeypatch.setenv("ML_ASSETS_ALERT_WEBHOOK", f"http://127.0.0.1:{server.server_port}/hook")
    sensor = defs.resolve_sensor_def("run_failure_alert_sensor")
    context = build_run_status_sensor_context(
        sensor_name=sensor.name, dagster_instance=instance, dagster_run=run, dagster_event=failure_event
    ).for_run_failure()
    with caplog.at_level("ERROR", logger="ml_assets.alerts"):
        sensor(context)
    server.shutdown()
    (alert,) = _Hook.received
    assert alert["partition"] == DAYS[-1] and alert["pipeline"] == spec.name
    assert alert["failed_steps"][0]["step"] == model_job("batch_predictions")
    assert "has no champion" in alert["text"], alert["text"]
    assert any("has no champion" in r.getMessage() for r in caplog.records)

    # A dead webhook costs the alert's POST, not the sensor: it logs and carries on.
    monkeypatch.setenv("ML_ASSETS_ALERT_WEBHOOK", f"http://127.0.0.1:{free_port()}/hook")
    sensor(
        build_run_status_sensor_context(
            sensor_name=sensor.name, dagster_instance=instance, dagster_run=run, dagster_event=failure_event
        ).for_run_failure()
    )


def _retries(result) -> list[str]:
    return [e.step_key for e in result.all_events if e.event_type == DagsterEventType.STEP_UP_FOR_RETRY]


def test_mlflow_outage_is_retried_but_bad_data_is_not(home, tmp_path, instance, monkeypatch):
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "3")
    spec, path = small_demo_spec(tmp_path)
    land_demo_days(spec, [DAYS[-1]])
    dead = f"http://127.0.0.1:{free_port()}"
    defs = build_definitions(spec, str(path), tracking_uri=dead)
    result = materialize(defs, instance, ["raw_data", "features", "batch_predictions"], DAYS[-1])
    assert not result.success
    assert _retries(result) == [model_job("batch_predictions")], (
        "an unreachable MLflow is worth one more try (max_retries: 1)"
    )
    failure = next(e for e in result.all_events if e.is_step_failure and e.step_key == model_job("batch_predictions"))
    assert dead in failure_text(failure.step_failure_data) and "cannot load the champion" in failure_text(
        failure.step_failure_data
    )

    # A file that breaks the schema is bad data: it fails at once, no retry.
    folder = resolve_uri(spec.landing.uri) / DAYS[-1]
    (folder / "events.csv").write_text("customer_id,event_time\n1,not-a-time\n")
    result = materialize(defs, instance, ["raw_data"], DAYS[-1])
    assert not result.success and _retries(result) == []


def test_one_landing_sensor_groups_the_models_of_a_day_into_few_runs(home, tmp_path, instance, monkeypatch):
    """Five models land the same day: those with the same partitions share runs of at most
    $ML_ASSETS_MODELS_PER_RUN models; one with another start date runs apart; a model with
    automation off is not watched. Each run selects its models' own assets only."""
    from ml_assets.graph.automation.landing import MODELS_TAG, build_landing_sensor
    from ml_assets.graph.pipeline import pipeline_context

    monkeypatch.setenv("ML_ASSETS_MODELS_PER_RUN", "3")
    later = {"start_date": DAYS[1]}
    specs = [
        small_demo_spec(tmp_path, name=name, landing={"uri": f"landing/{name}"}, **extra)
        for name, extra in [("m_a", {}), ("m_b", {}), ("m_c", {}), ("m_d", {}), ("m_late", {"partitions": later})]
    ]
    off = small_demo_spec(tmp_path, name="m_off", landing={"uri": "landing/m_off"}, automation={"enabled": False})
    for spec, _ in [*specs, off]:
        land_demo_days(spec, DAYS[-1:], rows=50)
    sensor = build_landing_sensor([pipeline_context(s, str(p)) for s, p in [*specs, off]])
    result = sensor(build_sensor_context(instance=instance))
    runs = {r.tags[MODELS_TAG]: r for r in result.run_requests}
    assert set(runs) == {"m_a,m_b,m_c", "m_d", "m_late"}, runs
    assert all(r.partition_key == DAYS[-1] for r in runs.values())
    shared = runs["m_a,m_b,m_c"]
    assert {k.path[0] for k in shared.asset_selection} == {"m_a", "m_b", "m_c"}
    assert {k.path[1] for k in shared.asset_selection} == {"raw_data", "features", "feature_drift"}
    assert "ml_assets/model" not in shared.tags and runs["m_d"].tags["ml_assets/model"] == "m_d"
    assert set(json.loads(result.cursor)) == {"m_a", "m_b", "m_c", "m_d", "m_late"}
    again = sensor(build_sensor_context(instance=instance, cursor=result.cursor))
    assert not again.run_requests, "files already seen are not requested again"
    # One model that cannot be read (here its cursor) does not stall the others' new files.
    broken = json.dumps({**json.loads(result.cursor), "m_a": "{not json"})
    land_demo_days(specs[1][0], DAYS[-2:-1], rows=50)
    _touch_later(landing_root(specs[1][0]) / DAYS[-2] / "events.csv")
    later = sensor(build_sensor_context(instance=instance, cursor=broken))
    assert [r.tags[MODELS_TAG] for r in later.run_requests] == ["m_b"]
    with pytest.raises(ValueError, match="ML_ASSETS_MODELS_PER_RUN"):
        monkeypatch.setenv("ML_ASSETS_MODELS_PER_RUN", "0")
        build_landing_sensor([pipeline_context(s, str(p)) for s, p in specs])
