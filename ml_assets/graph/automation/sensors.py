"""Sensors: the labels sensor (late labels -> realized_quality runs), the automation-condition
sensor that evaluates `policies.py`, the dead-run sensor and a broken spec's error sensor. The
landing sensor is in `landing.py`, the run-failure alert sensor in `alerts.py`."""

from __future__ import annotations

import datetime as dt

from dagster import (
    AssetSelection,
    AutomationConditionSensorDefinition,
    DefaultSensorStatus,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)
from upath import UPath

from ml_assets.core.quality import DAY, parse_labels
from ml_assets.core.schema import SchemaError
from ml_assets.core.spec import PipelineSpec, SpecError
from ml_assets.graph.context import TRIGGER_TAG, Pipeline, qualified_name
from ml_assets.graph.runtime.dead_runs import prepare_instance
from ml_assets.graph.runtime.resources import MlflowRegistry
from ml_assets.io.arrivals import Cursor, list_landed, listing_since, new_files, run_key
from ml_assets.io.landing import LandingError, read_landing_file
from ml_assets.io.paths import labels_root


def sensor_status(on: bool) -> DefaultSensorStatus:
    return DefaultSensorStatus.RUNNING if on else DefaultSensorStatus.STOPPED


def build_automation_sensor(pipelines: list[Pipeline]):
    """One for the code location: a tick evaluates every model's conditions at once, which takes half
    the time of one sensor per model (BENCHMARKS.md, "Many models"). A model whose spec turns
    automation off has no conditions to evaluate; the interval is the shortest any model asks for."""
    intervals = {p.name: p.spec.automation.automation_interval_seconds for p in pipelines if p.spec.automation.enabled}
    on = list(intervals.values())
    return AutomationConditionSensorDefinition(
        "automation_condition_sensor",
        target=AssetSelection.all(),  # raw_data has no condition: the landing sensor starts it
        default_status=sensor_status(bool(on)),
        minimum_interval_seconds=min(on) if on else 30,
        # One run per day and asset group, never a backfill: each run names its day and trigger.
        emit_backfills=False,
        description=(
            "Evaluates every model's automation conditions (see docs/automation.md) and launches the runs. "
            "Models with automation on: "
            f"{', '.join(sorted(intervals)) or 'none'}."
        ),
    )


def _event_days_of(root: UPath, key: str, spec: PipelineSpec) -> set[str]:
    frame = parse_labels(read_landing_file(root / key, spec.labels.format), spec, str(root / key))
    return set(frame[DAY])


def _label_days(fresh: list, root, spec, last_day: str | None, notes: list[str]) -> dict[str, list]:
    """{event day: label files holding labels for it}, for days within the partitions; labels
    later than labels.max_delay_days and unreadable files are left out, with a note."""
    labels = spec.labels
    first_day = spec.partitions.start_date.isoformat()
    days: dict[str, list] = {}
    for f in fresh:
        try:
            event_days = _event_days_of(root, f.key, spec)
        except (SchemaError, LandingError) as exc:
            notes.append(f"{f.key}: unreadable, realized_quality will quarantine it: {exc}")
            continue
        earliest = (dt.date.fromisoformat(f.day) - dt.timedelta(days=labels.max_delay_days)).isoformat()
        late = {d for d in event_days if d < earliest}
        if late:
            notes.append(
                f"{f.key}: labels for {len(late)} day(s) more than {labels.max_delay_days} day(s) late, not counted"
            )
        for d in event_days - late:
            if first_day <= d and (last_day is not None and d <= last_day):
                days.setdefault(d, []).append(f)
    return days


def build_labels_sensor(p: Pipeline):
    spec, daily = p.spec, p.daily
    labels = spec.labels

    @sensor(
        name=p.qualified("labels_sensor"),
        target=p.select("realized_quality"),
        minimum_interval_seconds=spec.automation.landing_sensor_interval_seconds,
        default_status=DefaultSensorStatus.RUNNING if spec.automation.enabled else DefaultSensorStatus.STOPPED,
        description=(
            f"Watches {labels.uri} (<arrival YYYY-MM-DD>/*.{labels.format}) and re-materializes realized_quality for "
            f"each scored day that new label files hold labels for (up to {labels.max_delay_days} day(s) late)."
        ),
    )
    def labels_sensor(context: SensorEvaluationContext):
        root = labels_root(spec)
        cursor = Cursor.from_json(context.cursor)
        lookback = spec.automation.landing_lookback_seconds
        try:
            listed = list_landed(root, labels.format, since=listing_since(cursor, lookback))
        except FileNotFoundError as exc:
            return SensorResult(skip_reason=SkipReason(f"{exc}: no labels yet"), cursor=context.cursor)
        fresh, next_cursor = new_files(listed, cursor, lookback)
        last_day = daily.get_last_partition_key()
        notes: list[str] = []
        days = _label_days(fresh, root, spec, last_day, notes)
        requests = []
        scored = set(context.instance.get_materialized_partitions(p.key("batch_predictions"))) if days else set()
        for day, files in sorted(days.items()):
            if day not in scored:
                notes.append(
                    f"{day}: labels arrived, but the day is not scored yet (realized_quality follows its predictions)"
                )
                continue
            requests.append(
                RunRequest(
                    run_key=f"labels-{run_key(day, files)}",
                    partition_key=day,
                    tags={TRIGGER_TAG: "labels_sensor", **p.tags},
                )
            )
            notes.append(f"{day}: {len(files)} new label file(s)")
        for note in notes:
            context.log.info(note)
        if not requests:
            return SensorResult(
                skip_reason=SkipReason("; ".join(notes) or "no new label files"), cursor=next_cursor.to_json()
            )
        return SensorResult(run_requests=requests, cursor=next_cursor.to_json())

    return labels_sensor


def build_dead_run_sensor(pools: list[str], interval_seconds: int = 30, runs_folder=None):
    @sensor(
        name="dead_run_sensor",
        minimum_interval_seconds=interval_seconds,
        default_status=DefaultSensorStatus.RUNNING,
        required_resource_keys={"mlflow"},
        description=(
            "Marks FAILED the runs whose process died without reporting (kill -9, out of memory), frees their "
            "queue and pool slots and ends their MLflow runs: the run launcher here cannot report a dead worker."
        ),
    )
    def dead_run_sensor(context):
        done = prepare_instance(context.instance, context.resources.mlflow.tracking_uri, pools, runs_folder)
        for line in done:
            context.log.warning(line)
        return SkipReason("; ".join(done) if done else "no dead runs")

    return dead_run_sensor


def build_spec_error_sensor(name: str, message: str):
    """A model whose spec is invalid: a sensor whose every tick fails, naming the spec's problem."""

    @sensor(
        name=qualified_name(name, "spec_error"),
        minimum_interval_seconds=60,
        default_status=DefaultSensorStatus.RUNNING,
        description=f"Model '{name}' is not loaded: its spec is invalid. {message}",
    )
    def spec_error(context: SensorEvaluationContext):
        raise SpecError(f"model '{name}' is not loaded: {message}")

    return spec_error


def build_approval_sensor(p: Pipeline):
    """Acts on a person's answer within one tick: when the challenger's `approval` tag is set (by
    `ml-assets approve/reject` or in the MLflow UI) while its promotion waits, or a rejection comes
    while it is on trial, rollout_decision runs and applies it."""
    from ml_assets.core.rollout import AWAITING, OPEN_STATES, approval_of
    from ml_assets.io.experiments import challenger_tags
    from ml_assets.io.registry import RegistryError

    spec = p.spec

    @sensor(
        name=p.qualified("approval_sensor"),
        asset_selection=p.select("rollout_decision"),
        minimum_interval_seconds=spec.automation.automation_interval_seconds,
        default_status=sensor_status(spec.automation.enabled),
        description="Requests rollout_decision when the challenger's `approval` tag is answered in MLflow.",
    )
    def approval_sensor(context: SensorEvaluationContext, mlflow: MlflowRegistry):
        registry = mlflow.registry(spec)
        try:
            version, tags = challenger_tags(registry)
        except RegistryError as exc:
            return SensorResult(skip_reason=f"MLflow unreachable: {exc}")
        state = tags.get("rollout.state")
        answer, _ = approval_of(tags)
        if version is None or state not in OPEN_STATES or answer is None:
            return SensorResult(
                skip_reason=f"nothing to act on (challenger {version or 'none'}, state {state}, approval {answer})"
            )
        if state != AWAITING and answer == "approved":
            return SensorResult(skip_reason=f"v{version} approved before the experiment decided; it decides first")
        request = RunRequest(run_key=f"approval-{version}-{answer}", tags={**p.tags, TRIGGER_TAG: "approval_sensor"})
        return SensorResult(run_requests=[request])

    return approval_sensor
