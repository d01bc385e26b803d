"""One model's definitions from its spec, and what the models of a code location share.

`build_pipeline` is what the `MLPipeline` component (component.py) returns for each instance; the
code location (ml_assets/definitions.py) adds `shared_definitions` once: the IO managers, the MLflow
resource, the executor and the run-failure alerts.
"""

from __future__ import annotations

from dagster import Definitions

from ml_assets.core.spec import PipelineSpec
from ml_assets.graph.assets.checks import build_checks
from ml_assets.graph.assets.ingest import build_ingest
from ml_assets.graph.assets.monitoring import build_monitoring
from ml_assets.graph.assets.rollout import build_rollout
from ml_assets.graph.assets.scoring import build_scoring
from ml_assets.graph.assets.training import build_training
from ml_assets.graph.automation.alerts import build_alert_sensor
from ml_assets.graph.automation.jobs import build_jobs
from ml_assets.graph.automation.landing import build_landing_sensor
from ml_assets.graph.automation.policies import apply_policies
from ml_assets.graph.automation.reproduce import build_reproduce_job
from ml_assets.graph.automation.retention import build_retention
from ml_assets.graph.automation.schedules import build_schedules
from ml_assets.graph.automation.sensors import (
    build_approval_sensor,
    build_automation_sensor,
    build_dead_run_sensor,
    build_labels_sensor,
)
from ml_assets.graph.context import Pipeline, promotion_pool
from ml_assets.graph.runtime.executors import executors_from_env
from ml_assets.graph.runtime.io_managers import ModelStore, ParquetStore, ReportStore
from ml_assets.graph.runtime.resources import MlflowRegistry


def pipeline_context(spec: PipelineSpec, spec_path: str, storage_uri: str | None = None, asset_checks=()) -> Pipeline:
    return Pipeline(
        spec, str(spec_path), ParquetStore(base_uri=storage_uri).base_path() / spec.name, tuple(asset_checks)
    )


def build_pipeline(p: Pipeline) -> Definitions:
    """Everything one model defines: its assets, checks, jobs, sensors and schedules, all named
    under the model's name. `p.extra_checks` are added to the spec's own checks; blocking ones on
    raw_data/features/training_set also guard training and scoring."""
    checks, drift = build_checks(p)
    checks = [*checks, *p.extra_checks]
    monitoring, monitoring_checks = build_monitoring(p)
    rollout, rollout_checks = build_rollout(p)
    _, training_executor = executors_from_env()
    retention_job, retention_schedule = build_retention(p)
    # Automation conditions and freshness policies come from the spec's `automation` section,
    # applied here to every asset of the model at once (see policies.py).
    assets = [*build_ingest(p), *build_training(p, checks), *build_scoring(p, checks), *drift, *monitoring, *rollout]
    return Definitions(
        assets=apply_policies(assets, p),
        asset_checks=[*checks, *monitoring_checks, *rollout_checks],
        jobs=[*build_jobs(p, training_executor), retention_job, build_reproduce_job(p)],
        sensors=[
            *([build_labels_sensor(p)] if p.spec.labels is not None else []),
            *([build_approval_sensor(p)] if p.spec.rollout.approval == "required" else []),
        ],
        schedules=[*build_schedules(p), retention_schedule],
    )


def shared_definitions(
    pipelines: list[Pipeline],
    storage_uri: str | None = None,
    tracking_uri: str | None = None,
) -> Definitions:
    """What every model of the code location uses: one asset store (each model under its own
    prefix), one MLflow server (each model its experiment and registered model), one executor, one
    automation condition sensor over every model's assets, one landing sensor over every model's
    landing location (`pipelines`), one run-failure alert sensor. The alerts are on unless every
    model turns automation off, and look as often as the most eager model's automation."""
    daily_executor, _ = executors_from_env()
    landing = build_landing_sensor(pipelines)
    automated = [p.spec.automation for p in pipelines if p.spec.automation.enabled]
    alerts_on = bool(automated) or not pipelines
    alert_interval_seconds = min((a.automation_interval_seconds for a in automated), default=30)
    return Definitions(
        sensors=[
            *([landing] if landing is not None else []),
            build_automation_sensor(pipelines),
            build_alert_sensor(alerts_on, alert_interval_seconds),
            build_dead_run_sensor(
                sorted(promotion_pool(p.name) for p in pipelines),
                alert_interval_seconds,
                runs_folder=ParquetStore(base_uri=storage_uri).base_path() / "_runs",
            ),
        ],
        # By default daily runs (ingest, features, scoring, checks) run in one process: a run then
        # costs one set of imports, not one per step; training_job and full_pipeline_job train the
        # candidates in parallel processes. ML_ASSETS_EXECUTOR=celery sends training steps to Celery
        # workers, celery_all every step (see executors.py).
        executor=daily_executor,
        resources={
            "io_manager": ParquetStore(base_uri=storage_uri),
            "model_io_manager": ModelStore(base_uri=storage_uri),
            "report_io_manager": ReportStore(base_uri=storage_uri),
            "mlflow": MlflowRegistry(tracking_uri=tracking_uri),
        },
    )


def build_definitions(
    spec: PipelineSpec,
    spec_path: str,
    storage_uri: str | None = None,
    tracking_uri: str | None = None,
    asset_checks: list | None = None,
) -> Definitions:
    """A code location of one model (tests, `ML_ASSETS_SPEC`): its pipeline plus the shared parts."""
    p = pipeline_context(spec, spec_path, storage_uri, asset_checks or ())
    model = build_pipeline(p)
    return Definitions.merge(model, shared_definitions([p], storage_uri, tracking_uri))
