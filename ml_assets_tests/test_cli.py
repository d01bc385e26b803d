"""The documented commands, run as a user runs them: real `dagster` and `ml-assets` processes."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from dagster import DagsterInstance, RunsFilter
from dagster._core.instance.ref import InstanceRef

from ml_assets_tests.conftest import LAST_DAY, PROJECT_ROOT, VENV_BIN, model_key, write_spec

pytestmark = pytest.mark.cli


def _run(args: list[str], env: dict, check: bool = True, timeout: int = 300) -> subprocess.CompletedProcess:
    proc = subprocess.run(args, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{args} exited {proc.returncode}\nstdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-3000:]}"
        )
    return proc


@pytest.fixture
def cli_env(tmp_path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ML_ASSETS_", "DAGSTER_", "AWS_"))}
    env["ML_ASSETS_HOME"] = str(tmp_path / "home")
    # Without DAGSTER_HOME the dagster CLI makes a temporary instance in the working directory.
    env["DAGSTER_HOME"] = str(tmp_path / "dagster_home")
    (tmp_path / "dagster_home").mkdir()
    return env


def test_definitions_validate(cli_env):
    proc = _run([str(VENV_BIN / "dagster"), "definitions", "validate", "-m", "ml_assets.definitions"], cli_env)
    assert "All code locations passed validation" in proc.stdout + proc.stderr


def test_definitions_validate_names_the_bad_field(cli_env, tmp_path):
    _, path = write_spec(tmp_path)
    path.write_text(path.read_text().replace("metric: roc_auc", "metric: accuracy"))
    cli_env["ML_ASSETS_SPEC"] = str(path)
    proc = _run(
        [str(VENV_BIN / "dagster"), "definitions", "validate", "-m", "ml_assets.definitions"], cli_env, check=False
    )
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert str(path) in out and "field 'model.metric'" in out and "'accuracy' does not fit task" in out


def test_demo_then_dagster_cli_on_the_same_instance(cli_env, tmp_path):
    home = Path(cli_env["ML_ASSETS_HOME"])
    del cli_env["DAGSTER_HOME"]  # ml-assets picks its default: $ML_ASSETS_HOME/dagster
    # 300 rows a day: weekend days (70 %) stay above drift_min_rows (200), so drift is judged every day.
    # Every shipped model, side by side in one instance and one code location.
    # Its newest day fixed (--last-day): the same data whatever the date.
    proc = _run(
        [str(VENV_BIN / "ml-assets"), "demo", "--rows-per-day", "300", "--last-day", LAST_DAY.isoformat()],
        cli_env,
        timeout=900,
    )
    assert "== model 1/3: demo ==" in proc.stdout and "3/3 model(s) ok" in proc.stdout
    # 46 days: the first 28 ingested, the model trained on them, then every later day ingested and
    # scored in one run; the last 4 drift, their checks block them, and the page shows it.
    trained_on = (LAST_DAY - dt.timedelta(days=18)).isoformat()
    day = (LAST_DAY - dt.timedelta(days=4)).isoformat()  # the newest scored day
    # The first 28 days in one run (a range: BackfillPolicy.single_run), then a run per later day.
    assert (
        f"[28/49] ingest {(LAST_DAY - dt.timedelta(days=45)).isoformat()} .. {trained_on} (28 days, one run): ok"
        in proc.stdout
    )
    assert f"[29/49] training {trained_on}: ok" in proc.stdout and "[49/49] monitoring: ok" in proc.stdout
    assert f"predictions for {day}:" in proc.stdout and "4 day(s) not scored (blocked by their checks)" in proc.stdout
    assert (
        f"not scored {LAST_DAY.isoformat()}: blocking checks failed: demo_churn/features:features_drift" in proc.stdout
    )
    assert "model 1: trained on" in proc.stdout
    # The two real datasets: the selected model beats the trivial baseline on the time-split holdout.
    for model, metric in (("breast_cancer", "pr_auc"), ("diabetes", "rmse")):
        report = json.loads((home / "storage" / model / "evaluation_report" / "report.json").read_text())
        selected, baseline = (
            report["candidates"][report["selected"]]["metrics"][metric],
            report["baseline"]["metrics"][metric],
        )
        assert (selected < baseline) if report["metric_direction"] == "min" else (selected > baseline), (
            model,
            selected,
            baseline,
        )
        preds = sorted((home / "storage" / model / "batch_predictions").glob("*.parquet"))
        assert preds and (pd.read_parquet(preds[-1])["model_version"] == report["model_version"]).all()
    assert (home / "storage" / "diabetes" / "evaluation_report" / "residuals.png").exists()
    store = home / "storage" / "demo_churn"
    preds = pd.read_parquet(store / "batch_predictions" / f"{day}.parquet")
    report = json.loads((store / "evaluation_report" / "report.json").read_text())
    assert (preds["model_version"] == report["model_version"]).all()
    assert report["training"]["window_last_day"] == trained_on
    assert str(store / "evaluation_report" / "report.html") in proc.stdout
    # The page is worth a look: 15 scored days with delayed labels, and the drift of the last days.
    assert str(store / "monitoring_report" / "report.html") in proc.stdout
    page = pd.read_parquet(store / "monitoring_report" / "realized_quality.parquet")
    assert len(page) == 15 and (page["labeled_rows"] > 0).all() and page["day"].max() == day
    drift = pd.read_parquet(store / "monitoring_report" / "feature_drift.parquet")
    assert set(drift.loc[drift["status"] == "error", "day"]) == {
        (LAST_DAY - dt.timedelta(days=i)).isoformat() for i in range(4)
    }
    assert (store / "monitoring_report" / "psi_over_time.png").exists()

    # The runs are in the persistent instance under $ML_ASSETS_HOME/dagster, so the UI shows them.
    dagster_home = home / "dagster"
    assert (dagster_home / "dagster.yaml").exists()
    with DagsterInstance.from_ref(InstanceRef.from_dir(str(dagster_home))) as instance:
        demo_runs = instance.get_runs(RunsFilter(tags={"ml_assets/model": "demo_churn"}))
        assert len(demo_runs) == 22  # 1 range of 28 days, training, 1 + 18 days scored, the page
        assert day in instance.get_materialized_partitions(model_key("batch_predictions"))
        for model in ("breast_cancer", "diabetes"):
            assert instance.get_runs(RunsFilter(tags={"ml_assets/model": model})), model

    # The README's Dagster CLI commands, against the same instance and store.
    cli_env["DAGSTER_HOME"] = str(dagster_home)
    dagster = str(VENV_BIN / "dagster")
    before = (store / "batch_predictions" / f"{day}.parquet").stat().st_mtime_ns
    # The code location holds every model: a selection names the model's assets by their prefix.
    _run(
        [
            dagster,
            "asset",
            "materialize",
            "-m",
            "ml_assets.definitions",
            "--select",
            "demo_churn/features,demo_churn/batch_predictions",
            "--partition",
            day,
        ],
        cli_env,
    )
    assert (store / "batch_predictions" / f"{day}.parquet").stat().st_mtime_ns > before
    # `dagster job execute` uses the multiprocess executor: each candidate trains in its own process.
    # training_job for an older day trains on the window ending that day (here: v1's window again).
    _run(
        [
            dagster,
            "job",
            "execute",
            "-m",
            "ml_assets.definitions",
            "-j",
            "demo_churn__training_job",
            "--tags",
            json.dumps({"dagster/partition": trained_on}),
        ],
        cli_env,
    )
    with DagsterInstance.from_ref(InstanceRef.from_dir(str(dagster_home))) as instance:
        runs = instance.get_runs(limit=2)
        assert [r.job_name for r in runs] == ["demo_churn__training_job", "__ASSET_JOB"]
        spans = _step_spans(instance, runs[0].run_id)
    a = spans["demo_churn__model.demo_churn__train_logistic_regression"]
    b = spans["demo_churn__model.demo_churn__train_gradient_boosting"]
    assert a[0] < b[1] and b[0] < a[1], f"candidate steps did not overlap: {spans}"
    assert a[2] != b[2], "candidate steps ran in the same process"

    # Same data, spec and code: version 2 has the same fingerprint and is promoted (that it then scores
    # byte for byte the same: test_rollout.py, an equal challenger scored beside its champion).
    proc = _run([str(VENV_BIN / "ml-assets"), "models", "--model", "demo_churn"], cli_env)
    assert "2  champion" in proc.stdout
    fingerprints = {
        line.split()[0]: line.split()[5] for line in proc.stdout.splitlines() if line.split()[:1] in (["1"], ["2"])
    }
    assert fingerprints["1"] == fingerprints["2"], proc.stdout

    # Rollback, as documented: the next scoring run uses version 1 again (v2 would serve without it).
    proc = _run([str(VENV_BIN / "ml-assets"), "rollback", "--to", "1", "--reason", "drill"], cli_env)
    assert "champion v2 -> v1" in proc.stdout
    _run(
        [
            dagster,
            "asset",
            "materialize",
            "-m",
            "ml_assets.definitions",
            "--select",
            "demo_churn/batch_predictions",
            "--partition",
            day,
        ],
        cli_env,
    )
    assert set(pd.read_parquet(store / "batch_predictions" / f"{day}.parquet")["model_version"]) == {"1"}


def _step_spans(instance, run_id: str) -> dict[str, tuple[float, float, int]]:
    """step key -> (start time, end time, pid) from the run's event log."""
    from dagster import DagsterEventType

    starts, spans = {}, {}
    for record in instance.all_logs(run_id, of_type={DagsterEventType.STEP_START, DagsterEventType.STEP_SUCCESS}):
        event = record.dagster_event
        if event.event_type == DagsterEventType.STEP_START:
            starts[event.step_key] = (record.timestamp, event.pid)
        else:
            start, pid = starts[event.step_key]
            spans[event.step_key] = (start, record.timestamp, pid)
    return spans


def test_validate_spec_and_paths(cli_env):
    proc = _run([str(VENV_BIN / "ml-assets"), "validate-spec", "ml_assets/defs/diabetes/spec.yaml"], cli_env)
    assert "ok: pipeline 'diabetes', regression" in proc.stdout
    proc = _run([str(VENV_BIN / "ml-assets"), "paths"], cli_env)
    assert f"{cli_env['ML_ASSETS_HOME']}/landing/demo_churn" in proc.stdout
    proc = _run([str(VENV_BIN / "ml-assets"), "validate-spec", "specs/nope.yaml"], cli_env, check=False)
    assert proc.returncode == 1 and "specs/nope.yaml: spec file not found" in proc.stderr
    proc = _run([str(VENV_BIN / "ml-assets"), "validate-spec", "--all"], cli_env)
    assert "3/3 model(s) valid" in proc.stdout and "breast_cancer: " in proc.stdout
