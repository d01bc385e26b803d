"""The one adapter to Dagster's instance storage: reads that Dagster has no public API for.

Everything here touches private Dagster modules (`dagster._core...`); no other module of this
project does. ml_assets_tests/test_instance.py pins the behaviour, so a Dagster upgrade that
changes it fails there first.
"""

from __future__ import annotations

from dagster import AssetCheckKey, AssetCheckSeverity

# Run tags that Dagster sets itself; their constants live in a private module.
PARTITION_TAG = "dagster/partition"
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
# The tag of a materialization that holds its data version (set by Dagster from Output(data_version=)).
DATA_VERSION_TAG = "dagster/data_version"


def blocking_check_failures(
    instance, keys: list[AssetCheckKey], days: list[str], strict_day: bool = False
) -> list[str]:
    """The checks among `keys` whose latest result (overall, or for one of `days`) failed at ERROR.
    With `strict_day`, only results for those days count (not unpartitioned ones)."""
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
                failures.add(
                    f"{key.asset_key.to_user_string()}:{key.name}"
                    + (f" ({record.partition})" if record.partition else "")
                )
    return sorted(failures)


def run_worker_pid(instance, run_id: str) -> tuple[int, float] | None:
    """(pid, when it was reported) of the process executing the run's steps: the run worker
    ("Started process for run (pid: N)") or the executor's parent process (`dagster job execute`).
    None before either reported."""
    from dagster import DagsterEventType

    latest = None
    for entry in instance.all_logs(run_id, of_type=DagsterEventType.ENGINE_EVENT):
        data = entry.dagster_event.engine_event_data if entry.dagster_event else None
        pid = (data.metadata or {}).get("pid") if data is not None else None
        if pid is not None:
            latest = (int(pid.value), entry.timestamp)
    return latest


def free_pool_slots(instance, run_id: str) -> None:
    """Give back the pool slots a dead run held (Dagster frees them only for runs that ended)."""
    if instance.event_log_storage.supports_global_concurrency_limits:
        instance.event_log_storage.free_concurrency_slots_for_run(run_id)


def ensure_pool_limit(instance, pool: str, limit: int = 1) -> bool:
    """Give `pool` a limit when it has none (an instance whose dagster.yaml sets no
    `concurrency.pools.default_limit`, like the production one). True when it set one."""
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits or pool in {p.name for p in storage.get_pool_limits()}:
        return False
    storage.set_concurrency_slots(pool, limit)
    return True
