"""Ingest: `raw_data` (one day of landing files, typed by the spec) and `features` (the day's
model-ready features). Thin wiring over `ml_assets.core.schema` and `ml_assets.core.features`."""

import warnings

import pandas as pd
from dagster import (
    AssetExecutionContext,
    AssetRecordsFilter,
    BetaWarning,
    DataVersion,
    MetadataValue,
    Output,
    asset,
)

from ml_assets.core.day_rules import DayRuleError, apply_day_rules, origins
from ml_assets.core.features import build_features
from ml_assets.core.schema import SpecColumnsError, check_spec_columns, enforce_schema
from ml_assets.graph.context import TRIGGER_TAG, Pipeline
from ml_assets.graph.runtime.errors import fail
from ml_assets.graph.runtime.instance import DATA_VERSION_TAG
from ml_assets.graph.runtime.partitions import RANGE_IN_ONE_RUN, as_output, each_partition
from ml_assets.graph.runtime.versions import code_version
from ml_assets.io.files import partition_path
from ml_assets.io.landing import QUARANTINE, LandingError, landing_fingerprint, list_landing_files, read_or_quarantine
from ml_assets.io.paths import landing_root

# `Output(data_version=)` is beta in Dagster 1.13; it is what lets an unchanged day stop the work below.
warnings.filterwarnings("ignore", message="Parameter `data_version`", category=BetaWarning)


def day_files(p: Pipeline, day: str) -> tuple[list, list[str]]:
    try:
        return list_landing_files(landing_root(p.spec), day, p.spec.landing.format)
    except LandingError as exc:
        raise fail(f"raw_data {day}: {exc}") from None


def unchanged_since(context: AssetExecutionContext, p: Pipeline, day: str, version: str) -> str | None:
    """Why the day need not be ingested again, or None: the run was launched by the landing sensor
    (a file landed again), the day's last materialization has this same data version (same landed
    bytes, same ingest code) and its stored file is still there. A run someone launched, from the UI,
    the CLI or a job, always does what it was asked."""
    if context.run.tags.get(TRIGGER_TAG) != "landing_sensor":
        return None
    records = context.instance.fetch_materializations(
        AssetRecordsFilter(asset_key=p.key("raw_data"), asset_partitions=[day]), limit=1
    ).records
    if not records or records[0].asset_materialization.tags.get(DATA_VERSION_TAG) != version:
        return None
    if not partition_path(p.base, "raw_data", day).exists():
        return None
    return (
        f"raw_data {day}: not ingested again: the landing files and the ingest code are unchanged since run "
        f"{records[0].run_id[:8]} (data version {version[:12]}), so the day's features, checks and predictions stand "
        f"as they are and nothing below raw_data runs. To ingest it anyway, materialize the day yourself (UI or CLI)."
    )


def ingest_day(
    p: Pipeline, log, day: str, files_ignored: tuple[list, list[str]] | None = None
) -> tuple[pd.DataFrame, dict]:
    """One day's landing files, typed by the spec; and the day's metadata."""
    spec, landing = p.spec, landing_root(p.spec)
    files, ignored = files_ignored or day_files(p, day)
    # A structurally bad file is set aside with its reason, never deleted; the day is built from
    # the good files.
    try:
        frames, quarantined = read_or_quarantine(
            landing,
            day,
            files,
            spec.landing.format,
            lambda frame, source: enforce_schema(frame, spec, source),
            log,
            check_all=lambda frames: check_spec_columns(frames, spec),
        )
    except SpecColumnsError as exc:
        # The spec's mistake: every file stays in the landing folder, nothing is quarantined.
        raise fail(f"raw_data {day}: {exc} {p.in_spec}; the landing files were left where they are") from None
    except LandingError as exc:  # a day folder that leads outside the landing folder
        raise fail(f"raw_data {day}: {exc}") from None
    if not frames:
        # Nothing is written: the day's earlier good output, if any, stays as it was.
        raise fail(
            f"raw_data {day}: all {len(files)} landing file(s) rejected {p.in_spec}; moved to "
            f"{landing / QUARANTINE / day} with a .reason.txt each (fix a file, put it back, re-materialize the day):\n"
            + "\n".join(f"- {q['reason']}" for q in quarantined),
            quarantined=MetadataValue.json(quarantined),
        )
    good = [str(f) for f in files if str(f) not in {q["file"] for q in quarantined}]
    df = pd.concat(frames, ignore_index=True)
    try:
        df, counts, warnings = apply_day_rules(df, origins(frames, [f.rsplit("/", 1)[-1] for f in good]), spec, day)
    except DayRuleError as exc:
        raise fail(f"raw_data {day}: {exc} {p.in_spec}; the landing files were left where they are") from None
    for line in warnings:
        log.warning(f"raw_data {day}: {line}")
    return df, {
        "files": good,
        "quarantined": quarantined,
        "ignored_files": ignored,
        **counts,
        "labelled_rows": int(df[spec.columns.label].notna().sum()),
    }


def partial_days(meta: dict[str, dict]) -> dict[str, dict]:
    """The days built from only some of their files: {day: {files: kept, quarantined: [{file, reason}]}}."""
    return {
        day: {
            "files": len(m["files"]),
            "quarantined": [{"file": q["file"].rsplit("/", 1)[-1], "reason": q["reason"]} for q in m["quarantined"]],
        }
        for day, m in meta.items()
        if m["quarantined"]
    }


def range_metadata(meta: dict[str, dict]) -> dict:
    """raw_data's metadata: the day's own for one day, totals for a range; and the partial days."""
    partial = {"partial_days": MetadataValue.json(partial_days(meta))}
    if len(meta) == 1:
        only = next(iter(meta.values()))
        return {
            **{k: MetadataValue.json(v) if isinstance(v, list) else MetadataValue.int(v) for k, v in only.items()},
            **partial,
        }
    return {
        **partial,
        "days": MetadataValue.int(len(meta)),
        "files": MetadataValue.int(sum(len(m["files"]) for m in meta.values())),
        "quarantined": MetadataValue.json([q for m in meta.values() for q in m["quarantined"]]),
        "rows_outside_day": MetadataValue.int(sum(m["rows_outside_day"] for m in meta.values())),
        "duplicate_rows_left_out": MetadataValue.int(sum(m["duplicate_rows_left_out"] for m in meta.values())),
        "labelled_rows": MetadataValue.int(sum(m["labelled_rows"] for m in meta.values())),
    }


RAW_DATA_DESCRIPTION = (
    "One day of landing files (<landing>/<YYYY-MM-DD>/*.csv|.parquet), checked against the "
    "spec's schema (required columns and types) and stored as Parquet. Its data version is a hash "
    "of the landed bytes and the ingest code: a day landed again with the same content is not "
    "ingested again, so nothing below it runs. A backfill of a range runs in one run (one file "
    "per day, all days or none)."
)


def build_ingest(p: Pipeline) -> list:
    ingest_code = code_version(
        p.spec, enforce_schema, apply_day_rules, read_or_quarantine, sections=("landing", "columns", "features", "task")
    )

    @asset(
        key_prefix=[p.name],
        retry_policy=p.retry,
        partitions_def=p.daily,
        backfill_policy=RANGE_IN_ONE_RUN,
        group_name=p.qualified("ingest"),
        kinds={"pandas", "parquet"},
        code_version=ingest_code,
        # A day whose landed files are unchanged is not materialized again (see below).
        output_required=False,
        description=RAW_DATA_DESCRIPTION,
    )
    def raw_data(context: AssetExecutionContext):
        days = context.partition_keys
        frames, meta = {}, {}
        version = None
        for i, day in enumerate(days, start=1):
            if len(days) > 1:
                context.log.info(f"raw_data: day {i}/{len(days)}: {day}")
            listed = day_files(p, day)
            if len(days) == 1:
                version = landing_fingerprint(landing_root(p.spec), listed[0], salt=ingest_code)
                if reason := unchanged_since(context, p, day, version):
                    context.log.info(reason)
                    return  # no output: the run's steps below raw_data are skipped
            frames[day], meta[day] = ingest_day(p, context.log, day, listed)
        # One day: the content hash is the data version; a range gets Dagster's own (one output, many days).
        yield Output(
            as_output(frames), metadata=range_metadata(meta), data_version=DataVersion(version) if version else None
        )

    @asset(
        key_prefix=[p.name],
        ins={"raw_data": p.asset_in("raw_data")},
        retry_policy=p.retry,
        partitions_def=p.daily,
        backfill_policy=RANGE_IN_ONE_RUN,
        group_name=p.qualified("features"),
        kinds={"pandas", "parquet"},
        code_version=code_version(
            p.spec, build_features, sections=("columns", "features", "derived_features", "partitions")
        ),
        description="Model-ready features for one day, built by the one feature module that training and scoring "
        "share.",
    )
    def features(context: AssetExecutionContext, raw_data):
        return as_output(
            {day: build_features(frame, p.spec) for day, frame in each_partition(context, raw_data).items()}
        )

    return [raw_data, features]
