"""Pins graph/instance.py, the one adapter to Dagster's private storage APIs: a Dagster upgrade that
changes what it reads fails here first."""

from __future__ import annotations

import warnings

import pytest
from dagster import (
    AssetCheckKey,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetKey,
    DailyPartitionsDefinition,
    Definitions,
    PreviewWarning,
    asset,
    asset_check,
    define_asset_job,
)

from ml_assets.graph.runtime.instance import blocking_check_failures

pytestmark = pytest.mark.filterwarnings("ignore::dagster.PreviewWarning")

DAILY = DailyPartitionsDefinition(start_date="2026-01-01", end_date="2026-01-05")
BAD_DAY = "2026-01-02"


@asset(key=["m", "features"], partitions_def=DAILY)
def features():
    return 1


with warnings.catch_warnings():
    warnings.simplefilter("ignore", PreviewWarning)

    @asset_check(asset=AssetKey(["m", "features"]), blocking=True, partitions_def=DAILY)
    def day_ok(context):
        bad = context.partition_key == BAD_DAY
        return AssetCheckResult(passed=not bad, severity=AssetCheckSeverity.ERROR if bad else AssetCheckSeverity.WARN)

    @asset_check(asset=AssetKey(["m", "features"]), blocking=False)
    def warns_only():
        return AssetCheckResult(passed=False, severity=AssetCheckSeverity.WARN)


def test_blocking_check_failures_reads_each_days_latest_result(instance):
    defs = Definitions(
        assets=[features],
        asset_checks=[day_ok, warns_only],
        jobs=[define_asset_job("days", selection=[AssetKey(["m", "features"])])],
    )
    job = defs.resolve_job_def("days")
    for day in ("2026-01-01", BAD_DAY, "2026-01-03"):
        job.execute_in_process(partition_key=day, instance=instance, raise_on_error=False)
    keys = [
        AssetCheckKey(AssetKey(["m", "features"]), "day_ok"),
        AssetCheckKey(AssetKey(["m", "features"]), "warns_only"),
    ]
    assert blocking_check_failures(instance, keys, [BAD_DAY], strict_day=True) == [f"m/features:day_ok ({BAD_DAY})"]
    assert blocking_check_failures(instance, keys, ["2026-01-01", "2026-01-03"], strict_day=True) == []
    assert blocking_check_failures(instance, keys, ["2026-01-04"], strict_day=True) == []  # never evaluated
    assert blocking_check_failures(instance, [], [BAD_DAY]) == []
    # A WARN failure never blocks, partitioned or not.
    defs2 = Definitions(
        assets=[features],
        asset_checks=[warns_only],
        jobs=[define_asset_job("audit", selection=[AssetKey(["m", "features"])])],
    )
    defs2.resolve_job_def("audit").execute_in_process(
        partition_key="2026-01-01", instance=instance, raise_on_error=False
    )
    assert blocking_check_failures(instance, keys, [BAD_DAY]) == [f"m/features:day_ok ({BAD_DAY})"]
