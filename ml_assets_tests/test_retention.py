"""Retention: the dry run's plan is what the real run deletes, and the champion's needs always stay."""

from __future__ import annotations

import datetime as dt

import pytest
from dagster import AssetRecordsFilter

from ml_assets.core.spec import SpecError
from ml_assets.graph.pipeline import build_definitions
from ml_assets.io import retention
from ml_assets.io.paths import storage_root
from ml_assets.io.registry import Registry, default_tracking_uri
from ml_assets.runner import run_days
from ml_assets_tests.conftest import LAST_DAY, day_keys, land_demo_days, model_job, model_key, small_demo_spec

DAYS = day_keys(10)
WINDOW = DAYS[-6:]  # the champion's training window (window_days 6)


def _stored(base) -> dict[str, set[str]]:
    return {asset: set(days) for asset, days in retention.stored_partitions(base).items()}


def _run_retention(defs, instance, dry_run: bool):
    result = defs.resolve_job_def(model_job("retention_job")).execute_in_process(
        instance=instance, run_config={"ops": {model_job("apply_retention"): {"config": {"dry_run": dry_run}}}}
    )
    assert result.success
    return result.get_step_success_events()[0], {
        k: v.value
        for k, v in next(
            e for e in result.all_events if e.event_type_value == "STEP_OUTPUT"
        ).event_specific_data.metadata.items()
    }


def test_retention_deletes_what_its_dry_run_planned_and_never_what_the_champion_needs(home, tmp_path, instance):
    spec, path = small_demo_spec(
        tmp_path, retention={"days": 6, "model_version_days": 1, "keep_model_versions": 1}, labels={"max_delay_days": 3}
    )
    defs = build_definitions(spec, str(path))
    land_demo_days(spec, DAYS)
    scored = [DAYS[0], DAYS[5], DAYS[-1]]
    run_days(
        spec,
        str(path),
        [("ingest_job", d) for d in DAYS] + [("training_job", DAYS[-1])] * 2 + [("scoring_job", d) for d in scored],
        instance,
    )
    base = storage_root() / spec.name
    registry = Registry(default_tracking_uri(), spec.name, spec.registered_model_name)
    assert registry.alias_version("champion") == "2", "the second, equally good version was promoted"
    before = _stored(base)
    old = set(DAYS[:4])  # before the newest 6 days

    # Dry run through Dagster: the plan is logged and reported; nothing changes.
    _, dry = _run_retention(defs, instance, dry_run=True)
    assert _stored(base) == before
    plan = retention.plan(spec, base, registry, DAYS[-1])
    deletions = {(d.name, d.key) for d in plan if d.action == "delete"}
    assert deletions == {(a, d) for a in ("raw_data", "features") for d in old} | {("batch_predictions", DAYS[0])}
    assert dry["planned_deletions"] == len(deletions) and dry["deleted"] == 0
    assert (base / "validation" / "raw_data" / DAYS[0]).exists()

    # The real run deletes exactly that: files, their check results and Dagster's records.
    _, real = _run_retention(defs, instance, dry_run=False)
    assert real["deleted"] == len(deletions)
    after = _stored(base)
    assert {(a, d) for a in before for d in before[a] - after[a]} == deletions
    assert not (base / "validation" / "raw_data" / DAYS[0]).exists()
    gone = instance.fetch_observations(
        AssetRecordsFilter(asset_key=model_key("raw_data"), asset_partitions=[DAYS[0]]), limit=1
    ).records
    assert gone[0].asset_observation.metadata["retention"].value == "deleted", (
        "the UI shows why the partition's data went"
    )
    assert registry.alias_version("champion") == "2"

    # Ten days later the champion still serves: its window is now older than retention.days, but
    # what it was trained on stays, with the reason; its training_set too. Version 1 (no alias,
    # not among the newest 1) goes; the champion never does.
    later = (LAST_DAY + dt.timedelta(days=10)).isoformat()
    now = dt.datetime.now(dt.UTC) + dt.timedelta(days=10)
    dry_plan = retention.plan(spec, base, registry, later, now=now)
    kept = {(d.name, d.key): d.reason for d in dry_plan if d.action == "keep"}
    for asset in ("raw_data", "features"):
        for day in WINDOW:
            assert kept[(asset, day)] == f"champion v2 trained on it (window {WINDOW[0]} .. {WINDOW[-1]})"
    assert kept[("training_set", DAYS[-1])].startswith("champion v2")
    assert kept[(spec.registered_model_name, "2")] == "holds alias champion"
    assert retention.plan(spec, base, registry, later, now=now) == dry_plan, "planning is repeatable"
    done = retention.apply(dry_plan, base, registry, instance.report_runless_asset_event, lambda _: None)
    assert done == [d for d in dry_plan if d.action == "delete"]
    assert {(d.kind, d.key) for d in done} == {("partition", DAYS[5]), ("partition", DAYS[-1]), ("model_version", "1")}
    assert [v["version"] for v in registry.versions()] == ["2"]
    left = _stored(base)
    assert left["raw_data"] == left["features"] == set(WINDOW) and left["training_set"] == {DAYS[-1]}
    assert left["batch_predictions"] == set()
    # The champion still scores a day: nothing it needs is gone.
    run_days(spec, str(path), [("scoring_job", DAYS[-1])], instance)


def test_retention_shorter_than_the_training_window_is_refused(tmp_path):
    with pytest.raises(SpecError, match=r"retention.days': 3 would delete data still needed: keep at least 8 days"):
        small_demo_spec(tmp_path, training={"window_days": 8, "holdout_days": 2}, retention={"days": 3})
