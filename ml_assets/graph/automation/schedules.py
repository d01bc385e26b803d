"""Schedules: the fallback path that keeps the model and the predictions fresh even with
declarative automation turned off. Both run for the newest complete day at their cron time."""

import datetime as dt
import zoneinfo

from dagster import DefaultScheduleStatus, RunRequest, ScheduleEvaluationContext, SkipReason, schedule

from ml_assets.graph.context import TRIGGER_TAG, Pipeline


def build_schedules(p: Pipeline):
    spec = p.spec
    auto = spec.automation
    status = DefaultScheduleStatus.RUNNING if auto.schedules_enabled else DefaultScheduleStatus.STOPPED
    tz = spec.automation_timezone

    def newest_day(context: ScheduleEvaluationContext) -> str | None:
        # The newest complete daily partition at the scheduled time: the day before, in the
        # partitions' time zone.
        local = context.scheduled_execution_time.astimezone(zoneinfo.ZoneInfo(spec.partitions.timezone))
        day = local.date() - dt.timedelta(days=1)
        return day.isoformat() if day >= spec.partitions.start_date else None

    def newest_day_schedule(name: str, job_name: str, cron: str, description: str):
        @schedule(
            name=p.qualified(name),
            job_name=p.qualified(job_name),
            cron_schedule=cron,
            execution_timezone=tz,
            default_status=status,
            description=f"{description} ({cron}, {tz}).",
        )
        def run_newest_day(context: ScheduleEvaluationContext):
            day = newest_day(context)
            if day is None:
                return SkipReason(f"no complete day yet (partitions start {spec.partitions.start_date})")
            return RunRequest(partition_key=day, tags={TRIGGER_TAG: name, **p.tags})

        return run_newest_day

    return [
        newest_day_schedule(
            "retraining_schedule",
            "training_job",
            auto.retrain_cron,
            "Retrain on the window ending on the newest complete day",
        ),
        newest_day_schedule(
            "scoring_schedule",
            "scoring_job",
            auto.scoring_cron,
            "Ingest and score the newest complete day with the champion",
        ),
    ]
