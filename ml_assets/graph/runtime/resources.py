"""Resources: MLflow tracking + registry.

Why not dagster-mlflow's `mlflow_tracking` resource: it is a legacy `@resource` that, in every step
process, looks up "the" MLflow run of the Dagster run by tag and creates one when none is found.
With candidates training in parallel steps, two processes can both find none and create two runs;
and its `end_mlflow_on_run_finished` hook ends the run after whichever step it sees last, which is
wrong with parallel steps and checks (dagster issue #21872). So this small ConfigurableResource
wraps `MlflowClient`: one step creates the run, the others find it after it by tag (they depend on
that step), and the run is ended explicitly, FAILED by a failure hook.
"""

from __future__ import annotations

from dagster import ConfigurableResource, Failure
from pydantic import Field

from ml_assets.core.spec import PipelineSpec
from ml_assets.io.registry import Registry, RegistryError, default_tracking_uri

# One Registry (one MLflow client, one store connection) per process and model: a run's steps, and a
# process scoring many days, open it once.
_REGISTRIES: dict[tuple[str, str, str], Registry] = {}


def mlflow_failure(message: str, exc: RegistryError) -> Failure:
    """A step failure caused by MLflow: the step's retry policy retries it only when it may
    pass later (server down, timeout); a refusal fails at once."""
    return Failure(description=message, allow_retries=exc.transient, metadata={"transient": exc.transient})


class MlflowRegistry(ConfigurableResource):
    tracking_uri: str | None = Field(
        default=None,
        description="MLflow tracking/registry URI; default $MLFLOW_TRACKING_URI, else SQLite under "
        "$ML_ASSETS_HOME/mlflow.",
    )

    def registry(self, spec: PipelineSpec) -> Registry:
        """One model's view of the store: its experiment (the spec's name) and registered model.
        Shared by every model of the code location: one server, one resource."""
        key = (self.tracking_uri or default_tracking_uri(), spec.name, spec.registered_model_name)
        if key not in _REGISTRIES:
            _REGISTRIES[key] = Registry(*key)
        return _REGISTRIES[key]
