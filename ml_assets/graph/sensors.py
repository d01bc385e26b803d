"""Sensors: the landing sensor (new files -> raw_data runs), the automation-condition sensor
that evaluates `policies.py`, and the run-failure alert sensor."""

import json
import logging
import os
import time
import urllib.error
import urllib.request

from dagster import (
    AssetCheckSeverity,
    AssetKey,
    AssetRecordsFilter,
    AssetSelection,
    AutomationConditionSensorDefinition,
    DagsterEventType,
    DefaultSensorStatus,
    RunFailureSensorContext,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    run_failure_sensor,
    sensor,
)

from ml_assets.io.arrivals import Cursor, LandedFile, by_day, list_landed, listing_since, new_files, run_key
from ml_assets.graph.context import MODEL_TAG, Pipeline, model_of
from ml_assets.graph.ingest import TRIGGER_TAG
from ml_assets.io.paths import landing_root

ALERT_WEBHOOK_ENV = "ML_ASSETS_ALERT_WEBHOOK"
alert_log = logging.getLogger("ml_assets.alerts")


def _status(on: bool) -> DefaultSensorStatus:
    return DefaultSensorStatus.RUNNING if on else DefaultSensorStatus.STOPPED


def _ingested_after(instance, raw_data: AssetKey, day: str, files: list[LandedFile]) -> bool:
    """raw_data for the day was materialized after its newest file appeared (already ingested)."""
    records = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=raw_data, asset_partitions=[day]), limit=1
    ).records
    return bool(records) and records[0].timestamp > max(f.modified for f in files)


# What a landing run materializes, in one run: the day from its files to its predictions, so a new
# day is scored without waiting for automation ticks between the steps. The checks of these assets
# run in it too, and a failed blocking check stops the steps below it in the same run.
INGEST_ASSETS = ("raw_data", "features", "feature_drift")
SCORING_ASSETS = ("batch_predictions", "realized_quality")


def landing_assets(p: Pipeline, instance) -> list[AssetKey]:
    """INGEST_ASSETS, and SCORING_ASSETS once a model has been trained (before that there is no
    champion to score with; automation scores the day once a model exists, see policies.py)."""
    trained = instance.get_latest_materialization_event(p.key("model")) is not None
    return [p.key(a) for a in INGEST_ASSETS + (SCORING_ASSETS if trained else ())]


def day_requests(
    p: Pipeline, days: dict, pending: set, last_day: str | None, ingested, assets: list[AssetKey] | None = None
) -> tuple[list, list[str]]:
    """One run request per complete day with new files (a day not complete yet waits in `pending`);
    and a note per day. `ingested(day, files)`: already ingested after those files landed. `assets`:
    what each run materializes (default: the sensor's whole target)."""
    first_day = p.spec.partitions.start_date.isoformat()
    requests, notes = [], []
    for day, files in sorted(days.items()):
        if day < first_day:
            notes.append(f"{day}: before partitions.start_date {first_day}, ignored ({len(files)} file(s))")
            continue
        if last_day is None or day > last_day:
            pending.add(day)
            notes.append(f"{day}: the day is not complete yet; requested once it is ({len(files)} file(s))")
            continue
        pending.discard(day)
        if not files or ingested(day, files):
            continue  # first look (or a reset cursor): this day was already ingested after its files landed
        tags = {TRIGGER_TAG: "landing_sensor", "ml_assets/new_files": str(len(files)), **p.tags}
        requests.append(RunRequest(run_key=run_key(day, files), partition_key=day, tags=tags, asset_selection=assets))
        notes.append(
            f"{day}: {len(files)} new or rewritten file(s): {', '.join(f.key for f in files[:5])}"
            + (" ..." if len(files) > 5 else "")
        )
    return requests, notes


def build_landing_sensor(p: Pipeline):
    spec, daily = p.spec, p.daily
    auto = spec.automation
    lookback = auto.landing_lookback_seconds

    @sensor(
        name=p.qualified("landing_sensor"),
        target=p.select(*INGEST_ASSETS, *SCORING_ASSETS),
        minimum_interval_seconds=auto.landing_sensor_interval_seconds,
        default_status=_status(auto.enabled),
        description=(
            f"Watches {spec.landing.uri} (<YYYY-MM-DD>/*.{spec.landing.format}) and requests one run per day "
            "that received new or rewritten files: raw_data, features and feature_drift with their checks, and once "
            "a model is trained batch_predictions and realized_quality too (one hop from a file to predictions). The cursor (a watermark and the files seen near it) is kept by "
            "Dagster, so a restarted daemon neither misses nor re-ingests a file; run keys make each request idempotent."
        ),
    )
    def landing_sensor(context: SensorEvaluationContext):
        landing = landing_root(spec)
        cursor = Cursor.from_json(context.cursor)
        try:
            listed = list_landed(landing, spec.landing.format, since=listing_since(cursor, lookback))
        except FileNotFoundError as exc:
            return SensorResult(skip_reason=SkipReason(f"{exc}: nothing to watch yet"), cursor=context.cursor)
        fresh, next_cursor = new_files(listed, cursor, lookback)
        last_day = daily.get_last_partition_key()
        pending = set(cursor.pending)
        days = by_day(fresh)
        # A day that was not complete yet when its files landed is requested once its partition exists.
        for day in sorted(pending):
            if last_day is not None and day <= last_day and day not in days:
                days[day] = list_landed(landing, spec.landing.format, day=day)
        first_look = context.cursor is None
        ingested = lambda d, f: first_look and _ingested_after(context.instance, p.key("raw_data"), d, f)  # noqa: E731
        requests, notes = day_requests(
            p, days, pending, last_day, ingested, landing_assets(p, context.instance) if days else None
        )
        for note in notes:
            context.log.info(note)
        next_cursor = Cursor(next_cursor.watermark, next_cursor.recent, tuple(sorted(pending)))
        if not requests:
            return SensorResult(
                skip_reason=SkipReason("; ".join(notes) or "no new landing files"), cursor=next_cursor.to_json()
            )
        return SensorResult(run_requests=requests, cursor=next_cursor.to_json())

    return landing_sensor


AUTOMATION_KEY = "ml_assets/automation_interval_seconds"  # per model, in its Definitions' metadata


def automation_metadata(p: Pipeline) -> dict:
    """What the shared automation sensor needs of a model: its interval, or None when its spec turns
    automation off (its assets then carry no automation conditions at all)."""
    auto = p.spec.automation
    return {f"{AUTOMATION_KEY}/{p.name}": auto.automation_interval_seconds if auto.enabled else None}


def model_names(metadata: dict) -> list[str]:
    """The models of a code location, from the metadata each one adds (automation_metadata)."""
    return sorted(k.removeprefix(f"{AUTOMATION_KEY}/") for k in metadata if k.startswith(f"{AUTOMATION_KEY}/"))


def build_automation_sensor(metadata: dict):
    """One for the code location: a tick evaluates every model's conditions at once, which takes half
    the time of one sensor per model (BENCHMARKS.md, "Many models"). A model whose spec turns
    automation off has no conditions to evaluate; the interval is the shortest any model asks for."""
    # Definitions store metadata as MetadataValue objects: the number (or None) is their `.value`.
    intervals = {
        k.removeprefix(f"{AUTOMATION_KEY}/"): getattr(v, "value", v)
        for k, v in metadata.items()
        if k.startswith(f"{AUTOMATION_KEY}/")
    }
    on = [v for v in intervals.values() if v is not None]
    return AutomationConditionSensorDefinition(
        "automation_condition_sensor",
        target=AssetSelection.all(),  # raw_data has no condition: the landing sensor starts it
        default_status=_status(bool(on)),
        minimum_interval_seconds=min(on) if on else 30,
        # One run per day and asset group, never a backfill: each run names its day and trigger.
        emit_backfills=False,
        description=(
            "Evaluates every model's automation conditions (see docs/automation.md) and launches the runs. "
            f"Models with automation on: {', '.join(sorted(m for m, v in intervals.items() if v is not None)) or 'none'}."
        ),
    )


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
    """The model a run belongs to: its tag, else its job's name, else its assets' prefix."""
    if run.tags.get(MODEL_TAG):
        return run.tags[MODEL_TAG]
    if model := model_of(run.job_name):
        return model
    prefixes = sorted({k.path[0] for k in (run.asset_selection or []) if len(k.path) > 1})
    return ",".join(prefixes) or "?"


def failed_checks(instance, run_id: str) -> list[str]:
    """The run's failed blocking checks, each with what failed."""
    lines = []
    for entry in instance.all_logs(run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION):
        data = entry.dagster_event.event_specific_data
        if not data.passed and data.blocking and data.severity == AssetCheckSeverity.ERROR:
            day = f" ({data.partition})" if data.partition else ""
            lines.append(
                f"check {data.asset_key.to_user_string()}:{data.check_name}{day} failed: {data.description or 'no description'}"
            )
    return lines


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
        "job": run.job_name,
        "run_id": run.run_id,
        "partition": partition,
        "assets": sorted(k.to_user_string() for k in (run.asset_selection or [])),
        "trigger": run.tags.get("ml_assets/trigger")
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
        default_status=_status(on),
        minimum_interval_seconds=interval_seconds,
        description=f"Every failed run of this code location is an alert naming its model: a log line, and a JSON POST to ${ALERT_WEBHOOK_ENV} when set.",
    )
    def run_failure_alert_sensor(context: RunFailureSensorContext):
        payload = alert_payload(context)
        alert_log.error(payload["text"])
        context.log.error(payload["text"])
        url = os.environ.get(ALERT_WEBHOOK_ENV)
        if url:
            error = post_alert(url, payload)
            if error:
                # The alert is still in this log; a dead webhook must not stop later alerts.
                context.log.warning(f"alert webhook ${ALERT_WEBHOOK_ENV} failed after 3 attempts: {error}")
            else:
                context.log.info(f"alert posted to ${ALERT_WEBHOOK_ENV}")

    return run_failure_alert_sensor
