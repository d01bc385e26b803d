"""Reproduce a registered version: retrain it from its training set, its recorded spec and this code,
then compare its holdout predictions with the registered version's, byte for byte.

`ml-assets reproduce --version N` and the `<model>__reproduce_job` both call `reproduce_version`. The
training set is the one the store holds for the version's last window day (`training_set/<day>`):
if that day's data was changed since, the data fingerprint says so and the predictions differ.
"""

import json

from dagster import Config, Failure, OpExecutionContext, job, op
from pydantic import Field

from ml_assets.core.evaluation import predict_scores
from ml_assets.core.reproduce import Reproduction, compare_predictions, compare_provenance
from ml_assets.core.spec import PipelineSpec, parse_spec
from ml_assets.core.training import fingerprint, split, train_candidate
from ml_assets.graph.context import Pipeline
from ml_assets.io.files import partition_path, read_parquet
from ml_assets.io.provenance import git_commit, package_versions
from ml_assets.io.registry import Registry, RegistryError


class ReproduceError(RuntimeError):
    pass


def reproduce_version(spec: PipelineSpec, base, registry: Registry, version: str, say=print) -> Reproduction:
    """Retrain version `version` and compare; ReproduceError when it cannot even be tried."""
    run_id, tags = registry.version_tags(version)
    if "training_set_fingerprint" not in tags or "candidate" not in tags:
        raise ReproduceError(f"v{version} of {registry.model_name} was not registered by ml-assets (no training tags)")
    recorded_spec = parse_spec(
        json.loads(registry.read_artifact(run_id, "spec/spec.resolved.json")), f"v{version}'s recorded spec"
    )
    day = tags["window_last_day"]
    path = partition_path(base, "training_set", day)
    try:
        training_set = read_parquet(path)
    except FileNotFoundError:
        raise ReproduceError(
            f"v{version} trained on the window ending {day}, whose training set is no longer in the store "
            f"({path}); materialize training_set for {day} to rebuild it"
        ) from None
    candidate = next((c for c in recorded_spec.model.candidates if c.name == tags["candidate"]), None)
    if candidate is None:
        raise ReproduceError(f"v{version}'s candidate {tags['candidate']!r} is not in its recorded spec")
    say(
        f"retraining v{version} ({candidate.name}, {candidate.estimator}) on the window ending {day}: {len(training_set)} rows"
    )
    retrained, _ = train_candidate(training_set, recorded_spec, candidate)
    _, _, x_hold, _ = split(training_set, recorded_spec)
    registered = registry.load_version(version).pipeline
    verdict = compare_predictions(
        predict_scores(registered, x_hold, recorded_spec), predict_scores(retrained, x_hold, recorded_spec)
    )
    now = {"training_set_fingerprint": fingerprint(training_set), "spec_hash": spec.spec_hash, **git_commit()}
    packages_then = json.loads(registry.read_artifact(run_id, "environment/packages.json"))
    return Reproduction(version, len(x_hold), verdict, compare_provenance(tags, now, packages_then, package_versions()))


class ReproduceConfig(Config):
    version: str = Field(description="The registered model version to retrain and compare.")


def build_reproduce_job(p: Pipeline):
    @op(
        name=p.qualified("reproduce"),
        required_resource_keys={"mlflow"},
        description="Retrain a registered version from its training set and recorded spec; compare holdout predictions byte for byte.",
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
