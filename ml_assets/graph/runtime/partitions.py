"""One day, or a range of days in one run, through the same asset code.

The daily ingest assets (`raw_data`, `features`, `feature_drift`) carry `BackfillPolicy.single_run()`:
a backfill of a range from the UI, or `dagster asset materialize --partition-range A...B`, is one
run that pays the run's fixed cost once. In such a run an input holds every day of the range
({day: frame}) and an output is returned the same way; the Parquet IO manager writes one file per
day, exactly as one-day runs do, and the checks record one result per day.
"""

from __future__ import annotations

import datetime as dt
import warnings
from typing import Any

from dagster import BackfillPolicy, BetaWarning, DailyPartitionsDefinition

from ml_assets.core.spec import PipelineSpec

RANGE_IN_ONE_RUN = BackfillPolicy.single_run()
# `backfill_policy=` on @asset is beta in Dagster 1.13; it is what makes a range one run, so we use
# it on purpose and keep its warning out of every load of the definitions.
warnings.filterwarnings("ignore", message="Parameter `backfill_policy`", category=BetaWarning)
# Jobs that mix the ingest assets with the others (scoring_job, full_pipeline_job) backfill one day
# per run, which is what those assets need (scoring streams one day, training_set is one window);
# Dagster says so on every load of the definitions.
warnings.filterwarnings(
    "ignore", message="Asset job .* materializes assets with varying BackfillPolicies", category=UserWarning
)


def each_partition(context, value: Any) -> dict[str, Any]:
    """An input by day: as loaded for a range ({day: value}), or {the run's day: value}."""
    if len(context.partition_keys) > 1:
        return value
    return {context.partition_key: value}


def as_output(by_day: dict[str, Any]) -> Any:
    """What an asset returns for its days: the value itself for one day, else {day: value}."""
    return by_day if len(by_day) > 1 else next(iter(by_day.values()))


def daily_partitions(spec: PipelineSpec) -> DailyPartitionsDefinition:
    """One partition per day from start_date to end_date (inclusive; Dagster's end is exclusive), or
    up to the newest complete day when the spec sets no end."""
    end = spec.partitions.end_date
    return DailyPartitionsDefinition(
        start_date=spec.partitions.start_date.isoformat(),
        end_date=(end + dt.timedelta(days=1)).isoformat() if end else None,
        timezone=spec.partitions.timezone,
    )
