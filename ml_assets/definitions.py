"""Assemble the Definitions from the pipeline spec.

The spec is read from $ML_ASSETS_SPEC (default: specs/demo.yaml in this project) and
validated when the code location loads, so a bad spec fails there with the field named.
"""

from __future__ import annotations

import os
from pathlib import Path

from dagster import Definitions, definitions

from ml_assets.core.spec import PipelineSpec, load_spec
from ml_assets.defs.assets import build_assets, daily_partitions
from ml_assets.defs.checks import build_checks
from ml_assets.defs.executors import executors_from_env
from ml_assets.defs.io_managers import ModelStore, ParquetStore, ReportStore
from ml_assets.defs.jobs import build_jobs
from ml_assets.defs.monitoring import build_monitoring
from ml_assets.defs.policies import apply_policies, step_retry_policy
from ml_assets.defs.resources import MlflowRegistry
from ml_assets.defs.retention import build_retention
from ml_assets.defs.schedules import build_schedules
from ml_assets.defs.sensors import build_alert_sensor, build_automation_sensor, build_landing_sensor

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SPEC = PROJECT_ROOT / "specs" / "demo.yaml"


def spec_path_from_env() -> Path:
    return Path(os.environ.get("ML_ASSETS_SPEC", str(DEFAULT_SPEC)))


def build_definitions(
    spec: PipelineSpec,
    spec_path: str,
    storage_uri: str | None = None,
    tracking_uri: str | None = None,
    asset_checks: list | None = None,
) -> Definitions:
    """`asset_checks` are added to the spec's own checks; blocking ones on raw_data/features/
    training_set also guard training and scoring."""
    store = {"base_uri": storage_uri, "prefix": spec.name}
    mlflow = MlflowRegistry(tracking_uri=tracking_uri, experiment_name=spec.name, model_name=spec.registered_model_name)
    daily = daily_partitions(spec)
    checks, drift = build_checks(spec, daily, ParquetStore(**store).base_path())
    monitoring, monitoring_checks, monitoring_sensors = build_monitoring(spec, daily, step_retry_policy(spec), ParquetStore(**store).base_path())
    checks = [*checks, *(asset_checks or [])]
    daily_executor, training_executor = executors_from_env()
    retention_job, retention_schedule = build_retention(spec, daily, ParquetStore(**store).base_path())
    return Definitions(
        # Automation conditions and freshness policies come from the spec's `automation`
        # section, applied here to every asset at once (see defs/policies.py).
        assets=apply_policies([*build_assets(spec, spec_path, checks), *drift, *monitoring], spec),
        asset_checks=[*checks, *monitoring_checks],
        jobs=[*build_jobs(training_executor, serving=spec.prediction_store.enabled), retention_job],
        sensors=[build_landing_sensor(spec, daily), *monitoring_sensors, build_automation_sensor(spec), build_alert_sensor(spec)],
        schedules=[*build_schedules(spec), retention_schedule],
        # By default daily runs (ingest, features, scoring, checks) run in one process: a run then
        # costs one set of imports, not one per step; training_job and full_pipeline_job train the
        # candidates in parallel processes. ML_ASSETS_EXECUTOR=celery sends every step to Celery
        # workers instead (see defs/executors.py).
        executor=daily_executor,
        resources={
            "io_manager": ParquetStore(**store),
            "model_io_manager": ModelStore(**store),
            "report_io_manager": ReportStore(**store),
            "mlflow": mlflow,
        },
    )


@definitions
def defs() -> Definitions:
    """Loaded lazily by Dagster's tools, so importing the package does not read the spec."""
    path = spec_path_from_env()
    return build_definitions(load_spec(path), str(path))
