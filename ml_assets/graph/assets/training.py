"""Training: `training_set` (the window ending on a day), `model` (one step per candidate, in
parallel, then selection + registry + gate) and `evaluation_report`, tracked in one MLflow run per
Dagster run. Thin wiring over `ml_assets.core.training`, `ml_assets.core.gate` and `ml_assets.io.registry`."""

import time
import warnings

import pandas as pd
from dagster import (
    AssetCheckKey,
    AssetExecutionContext,
    BetaWarning,
    HookContext,
    In,
    LastPartitionMapping,
    MetadataValue,
    Nothing,
    OpExecutionContext,
    Out,
    TimeWindowPartitionMapping,
    asset,
    failure_hook,
    graph_asset,
    op,
)

from ml_assets.core import training as core_training
from ml_assets.core.challenger import reference_profile
from ml_assets.core.gate import decide
from ml_assets.core.spec import CandidateSpec
from ml_assets.core.training import (
    SPLIT_COLUMN,
    ModelBundle,
    TrainingDataError,
    assemble_training_set,
    train_candidate,
    training_info,
    window_days,
)
from ml_assets.graph.assets import promotion
from ml_assets.graph.assets.checks import guarded_check_keys
from ml_assets.graph.assets.evaluation import build_evaluation_report
from ml_assets.graph.context import Pipeline
from ml_assets.graph.runtime.errors import fail
from ml_assets.graph.runtime.instance import blocking_check_failures
from ml_assets.graph.runtime.io_managers import RUN_DAY
from ml_assets.graph.runtime.resources import mlflow_failure
from ml_assets.graph.runtime.versions import code_version
from ml_assets.io.provenance import git_commit, package_versions, spec_artifacts
from ml_assets.io.registry import RegistryError


def rolling_window(days: int) -> TimeWindowPartitionMapping:
    # allow_nonexistent_upstream_partitions: a window reaching before the start date yields fewer
    # days, which assemble_training_set reports plainly, instead of Dagster's out-of-range error.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BetaWarning)
        return TimeWindowPartitionMapping(
            start_offset=-(days - 1), end_offset=0, allow_nonexistent_upstream_partitions=True
        )


def window_metadata(data: pd.DataFrame, features: dict, blocked: dict, day: str, p: Pipeline) -> dict:
    counts = data[SPLIT_COLUMN].value_counts()
    calendar = window_days(day, p.spec)
    return {
        "train_rows": MetadataValue.int(int(counts.get("train", 0))),
        "holdout_rows": MetadataValue.int(int(counts.get("holdout", 0))),
        "first_day": calendar[0],
        "last_day": calendar[-1],
        "missing_days": MetadataValue.json([d for d in calendar if d not in features]),
        "excluded_days": MetadataValue.json({d: f for d, f in sorted(blocked.items())}),
    }


def build_training_set(p: Pipeline, guarded: list[AssetCheckKey]):
    spec, window = p.spec, p.spec.training.window_days

    @asset(
        key_prefix=[p.name],
        retry_policy=p.retry,
        partitions_def=p.daily,
        group_name=p.qualified("training"),
        kinds={"pandas", "parquet"},
        code_version=code_version(spec, assemble_training_set, sections=("training", "columns")),
        # A day of the window with no data is skipped (reported as missing_days), not an error.
        ins={
            "features": p.asset_in(
                "features", partition_mapping=rolling_window(window), metadata={"allow_missing_partitions": True}
            )
        },
        description=(
            f"The training window ending on this day: the last {window} days of features with labels; "
            f"the last {spec.training.holdout_days} days are the holdout (split by time, never by row)."
        ),
    )
    def training_set(context: AssetExecutionContext, features: dict[str, pd.DataFrame]) -> pd.DataFrame:
        day = context.partition_key
        blocked = {d: blocking_check_failures(context.instance, guarded, [d], strict_day=True) for d in features}
        blocked = {d: fails for d, fails in blocked.items() if fails}
        for d, fails in sorted(blocked.items()):
            context.log.warning(f"training_set {day}: day {d} left out: blocking checks failed: {', '.join(fails)}")
        try:
            data = assemble_training_set(features, spec, excluded=set(blocked), last_day=day)
        except TrainingDataError as exc:
            hint = ""
            if not features:
                calendar = window_days(day, spec)
                hint = (
                    f"; ingest the window's days first (`ml-assets run --from {calendar[0]} --to {calendar[-1]}`, "
                    f"or {p.qualified('ingest_job')} per day)"
                )
            raise fail(f"training_set {day}: {exc}{hint} {p.in_spec}") from None
        context.add_output_metadata(window_metadata(data, features, blocked, day, p))
        return data

    return training_set


def build_model(p: Pipeline, guarded: list[AssetCheckKey]):
    """`model`: a graph of ops, so the candidates train in parallel steps."""
    spec = p.spec
    # The day the run is for (training_job for D trains on the window ending D); with no partition,
    # the newest stored day. LastPartitionMapping is what automation sees: the newest day.
    training_set_in = {
        "training_set": p.asset_in("training_set", partition_mapping=LastPartitionMapping(), metadata={RUN_DAY: True})
    }
    start = start_training_op(p)
    trains = [candidate_op(p, c) for c in spec.model.candidates]
    select = promotion.select_and_register_op(p, guarded)
    hook = mlflow_failure_hook(p)

    @graph_asset(
        name="model",
        key_prefix=[p.name],
        ins=training_set_in,
        group_name=p.qualified("training"),
        kinds={"scikitlearn", "mlflow"},
        code_version=code_version(
            spec, train_candidate, decide, reference_profile, sections=("model", "registry", "seed", "task")
        ),
        hooks={hook},
        description=(
            "Every candidate of the spec trained on the training_set of the run's day (the newest day when the run "
            "has none), each in its own step (parallel under the multiprocess executor); the best is registered in "
            "MLflow and becomes `champion` only if the gate allows (else `challenger`). Stored with skops (no pickle)."
        ),
    )
    def model(training_set):
        started = start(training_set)
        return select(training_set, [t(training_set, started) for t in trains])

    return model


def mlflow_failure_hook(p: Pipeline):
    @failure_hook(name=p.qualified("mark_mlflow_run_failed"), required_resource_keys={"mlflow"})
    def mark_mlflow_run_failed(context: HookContext) -> None:
        """A failed training step ends the Dagster run's MLflow run as FAILED (never left RUNNING)."""
        try:
            registry = context.resources.mlflow.registry(p.spec)
            run_id = registry.find_run(context.run_id)
            if run_id:
                registry.end_run(run_id, "FAILED")
        except RegistryError as exc:  # MLflow itself may be what failed: say so, do not mask the step's error
            context.log.warning(f"could not mark the MLflow run FAILED: {exc}")

    return mark_mlflow_run_failed


def start_training_op(p: Pipeline):
    spec = p.spec

    @op(
        retry_policy=p.retry,
        name=p.qualified("start_training_run"),
        required_resource_keys={"mlflow"},
        ins={"training_set": In(metadata={RUN_DAY: True})},
        out=Out(Nothing),
        description="Create this Dagster run's MLflow run: spec (artifact + hash), code commit, package versions, "
        "window, data fingerprint.",
    )
    def start_training_run(context: OpExecutionContext, training_set: pd.DataFrame) -> None:
        registry = context.resources.mlflow.registry(spec)
        info = training_info(training_set, spec)
        tags = {
            "spec_name": spec.name,
            "spec_hash": spec.spec_hash,
            **{
                k: info[k]
                for k in ("window_first_day", "window_last_day", "training_set_fingerprint", "model_fingerprint")
            },
            **git_commit(),
        }
        try:
            run_id = registry.start_run(
                context.run_id, f"{spec.name}-{info['window_last_day']}-{context.run_id[:8]}", tags
            )
            for name, text in spec_artifacts(p.spec_path, spec).items():
                registry.log_text(run_id, text, name)
            registry.log_dict(run_id, package_versions(), "environment/packages.json")
            registry.log_dict(run_id, info, "training/training_info.json")
        except RegistryError as exc:
            raise mlflow_failure(f"model: cannot start tracking, so training does not start: {exc}", exc) from None
        context.log.info(f"MLflow run {run_id} at {registry.tracking_uri} ({registry.experiment_name})")

    return start_training_run


def candidate_op(p: Pipeline, candidate: CandidateSpec):
    spec = p.spec

    @op(
        retry_policy=p.retry,
        name=p.qualified(f"train_{candidate.name}"),
        required_resource_keys={"mlflow"},
        ins={"training_set": In(metadata={RUN_DAY: True}), "started": In(Nothing)},
        out=Out(io_manager_key="model_io_manager"),
        description=f"Fit candidate '{candidate.name}' ({candidate.estimator}) and score it on the holdout.",
        tags={"candidate": candidate.name},
    )
    def train(context: OpExecutionContext, training_set: pd.DataFrame) -> ModelBundle:
        started = time.monotonic()
        context.log.info(f"training '{candidate.name}' on {int((training_set[SPLIT_COLUMN] == 'train').sum())} rows")
        try:
            pipe, metrics = core_training.train_candidate(training_set, spec, candidate)
        except ValueError as exc:
            raise fail(f"model: candidate '{candidate.name}' failed to train: {exc} {p.in_spec}") from None
        took = time.monotonic() - started
        context.log.info(
            f"'{candidate.name}': holdout {spec.model.metric} {metrics[spec.model.metric]:.5f} ({took:.1f} s)"
        )
        registry = context.resources.mlflow.registry(spec)
        try:
            run_id = registry.find_run(context.run_id)
            params = {"estimator": candidate.estimator, **pipe.named_steps["estimator"].get_params()}
            registry.log_candidate(run_id, candidate.name, params, {**metrics, "fit_seconds": took})
        except RegistryError as exc:
            raise mlflow_failure(f"model: logging candidate '{candidate.name}' failed: {exc}", exc) from None
        return ModelBundle.one_candidate(candidate.name, pipe, metrics)

    return train


def build_training(p: Pipeline, asset_checks) -> list:
    guarded = guarded_check_keys(p.name, asset_checks)
    return [build_training_set(p, guarded), build_model(p, guarded), build_evaluation_report(p)]
