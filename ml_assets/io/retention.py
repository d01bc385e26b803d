"""Retention, carried out: list what is stored, ask the registry what the champion and challenger
need, plan (core/retention.py), then delete: the Parquet files with their check results, and
registered model versions. Used by `retention_job` and `ml-assets retention`.

Dagster's open-source event log storages (SQLite, Postgres) cannot wipe single partitions' records,
so each deleted partition gets an asset observation `retention: deleted` instead: the asset's
partition history in the UI shows when and why its data went.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from upath import UPath

from ml_assets.core.retention import RETAINED_ASSETS, Decision, Protected, plan_retention
from ml_assets.core.spec import PipelineSpec
from ml_assets.io.files import partition_path, stored_partition_paths
from ml_assets.io.registry import CHALLENGER, CHAMPION, Registry


def stored_partitions(base: UPath) -> dict[str, list[str]]:
    """Days with a stored Parquet file, per retained asset (`<base>/<asset>/<day>.parquet`)."""
    return {
        asset: [p.name.removesuffix(".parquet") for p in stored_partition_paths(base, asset)]
        for asset in RETAINED_ASSETS
    }


def protected_versions(versions: list[dict]) -> list[Protected]:
    """The champion and challenger with their training windows, from the registry's version list."""
    return [
        Protected(alias, v["version"], v["tags"].get("window_first_day"), v["tags"].get("window_last_day"))
        for v in versions
        for alias in v["aliases"]
        if alias in (CHAMPION, CHALLENGER)
    ]


def plan(
    spec: PipelineSpec, base: UPath, registry: Registry, newest_day: str, now: dt.datetime | None = None
) -> list[Decision]:
    versions = registry.versions()  # one listing: ages, aliases and the protected windows
    return plan_retention(
        spec,
        newest_day,
        stored_partitions(base),
        versions,
        protected_versions(versions),
        now or dt.datetime.now(dt.UTC),
    )


def describe(decisions: list[Decision]) -> list[str]:
    """One line per decision, deletions first, then what stays and why."""
    order = sorted(decisions, key=lambda d: (d.action != "delete", d.kind, d.name, d.key))
    deleted = sum(d.action == "delete" for d in decisions)
    lines = [f"{deleted} to delete, {len(decisions) - deleted} old enough but kept"]
    lines += [f"  {d.action:6} {d.kind} {d.name} {d.key}: {d.reason}" for d in order]
    return lines


def observation(d: Decision, model: str):
    """The asset observation recorded for a deleted partition of `model`'s asset."""
    from dagster import AssetKey, AssetObservation

    return AssetObservation(
        asset_key=AssetKey([model, d.name]), partition=d.key, metadata={"retention": "deleted", "reason": d.reason}
    )


def apply(
    decisions: list[Decision], base: UPath, registry: Registry, record: Callable | None, log: Callable[[str], None]
) -> list[Decision]:
    """Delete what the plan says, in order: a failure stops with everything before it done and
    reported, nothing after it touched. `record(observation)` stores each deleted partition's
    observation. `base` is the model's folder in the store (its name is the model's). Returns what
    was deleted."""
    done = []
    deletions = [d for d in decisions if d.action == "delete"]
    for i, d in enumerate(deletions, start=1):
        if d.kind == "partition":
            path = partition_path(base, d.name, d.key)
            if path.exists():
                path.fs.rm(path.path)
            results = base / "validation" / d.name / d.key
            if results.exists():
                results.fs.rm(results.path, recursive=True)
            if record is not None:
                record(observation(d, base.name))
        else:
            registry.delete_version(d.key)
        done.append(d)
        if i % 50 == 0 or i == len(deletions):
            log(f"retention: deleted {i}/{len(deletions)}")
    return done
