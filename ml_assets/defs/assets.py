"""The asset graph: raw_data -> features -> training_set -> model -> evaluation_report, and
features + model -> batch_predictions. Thin wiring over `ml_assets.core`.

Built by a factory because the spec decides the partitions, the training window and the
code versions.
"""


import base64
import time

import pandas as pd
from dagster import (
    AssetExecutionContext,
    AssetIn,
    AssetsDefinition,
    DailyPartitionsDefinition,
    Failure,
    LastPartitionMapping,
    MetadataValue,
    TimeWindowPartitionMapping,
    asset,
)

from ml_assets.core.evaluation import EvaluationReport, build_report
from ml_assets.core.features import build_features
from ml_assets.core.schema import SchemaError, enforce_schema
from ml_assets.core.scoring import score_frame
from ml_assets.core.spec import PipelineSpec
from ml_assets.core.training import (
    SPLIT_COLUMN,
    TRAINING_LOGIC_VERSION,
    ModelBundle,
    TrainingDataError,
    assemble_training_set,
    train_candidates,
)
from ml_assets.storage import LandingError, landing_root, list_landing_files, read_landing_file


def daily_partitions(spec: PipelineSpec) -> DailyPartitionsDefinition:
    return DailyPartitionsDefinition(
        start_date=spec.partitions.start_date.isoformat(), timezone=spec.partitions.timezone
    )


def _fail(message: str, **metadata) -> Failure:
    # allow_retries=False: bad data does not get better by retrying.
    return Failure(description=message, metadata=metadata, allow_retries=False)


def build_assets(spec: PipelineSpec, spec_path: str) -> list[AssetsDefinition]:
    daily = daily_partitions(spec)
    landing = landing_root(spec)
    window = spec.training.window_days
    in_spec = f"(spec: {spec_path})"

    @asset(
        partitions_def=daily,
        group_name="ingest",
        kinds={"pandas", "parquet"},
        code_version=f"1-{spec.section_hash('landing', 'columns', 'features', 'task')}",
        description=(
            "One day of landing files (<landing>/<YYYY-MM-DD>/*.csv|.parquet), checked against the "
            "spec's schema (required columns and types) and stored as Parquet."
        ),
    )
    def raw_data(context: AssetExecutionContext) -> pd.DataFrame:
        day = context.partition_key
        try:
            files, ignored = list_landing_files(landing, day, spec.landing.format)
        except LandingError as exc:
            raise _fail(f"raw_data {day}: {exc}") from None
        frames, problems = [], []
        for i, path in enumerate(files, start=1):
            context.log.info(f"reading landing file {i}/{len(files)}: {path}")
            try:
                frames.append(enforce_schema(read_landing_file(path, spec.landing.format), spec, str(path)))
            except SchemaError as exc:
                problems.append(str(exc))
            except LandingError as exc:
                problems.append(str(exc))
        if problems:
            # Nothing is written: the day's earlier good output, if any, stays as it was.
            raise _fail(
                f"raw_data {day}: {len(problems)} of {len(files)} landing file(s) rejected {in_spec}:\n"
                + "\n".join(f"- {p}" for p in problems),
                rejected_files=MetadataValue.int(len(problems)),
            )
        df = pd.concat(frames, ignore_index=True)
        local_day = df[spec.columns.event_time].dt.tz_convert(spec.partitions.timezone).dt.date.astype(str)
        context.add_output_metadata(
            {
                "files": MetadataValue.json([str(p) for p in files]),
                "ignored_files": MetadataValue.json(ignored),
                "rows_outside_day": MetadataValue.int(int((local_day != day).sum())),
                "labelled_rows": MetadataValue.int(int(df[spec.columns.label].notna().sum())),
            }
        )
        return df

    @asset(
        partitions_def=daily,
        group_name="features",
        kinds={"pandas", "parquet"},
        code_version=f"1-{spec.section_hash('columns', 'features', 'derived_features', 'partitions')}",
        description="Model-ready features for one day, built by the one feature module that training and scoring share.",
    )
    def features(raw_data: pd.DataFrame) -> pd.DataFrame:
        return build_features(raw_data, spec)

    @asset(
        partitions_def=daily,
        group_name="training",
        kinds={"pandas", "parquet"},
        code_version=f"1-{spec.section_hash('training', 'columns')}",
        ins={
            "features": AssetIn(
                partition_mapping=TimeWindowPartitionMapping(
                    start_offset=-(window - 1), end_offset=0, allow_nonexistent_upstream_partitions=True
                )
            )
        },
        description=(
            f"The training window ending on this day: the last {window} days of features with labels; "
            f"the last {spec.training.holdout_days} days are the holdout (split by time, never by row)."
        ),
    )
    def training_set(context: AssetExecutionContext, features: dict[str, pd.DataFrame]) -> pd.DataFrame:
        try:
            data = assemble_training_set(features, spec)
        except TrainingDataError as exc:
            raise _fail(f"training_set {context.partition_key}: {exc} {in_spec}") from None
        counts = data[SPLIT_COLUMN].value_counts()
        context.add_output_metadata(
            {
                "train_rows": MetadataValue.int(int(counts.get("train", 0))),
                "holdout_rows": MetadataValue.int(int(counts.get("holdout", 0))),
                "first_day": min(features),
                "last_day": max(features),
            }
        )
        return data

    @asset(
        group_name="training",
        kinds={"scikitlearn"},
        io_manager_key="model_io_manager",
        code_version=f"{TRAINING_LOGIC_VERSION}-{spec.section_hash('model', 'seed', 'task')}",
        ins={"training_set": AssetIn(partition_mapping=LastPartitionMapping())},
        description=(
            "Every model candidate of the spec trained on the newest training_set, each a scikit-learn "
            "Pipeline (preprocessing + estimator); the best on the holdout by the spec's metric is selected. "
            "Stored with skops (no pickle)."
        ),
    )
    def model(context: AssetExecutionContext, training_set: pd.DataFrame) -> ModelBundle:
        started = time.monotonic()
        try:
            bundle = train_candidates(training_set, spec, log=context.log.info)
        except (TrainingDataError, ValueError) as exc:
            raise _fail(f"model: training failed: {exc} {in_spec}") from None
        metric = spec.model.metric
        context.add_output_metadata(
            {
                "model_version": bundle.version,
                "selected": bundle.selected,
                f"holdout_{metric}": MetadataValue.float(bundle.metrics[bundle.selected][metric]),
                f"baseline_{metric}": MetadataValue.float(bundle.baseline_metrics[metric]),
                "candidates": MetadataValue.md(
                    "| candidate | " + metric + " |\n|---|---|\n"
                    + "\n".join(f"| {n} | {m[metric]:.5f} |" for n, m in bundle.metrics.items())
                ),
                "window": f"{bundle.info['window_first_day']} .. {bundle.info['window_last_day']}",
                "training_set_fingerprint": bundle.info["training_set_fingerprint"],
                "train_seconds": MetadataValue.float(round(time.monotonic() - started, 2)),
            }
        )
        return bundle

    @asset(
        group_name="training",
        kinds={"html", "json"},
        io_manager_key="report_io_manager",
        code_version="1",
        ins={"training_set": AssetIn(partition_mapping=LastPartitionMapping())},
        description=(
            "Holdout evaluation of every candidate beside the trivial baseline: metrics, confusion matrix, "
            "calibration/ROC or residual plots, permutation importances. JSON + self-contained HTML."
        ),
    )
    def evaluation_report(
        context: AssetExecutionContext, model: ModelBundle, training_set: pd.DataFrame
    ) -> EvaluationReport:
        holdout = training_set[training_set[SPLIT_COLUMN] == "holdout"]
        if bundle_mismatch := _window_mismatch(model, training_set):
            raise _fail(f"evaluation_report: {bundle_mismatch}; re-materialize model first")
        report = build_report(model, holdout, spec)
        metric = spec.model.metric
        plot = next(n for n in ("calibration.png", "residuals.png") if n in report.plots)
        png = base64.b64encode(report.plots[plot]).decode()
        context.add_output_metadata(
            {
                "model_version": model.version,
                "selected": model.selected,
                f"holdout_{metric}": MetadataValue.float(report.data["candidates"][model.selected]["metrics"][metric]),
                f"baseline_{metric}": MetadataValue.float(report.data["baseline"]["metrics"][metric]),
                "plot": MetadataValue.md(f"![{plot}](data:image/png;base64,{png})"),
            }
        )
        return report

    @asset(
        partitions_def=daily,
        group_name="scoring",
        kinds={"pandas", "parquet"},
        code_version="1",
        description=(
            "One day's features scored by the model: entity id, event time, score, prediction, model_version."
        ),
    )
    def batch_predictions(
        context: AssetExecutionContext, features: pd.DataFrame, model: ModelBundle
    ) -> pd.DataFrame:
        if model.info.get("inputs") != spec.model_inputs:
            raise _fail(
                f"batch_predictions {context.partition_key}: the model ({model.version}) was trained on inputs "
                f"{model.info.get('inputs')}, but the spec now lists {spec.model_inputs} {in_spec}; "
                "re-materialize training_set, model and evaluation_report (training_job) first"
            )
        preds = score_frame(model, features, spec)
        context.add_output_metadata(
            {
                "model_version": model.version,
                "mean_score": MetadataValue.float(float(preds["score"].mean()) if len(preds) else 0.0),
            }
        )
        return preds

    return [raw_data, features, training_set, model, evaluation_report, batch_predictions]


def _window_mismatch(bundle: ModelBundle, training_set: pd.DataFrame) -> str | None:
    from ml_assets.core.training import fingerprint

    if bundle.info.get("training_set_fingerprint") != fingerprint(training_set):
        return (
            f"the stored model {bundle.version} was trained on another training_set than the newest "
            f"one (window ending {training_set['_day'].max()})"
        )
    return None
