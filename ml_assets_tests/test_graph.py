"""The asset graph, run in process against a real (ephemeral) Dagster instance on local storage."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from ml_assets.graph.pipeline import build_definitions
from ml_assets.io.paths import storage_root
from ml_assets.runner import JobFailed, run_days
from ml_assets_tests.conftest import day_keys, land_demo_days, model_key, small_demo_spec


def _snapshot(root) -> dict[str, str]:
    """Hash of every file under the asset store: proves nothing was overwritten or left behind."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


ASSETS = {
    "raw_data",
    "features",
    "training_set",
    "model",
    "evaluation_report",
    "batch_predictions",
    "feature_drift",
    "realized_quality",
    "monitoring_report",
}


def test_definitions_load_every_shipped_model_side_by_side():
    from ml_assets.definitions import defs

    loaded = defs()
    keys = loaded.resolve_asset_graph().get_all_asset_keys()
    models = ("demo_churn", "breast_cancer", "diabetes")
    assert {k.to_user_string() for k in keys} == {f"{m}/{a}" for m in models for a in ASSETS}
    for k in keys:
        spec = loaded.resolve_assets_def(k).specs_by_key[k]
        assert spec.description and spec.kinds and spec.code_version, k
        assert spec.group_name.startswith(f"{k.path[0]}__"), (k, spec.group_name)
    jobs = {j.name for j in loaded.resolve_all_job_defs()}
    for m in models:
        assert {f"{m}__{j}" for j in ("ingest_job", "training_job", "scoring_job", "full_pipeline_job")} <= jobs
    sensors = {s.name for s in loaded.get_repository_def().sensor_defs}
    assert {"landing_sensor", "run_failure_alert_sensor"} <= sensors


def test_whole_graph_leaves_report_and_predictions_with_model_version(trained):
    # `trained` ran the whole graph: 6 days ingested, a model trained on them, the newest scored.
    spec, path, days, instance = trained

    base = storage_root() / spec.name
    preds = pd.read_parquet(base / "batch_predictions" / f"{days[-1]}.parquet")
    assert list(preds.columns) == ["customer_id", "event_time", "score", "prediction", "model_version"]
    assert preds["score"].between(0, 1).all() and len(preds) > 100
    report = json.loads((base / "evaluation_report" / "report.json").read_text())
    assert preds["model_version"].unique().tolist() == [report["model_version"]]
    assert (base / "evaluation_report" / "report.html").read_text().startswith("<!doctype html>")
    # The candidates carried between the training steps are gone once the chosen one is registered.
    assert not list((storage_root() / "_runs").glob("*")), list((storage_root() / "_runs").rglob("*"))
    assert report["training"]["window_first_day"] == days[0] and report["training"]["window_last_day"] == days[-1]

    # The runs and their metadata are in the instance: the UI shows the same numbers.
    event = instance.get_latest_materialization_event(model_key("batch_predictions"))
    assert event.asset_materialization.metadata["model_version"].value == report["model_version"]
    assert instance.get_materialized_partitions(model_key("raw_data")) == set(days)
    # The training window came through the partition mapping: exactly the 6 days.
    training = pd.read_parquet(base / "training_set" / f"{days[-1]}.parquet")
    assert sorted(training["_day"].unique()) == days


def _landing_file(spec, day):
    from ml_assets.io.paths import landing_root

    return landing_root(spec) / day / "events.csv"


def _rewrite(path, edit):
    lines = path.read_text().splitlines()
    path.write_text("\n".join(edit(lines)) + "\n")


BAD_FILES = {
    "wrong type": (
        lambda lines: [lines[0], lines[1].replace(lines[1].split(",")[2], "ten", 1), *lines[2:]],
        ["events.csv", "column 'tenure_days' (numeric)", "'ten'", "not numbers"],
    ),
    "unparseable row": (
        lambda lines: [*lines[:5], lines[5] + ",extra,fields", *lines[6:]],
        ["events.csv", "cannot parse", "line 6"],
    ),
    "no rows": (lambda lines: lines[:1], ["events.csv", "no rows"]),
    "empty file": (lambda lines: [], ["events.csv", "empty"]),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_landing_file_fails_clearly_and_loses_nothing(trained, case):
    spec, path, days, instance = trained
    edit, expected = BAD_FILES[case]
    root = storage_root() / spec.name
    before = _snapshot(root)
    # A day that was good before gets a bad file: its earlier raw_data must survive untouched.
    _rewrite(_landing_file(spec, days[-1]), edit)
    with pytest.raises(JobFailed) as exc:
        run_days(spec, str(path), [("scoring_job", days[-1])], instance)
    message = str(exc.value)
    for text in expected:
        assert text in message, message
    assert days[-1] in message and "all 1 landing file(s) rejected" in message
    assert _snapshot(root) == before  # nothing overwritten, no temporary or partial file left
    # The bad file is not lost: it is in quarantine, with its reason beside it.
    quarantine = _landing_file(spec, days[-1]).parent.parent / "_quarantine" / days[-1]
    assert (quarantine / "events.csv").exists()
    assert any(text in (quarantine / "events.csv.reason.txt").read_text() for text in expected[1:] or expected)


def test_day_without_files_fails_clearly(trained):
    spec, path, days, instance = trained
    empty_day = (dt.date.fromisoformat(days[0]) - dt.timedelta(days=1)).isoformat()
    with pytest.raises(JobFailed, match=f"no csv landing files for day {empty_day} under"):
        run_days(spec, str(path), [("ingest_job", empty_day)], instance)


def test_spec_naming_a_column_the_data_lacks(home, tmp_path, instance):
    spec, path = small_demo_spec(tmp_path)
    land_demo_days(spec, day_keys(1))
    spec2, path2 = small_demo_spec(
        tmp_path, features=[*[f.model_dump() for f in spec.features], {"name": "contract_type", "kind": "categorical"}]
    )
    with pytest.raises(JobFailed) as exc:
        run_days(spec2, str(path2), [("ingest_job", day_keys(1)[0])], instance)
    # No file has it: the spec is wrong, not the file, so nothing is quarantined.
    assert "column(s) ['contract_type'] named by the spec are in none of the 1 file(s)" in str(exc.value)
    assert str(path2) in str(exc.value)


def test_failed_training_keeps_the_current_model(trained):
    spec, path, days, instance = trained
    root = storage_root() / spec.name
    model_before = (root / "model.skops").read_bytes()
    # The newest day is re-landed with one class only; with a one-day holdout the model cannot be
    # judged, so training must fail and the current model must stay.
    new_day = days[-1]
    _rewrite(_landing_file(spec, new_day), lambda ls: [ls[0]] + [line.rsplit(",", 1)[0] + ",0" for line in ls[1:]])
    spec1, path1 = small_demo_spec(path.parent, training={"window_days": 6, "holdout_days": 1})
    run_days(spec1, str(path1), [("ingest_job", new_day)], instance)
    with pytest.raises(JobFailed, match="only one class"):
        run_days(spec1, str(path1), [("training_job", new_day)], instance)
    assert (root / "model.skops").read_bytes() == model_before


def test_files_of_another_format_and_hidden_files_are_ignored(trained):
    spec, path, days, instance = trained
    folder = _landing_file(spec, days[0]).parent
    (folder / "_SUCCESS").write_text("")
    (folder / ".upload-in-progress.csv").write_text("garbage")
    (folder / "notes.parquet").write_bytes(b"not for this spec")
    result = run_days(spec, str(path), [("ingest_job", days[0])], instance)[0]
    meta = next(
        e.materialization.metadata
        for e in result.get_asset_materialization_events()
        if e.asset_key == model_key("raw_data")
    )
    assert meta["ignored_files"].value == ["notes.parquet"]


def test_full_pipeline_job_runs_one_day(trained):
    spec, path, days, instance = trained
    result = run_days(spec, str(path), [("full_pipeline_job", days[-1])], instance)[0]
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert materialized == {f"{spec.name}/{a}" for a in ASSETS}


def test_definitions_build_for_every_spec_without_code_change(tmp_path):
    from ml_assets.io.specs import load_spec, shipped_spec

    for name in ("demo", "diabetes", "breast_cancer"):
        spec = load_spec(shipped_spec(name))
        defs = build_definitions(spec, name)
        assert defs.resolve_job_def(f"{spec.name}__full_pipeline_job") is not None


def test_scoring_refuses_a_model_trained_for_other_inputs(trained, tmp_path):
    spec, path, days, instance = trained
    fewer = [f.model_dump() for f in spec.features if f.name != "device"]
    spec2, path2 = small_demo_spec(tmp_path, features=fewer)
    with pytest.raises(JobFailed) as exc:
        run_days(spec2, str(path2), [("scoring_job", days[-1])], instance)
    assert "was trained on inputs" in str(exc.value) and "training_job" in str(exc.value)


def _opened_by_someone(fifo: Path, stop: threading.Event, seen: list) -> None:
    """Watch a named pipe: opening it for writing without blocking succeeds only while a reader
    has it open. A reader is recorded, and released (EOF), so nothing hangs."""
    while not stop.is_set():
        try:
            fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError:
            time.sleep(0.02)
            continue
        seen.append(True)
        os.close(fd)


def test_links_in_the_landing_folder_are_refused_without_being_opened(trained, tmp_path):
    spec, path, days, instance = trained
    folder = _landing_file(spec, days[0]).parent
    # Outside the landing folder: a named pipe, so that opening it at all is seen.
    secret = tmp_path / "outside" / "secret.csv"
    secret.parent.mkdir()
    os.mkfifo(secret)
    (folder / "linked.csv").symlink_to(secret)
    stop, seen = threading.Event(), []
    watcher = threading.Thread(target=_opened_by_someone, args=(secret, stop, seen), daemon=True)
    watcher.start()
    try:
        result = run_days(spec, str(path), [("ingest_job", days[0])], instance)[0]
    finally:
        stop.set()
        watcher.join(timeout=10)
    assert not seen, "the link's target was opened"
    meta = next(
        e.materialization.metadata
        for e in result.get_asset_materialization_events()
        if e.asset_key == model_key("raw_data")
    )
    [refused] = meta["quarantined"].value
    assert "is a symbolic link (to" in refused["reason"] and "it was not opened" in refused["reason"]
    assert (
        not (folder / "linked.csv").is_symlink() and Path(refused["quarantined_to"]).is_symlink()
    )  # the link moved, not its target
    assert secret.exists()

    # A day folder that is itself a link to a folder outside: the day fails, naming both; nothing is moved.
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(_landing_file(spec, days[1]).parent, elsewhere)
    shutil.rmtree(_landing_file(spec, days[1]).parent)
    _landing_file(spec, days[1]).parent.symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(JobFailed, match="outside the landing folder"):
        run_days(spec, str(path), [("ingest_job", days[1])], instance)
    assert (elsewhere / "events.csv").exists()
