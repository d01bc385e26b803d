"""Scoring: `batch_predictions` (one day's features scored by the registry's champion, streamed)
and, when the spec publishes online, `prediction_store`. Thin wiring over `ml_assets.core.scoring`."""

import pyarrow.compute as pc
from dagster import AssetCheckKey, AssetExecutionContext, MetadataValue, asset

from ml_assets.core.rollout import AWAITING, OPEN_STATES, experiment_id
from ml_assets.core.scoring import score_batches, score_experiment_batch
from ml_assets.graph.assets.checks import guarded_check_keys
from ml_assets.graph.assets.serving import build_prediction_store
from ml_assets.graph.context import Pipeline
from ml_assets.graph.runtime.errors import fail
from ml_assets.graph.runtime.instance import blocking_check_failures
from ml_assets.graph.runtime.resources import MlflowRegistry, mlflow_failure
from ml_assets.graph.runtime.versions import code_version
from ml_assets.io.experiments import challenger_tags
from ml_assets.io.parquet_parts import ParquetParts, PartStream
from ml_assets.io.registry import RegistryError


def _awaiting_approval(registry) -> str | None:
    version, tags = challenger_tags(registry)
    return version if tags.get("rollout.state") == AWAITING else None


def load_champion(p: Pipeline, mlflow: MlflowRegistry, day: str):
    """The registry's champion, checked to take the spec's inputs."""
    registry = mlflow.registry(p.spec)
    try:
        champion = registry.champion()
        waiting = _awaiting_approval(registry) if champion is None else None
    except RegistryError as exc:
        raise mlflow_failure(f"batch_predictions {day}: cannot load the champion: {exc}", exc) from None
    if waiting:
        raise fail(
            f"batch_predictions {day}: registered model '{registry.model_name}' has no champion yet: v{waiting} "
            f"awaits approval (rollout.approval: required): ml-assets approve --model {p.name} --version {waiting}"
        )
    if champion is None:
        raise fail(
            f"batch_predictions {day}: registered model '{registry.model_name}' has no champion at "
            f"{registry.tracking_uri}; materialize model ({p.qualified('training_job')}) first, or see the "
            "evaluation report for why the last model was held back"
        )
    if champion.inputs is not None and champion.inputs != p.spec.model_inputs:
        raise fail(
            f"batch_predictions {day}: the champion (v{champion.version}) was trained on inputs "
            f"{champion.inputs}, but the spec now lists {p.spec.model_inputs} {p.in_spec}; "
            f"train a model for this spec ({p.qualified('training_job')}) first"
        )
    return champion


def load_challenger(p: Pipeline, mlflow: MlflowRegistry, champion, day: str):
    """(challenger, experiment id) while a live experiment runs (`rollout.mode` shadow or ab), else
    (None, None). A challenger that takes other inputs than the champion is not scored (the log says so)."""
    if p.spec.rollout.mode == "immediate":
        return None, None
    registry = mlflow.registry(p.spec)
    try:
        version, tags = challenger_tags(registry)
        if version is None:
            return None, None
        if tags.get("rollout.state") not in OPEN_STATES or tags.get("rollout.champion") != champion.version:
            return None, None  # not on trial, or against another champion (e.g. after a rollback)
        challenger = registry.load_version(version)
    except RegistryError as exc:
        raise mlflow_failure(f"batch_predictions {day}: cannot load the challenger: {exc}", exc) from None
    if challenger.inputs is not None and challenger.inputs != p.spec.model_inputs:
        raise fail(
            f"batch_predictions {day}: the challenger (v{version}) takes inputs {challenger.inputs}, not the spec's "
            f"{p.spec.model_inputs} {p.in_spec}; stop its experiment (ml-assets reject --model {p.name} "
            f"--version {version}) or restore the spec"
        )
    return challenger, tags.get("rollout.experiment") or experiment_id(registry.model_name, version)


def scored_parts(p: Pipeline, champion, features: ParquetParts, log, day: str, challenger=None, experiment=None):
    """The day scored one Arrow record batch at a time, with progress in the log."""
    total = features.num_rows
    seen = {"rows": 0, "score_sum": 0.0, "logged": 0}

    def parts():
        if challenger is None:
            yield from score_batches(champion.pipeline, champion.version, features.batches(), p.spec)
            return
        for batch in features.batches():
            yield score_experiment_batch(
                (champion.pipeline, champion.version),
                (challenger.pipeline, challenger.version),
                batch,
                p.spec,
                experiment,
            )

    def scored():
        for part in parts():
            seen["rows"] += len(part)
            seen["score_sum"] += float(pc.sum(part.column("score")).as_py() or 0.0)
            if seen["rows"] - seen["logged"] >= 1_000_000 or seen["rows"] == total:
                seen["logged"] = seen["rows"]
                log.info(f"batch_predictions {day}: scored {seen['rows']:,}/{total:,} rows")
            yield part

    def summary() -> dict:
        return {"mean_score": MetadataValue.float(seen["score_sum"] / seen["rows"] if seen["rows"] else 0.0)}

    # Written by the IO manager as the parts come: nothing replaces the stored day until all are scored.
    return PartStream(scored(), summary)


def build_batch_predictions(p: Pipeline, guarded: list[AssetCheckKey]):
    @asset(
        key_prefix=[p.name],
        retry_policy=p.retry,
        partitions_def=p.daily,
        group_name=p.qualified("scoring"),
        kinds={"pandas", "parquet"},
        # The threshold (model section) decides `prediction`; columns and task the rest.
        code_version=code_version(
            p.spec, score_batches, ParquetParts, sections=("model", "columns", "task", "rollout")
        ),
        deps=[p.key("model")],
        # The day is read and scored one Arrow record batch at a time and written part by part:
        # memory is bounded by the batch, not by the size of the day.
        ins={"features": p.asset_in("features", metadata={"stream": True})},
        description=(
            "One day's features scored by the MLflow registry's `champion` (models:/<name>@champion): "
            "entity id, event time, score, prediction, model_version (the registry version used). "
            "Streamed: the day is never held in memory whole."
        ),
    )
    def batch_predictions(context: AssetExecutionContext, features: ParquetParts, mlflow: MlflowRegistry) -> PartStream:
        day = context.partition_key
        if failed := blocking_check_failures(context.instance, guarded, [day], strict_day=True):
            raise fail(
                f"batch_predictions {day}: not scored: blocking checks failed on this day's data: "
                f"{', '.join(failed)}. Fix the data (see the check results), re-materialize the day, then score it."
            )
        champion = load_champion(p, mlflow, day)
        challenger, experiment = load_challenger(p, mlflow, champion, day)
        context.add_output_metadata(
            {
                "model_name": champion.name,
                "model_version": champion.version,
                "model_fingerprint": champion.tags.get("model_fingerprint", ""),
                **(
                    {"experiment": experiment, "challenger_version": challenger.version, "rollout": p.spec.rollout.mode}
                    if challenger
                    else {}
                ),
            }
        )
        if challenger is not None:
            how = (
                f"served to a share of {p.spec.rollout.share:g} of entities"
                if p.spec.rollout.mode == "ab"
                else ("scored beside it, not served")
            )
            context.log.info(
                f"batch_predictions {day}: champion v{champion.version}; challenger v{challenger.version} {how}"
            )
        return scored_parts(p, champion, features, context.log, day, challenger, experiment)

    return batch_predictions


def build_scoring(p: Pipeline, asset_checks) -> list:
    assets = [build_batch_predictions(p, guarded_check_keys(p.name, asset_checks))]
    if p.spec.prediction_store.enabled:
        assets.append(build_prediction_store(p))
    return assets
