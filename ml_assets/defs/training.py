"""`model` (one step per candidate, in parallel, then selection + registry + gate) and
`evaluation_report`, tracked in one MLflow run per Dagster run. Thin wiring over
`ml_assets.core.training`, `ml_assets.core.gate` and `ml_assets.registry`."""

import base64
import time

import pandas as pd
from dagster import (
    AssetCheckKey,
    AssetExecutionContext,
    AssetIn,
    AssetKey,
    Failure,
    HookContext,
    In,
    LastPartitionMapping,
    MetadataValue,
    Nothing,
    OpExecutionContext,
    Out,
    asset,
    failure_hook,
    graph_asset,
    op,
)

from ml_assets.core.evaluation import HtmlReport, build_report, compute_metrics, predict_scores
from ml_assets.core.gate import decide
from ml_assets.core.profile import build_profile
from ml_assets.core.spec import CandidateSpec, PipelineSpec
from ml_assets.core.training import (
    SPLIT_COLUMN,
    TRAINING_LOGIC_VERSION,
    ModelBundle,
    assemble_bundle,
    fingerprint,
    split,
    train_candidate,
    training_info,
)
from ml_assets.defs.io_managers import RUN_DAY
from ml_assets.defs.policies import step_retry_policy
from ml_assets.defs.resources import MlflowRegistry, mlflow_failure
from ml_assets.registry import CHALLENGER, CHAMPION, RegistryError, git_commit, package_versions, spec_artifacts

# Checks on these assets guard the training data: a failed blocking one holds a new model back.
GUARDED_ASSETS = ("raw_data", "features", "training_set")


def _fail(message: str) -> Failure:
    return Failure(description=message, allow_retries=False)


@failure_hook(required_resource_keys={"mlflow"})
def mark_mlflow_run_failed(context: HookContext) -> None:
    """A failed training step ends the Dagster run's MLflow run as FAILED (never left RUNNING)."""
    try:
        registry = context.resources.mlflow.registry()
        run_id = registry.find_run(context.run_id)
        if run_id:
            registry.end_run(run_id, "FAILED")
    except RegistryError as exc:  # MLflow itself may be what failed: say so, do not mask the step's error
        context.log.warning(f"could not mark the MLflow run FAILED: {exc}")


def guarded_check_keys(asset_checks) -> list[AssetCheckKey]:
    """The blocking checks, among the code location's checks, that guard the training data."""
    guarded = {AssetKey(a) for a in GUARDED_ASSETS}
    return sorted(
        (spec.key for checks_def in asset_checks for spec in checks_def.check_specs
         if spec.asset_key in guarded and spec.blocking),
        key=lambda k: (k.asset_key.to_user_string(), k.name),
    )


def blocking_check_failures(instance, keys: list[AssetCheckKey], days: list[str], strict_day: bool = False) -> list[str]:
    """Blocking checks on the training data whose latest result (overall, or for a window day) failed at ERROR.
    With `strict_day`, only results for those days count (not unpartitioned ones)."""
    from dagster import AssetCheckSeverity
    from dagster._core.event_api import PartitionKeyFilter
    from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus

    if not keys:
        return []
    storage = instance.event_log_storage
    failures = set()
    for day in ([] if strict_day else [None]) + list(days):
        # key=None selects the results of unpartitioned checks; a day, that day's results.
        latest = storage.get_latest_asset_check_execution_by_key(keys, partition_filter=PartitionKeyFilter(key=day))
        for key, record in latest.items():
            evaluation = record.evaluation
            if (
                record.status == AssetCheckExecutionRecordStatus.FAILED
                and evaluation is not None
                and evaluation.severity == AssetCheckSeverity.ERROR
                and record.partition == day
            ):
                failures.add(f"{key.asset_key.to_user_string()}:{key.name}" + (f" ({record.partition})" if record.partition else ""))
    return sorted(failures)


def build_training_assets(spec: PipelineSpec, spec_path: str, guarded_checks: list[AssetCheckKey]):
    retry = step_retry_policy(spec)
    in_spec = f"(spec: {spec_path})"
    # The day the run is for (training_job for D trains on the window ending D); with no partition,
    # the newest stored day. LastPartitionMapping is what automation sees: the newest day.
    training_set_in = {"training_set": AssetIn(partition_mapping=LastPartitionMapping(), metadata={RUN_DAY: True})}
    # The ops inside the `model` graph read it through their own inputs: the same rule.
    training_set_op_in = In(metadata={RUN_DAY: True})

    @op(
        retry_policy=retry,
        name="start_training_run",
        required_resource_keys={"mlflow"},
        ins={"training_set": training_set_op_in},
        out=Out(Nothing),
        description="Create this Dagster run's MLflow run: spec (artifact + hash), code commit, package versions, window, data fingerprint.",
    )
    def start_training_run(context: OpExecutionContext, training_set: pd.DataFrame) -> None:
        registry = context.resources.mlflow.registry()
        info = training_info(training_set, spec)
        tags = {
            "spec_name": spec.name,
            "spec_hash": spec.spec_hash,
            "window_first_day": info["window_first_day"],
            "window_last_day": info["window_last_day"],
            "training_set_fingerprint": info["training_set_fingerprint"],
            "model_fingerprint": info["model_fingerprint"],
            **git_commit(),
        }
        try:
            run_id = registry.start_run(context.run_id, f"{spec.name}-{info['window_last_day']}-{context.run_id[:8]}", tags)
            for name, text in spec_artifacts(spec_path, spec).items():
                registry.log_text(run_id, text, name)
            registry.log_dict(run_id, package_versions(), "environment/packages.json")
            registry.log_dict(run_id, info, "training/training_info.json")
        except RegistryError as exc:
            raise mlflow_failure(f"model: cannot start tracking, so training does not start: {exc}", exc) from None
        context.log.info(f"MLflow run {run_id} at {registry.tracking_uri} ({registry.experiment_name})")

    def candidate_op(candidate: CandidateSpec):
        @op(
            retry_policy=retry,
            name=f"train_{candidate.name}",
            required_resource_keys={"mlflow"},
            ins={"training_set": training_set_op_in, "started": In(Nothing)},
            out=Out(io_manager_key="model_io_manager"),
            description=f"Fit candidate '{candidate.name}' ({candidate.estimator}) and score it on the holdout.",
            tags={"candidate": candidate.name},
        )
        def train(context: OpExecutionContext, training_set: pd.DataFrame) -> ModelBundle:
            started = time.monotonic()
            context.log.info(f"training '{candidate.name}' on {int((training_set[SPLIT_COLUMN] == 'train').sum())} rows")
            try:
                pipe, metrics = train_candidate(training_set, spec, candidate)
            except ValueError as exc:
                raise _fail(f"model: candidate '{candidate.name}' failed to train: {exc} {in_spec}") from None
            took = time.monotonic() - started
            context.log.info(f"'{candidate.name}': holdout {spec.model.metric} {metrics[spec.model.metric]:.5f} ({took:.1f} s)")
            registry = context.resources.mlflow.registry()
            try:
                run_id = registry.find_run(context.run_id)
                registry.log_candidate(run_id, candidate.name, {"estimator": candidate.estimator, **pipe.named_steps["estimator"].get_params()}, {**metrics, "fit_seconds": took})
            except RegistryError as exc:
                raise mlflow_failure(f"model: logging candidate '{candidate.name}' failed: {exc}", exc) from None
            return ModelBundle({candidate.name: pipe}, candidate.name, "", {candidate.name: metrics}, {}, {})

        return train

    @op(
        retry_policy=retry,
        name="select_and_register",
        required_resource_keys={"mlflow"},
        ins={"training_set": training_set_op_in, "candidates": In()},
        out=Out(io_manager_key="model_io_manager"),
        description=(
            "Pick the best candidate by the spec's metric, register it in MLflow (sklearn flavour, skops, "
            "signature, input example), then move `champion` to it only if the gate allows."
        ),
    )
    def select_and_register(context: OpExecutionContext, training_set: pd.DataFrame, candidates: list) -> ModelBundle:
        fitted = {}
        for part in candidates:
            fitted[part.selected] = (part.pipeline, part.metrics[part.selected])
        bundle = assemble_bundle(training_set, spec, {c.name: fitted[c.name] for c in spec.model.candidates})
        metric = spec.model.metric
        registry = context.resources.mlflow.registry()
        _, _, x_hold, y_hold = split(training_set, spec)
        try:
            run_id = registry.find_run(context.run_id)
            registry.log_metrics(run_id, {
                f"selected.holdout_{metric}": bundle.metrics[bundle.selected][metric],
                f"baseline.holdout_{metric}": bundle.baseline_metrics[metric],
            })
            registry.set_run_tags(run_id, {"selected_candidate": bundle.selected})
            # The training reference that the data checks and drift measure new days against.
            x_train = split(training_set, spec)[0]
            train_days = training_set.loc[training_set[SPLIT_COLUMN] == "train", "_day"]
            registry.log_dict(run_id, build_profile(x_train, spec, scores=predict_scores(bundle.pipeline, x_hold, spec),
                                                    days=train_days), "reference/profile.json")
            # The serving champion, re-scored on THIS holdout: the comparison is on the same rows.
            champion = registry.champion()
            champion_metric = None
            if champion is not None and champion.inputs not in (None, spec.model_inputs):
                context.log.warning(f"champion v{champion.version} takes other inputs {champion.inputs}: not comparable")
                champion = None
            if champion is not None:
                champion_metric = compute_metrics(y_hold, predict_scores(champion.pipeline, x_hold, spec), spec)[metric]
            version = registry.log_and_register(run_id, bundle.pipeline, x_hold, tags={
                "model_fingerprint": bundle.info["model_fingerprint"],
                "training_set_fingerprint": bundle.info["training_set_fingerprint"],
                "window_first_day": bundle.info["window_first_day"],
                "window_last_day": bundle.info["window_last_day"],
                "spec_hash": spec.spec_hash,
                "candidate": bundle.selected,
                f"holdout_{metric}": f"{bundle.metrics[bundle.selected][metric]:.6f}",
                "dagster_run_id": context.run_id,
                **git_commit(),
            })
            decision = decide(
                metric, spec.metric_direction, bundle.metrics[bundle.selected][metric], bundle.baseline_metrics[metric],
                champion_metric, champion.version if champion else None, spec.registry.tolerance,
                blocking_check_failures(context.instance, guarded_checks, sorted(training_set["_day"].unique())),
            )
            alias = CHAMPION if decision.promote else CHALLENGER
            registry.set_alias(alias, version, decision.summary(), f"dagster run {context.run_id}")
            registry.set_run_tags(run_id, {"registered_version": version, "promotion": alias})
            registry.log_dict(run_id, decision.to_dict(), "promotion/decision.json")
            registry.end_run(run_id, "FINISHED")
        except RegistryError as exc:
            raise mlflow_failure(f"model: MLflow failed; the champion is unchanged: {exc}", exc) from None
        context.log.info(f"registered {registry.model_name} v{version}: {decision.summary()}")
        bundle.version = version
        bundle.info.update({
            "registered_model": registry.model_name,
            "registered_version": version,
            "mlflow_run_id": run_id,
            "tracking_uri": registry.tracking_uri,
            "promotion": {**decision.to_dict(), "alias": alias, "champion_version_before": champion.version if champion else None,
                          "champion_metric_before": champion_metric},
        })
        context.add_output_metadata({
            "model_version": version,
            "model_fingerprint": bundle.info["model_fingerprint"],
            "selected": bundle.selected,
            f"holdout_{metric}": MetadataValue.float(bundle.metrics[bundle.selected][metric]),
            f"baseline_{metric}": MetadataValue.float(bundle.baseline_metrics[metric]),
            "promotion": f"{alias}: {decision.summary()}",
            "candidates": MetadataValue.md(
                f"| candidate | {metric} |\n|---|---|\n"
                + "\n".join(f"| {n} | {m[metric]:.5f} |" for n, m in bundle.metrics.items())
            ),
            "window": f"{bundle.info['window_first_day']} .. {bundle.info['window_last_day']}",
            # `model` is the newest registered version, whatever day it was trained on: this one.
            "trained_on_day": bundle.info["window_last_day"],
            "mlflow_run_id": run_id,
        })
        return bundle

    trains = [candidate_op(c) for c in spec.model.candidates]

    @graph_asset(
        name="model",
        ins=training_set_in,
        group_name="training",
        kinds={"scikitlearn", "mlflow"},
        code_version=f"{TRAINING_LOGIC_VERSION}-{spec.section_hash('model', 'registry', 'seed', 'task')}",
        hooks={mark_mlflow_run_failed},
        description=(
            "Every candidate of the spec trained on the training_set of the run's day (the newest day when the run "
            "has none), each in its own step (parallel under "
            "the multiprocess executor); the best is registered in MLflow and becomes `champion` only if the gate "
            "allows (else `challenger`). Stored with skops (no pickle)."
        ),
    )
    def model(training_set):
        started = start_training_run(training_set)
        return select_and_register(training_set, [t(training_set, started) for t in trains])

    @asset(
        retry_policy=retry,
        group_name="training",
        kinds={"html", "json"},
        io_manager_key="report_io_manager",
        code_version="2",
        ins=training_set_in,
        description=(
            "Holdout evaluation of every candidate beside the trivial baseline: metrics, confusion matrix, "
            "calibration/ROC or residual plots, permutation importances, and the promotion decision. "
            "JSON + self-contained HTML, also logged to the training's MLflow run."
        ),
    )
    def evaluation_report(
        context: AssetExecutionContext, model: ModelBundle, training_set: pd.DataFrame, mlflow: MlflowRegistry
    ) -> HtmlReport:
        if model.info.get("training_set_fingerprint") != fingerprint(training_set):
            raise _fail(
                f"evaluation_report: the stored model {model.version} was trained on another training_set than this "
                f"run's (window ending {training_set['_day'].max()}); materialize model for the same day first"
            )
        report = build_report(model, training_set[training_set[SPLIT_COLUMN] == "holdout"], spec)
        run_id = model.info.get("mlflow_run_id")
        if run_id:
            try:
                files = {"report.json": report.json.encode(), "report.html": report.html.encode(), **report.plots}
                mlflow.registry().log_artifacts(run_id, files, "evaluation_report")
            except RegistryError as exc:
                raise mlflow_failure(f"evaluation_report: logging to MLflow failed: {exc}", exc) from None
        metric = spec.model.metric
        plot = next(n for n in ("calibration.png", "residuals.png") if n in report.plots)
        png = base64.b64encode(report.plots[plot]).decode()
        context.add_output_metadata({
            "model_version": model.version,
            "selected": model.selected,
            "promotion": model.info.get("promotion", {}).get("summary", ""),
            f"holdout_{metric}": MetadataValue.float(report.data["candidates"][model.selected]["metrics"][metric]),
            f"baseline_{metric}": MetadataValue.float(report.data["baseline"]["metrics"][metric]),
            "plot": MetadataValue.md(f"![{plot}](data:image/png;base64,{png})"),
        })
        return report

    return [model, evaluation_report]
