"""`retention_job` and `retention_schedule`: delete data partitions and model versions older than the
spec's `retention`, never what the champion or challenger needs (see ml_assets/io/retention.py)."""

from dagster import (
    Config,
    DefaultScheduleStatus,
    MetadataValue,
    Nothing,
    OpExecutionContext,
    Out,
    Output,
    RunRequest,
    job,
    op,
    schedule,
)
from pydantic import Field

from ml_assets.graph.context import TRIGGER_TAG, Pipeline
from ml_assets.graph.runtime.resources import mlflow_failure
from ml_assets.io import retention
from ml_assets.io.registry import RegistryError


class RetentionConfig(Config):
    dry_run: bool = Field(default=False, description="Only log the plan: what would be deleted, what is kept and why.")


def _plan_metadata(decisions: list, done: list, dry_run: bool) -> dict:
    """The retention run's metadata: counts, and the plan as a table (the first 500 rows)."""
    table = [d.as_dict() for d in decisions]
    rows = "\n".join(f"| {d['action']} | {d['kind']} | {d['name']} | {d['key']} | {d['reason']} |" for d in table[:500])
    return {
        "dry_run": dry_run,
        "deleted": MetadataValue.int(len(done)),
        "planned_deletions": MetadataValue.int(sum(d.action == "delete" for d in decisions)),
        "kept": MetadataValue.int(sum(d.action == "keep" for d in decisions)),
        "plan": MetadataValue.md(
            "| action | kind | name | key | reason |\n|---|---|---|---|---|\n" + rows if table else "nothing old enough"
        ),
    }


def build_retention(p: Pipeline):
    spec, daily, base = p.spec, p.daily, p.base
    r = spec.retention

    @op(
        name=p.qualified("apply_retention"),
        required_resource_keys={"mlflow"},
        out=Out(Nothing),
        description=(
            "Plan and carry out retention: delete old raw_data/features/training_set/batch_predictions "
            "partitions and registered model versions; keep the champion's and challenger's needs. "
            "dry_run: plan only."
        ),
    )
    def apply_retention(context: OpExecutionContext, config: RetentionConfig):
        if not r.enabled:
            context.log.info("retention is off: set retention.days and/or retention.model_version_days in the spec")
        newest = daily.get_last_partition_key()
        if newest is None:
            context.log.info("no complete day yet: nothing to do")
            return Output(None, metadata={"deleted": 0})
        registry = context.resources.mlflow.registry(spec)
        try:
            decisions = retention.plan(spec, base, registry, newest)
        except RegistryError as exc:
            raise mlflow_failure(f"retention: cannot read the registry (nothing deleted): {exc}", exc) from None
        for line in retention.describe(decisions):
            context.log.info(line)
        if config.dry_run:
            context.log.info("dry run: nothing deleted")
            done = []
        else:
            try:
                done = retention.apply(decisions, base, registry, context.log_event, context.log.info)
            except RegistryError as exc:
                raise mlflow_failure(
                    f"retention: stopped at a model version (everything before it is done): {exc}", exc
                ) from None
        return Output(None, metadata=_plan_metadata(decisions, done, config.dry_run))

    @job(
        name=p.qualified("retention_job"),
        tags=p.tags,
        description=(
            "Delete data partitions and model versions older than the spec's retention (never the "
            f"champion's or challenger's needs). Config ops.{p.qualified('apply_retention')}.config.dry_run: "
            "true logs the plan only."
        ),
    )
    def retention_job():
        apply_retention()

    return retention_job, _retention_schedule(p, retention_job)


def _retention_schedule(p: Pipeline, retention_job):
    spec, r = p.spec, p.spec.retention

    @schedule(
        name=p.qualified("retention_schedule"),
        job=retention_job,
        cron_schedule=r.cron,
        execution_timezone=spec.automation_timezone,
        default_status=DefaultScheduleStatus.RUNNING if r.enabled else DefaultScheduleStatus.STOPPED,
        description=f"Retention ({r.cron}); RUNNING once retention.days or retention.model_version_days is set.",
    )
    def retention_schedule(context):
        return RunRequest(tags={TRIGGER_TAG: "retention_schedule", **p.tags})

    return retention_schedule
