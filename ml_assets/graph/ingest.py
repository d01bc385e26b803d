"""Ingest: `raw_data` (one day of landing files, typed by the spec) and `features` (the day's
model-ready features). Thin wiring over `ml_assets.core.schema` and `ml_assets.core.features`."""


import pandas as pd
from dagster import AssetExecutionContext, Failure, MetadataValue, asset

from ml_assets.core.features import build_features
from ml_assets.core.schema import SpecColumnsError, check_spec_columns, enforce_schema
from ml_assets.graph.context import Pipeline
from ml_assets.graph.partitions import RANGE_IN_ONE_RUN, as_output, each_partition
from ml_assets.graph.versions import code_version
from ml_assets.io.landing import LandingError, QUARANTINE, list_landing_files, read_or_quarantine
from ml_assets.io.paths import landing_root


def fail(message: str, **metadata) -> Failure:
    # allow_retries=False: bad data does not get better by retrying.
    return Failure(description=message, metadata=metadata, allow_retries=False)


def ingest_day(p: Pipeline, log, day: str) -> tuple[pd.DataFrame, dict]:
    """One day's landing files, typed by the spec; and the day's metadata."""
    spec, landing = p.spec, landing_root(p.spec)
    try:
        files, ignored = list_landing_files(landing, day, spec.landing.format)
    except LandingError as exc:
        raise fail(f"raw_data {day}: {exc}") from None
    # A structurally bad file is set aside with its reason, never deleted; the day is built from
    # the good files.
    try:
        frames, quarantined = read_or_quarantine(
            landing, day, files, spec.landing.format, lambda frame, source: enforce_schema(frame, spec, source),
            log, check_all=lambda frames: check_spec_columns(frames, spec),
        )
    except SpecColumnsError as exc:
        # The spec's mistake: every file stays in the landing folder, nothing is quarantined.
        raise fail(f"raw_data {day}: {exc} {p.in_spec}; the landing files were left where they are") from None
    if not frames:
        # Nothing is written: the day's earlier good output, if any, stays as it was.
        raise fail(
            f"raw_data {day}: all {len(files)} landing file(s) rejected {p.in_spec}; moved to "
            f"{landing / QUARANTINE / day} with a .reason.txt each (fix a file, put it back, re-materialize the day):\n"
            + "\n".join(f"- {q['reason']}" for q in quarantined),
            quarantined=MetadataValue.json(quarantined),
        )
    df = pd.concat(frames, ignore_index=True)
    local_day = df[spec.columns.event_time].dt.tz_convert(spec.partitions.timezone).dt.date.astype(str)
    return df, {
        "files": [str(f) for f in files if str(f) not in {q["file"] for q in quarantined}],
        "quarantined": quarantined,
        "ignored_files": ignored,
        "rows_outside_day": int((local_day != day).sum()),
        "labelled_rows": int(df[spec.columns.label].notna().sum()),
    }


def range_metadata(meta: dict[str, dict]) -> dict:
    """raw_data's metadata: the day's own for one day, totals for a range."""
    if len(meta) == 1:
        only = next(iter(meta.values()))
        return {k: MetadataValue.json(v) if isinstance(v, list) else MetadataValue.int(v) for k, v in only.items()}
    return {
        "days": MetadataValue.int(len(meta)),
        "files": MetadataValue.int(sum(len(m["files"]) for m in meta.values())),
        "quarantined": MetadataValue.json([q for m in meta.values() for q in m["quarantined"]]),
        "rows_outside_day": MetadataValue.int(sum(m["rows_outside_day"] for m in meta.values())),
        "labelled_rows": MetadataValue.int(sum(m["labelled_rows"] for m in meta.values())),
    }


def build_ingest(p: Pipeline) -> list:
    @asset(
        key_prefix=[p.name],
        retry_policy=p.retry,
        partitions_def=p.daily,
        backfill_policy=RANGE_IN_ONE_RUN,
        group_name=p.qualified("ingest"),
        kinds={"pandas", "parquet"},
        code_version=code_version(p.spec, ingest_day, range_metadata, sections=("landing", "columns", "features", "task")),
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
            frames[day], meta[day] = ingest_day(p, context.log, day)
        context.add_output_metadata(range_metadata(meta))
        return as_output(frames)

    @asset(
        key_prefix=[p.name],
        ins={"raw_data": p.asset_in("raw_data")},
        retry_policy=p.retry,
        partitions_def=p.daily,
        backfill_policy=RANGE_IN_ONE_RUN,
        group_name=p.qualified("features"),
        kinds={"pandas", "parquet"},
        code_version=code_version(p.spec, build_features, sections=("columns", "features", "derived_features", "partitions")),
        description="Model-ready features for one day, built by the one feature module that training and scoring share.",
    )
    def features(context: AssetExecutionContext, raw_data):
        return as_output({day: build_features(frame, p.spec) for day, frame in each_partition(context, raw_data).items()})

    return [raw_data, features]
