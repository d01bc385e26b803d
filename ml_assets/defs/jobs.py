"""Jobs: named selections of the asset graph, launchable from the UI and the CLI."""


from dagster import AssetSelection, Config, ExecutorDefinition, OpExecutionContext, define_asset_job, job, op
from pydantic import Field

from ml_assets.defs.resources import mlflow_failure
from ml_assets.registry import RegistryError

INGEST = AssetSelection.assets("raw_data", "features", "feature_drift")
TRAINING = AssetSelection.assets("training_set", "model", "evaluation_report")
SCORING = AssetSelection.assets("raw_data", "features", "feature_drift", "batch_predictions", "realized_quality")
PREDICTIONS = AssetSelection.assets("batch_predictions", "realized_quality")


# The run queue allows one run with this tag at a time (dagster.yaml, deploy/dagster.yaml): two
# training runs would race to register versions and move the champion alias.
TRAINS = {"ml_assets/trains": "true"}


def build_jobs(training_executor: ExecutorDefinition, serving: bool = False):
    """`serving`: the spec publishes predictions to the online store, so scoring_job does too."""
    store = AssetSelection.assets("prediction_store")
    scoring = (SCORING | store) if serving else SCORING
    return [
        define_asset_job(
            "ingest_job", selection=INGEST,
            description="Land one day: raw_data -> features (+ feature_drift), with their checks.",
        ),
        define_asset_job(
            "training_job", selection=TRAINING, executor_def=training_executor, tags=TRAINS,
            description=(
                "Train on the window ending on the run's day (any day, history included; the newest when the run has "
                "no partition): training_set -> model -> evaluation_report. The window's days must be ingested."
            ),
        ),
        define_asset_job(
            "scoring_job", selection=scoring,
            description="Score one day with the champion: raw_data -> features (+ feature_drift) -> batch_predictions (-> prediction_store) -> realized_quality, with their checks.",
        ),
        define_asset_job(
            "predictions_job", selection=(PREDICTIONS | store) if serving else PREDICTIONS,
            description=(
                "Score one day that is already ingested with the champion: batch_predictions (-> prediction_store) "
                "-> realized_quality, with their checks. `ml-assets run` scores a backfilled history with it."
            ),
        ),
        define_asset_job(
            "full_pipeline_job", selection=AssetSelection.all(), executor_def=training_executor, tags=TRAINS,
            description="The whole graph for one day (earlier days of the training window must already be ingested).",
        ),
        define_asset_job(
            "monitoring_job", selection=AssetSelection.assets("monitoring_report"),
            description="Rebuild the monitoring page from every day's realized_quality and feature_drift, and the registry's history.",
        ),
        rollback_job,
    ]


class RollbackConfig(Config):
    to_version: str = Field(description="The registered model version that becomes `champion` again.")
    reason: str = Field(description="Why: recorded on the version and in the registered model's history.")


@op(required_resource_keys={"mlflow"}, description="Move the `champion` alias to an earlier version, recording who, when and why.")
def set_champion(context: OpExecutionContext, config: RollbackConfig) -> None:
    registry = context.resources.mlflow.registry()
    actor = context.run.tags.get("user") or f"dagster run {context.run_id}"
    try:
        previous = registry.rollback(config.to_version, config.reason, actor=actor)
    except RegistryError as exc:
        raise mlflow_failure(f"rollback failed: {exc}", exc) from None
    context.log.info(f"{registry.model_name}: champion v{previous} -> v{config.to_version} ({config.reason})")


@job(description="Roll the serving model back: set `champion` to an earlier version (config: to_version, reason).")
def rollback_job():
    set_champion()
