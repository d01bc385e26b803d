"""Reproduce a registered version: retrain it from its training set, its recorded spec and this code,
then compare its holdout predictions with the registered version's, byte for byte.

`ml-assets reproduce --version N` and the `<model>__reproduce_job` both call `reproduce_version`. The
training set is the one the store holds for the version's last window day (`training_set/<day>`):
if that day's data was changed since, the data fingerprint says so and the predictions differ.
"""

from __future__ import annotations

import json

from ml_assets.core.evaluation import predict_scores
from ml_assets.core.reproduce import Reproduction, compare_predictions, compare_provenance
from ml_assets.core.spec import PipelineSpec, parse_spec
from ml_assets.core.training import fingerprint, split, train_candidate
from ml_assets.io.estimators import allowed
from ml_assets.io.files import partition_path, read_parquet
from ml_assets.io.provenance import git_commit, package_versions
from ml_assets.io.registry import Registry


class ReproduceError(RuntimeError):
    pass


def reproduce_version(spec: PipelineSpec, base, registry: Registry, version: str, say=print) -> Reproduction:
    """Retrain version `version` and compare; ReproduceError when it cannot even be tried."""
    run_id, tags = registry.version_tags(version)
    if "training_set_fingerprint" not in tags or "candidate" not in tags:
        raise ReproduceError(f"v{version} of {registry.model_name} was not registered by ml-assets (no training tags)")
    # The recorded spec is resolved already (no ${VAR} left): validated as it was, without the environment.
    recorded = json.loads(registry.read_artifact(run_id, "spec/spec.resolved.json"))
    recorded_spec = parse_spec(recorded, f"v{version}'s recorded spec", allowed())
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
        f"retraining v{version} ({candidate.name}, {candidate.estimator}) on the window ending {day}: "
        f"{len(training_set)} rows"
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
