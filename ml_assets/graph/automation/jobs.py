"""Jobs: named selections of one model's asset graph, launchable from the UI and the CLI.

Every job is `<model>__<name>` (`demo__training_job`) and carries the tag `ml_assets/model`."""

from dagster import Config, ExecutorDefinition, OpExecutionContext, define_asset_job, job, op
from pydantic import Field

from ml_assets.graph.context import Pipeline
from ml_assets.graph.runtime.resources import mlflow_failure
from ml_assets.io.registry import RegistryError

INGEST = ("raw_data", "features", "feature_drift")
TRAINING = ("training_set", "model", "evaluation_report")
PREDICTIONS = ("batch_predictions", "realized_quality")

# The run queue allows one run with this tag per model at a time (dagster.yaml, deploy/dagster.yaml:
# applyLimitPerUniqueValue): two trainings of one model would race to register versions and move
# its champion alias; two models train side by side.
TRAINS_TAG = "ml_assets/trains"
# Scoring runs of every model share a limit in production (deploy/dagster.yaml).
SCORES_TAG = "ml_assets/scores"


# Dagster's run monitoring fails a run that runs longer than its dagster/max_runtime (seconds): a
# hung daily run would otherwise hold its queue slot forever. A day's ingest or scoring takes
# seconds to minutes; training, up to the candidates' cost (hours for big grids).
MAX_RUNTIME_TAG = "dagster/max_runtime"
DAILY_MAX_RUNTIME = {MAX_RUNTIME_TAG: str(2 * 3600)}
TRAINING_MAX_RUNTIME = {MAX_RUNTIME_TAG: str(12 * 3600)}


def trains(p: Pipeline) -> dict[str, str]:
    return {TRAINS_TAG: p.name, **TRAINING_MAX_RUNTIME, **p.tags}


def build_jobs(p: Pipeline, training_executor: ExecutorDefinition) -> list:
    serving = ("prediction_store",) if p.spec.prediction_store.enabled else ()
    scores = {SCORES_TAG: p.name, **DAILY_MAX_RUNTIME, **p.tags}
    daily = {**DAILY_MAX_RUNTIME, **p.tags}
    return [
        define_asset_job(
            p.qualified("ingest_job"),
            selection=p.select(*INGEST),
            tags=daily,
            description="Land one day: raw_data -> features (+ feature_drift), with their checks.",
        ),
        define_asset_job(
            p.qualified("training_job"),
            selection=p.select(*TRAINING),
            executor_def=training_executor,
            tags=trains(p),
            description=(
                "Train on the window ending on the run's day (any day, history included; the run needs its day, "
                "as `dagster/partition`): training_set -> model -> evaluation_report. The window's days must be "
                "ingested."
            ),
        ),
        define_asset_job(
            p.qualified("scoring_job"),
            selection=p.select(*INGEST, *PREDICTIONS, *serving),
            tags=scores,
            description="Score one day with the champion: raw_data -> features (+ feature_drift) -> batch_predictions "
            "(-> prediction_store) -> realized_quality, with their checks.",
        ),
        define_asset_job(
            p.qualified("predictions_job"),
            selection=p.select(*PREDICTIONS, *serving),
            tags=scores,
            description=(
                "Score one day that is already ingested with the champion: batch_predictions (-> prediction_store) "
                "-> realized_quality, with their checks. `ml-assets run` scores a backfilled history with it."
            ),
        ),
        define_asset_job(
            p.qualified("full_pipeline_job"),
            selection=p.all_assets(),
            executor_def=training_executor,
            tags=trains(p),
            description="The whole graph for one day (earlier days of the training window must already be ingested).",
        ),
        define_asset_job(
            p.qualified("monitoring_job"),
            # With a live experiment, its decision first: the page shows it (`ml-assets run` ends with this job).
            selection=p.select("monitoring_report", *(["rollout_decision"] if p.spec.rollout.experimenting else [])),
            tags=daily,
            description="Rebuild the monitoring page from every day's realized_quality and feature_drift, and the "
            "registry's history" + (" (after rollout_decision)." if p.spec.rollout.experimenting else "."),
        ),
        build_rollback_job(p),
    ]


class RollbackConfig(Config):
    to_version: str = Field(description="The registered model version that becomes `champion` again.")
    reason: str = Field(description="Why: recorded on the version and in the registered model's history.")


def build_rollback_job(p: Pipeline):
    @op(
        name=p.qualified("set_champion"),
        required_resource_keys={"mlflow"},
        description="Move the `champion` alias to an earlier version, recording who, when and why.",
    )
    def set_champion(context: OpExecutionContext, config: RollbackConfig) -> None:
        registry = context.resources.mlflow.registry(p.spec)
        actor = context.run.tags.get("user") or f"dagster run {context.run_id}"
        try:
            previous = registry.rollback(config.to_version, config.reason, actor=actor)
        except RegistryError as exc:
            raise mlflow_failure(f"rollback failed: {exc}", exc) from None
        context.log.info(f"{registry.model_name}: champion v{previous} -> v{config.to_version} ({config.reason})")

    @job(
        name=p.qualified("rollback_job"),
        tags=p.tags,
        description="Roll the serving model back: set `champion` to an earlier version (config: "
        f"ops.{p.qualified('set_champion')}.config: to_version, reason).",
    )
    def rollback_job():
        set_champion()

    return rollback_job
