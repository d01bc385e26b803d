"""The run-failure alert sensor: every failed run of any model, as a log line naming the model
(each failed model of a landing run that several models share), the step and the reason (failed
blocking checks by name), and a JSON POST to $ML_ASSETS_ALERT_WEBHOOK when set."""

from __future__ import annotations

import json
import logging
import os
import time
import urllib.error
import urllib.request

from dagster import (
    AssetCheckSeverity,
    DagsterEventType,
    RunFailureSensorContext,
    run_failure_sensor,
)

from ml_assets.graph.automation.landing import MODELS_TAG
from ml_assets.graph.automation.sensors import sensor_status
from ml_assets.graph.context import MODEL_TAG, TRIGGER_TAG, model_of

ALERT_WEBHOOK_ENV = "ML_ASSETS_ALERT_WEBHOOK"

alert_log = logging.getLogger("ml_assets.alerts")


def post_alert(url: str, payload: dict, attempts: int = 3, timeout: float = 10.0) -> str | None:
    """POST the alert as JSON; retried with backoff. Returns None on success, else the last error."""
    body = json.dumps(payload).encode()
    error = None
    for attempt in range(attempts):
        request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"}, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                if 200 <= response.status < 300:
                    return None
                error = f"HTTP {response.status}"
        except urllib.error.HTTPError as exc:
            error = f"HTTP {exc.code}"
        except (urllib.error.URLError, OSError) as exc:
            error = str(getattr(exc, "reason", exc))
        time.sleep(0.5 * 2**attempt if attempt + 1 < attempts else 0)
    return error


def failure_text(data) -> str:
    """A step failure's own reason: after the last retry Dagster's error only says "Exceeded
    max_retries", while the Failure's description (user_failure_data) keeps what went wrong."""
    if data.user_failure_data is not None and data.user_failure_data.description:
        return data.user_failure_data.description.strip()
    return data.error.message.strip() if data.error else ""


def model_of_run(run) -> str:
    """The model a run belongs to: its tag, else its job's name, else its assets' prefix (several,
    comma-separated, for a landing run of several models)."""
    if run.tags.get(MODEL_TAG):
        return run.tags[MODEL_TAG]
    if model := model_of(run.job_name):
        return model
    prefixes = sorted({k.path[0] for k in (run.asset_selection or []) if len(k.path) > 1})
    return ",".join(prefixes) or "?"


def failed_checks(instance, run_id: str) -> list[str]:
    """The run's failed blocking checks, each with what failed."""
    return failed_check_lines(
        e.dagster_event for e in instance.all_logs(run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION)
    )


def failed_check_lines(events) -> list[str]:
    """From a run's events: one line per failed blocking ERROR check, with what failed (its
    description names the rule, the column, the observed value, the limit and the spec field)."""
    lines = []
    for event in events:
        if event is None or event.event_type != DagsterEventType.ASSET_CHECK_EVALUATION:
            continue
        data = event.event_specific_data
        if not data.passed and data.blocking and data.severity == AssetCheckSeverity.ERROR:
            day = f" ({data.partition})" if data.partition else ""
            lines.append(
                f"check {data.asset_key.to_user_string()}:{data.check_name}{day} failed: "
                f"{data.description or 'no description'}"
            )
    return lines


def _one_model(payload: dict, model: str) -> dict:
    """A landing run's alert for one of its models: its failed steps and checks only."""
    steps = [s for s in payload["failed_steps"] if model_of(s["step"]) == model]
    checks = [c for c in payload["failed_checks"] if c.startswith(f"check {model}/")]
    first = checks[0] if checks else (steps[0]["error"].splitlines()[0] if steps and steps[0]["error"] else "")
    where = f" for {payload['partition']}" if payload["partition"] else ""
    shared = f"shared with {len(payload['models']) - 1} other model(s), whose days are not affected"
    return {
        **payload,
        "text": f"[ml-assets {model}] run {payload['run_id'][:8]} ({shared}){where} failed: {first}",
        "pipeline": model,
        "assets": [a for a in payload["assets"] if a.startswith(f"{model}/")],
        "failed_steps": steps,
        "failed_checks": checks,
    }


def alert_payloads(context: RunFailureSensorContext) -> list[dict]:
    """One alert per failed model: a landing run of several models (landing.py) that failed is an
    alert for each model whose steps or checks failed, naming that model only."""
    payload = alert_payload(context)
    if len(payload["models"]) < 2:
        return [payload]
    failed = {model_of(s["step"]) for s in payload["failed_steps"]}
    failed |= {m for m in payload["models"] if any(c.startswith(f"check {m}/") for c in payload["failed_checks"])}
    failed.discard(None)
    return [_one_model(payload, m) for m in sorted(failed)] or [payload]


def alert_payload(context: RunFailureSensorContext) -> dict:
    run = context.dagster_run
    steps = [
        {"step": e.step_key, "error": failure_text(e.step_failure_data)[:2000]}
        for e in context.get_step_failure_events()
    ]
    model = model_of_run(run)
    if model == "?" and steps:
        model = model_of(steps[0]["step"]) or "?"  # a run of an ad-hoc selection: its steps say whose
    partition = run.tags.get("dagster/partition")
    where = f" for {partition}" if partition else ""
    checks = failed_checks(context.instance, run.run_id)
    first = steps[0]["error"].splitlines()[0] if steps and steps[0]["error"] else (context.failure_event.message or "")
    if checks and "check" in first.lower():
        first = checks[0]  # "1 blocking asset check failed" says less than the check's own message
    return {
        "text": f"[ml-assets {model}] run {run.run_id[:8]} of {run.job_name}{where} failed: {first}",
        "pipeline": model,
        "models": [m for m in run.tags.get(MODELS_TAG, "").split(",") if m],
        "job": run.job_name,
        "run_id": run.run_id,
        "partition": partition,
        "assets": sorted(k.to_user_string() for k in (run.asset_selection or [])),
        "trigger": run.tags.get(TRIGGER_TAG)
        or run.tags.get("dagster/sensor_name")
        or run.tags.get("dagster/schedule_name")
        or "manual",
        "failed_steps": steps,
        "failed_checks": checks,
        "message": context.failure_event.message,
    }


def build_alert_sensor(on: bool = True, interval_seconds: int = 30):
    """One for the code location: every model's failed runs, each alert naming its model."""

    @run_failure_sensor(
        name="run_failure_alert_sensor",
        default_status=sensor_status(on),
        minimum_interval_seconds=interval_seconds,
        description="Every failed run of this code location is an alert naming its model: a log line, and a JSON POST "
        f"to ${ALERT_WEBHOOK_ENV} when set.",
    )
    def run_failure_alert_sensor(context: RunFailureSensorContext):
        url = os.environ.get(ALERT_WEBHOOK_ENV)
        for payload in alert_payloads(context):
            alert_log.error(payload["text"])
            context.log.error(payload["text"])
            if not url:
                continue
            error = post_alert(url, payload)
            if error:
                # The alert is still in this log; a dead webhook must not stop later alerts.
                context.log.warning(f"alert webhook ${ALERT_WEBHOOK_ENV} failed after 3 attempts: {error}")
            else:
                context.log.info(f"alert posted to ${ALERT_WEBHOOK_ENV}")

    return run_failure_alert_sensor
