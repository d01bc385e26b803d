"""The reproduce job: `<model>__reproduce_job` (config: version) retrains a registered version and
checks that it gives the same predictions, through `ml_assets.io.reproduce.reproduce_version`."""

from dagster import Config, Failure, OpExecutionContext, job, op
from pydantic import Field

from ml_assets.graph.context import Pipeline
from ml_assets.io.registry import RegistryError
from ml_assets.io.reproduce import ReproduceError, reproduce_version


class ReproduceConfig(Config):
    version: str = Field(description="The registered model version to retrain and compare.")


def build_reproduce_job(p: Pipeline):
    @op(
        name=p.qualified("reproduce"),
        required_resource_keys={"mlflow"},
        description="Retrain a registered version from its training set and recorded spec; compare holdout predictions "
        "byte for byte.",
    )
    def reproduce(context: OpExecutionContext, config: ReproduceConfig) -> None:
        registry = context.resources.mlflow.registry(p.spec)
        try:
            outcome = reproduce_version(p.spec, p.base, registry, config.version, say=context.log.info)
        except (ReproduceError, RegistryError) as exc:
            raise Failure(description=f"reproduce v{config.version}: {exc}", allow_retries=False) from None
        if not outcome.reproduced:
            raise Failure(
                description=outcome.summary(),
                allow_retries=False,
                metadata={"differences": outcome.provenance, "predictions": outcome.predictions},
            )
        context.log.info(outcome.summary())

    @job(
        name=p.qualified("reproduce_job"),
        tags=p.tags,
        description="Retrain a registered version (config: version) and check that it gives the same predictions.",
    )
    def reproduce_job():
        reproduce()

    return reproduce_job
