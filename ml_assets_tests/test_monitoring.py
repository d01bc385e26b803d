"""Delayed labels, realized quality, its checks as a retraining trigger, and the monitoring page."""

from __future__ import annotations

import datetime as dt
import json
import os
import time

import numpy as np
import pandas as pd
import pytest
from dagster import AssetCheckKey, build_sensor_context, evaluate_automation_conditions

from ml_assets.core.quality import judge, labels_for_day, parse_labels, realized_quality
from ml_assets.core.schema import SchemaError
from ml_assets.graph.pipeline import build_definitions
from ml_assets.io.paths import labels_root, storage_root
from ml_assets.runner import run_days
from ml_assets_tests.conftest import (
    LAST_DAY,
    day_keys,
    land_demo_days,
    materialize,
    model_job,
    model_key,
    requested,
    small_demo_spec,
)

DAYS = day_keys(6)
DAY_CHECK = AssetCheckKey(model_key("realized_quality"), "realized_quality_threshold")
PAGE_CHECK = AssetCheckKey(model_key("monitoring_report"), "latest_realized_quality")


def test_labels_are_matched_by_entity_and_event_day_within_the_delay(tmp_path):
    spec, _ = small_demo_spec(
        tmp_path, labels={"uri": "labels", "max_delay_days": 2, "min_labeled_rows": 3, "quality_threshold": 0.7}
    )
    day = "2026-03-02"
    raw = pd.DataFrame(
        {
            "customer_id": ["a", "b", "c", "d", "e"],
            # a timestamp (cut in the partitions' time zone), a bare day, and another day's event
            "event_time": ["2026-03-02T10:00:00Z", "2026-03-02", "2026-03-02T23:59:59Z", "2026-03-01", "2026-03-02"],
            "churned": ["1", "0", "0", "1", "1"],
        }
    )
    first = parse_labels(raw, spec, "x.csv")
    correction = parse_labels(
        pd.DataFrame({"customer_id": ["a"], "event_time": ["2026-03-02"], "churned": [0]}), spec, "y.csv"
    )
    too_late = parse_labels(
        pd.DataFrame({"customer_id": ["b"], "event_time": ["2026-03-02"], "churned": [1]}), spec, "z.csv"
    )
    labels, counts = labels_for_day({"2026-03-03": first, "2026-03-04": correction, "2026-03-05": too_late}, day, spec)
    assert dict(zip(labels["customer_id"], labels["churned"], strict=True)) == {"a": 0.0, "b": 0.0, "c": 0.0, "e": 1.0}
    assert counts == {"label_rows": 5, "duplicates": 1}, (
        "the later arrival corrected a; d is another day; z.csv came 3 days late"
    )

    preds = pd.DataFrame(
        {"customer_id": ["a", "b", "c", "e", "f"], "score": [0.1, 0.2, 0.3, 0.9, 0.5], "model_version": "3"}
    )
    row = realized_quality(preds, labels, spec, day)
    assert (row["predictions"], row["labeled_rows"], row["label_coverage"]) == (5, 4, 0.8)
    assert row["roc_auc"] == 1.0 and row["baseline"] == 0.5
    assert judge(row, spec)[0] == "ok"
    assert judge({**row, "roc_auc": 0.6}, spec) == (
        "low",
        f"{day}: realized roc_auc 0.6000 on 4 labelled predictions (model v3) is below labels.quality_threshold "
        "(0.7000)",
    )
    assert judge({**row, "labeled_rows": 2}, spec)[0] == "too_few"

    # A metric where lower is better, and no threshold: the day must beat the constant baseline.
    loss, _ = small_demo_spec(
        tmp_path,
        labels={"uri": "labels", "min_labeled_rows": 1, "quality_threshold": None},
        model={"metric": "log_loss"},
    )
    row = realized_quality(preds, labels, loss, day)
    assert row["log_loss"] < row["baseline"] and judge(row, loss)[0] == "ok"
    worse = realized_quality(preds.assign(score=1 - preds["score"]), labels, loss, day)
    assert judge(worse, loss)[0] == "low" and "above the day's trivial baseline" in judge(worse, loss)[1]

    with pytest.raises(SchemaError) as exc:
        parse_labels(
            pd.DataFrame(
                {"customer_id": ["a", None], "event_time": ["yesterday", "2026-03-02"], "churned": ["1", "2"]}
            ),
            spec,
            "bad.csv",
        )
    message = str(exc.value)
    assert message.startswith("bad.csv: ") and "'customer_id' (entity id)" in message and "'yesterday'" in message


def _touch_later(paths):
    later = time.time() + 2
    for p in paths:
        os.utime(p, (later, later))


def _check(instance, key):
    return instance.event_log_storage.get_latest_asset_check_execution_by_key([key])[key].evaluation


def test_a_drop_in_realized_quality_fails_the_checks_and_triggers_retraining(home, tmp_path, instance):
    spec, path = small_demo_spec(tmp_path)
    assert spec.labels is not None and spec.automation.retrain_on_quality_drop
    defs = build_definitions(spec, str(path))
    land_demo_days(spec, DAYS)
    run_days(
        spec,
        str(path),
        [("ingest_job", d) for d in DAYS]
        + [("training_job", DAYS[-1])]
        + [("scoring_job", d) for d in DAYS]
        + [("monitoring_job", None)],
        instance,
    )
    assert _check(instance, PAGE_CHECK).passed
    noon = dt.datetime.combine(LAST_DAY + dt.timedelta(days=1), dt.time(12, 0), dt.UTC)
    tick = evaluate_automation_conditions(defs, instance, evaluation_time=noon)
    tick = evaluate_automation_conditions(
        defs, instance, cursor=tick.cursor, evaluation_time=noon + dt.timedelta(seconds=30)
    )
    assert "training_set" not in requested(tick), "quality is fine: no retraining"

    sensor = defs.resolve_sensor_def(model_job("labels_sensor"))
    first = sensor(build_sensor_context(instance=instance, definitions=defs))
    assert sorted(r.partition_key for r in first.run_requests) == DAYS, "every scored day has labels"

    # The world changes: from DAYS[-3] on, the label is the opposite of what the model learned. Only
    # those days' label files are rewritten; the sensor asks for exactly those days again.
    flipped = DAYS[-3:]
    land_demo_days(spec, flipped, flip_labels_from=flipped[0])
    _touch_later([p for p in labels_root(spec).rglob("labels-*") if p.stem.removeprefix("labels-") in flipped])
    again = sensor(build_sensor_context(instance=instance, cursor=first.cursor, definitions=defs))
    assert sorted(r.partition_key for r in again.run_requests) == flipped
    assert all(r.tags["ml_assets/trigger"] == "labels_sensor" for r in again.run_requests)
    for day in flipped:
        assert materialize(defs, instance, ["realized_quality"], day).success  # the check is not blocking
        result = _check(instance, DAY_CHECK)
        assert (
            not result.passed
            and result.severity.value == "ERROR"
            and "below labels.quality_threshold" in result.description
        )
    quality = pd.read_parquet(storage_root() / spec.name / "realized_quality" / f"{DAYS[0]}.parquet").iloc[0]
    assert quality["verdict"] == "ok" and quality["roc_auc"] > spec.labels.quality_threshold
    # Estimated from the scores alone (CBPE, calibrated on the champion's holdout), with its band: on a day
    # like the training days it lands near what the labels then said.
    assert quality["estimated_low"] <= quality["estimated_roc_auc"] <= quality["estimated_high"]
    assert abs(quality["estimated_roc_auc"] - quality["roc_auc"]) < 0.1 and quality["estimated_version"] == "1"

    # Automation rebuilds the page; its check fails on the newest judged day; that retrains.
    tick = evaluate_automation_conditions(
        defs, instance, cursor=tick.cursor, evaluation_time=noon + dt.timedelta(seconds=60)
    )
    assert requested(tick) == {"monitoring_report": "all"}
    materialize(defs, instance, ["monitoring_report"])
    page_check = _check(instance, PAGE_CHECK)
    assert not page_check.passed and page_check.description.startswith(f"{DAYS[-1]}: realized roc_auc")
    tick = evaluate_automation_conditions(
        defs, instance, cursor=tick.cursor, evaluation_time=noon + dt.timedelta(seconds=90)
    )
    assert requested(tick) == {"training_set": [DAYS[-1]]}, "the quality drop triggers retraining of the newest window"
    # Once handled, a page that still fails does not retrain again and again.
    materialize(defs, instance, ["training_set"], DAYS[-1])
    materialize(defs, instance, ["monitoring_report"])
    tick = evaluate_automation_conditions(
        defs, instance, cursor=tick.cursor, evaluation_time=noon + dt.timedelta(seconds=120)
    )
    assert "training_set" not in requested(tick)

    # The page: plots, its data as Parquet, and the promotion of the champion.
    page = storage_root() / spec.name / "monitoring_report"
    report = json.loads((page / "report.json").read_text())
    assert report["verdict"] == "low" and report["quality_days"] == len(DAYS)
    assert [e["kind"] for e in report["promotions"]] == ["promotion"]
    assert (page / "timeline.png").read_bytes().startswith(b"\x89PNG")
    data = pd.read_parquet(page / "realized_quality.parquet").set_index("day")
    assert list(data.index) == DAYS and (data.loc[flipped, "verdict"] == "low").all()
    assert np.allclose(
        data["predictions"],
        [len(pd.read_parquet(storage_root() / spec.name / "batch_predictions" / f"{d}.parquet")) for d in DAYS],
    )
    assert "data:image/png;base64," in (page / "report.html").read_text()
    assert set(pd.read_parquet(page / "feature_drift.parquet")["day"]) == set(DAYS)


def test_a_bad_label_file_is_quarantined_and_the_rest_counted(home, tmp_path, instance):
    spec, path = small_demo_spec(tmp_path)
    land_demo_days(spec, DAYS)
    arrival = (dt.date.fromisoformat(DAYS[-1]) + dt.timedelta(days=1)).isoformat()
    bad = labels_root(spec) / arrival / "broken.csv"
    bad.write_text("customer_id,event_time\nC1,2026-01-01\n")
    run_days(
        spec,
        str(path),
        [("ingest_job", d) for d in DAYS] + [("training_job", DAYS[-1]), ("scoring_job", DAYS[-1])],
        instance,
    )
    assert not bad.exists()
    reason = labels_root(spec) / "_quarantine" / arrival / "broken.csv.reason.txt"
    assert "label file column(s) ['churned'] are missing" in reason.read_text()
    row = pd.read_parquet(storage_root() / spec.name / "realized_quality" / f"{DAYS[-1]}.parquet").iloc[0]
    assert row["labeled_rows"] > 0, "the good files of the same folder still count"
