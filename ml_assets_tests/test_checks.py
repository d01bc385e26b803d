"""Data checks: Great Expectations suites from the spec, drift against the champion's training
reference, blocking of bad days, validation results kept, quarantine of bad landing files."""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import pytest
from dagster import AssetCheckKey

from ml_assets.core.demo_data import generate_day
from ml_assets.graph.automation.alerts import failed_checks
from ml_assets.graph.pipeline import build_definitions
from ml_assets.io.landing import QUARANTINE, write_landing_file
from ml_assets.io.paths import landing_root, storage_root
from ml_assets.runner import JobFailed, run_days
from ml_assets_tests.conftest import day_keys, land_demo_days, model_job, model_key, small_demo_spec

DAYS = day_keys(6)


def _checks(result) -> dict[str, object]:
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def _reingest(spec, path, instance, day, df, **kw):
    folder = landing_root(spec) / day
    for old in folder.iterdir():
        old.unlink()
    write_landing_file(landing_root(spec), dt.date.fromisoformat(day), "events", df, spec.landing.format)
    return run_days(spec, str(path), [("ingest_job", day)], instance, **kw)


def test_clean_days_pass_every_check_and_results_are_kept(trained):
    spec, path, _, instance = trained
    # Re-ingest a clean day now that a champion (and its training reference) exists.
    result = run_days(spec, str(path), [("ingest_job", DAYS[-2])], instance)[0]
    checks = _checks(result)
    assert set(checks) == {"raw_data_contract", "features_contract", "features_statistics", "features_drift"}
    assert all(c.passed for c in checks.values()), {n: c.description for n, c in checks.items()}
    assert checks["features_drift"].metadata["reference_version"].value == "1"
    base = storage_root() / spec.name / "validation"
    gx_result = json.loads((base / "raw_data" / DAYS[-2] / "raw_data_contract.json").read_text())
    assert gx_result["success"] is True and len(gx_result["results"]) > 20  # GX's own JSON, kept for audit
    assert (base / "features" / DAYS[-2] / "features_drift.json").exists()
    drift = pd.read_parquet(storage_root() / spec.name / "feature_drift" / f"{DAYS[-2]}.parquet")
    assert set(drift["feature"]) == {f.name for f in spec.features} and (drift["status"] == "ok").all()

    # The prediction-drift check ran on the scored day too.
    scored = run_days(spec, str(path), [("scoring_job", DAYS[-1])], instance)[0]
    assert _checks(scored)["batch_predictions_drift"].passed


def test_injected_drift_is_named_and_blocks_training_and_scoring_of_that_day(trained):
    spec, path, _, instance = trained
    day = DAYS[-1]
    drifted = generate_day(dt.date.fromisoformat(day), rows=300, drift_from=dt.date.fromisoformat(day))
    # The run's error is the check's own line: the rule, the column, the observed value.
    with pytest.raises(JobFailed, match=rf"check demo_churn/features:features_drift \({day}\) failed: .*PSI") as failed:
        _reingest(spec, path, instance, day, drifted)
    # What failed is said in the run log and in the alert, not only the check's name.
    run_id = failed.value.result.run_id
    said = [e.user_message for e in instance.all_logs(run_id) if "blocks the steps below it" in (e.user_message or "")]
    assert any(
        f"check demo_churn/features:features_drift ({day}) failed" in m and "`monthly_charges` (error): PSI" in m
        for m in said
    ), said
    assert any("`monthly_charges` (error): PSI" in line for line in failed_checks(instance, run_id))
    evaluation = instance.event_log_storage.get_latest_asset_check_execution_by_key(
        [AssetCheckKey(model_key("features"), "features_drift")]
    )[AssetCheckKey(model_key("features"), "features_drift")].evaluation
    assert not evaluation.passed and evaluation.severity.value == "ERROR"
    assert "`monthly_charges` (error): PSI" in evaluation.description and "KS" in evaluation.description
    assert evaluation.metadata["max_psi"].value > spec.validation.drift_error.psi
    drift = pd.read_parquet(storage_root() / spec.name / "feature_drift" / f"{day}.parquet")
    assert drift.set_index("feature").loc["monthly_charges", "status"] == "error"
    assert drift.set_index("feature").loc["tenure_days", "status"] == "ok"

    # The monitoring page plots every measured day and lists the flagged one.
    run_days(spec, str(path), [("ingest_job", DAYS[-2])], instance)
    job = build_definitions(spec, str(path)).resolve_job_def(model_job("monitoring_job"))
    assert job.execute_in_process(instance=instance).success
    page = storage_root() / spec.name / "monitoring_report"
    assert (page / "psi_over_time.png").read_bytes().startswith(b"\x89PNG")
    report = json.loads((page / "report.json").read_text())
    assert report["days"] == 2 and {(f["day"], f["feature"]) for f in report["flagged"] if f["status"] == "error"} >= {
        (day, "monthly_charges")
    }
    assert "monthly_charges" in (page / "report.html").read_text()

    # Scoring: in the same run Dagster skips batch_predictions; a later run that only scores the
    # day is refused by the asset itself, and says why.
    with pytest.raises(JobFailed, match=rf"check demo_churn/features:features_drift \({day}\) failed"):
        run_days(spec, str(path), [("scoring_job", day)], instance)
    job = build_definitions(spec, str(path)).resolve_implicit_global_asset_job_def()
    result = job.execute_in_process(
        instance=instance, partition_key=day, raise_on_error=False, asset_selection=[model_key("batch_predictions")]
    )
    errors = [e.step_failure_data.error.message for e in result.all_events if e.is_step_failure]
    assert any(
        f"batch_predictions {day}: not scored: blocking checks failed on this day's data: "
        "demo_churn/features:features_drift" in m
        for m in errors
    ), errors
    # Training leaves the day out, and says so.
    result = run_days(spec, str(path), [("training_job", day)], instance)[0]
    meta = next(
        e.materialization.metadata
        for e in result.get_asset_materialization_events()
        if e.asset_key == model_key("training_set")
    )
    assert list(meta["excluded_days"].value) == [day]
    training = pd.read_parquet(storage_root() / spec.name / "training_set" / f"{day}.parquet")
    assert day not in set(training["_day"])
    # The model was not trained on the blocked day, so the gate's check rule does not hold it back.
    model_meta = next(
        e.materialization.metadata
        for e in result.get_asset_materialization_events()
        if e.asset_key == model_key("model")
    )
    assert "blocking checks failed" not in model_meta["promotion"].value


def test_contract_violation_is_error_and_blocks_the_day(trained):
    spec, path, _, instance = trained
    day = DAYS[-2]
    bad = generate_day(dt.date.fromisoformat(day), rows=300)
    bad.loc[:40, "plan"] = "gold"  # not an allowed category
    with pytest.raises(
        JobFailed, match=r"`plan`: .* not in \['basic', 'standard', 'premium'\].*; spec: features\[4\] plan"
    ):
        _reingest(spec, path, instance, day, bad)
    key = AssetCheckKey(model_key("raw_data"), "raw_data_contract")
    evaluation = instance.event_log_storage.get_latest_asset_check_execution_by_key([key])[key].evaluation
    assert not evaluation.passed and evaluation.severity.value == "ERROR"
    assert "`plan`: " in evaluation.description and "not in ['basic', 'standard', 'premium']" in evaluation.description
    gx_result = json.loads(
        (storage_root() / spec.name / "validation" / "raw_data" / day / "raw_data_contract.json").read_text()
    )
    assert gx_result["success"] is False


def test_statistical_deviation_is_a_warning_only(trained, tmp_path):
    # Loose drift limits, so only the statistics check speaks (a big shift is also blocking drift).
    loose = {"psi": 50, "ks": 0.99}
    instance = trained.instance
    spec, path = small_demo_spec(tmp_path, validation={"drift_warn": loose, "drift_error": loose})
    day = DAYS[-2]
    shifted = generate_day(dt.date.fromisoformat(day), rows=300)
    shifted["tenure_days"] = shifted["tenure_days"] * 1.6  # in range, but its mean moves
    result = _reingest(spec, path, instance, day, shifted)[0]  # the run succeeds: WARN does not block
    stats = _checks(result)["features_statistics"]
    assert not stats.passed and stats.severity.value == "WARN"
    assert "mean of `tenure_days`" in stats.description


def test_bad_file_is_quarantined_with_its_reason_and_can_be_put_back(home, tmp_path, instance):
    spec, path = small_demo_spec(tmp_path)
    day = DAYS[-1]
    land_demo_days(spec, [day])
    landing = landing_root(spec)
    good = (landing / day / "events.csv").read_text()
    # A late file of other customers (the same ids twice in a day would fail it: landing.duplicate_ids).
    header, *rows = good.splitlines()
    id_at = header.split(",").index(spec.columns.entity_id)
    rows = [",".join(f"L{v}" if i == id_at else v for i, v in enumerate(r.split(","))) for r in rows]
    bad_lines = [header, *rows]
    bad_lines[3] = bad_lines[3].replace(bad_lines[3].split(",")[2], "lots", 1)
    (landing / day / "late.csv").write_text("\n".join(bad_lines) + "\n")

    result = run_days(spec, str(path), [("ingest_job", day)], instance)[0]  # built from the good file
    meta = next(
        e.materialization.metadata
        for e in result.get_asset_materialization_events()
        if e.asset_key == model_key("raw_data")
    )
    assert [q["file"] for q in meta["quarantined"].value] == [str(landing / day / "late.csv")]
    moved = landing / QUARANTINE / day / "late.csv"
    assert moved.read_text() == "\n".join(bad_lines) + "\n"  # nothing lost
    reason = (landing / QUARANTINE / day / "late.csv.reason.txt").read_text()
    assert "column 'tenure_days' (numeric)" in reason and "'lots'" in reason
    assert not (landing / day / "late.csv").exists()
    rows_before = len(pd.read_parquet(storage_root() / spec.name / "raw_data" / f"{day}.parquet"))

    # Fix the file, put it back, re-materialize the day: both files count now.
    (landing / day / "late.csv").write_text(moved.read_text().replace("lots", "12"))
    moved.unlink()
    run_days(spec, str(path), [("ingest_job", day)], instance)
    assert len(pd.read_parquet(storage_root() / spec.name / "raw_data" / f"{day}.parquet")) == 2 * rows_before
