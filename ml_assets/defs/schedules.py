"""Schedules: the fallback path that keeps the model and the predictions fresh even with
declarative automation turned off. Both run for the newest complete day at their cron time."""

import datetime as dt
import zoneinfo

from dagster import (
    DefaultScheduleStatus,
    RunRequest,
    ScheduleEvaluationContext,
    SkipReason,
    schedule,
)

from ml_assets.core.spec import PipelineSpec


def build_schedules(spec: PipelineSpec):
    auto = spec.automation
    status = DefaultScheduleStatus.RUNNING if auto.schedules_enabled else DefaultScheduleStatus.STOPPED
    tz = spec.automation_timezone

    def newest_day(context: ScheduleEvaluationContext) -> str | None:
        # The newest complete daily partition at the scheduled time: the day before, in the
        # partitions' time zone.
        local = context.scheduled_execution_time.astimezone(zoneinfo.ZoneInfo(spec.partitions.timezone))
        day = local.date() - dt.timedelta(days=1)
        return day.isoformat() if day >= spec.partitions.start_date else None

    @schedule(
        name="retraining_schedule",
        job_name="training_job",
        cron_schedule=auto.retrain_cron,
        execution_timezone=tz,
        default_status=status,
        description=f"Retrain on the window ending on the newest complete day ({auto.retrain_cron}, {tz}).",
    )
    def retraining_schedule(context: ScheduleEvaluationContext):
        day = newest_day(context)
        if day is None:
            return SkipReason(f"no complete day yet (partitions start {spec.partitions.start_date})")
        return RunRequest(partition_key=day, tags={"ml_assets/trigger": "retraining_schedule"})

    @schedule(
        name="scoring_schedule",
        job_name="scoring_job",
        cron_schedule=auto.scoring_cron,
        execution_timezone=tz,
        default_status=status,
        description=f"Ingest and score the newest complete day with the champion ({auto.scoring_cron}, {tz}).",
    )
    def scoring_schedule(context: ScheduleEvaluationContext):
        day = newest_day(context)
        if day is None:
            return SkipReason(f"no complete day yet (partitions start {spec.partitions.start_date})")
        return RunRequest(partition_key=day, tags={"ml_assets/trigger": "scoring_schedule"})

    return [retraining_schedule, scoring_schedule]
