"""The asset graph: raw_data -> features -> training_set -> model -> evaluation_report, and
features + model -> batch_predictions. Thin wiring over `ml_assets.core`.

Built by a factory because the spec decides the partitions, the training window and the
code versions.
"""


import datetime as dt
import warnings

import pandas as pd
import pyarrow.compute as pc
from dagster import (
    BetaWarning,
    AssetExecutionContext,
    AssetIn,
    AssetsDefinition,
    DailyPartitionsDefinition,
    Failure,
    MetadataValue,
    TimeWindowPartitionMapping,
    asset,
)

from ml_assets.core.features import build_features
from ml_assets.core.schema import SpecColumnsError, check_spec_columns, enforce_schema
from ml_assets.core.scoring import score_batches
from ml_assets.core.spec import PipelineSpec
from ml_assets.core.training import SPLIT_COLUMN, TrainingDataError, assemble_training_set, window_days
from ml_assets.defs.partitions import RANGE_IN_ONE_RUN, as_output, each_partition
from ml_assets.defs.policies import step_retry_policy
from ml_assets.defs.resources import MlflowRegistry, mlflow_failure
from ml_assets.defs.serving import build_prediction_store
from ml_assets.defs.training import blocking_check_failures, build_training_assets, guarded_check_keys
from ml_assets.registry import RegistryError
from ml_assets.storage import (
    QUARANTINE,
    PartStream,
    ParquetParts,
    LandingError,
    landing_root,
    list_landing_files,
    read_or_quarantine,
)


def daily_partitions(spec: PipelineSpec) -> DailyPartitionsDefinition:
    """One partition per day from start_date to end_date (inclusive; Dagster's end is exclusive), or
    up to the newest complete day when the spec sets no end."""
    end = spec.partitions.end_date
    return DailyPartitionsDefinition(
        start_date=spec.partitions.start_date.isoformat(),
        end_date=(end + dt.timedelta(days=1)).isoformat() if end else None,
        timezone=spec.partitions.timezone,
    )


def _rolling_window(days: int) -> TimeWindowPartitionMapping:
    # allow_nonexistent_upstream_partitions: a window reaching before the start date yields fewer
    # days, which assemble_training_set reports plainly, instead of Dagster's out-of-range error.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BetaWarning)
        return TimeWindowPartitionMapping(
            start_offset=-(days - 1), end_offset=0, allow_nonexistent_upstream_partitions=True
        )


def _fail(message: str, **metadata) -> Failure:
    # allow_retries=False: bad data does not get better by retrying.
    return Failure(description=message, metadata=metadata, allow_retries=False)


def build_assets(spec: PipelineSpec, spec_path: str, asset_checks=()) -> list[AssetsDefinition]:
    daily = daily_partitions(spec)
    retry = step_retry_policy(spec)
    landing = landing_root(spec)
    guarded = guarded_check_keys(asset_checks)
    window = spec.training.window_days
    in_spec = f"(spec: {spec_path})"

    def ingest_day(context: AssetExecutionContext, day: str) -> tuple[pd.DataFrame, dict]:
        """One day's landing files, typed by the spec; and the day's metadata."""
        try:
            files, ignored = list_landing_files(landing, day, spec.landing.format)
        except LandingError as exc:
            raise _fail(f"raw_data {day}: {exc}") from None
        # A structurally bad file is set aside with its reason, never deleted; the day is built from
        # the good files.
        try:
            frames, quarantined = read_or_quarantine(
                landing, day, files, spec.landing.format, lambda frame, source: enforce_schema(frame, spec, source),
                context.log, check_all=lambda frames: check_spec_columns(frames, spec),
            )
        except SpecColumnsError as exc:
            # The spec's mistake: every file stays in the landing folder, nothing is quarantined.
            raise _fail(f"raw_data {day}: {exc} {in_spec}; the landing files were left where they are") from None
        if not frames:
            # Nothing is written: the day's earlier good output, if any, stays as it was.
            raise _fail(
                f"raw_data {day}: all {len(files)} landing file(s) rejected {in_spec}; moved to "
                f"{landing / QUARANTINE / day} with a .reason.txt each (fix a file, put it back, re-materialize the day):\n"
                + "\n".join(f"- {q['reason']}" for q in quarantined),
                quarantined=MetadataValue.json(quarantined),
            )
        df = pd.concat(frames, ignore_index=True)
        local_day = df[spec.columns.event_time].dt.tz_convert(spec.partitions.timezone).dt.date.astype(str)
        return df, {
            "files": [str(p) for p in files if str(p) not in {q["file"] for q in quarantined}],
            "quarantined": quarantined,
            "ignored_files": ignored,
            "rows_outside_day": int((local_day != day).sum()),
            "labelled_rows": int(df[spec.columns.label].notna().sum()),
        }

    @asset(
        retry_policy=retry,
        partitions_def=daily,
        backfill_policy=RANGE_IN_ONE_RUN,
        group_name="ingest",
        kinds={"pandas", "parquet"},
        code_version=f"1-{spec.section_hash('landing', 'columns', 'features', 'task')}",
        description=(
            "One day of landing files (<landing>/<YYYY-MM-DD>/*.csv|.parquet), checked against the "
            "spec's schema (required columns and types) and stored as Parquet. A backfill of a range "
            "runs in one run (one file per day, all days or none)."
        ),
    )
    def raw_data(context: AssetExecutionContext):
        days = context.partition_keys
        frames, meta = {}, {}
        for i, day in enumerate(days, start=1):
            if len(days) > 1:
                context.log.info(f"raw_data: day {i}/{len(days)}: {day}")
            frames[day], meta[day] = ingest_day(context, day)
        if len(days) == 1:
            context.add_output_metadata({
                k: MetadataValue.json(v) if isinstance(v, list) else MetadataValue.int(v) for k, v in meta[days[0]].items()
            })
        else:
            context.add_output_metadata({
                "days": MetadataValue.int(len(days)),
                "files": MetadataValue.int(sum(len(m["files"]) for m in meta.values())),
                "quarantined": MetadataValue.json([q for m in meta.values() for q in m["quarantined"]]),
                "rows_outside_day": MetadataValue.int(sum(m["rows_outside_day"] for m in meta.values())),
                "labelled_rows": MetadataValue.int(sum(m["labelled_rows"] for m in meta.values())),
            })
        return as_output(frames)

    @asset(
        retry_policy=retry,
        partitions_def=daily,
        backfill_policy=RANGE_IN_ONE_RUN,
        group_name="features",
        kinds={"pandas", "parquet"},
        code_version=f"1-{spec.section_hash('columns', 'features', 'derived_features', 'partitions')}",
        description="Model-ready features for one day, built by the one feature module that training and scoring share.",
    )
    def features(context: AssetExecutionContext, raw_data):
        return as_output({day: build_features(frame, spec) for day, frame in each_partition(context, raw_data).items()})

    @asset(
        retry_policy=retry,
        partitions_def=daily,
        group_name="training",
        kinds={"pandas", "parquet"},
        code_version=f"2-{spec.section_hash('training', 'columns')}",
        # A day of the window with no data is skipped (reported as missing_days), not an error.
        ins={"features": AssetIn(partition_mapping=_rolling_window(window), metadata={"allow_missing_partitions": True})},
        description=(
            f"The training window ending on this day: the last {window} days of features with labels; "
            f"the last {spec.training.holdout_days} days are the holdout (split by time, never by row)."
        ),
    )
    def training_set(context: AssetExecutionContext, features: dict[str, pd.DataFrame]) -> pd.DataFrame:
        blocked = {day: blocking_check_failures(context.instance, guarded, [day], strict_day=True) for day in features}
        blocked = {day: fails for day, fails in blocked.items() if fails}
        for day, fails in sorted(blocked.items()):
            context.log.warning(f"training_set {context.partition_key}: day {day} left out: blocking checks failed: {', '.join(fails)}")
        try:
            data = assemble_training_set(features, spec, excluded=set(blocked), last_day=context.partition_key)
        except TrainingDataError as exc:
            hint = ""
            if not features:
                calendar = window_days(context.partition_key, spec)
                hint = f"; ingest the window's days first (`ml-assets run --from {calendar[0]} --to {calendar[-1]}`, or ingest_job per day)"
            raise _fail(f"training_set {context.partition_key}: {exc}{hint} {in_spec}") from None
        counts = data[SPLIT_COLUMN].value_counts()
        calendar = window_days(context.partition_key, spec)
        context.add_output_metadata(
            {
                "train_rows": MetadataValue.int(int(counts.get("train", 0))),
                "holdout_rows": MetadataValue.int(int(counts.get("holdout", 0))),
                "first_day": calendar[0],
                "last_day": calendar[-1],
                "missing_days": MetadataValue.json([d for d in calendar if d not in features]),
                "excluded_days": MetadataValue.json({d: f for d, f in sorted(blocked.items())}),
            }
        )
        return data

    @asset(
        retry_policy=retry,
        partitions_def=daily,
        group_name="scoring",
        kinds={"pandas", "parquet"},
        code_version="2",
        deps=["model"],
        # The day is read and scored one Arrow record batch at a time and written part by part:
        # memory is bounded by the batch, not by the size of the day.
        ins={"features": AssetIn(metadata={"stream": True})},
        description=(
            "One day's features scored by the MLflow registry's `champion` (models:/<name>@champion): "
            "entity id, event time, score, prediction, model_version (the registry version used). "
            "Streamed: the day is never held in memory whole."
        ),
    )
    def batch_predictions(
        context: AssetExecutionContext, features: ParquetParts, mlflow: MlflowRegistry
    ) -> PartStream:
        if failed := blocking_check_failures(context.instance, guarded, [context.partition_key], strict_day=True):
            raise _fail(
                f"batch_predictions {context.partition_key}: not scored: blocking checks failed on this day's data: "
                f"{', '.join(failed)}. Fix the data (see the check results), re-materialize the day, then score it."
            )
        registry = mlflow.registry()
        try:
            champion = registry.champion()
        except RegistryError as exc:
            raise mlflow_failure(f"batch_predictions {context.partition_key}: cannot load the champion: {exc}", exc) from None
        if champion is None:
            raise _fail(
                f"batch_predictions {context.partition_key}: registered model '{registry.model_name}' has no "
                f"champion at {registry.tracking_uri}; materialize model (training_job) first, or see the "
                "evaluation report for why the last model was held back"
            )
        if champion.inputs is not None and champion.inputs != spec.model_inputs:
            raise _fail(
                f"batch_predictions {context.partition_key}: the champion (v{champion.version}) was trained on inputs "
                f"{champion.inputs}, but the spec now lists {spec.model_inputs} {in_spec}; "
                "train a model for this spec (training_job) first"
            )
        context.add_output_metadata(
            {
                "model_name": champion.name,
                "model_version": champion.version,
                "model_fingerprint": champion.tags.get("model_fingerprint", ""),
            }
        )
        total = features.num_rows
        seen = {"rows": 0, "score_sum": 0.0, "logged": 0}

        def scored():
            for part in score_batches(champion.pipeline, champion.version, features.batches(), spec):
                seen["rows"] += len(part)
                seen["score_sum"] += float(pc.sum(part.column("score")).as_py() or 0.0)
                if seen["rows"] - seen["logged"] >= 1_000_000 or seen["rows"] == total:
                    seen["logged"] = seen["rows"]
                    context.log.info(f"batch_predictions {context.partition_key}: scored {seen['rows']:,}/{total:,} rows")
                yield part

        def summary() -> dict:
            return {"mean_score": MetadataValue.float(seen["score_sum"] / seen["rows"] if seen["rows"] else 0.0)}

        # Written by the IO manager as the parts come: nothing replaces the stored day until all are scored.
        return PartStream(scored(), summary)

    assets = [raw_data, features, training_set, *build_training_assets(spec, spec_path, guarded_check_keys(asset_checks)), batch_predictions]
    if spec.prediction_store.enabled:
        assets.append(build_prediction_store(spec, daily, retry))
    return assets
