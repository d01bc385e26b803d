"""A user's own history, from a folder of files to a champion and predictions (README "Your own data").

The data is real and was not made by this project: scikit-learn's bundled breast cancer table, cut
into daily CSV files dated in the past, its label written the way exports write it (`1.0`/`0.0`,
some left empty), with a column that is constant within a day, and a spec that ends its partitions
on the last day (`partitions.end_date`).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from dagster import AssetCheckKey, DagsterEventType, DagsterInstance
from dagster._core.event_api import PartitionKeyFilter
from dagster._core.instance.ref import InstanceRef

from ml_assets.core.demo_data import cut_into_days, sklearn_dataset
from ml_assets.core.schema import SchemaError, enforce_schema
from ml_assets.io.landing import write_landing_file
from ml_assets.io.paths import landing_root, storage_root
from ml_assets.io.specs import load_spec, shipped_spec, spec_from_data
from ml_assets.runner import JobFailed, plan_history, run_days
from ml_assets_tests.conftest import (
    PROJECT_ROOT,
    VENV_BIN,
    day_keys,
    land_demo_days,
    model_job,
    model_key,
    small_demo_spec,
    write_spec,
)

FIRST, DAYS = dt.date(2024, 3, 1), 24
LAST = FIRST + dt.timedelta(days=DAYS - 1)
TRAIN_ON = FIRST + dt.timedelta(days=15)  # an older day: history, not the newest
WINDOW = 14


def _history_spec(tmp_path: Path) -> Path:
    """The user's spec, written from the README: past dates, an end date, labels as 1.0/0.0."""
    data = yaml.safe_load((shipped_spec("breast_cancer")).read_text())
    data["name"] = "tumours"
    data["landing"] = {"uri": str(tmp_path / "exports"), "format": "csv"}
    data["partitions"] = {"start_date": FIRST.isoformat(), "end_date": LAST.isoformat(), "timezone": "UTC"}
    data["task"] = {"type": "binary_classification", "positive_label": 1}
    data["features"].append({"name": "lab", "kind": "categorical"})
    data["training"] = {"window_days": WINDOW, "holdout_days": 4}
    data["registry"] = {"model_name": "tumours"}
    path = tmp_path / "tumours.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _export_history(landing: Path) -> None:
    """Daily exports as a real system writes them: float labels, some missing, one lab per day."""
    frames = cut_into_days(
        sklearn_dataset("breast_cancer"), LAST, DAYS, seed=3, id_column="sample_id", time_column="event_time"
    )
    rng = np.random.default_rng(0)
    for day, frame in frames.items():
        frame["target"] = frame["target"].map(lambda v: f"{float(v):.1f}").astype(object)
        frame.loc[rng.random(len(frame)) < 0.1, "target"] = None
        frame["lab"] = f"lab-{day.toordinal() % 3}"
        folder = landing / day.isoformat()
        folder.mkdir(parents=True)
        frame.to_csv(folder / "export.csv", index=False)


@pytest.mark.cli
def test_ml_assets_run_trains_on_history_and_scores(tmp_path):
    spec_path = _history_spec(tmp_path)
    _export_history(tmp_path / "exports")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ML_ASSETS_", "DAGSTER_", "AWS_", "MLFLOW_"))}
    env["ML_ASSETS_HOME"] = str(tmp_path / "home")  # empty: nothing exists yet
    command = [str(VENV_BIN / "ml-assets"), "run", "--spec", str(spec_path), "--train-on", TRAIN_ON.isoformat()]
    proc = subprocess.run(command, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    out = proc.stdout
    # Progress: steps done out of the total, the rate, the time left. The training window's 16 days
    # are ingested in one run (a range), each later day in a run of its own, with its scoring.
    assert f"[16/{DAYS + 3}] ingest {FIRST} .. {TRAIN_ON} (16 days, one run): ok" in out and "ETA" in out
    store = tmp_path / "home" / "storage" / "tumours"
    assert f"predictions for {LAST}: {store / 'batch_predictions' / f'{LAST}.parquet'}" in out
    assert "tumours v1 is champion" in out

    # The report's holdout window ends on the chosen day, not on the newest one.
    report = json.loads((store / "evaluation_report" / "report.json").read_text())
    assert report["training"]["window_last_day"] == TRAIN_ON.isoformat()
    assert report["training"]["window_first_day"] == (TRAIN_ON - dt.timedelta(days=WINDOW - 1)).isoformat()
    # Labels written as 1.0/0.0 with positive_label 1: both classes arrived (training would fail otherwise).
    training = pd.read_parquet(store / "training_set" / f"{TRAIN_ON}.parquet")
    assert set(training["target"]) == {0.0, 1.0} and training["target"].mean() > 0.5  # 63 % benign in the dataset
    # Every day from the training day on is scored by the champion; the last one too.
    preds = pd.read_parquet(store / "batch_predictions" / f"{LAST}.parquet")
    assert set(preds["model_version"]) == {"1"} and len(preds) > 0
    scored = sorted(p.stem for p in (store / "batch_predictions").glob("*.parquet"))
    assert scored[0] == TRAIN_ON.isoformat() and scored[-1] == LAST.isoformat()

    with DagsterInstance.from_ref(InstanceRef.from_dir(str(tmp_path / "home" / "dagster"))) as instance:
        runs = instance.get_runs()
        assert (
            len(runs) == 12
        )  # 16 days ingested in 1 run, 1 training, 1 score (the training day), 8 ingest+score, 1 page
        # Nothing was retried: no step failed and came back.
        for run in runs:
            assert not instance.all_logs(
                run.run_id, of_type={DagsterEventType.STEP_UP_FOR_RETRY, DagsterEventType.STEP_RESTARTED}
            )
        # ~24 rows a day is too few to judge drift: the check says so instead of reading as a plain pass.
        latest = instance.event_log_storage.get_latest_asset_check_execution_by_key(
            [AssetCheckKey(model_key("features", "tumours"), "features_drift")],
            partition_filter=PartitionKeyFilter(key=LAST.isoformat()),
        )
        evaluation = next(iter(latest.values())).evaluation
        assert evaluation.passed and evaluation.description.startswith("not judged: ")
        assert "< validation.drift_min_rows (200)" in evaluation.description
        assert evaluation.metadata["judged"].value is False
    # A second `run` finds everything done and does nothing but the page.
    again = subprocess.run(
        [*command[:4], "--no-train"], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=600
    )
    assert again.returncode == 0 and "ingest 0 day(s)" in again.stdout and "score 0 day(s)" in again.stdout, (
        again.stdout
    )


@pytest.mark.cli
def test_dagster_cli_partition_range_is_one_run_with_checks_per_day(tmp_path):
    spec_path = _history_spec(tmp_path)
    _export_history(tmp_path / "exports")
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ML_ASSETS_", "DAGSTER_", "AWS_", "MLFLOW_"))}
    env.update(ML_ASSETS_HOME=str(home), ML_ASSETS_SPEC=str(spec_path), DAGSTER_HOME=str(home / "dagster"))
    subprocess.run([str(VENV_BIN / "ml-assets"), "init"], env=env, check=True, capture_output=True, cwd=PROJECT_ROOT)
    last = FIRST + dt.timedelta(days=4)
    proc = subprocess.run(
        [
            str(VENV_BIN / "dagster"),
            "asset",
            "materialize",
            "-m",
            "ml_assets.definitions",
            "--select",
            "tumours/raw_data,tumours/features,tumours/feature_drift",
            "--partition-range",
            f"{FIRST}...{last}",
        ],
        env=env,
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    days = {(FIRST + dt.timedelta(days=i)).isoformat() for i in range(5)}
    assert {p.stem for p in (home / "storage" / "tumours" / "features").glob("*.parquet")} == days
    with DagsterInstance.from_ref(InstanceRef.from_dir(str(home / "dagster"))) as instance:
        assert len(instance.get_runs()) == 1
        assert instance.get_materialized_partitions(model_key("features", "tumours")) == days
        for day in days:  # each day's contract result, recorded for that day
            latest = instance.event_log_storage.get_latest_asset_check_execution_by_key(
                [AssetCheckKey(model_key("raw_data", "tumours"), "raw_data_contract")],
                partition_filter=PartitionKeyFilter(key=day),
            )
            assert next(iter(latest.values())).evaluation.passed


def test_day_constant_feature_is_not_judged_and_says_why(home, tmp_path, instance):
    from ml_assets.core.demo_data import generate_day

    base, _ = small_demo_spec(tmp_path)
    spec, path = small_demo_spec(
        tmp_path, features=[*[f.model_dump() for f in base.features], {"name": "promo", "kind": "categorical"}]
    )
    days = day_keys(7)
    for day in days:
        date = dt.date.fromisoformat(day)
        frame = generate_day(date, rows=400)
        frame["promo"] = f"promo-{date.toordinal() % 4}"  # one campaign a day, as a real export carries it
        write_landing_file(landing_root(spec), date, "events", frame, "csv")
    run_days(
        spec,
        str(path),
        [("ingest_job", d) for d in days[:6]] + [("training_job", days[5]), ("scoring_job", days[6])],
        instance,
    )
    latest = instance.event_log_storage.get_latest_asset_check_execution_by_key(
        [AssetCheckKey(model_key("features"), "features_drift")], partition_filter=PartitionKeyFilter(key=days[6])
    )
    evaluation = next(iter(latest.values())).evaluation
    # Judged for the other features, not for promo (its one-day PSI against six days would be ~1.4: blocking).
    assert evaluation.passed and evaluation.metadata["judged"].value is True
    reason = evaluation.metadata["not_judged_features"].value
    assert "`promo`: constant within a day in the training reference" in reason and "drift: false" in reason
    assert "promo" not in evaluation.metadata["drift"].value
    assert (storage_root() / spec.name / "batch_predictions" / f"{days[6]}.parquet").exists()  # not blocked
    # Saying it in the spec gives the same result, with the spec's reason.
    spec2, path2 = small_demo_spec(
        tmp_path,
        features=[*[f.model_dump() for f in base.features], {"name": "promo", "kind": "categorical", "drift": False}],
    )
    run_days(spec2, str(path2), [("ingest_job", days[6])], instance)
    latest = instance.event_log_storage.get_latest_asset_check_execution_by_key(
        [AssetCheckKey(model_key("features"), "features_drift")], partition_filter=PartitionKeyFilter(key=days[6])
    )
    assert (
        "`promo`: drift: false in the spec"
        in next(iter(latest.values())).evaluation.metadata["not_judged_features"].value
    )


def test_a_bad_day_in_a_range_fails_alone(home, tmp_path, instance):
    from ml_assets.runner import run_history

    spec, path = small_demo_spec(tmp_path)
    days = day_keys(5)
    land_demo_days(spec, days)
    file = Path(str(landing_root(spec) / days[2] / "events.csv"))
    file.write_text(
        file.read_text().replace("\n", "\n" + "x" * 3 + ",", 1)
    )  # a row with a field too many: the columns no longer fit
    plan = plan_history(days, set(days), set(), set(), train_on=None, score=False)
    lines = []
    outcome = run_history(spec, str(path), plan, instance, say=lines.append)
    text = "\n".join(lines)
    assert f"ingesting {days[0]} .. {days[-1]} in one run failed" in text and "redoing it one day per run" in text
    assert list(outcome.failed) == [("ingest_job", days[2])]
    # The one-run try already quarantined the file: the day's own run says where it is, and why.
    message = outcome.failed[("ingest_job", days[2])][0]
    assert f"1 file(s) of this day are in {landing_root(spec) / '_quarantine' / days[2]}" in message
    assert "(quarantined: " in message and "events.csv: column" in message and "are not timestamps" in message
    assert instance.get_materialized_partitions(model_key("features")) == set(days) - {days[2]}


def test_ingest_ranges_are_consecutive_days_within_limits():
    from ml_assets.runner import ingest_ranges

    days = ["2024-03-01", "2024-03-02", "2024-03-03", "2024-03-05", "2024-03-06"]
    assert ingest_ranges(days, {}) == [days[:3], days[3:]]
    assert ingest_ranges(days, {}, max_days=2) == [days[:2], days[2:3], days[3:]]
    assert ingest_ranges(days, {d: 100 for d in days}, max_bytes=250) == [days[:2], days[2:3], days[3:]]


def test_plan_history_orders_ingest_training_and_scoring():
    days = [f"2024-03-0{i}" for i in range(1, 7)]
    plan = plan_history(
        days,
        landed=set(days) - {"2024-03-03"},
        stored_features={"2024-03-01"},
        stored_predictions=set(),
        train_on="2024-03-04",
        score_from="2024-03-04",
    )
    assert plan.skipped == {"2024-03-01": "already ingested (--force re-ingests)", "2024-03-03": "no landing files"}
    # Up to the training day: ingest; then train; then each later day is ingested and scored in one run,
    # so its drift checks judge it against the new champion.
    assert plan.steps == [
        ("ingest_job", "2024-03-02"),
        ("ingest_job", "2024-03-04"),
        ("training_job", "2024-03-04"),
        ("predictions_job", "2024-03-04"),
        ("scoring_job", "2024-03-05"),
        ("scoring_job", "2024-03-06"),
        ("monitoring_job", None),
    ]


@pytest.mark.parametrize("positive", [1, 1.0, "1", "1.0", True, "yes"])
def test_positive_label_matches_however_yaml_and_files_write_it(tmp_path, positive):
    spec, _ = write_spec(tmp_path, "breast_cancer", task={"type": "binary_classification", "positive_label": positive})
    raw = _raw_rows(spec, ["1.0", "0.0", None, "1", "0", "true", "no", " 1.0 "])
    assert enforce_schema(raw, spec, "f.csv")["target"].tolist()[:2] == [1.0, 0.0]
    labels = enforce_schema(raw, spec, "f.csv")["target"]
    assert labels.isna().tolist() == [False, False, True, False, False, False, False, False]
    assert labels.dropna().tolist() == [1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0]


def test_label_of_neither_class_names_file_column_values_and_count(tmp_path):
    spec, _ = write_spec(tmp_path, "breast_cancer")
    with pytest.raises(SchemaError) as exc:
        enforce_schema(_raw_rows(spec, ["1.0", "0.0", "2.0", "maybe", "maybe"]), spec, "exports/2024-03-01/x.csv")
    assert (
        "exports/2024-03-01/x.csv: column 'target' (label): 3 value(s) are neither class of task.positive_label 1 "
        "nor task.negative_label '0': 'maybe' (2), '2.0' (1)"
    ) in str(exc.value)
    # A positive label that is not 1/0/true/false needs its negative class named.
    with pytest.raises(Exception, match="field 'task.negative_label': required when positive_label"):
        write_spec(tmp_path, "breast_cancer", task={"type": "binary_classification", "positive_label": "M"})
    spec, _ = write_spec(
        tmp_path, "breast_cancer", task={"type": "binary_classification", "positive_label": "M", "negative_label": "B"}
    )
    assert enforce_schema(_raw_rows(spec, ["M", "B", None]), spec, "f.csv")["target"].tolist()[:2] == [1.0, 0.0]


def test_unknown_label_quarantines_the_file_with_its_reason(home, tmp_path, instance):
    spec, path = small_demo_spec(tmp_path)
    day = day_keys(1)[0]
    land_demo_days(spec, [day])
    landing = landing_root(spec)
    file = Path(str(landing / day / "events.csv"))
    frame = pd.read_csv(file, dtype=str)
    frame.loc[:2, "churned"] = "unknown"
    frame.to_csv(file, index=False)
    with pytest.raises(JobFailed) as exc:
        run_days(spec, str(path), [("ingest_job", day)], instance)
    assert "column 'churned' (label): 3 value(s) are neither class" in str(exc.value) and "'unknown' (3)" in str(
        exc.value
    )
    assert not file.exists()
    reason = Path(str(landing / "_quarantine" / day / "events.csv.reason.txt")).read_text()
    assert "'unknown' (3)" in reason


def test_spec_column_missing_from_every_file_leaves_the_files_in_place(home, tmp_path, instance):
    spec, path = small_demo_spec(tmp_path)
    day = day_keys(1)[0]
    land_demo_days(spec, [day])
    typo = [
        *[f.model_dump() for f in spec.features if f.name != "tenure_days"],
        {"name": "tenure_dayz", "kind": "numeric"},
    ]
    spec2, path2 = small_demo_spec(tmp_path, features=typo)
    with pytest.raises(JobFailed) as exc:
        run_days(spec2, str(path2), [("ingest_job", day)], instance)
    message = str(exc.value)
    assert (
        "column(s) ['tenure_dayz'] named by the spec are in none of the 1 file(s)" in message and str(path2) in message
    )
    assert "left where they are" in message
    landing = landing_root(spec2)
    assert (landing / day / "events.csv").exists() and not (landing / "_quarantine").exists()


def test_file_missing_a_column_that_other_files_have_is_quarantined(home, tmp_path, instance):
    spec, path = small_demo_spec(tmp_path)
    day = day_keys(1)[0]
    land_demo_days(spec, [day])
    folder = Path(str(landing_root(spec) / day))
    pd.read_csv(folder / "events.csv", dtype=str).drop(columns=["plan"]).to_csv(folder / "late.csv", index=False)
    result = run_days(spec, str(path), [("ingest_job", day)], instance)[0]
    meta = result.asset_materializations_for_node(model_job("raw_data"))[0].metadata
    quarantined = meta["quarantined"].value
    assert [q["file"].rsplit("/", 1)[1] for q in quarantined] == ["late.csv"] and "['plan']" in quarantined[0]["reason"]
    assert (folder / "events.csv").exists() and not (folder / "late.csv").exists()


def test_missing_upstream_partition_fails_at_once(home, tmp_path, instance):
    # The shipped retry policy (3 retries from 10 s) would take 70 s here if it applied.
    spec, path = write_spec(tmp_path, "demo", training={"window_days": 6, "holdout_days": 2})
    day = day_keys(1)[0]
    with pytest.raises(JobFailed) as exc:
        run_days(spec, str(path), [("training_job", day)], instance)
    assert "the training window has no days of features; ingest the window's days first" in str(exc.value)
    run = instance.get_runs(limit=1)[0]
    assert not instance.all_logs(run.run_id, of_type={DagsterEventType.STEP_UP_FOR_RETRY})
    # `model` alone for a day without its training_set: the input is missing, not transiently.
    from ml_assets.graph.pipeline import build_definitions

    job = (
        build_definitions(spec, str(path))
        .resolve_implicit_global_asset_job_def()
        .get_subset(asset_selection={model_key("model")})
    )
    result = job.execute_in_process(partition_key=day, instance=instance, raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert f"training_set partition {day} has not been materialized" in failure.step_failure_data.error.message
    assert not instance.all_logs(result.run_id, of_type={DagsterEventType.STEP_UP_FOR_RETRY})


def test_end_date_makes_a_finished_dataset(tmp_path):
    from ml_assets.graph.runtime.partitions import daily_partitions

    spec, _ = write_spec(tmp_path, "breast_cancer", partitions={"start_date": "2024-01-01", "end_date": "2024-03-31"})
    partitions = daily_partitions(spec)
    assert partitions.get_first_partition_key() == "2024-01-01" and partitions.get_last_partition_key() == "2024-03-31"
    with pytest.raises(Exception, match="field 'partitions.end_date': 2023-12-31 is before start_date"):
        write_spec(tmp_path, "breast_cancer", partitions={"start_date": "2024-01-01", "end_date": "2023-12-31"})


def test_validate_spec_data_reports_what_the_spec_would_do(tmp_path, capsys, monkeypatch):
    from ml_assets.cli import check_landing_sample

    _export_history(tmp_path / "exports")
    spec = load_spec(_history_spec(tmp_path))
    assert not check_landing_sample(spec, 5)
    out = capsys.readouterr().out
    assert f"data: {DAYS} landed day(s) {FIRST} .. {LAST}" in out
    assert "positive ('1')" in out and "missing" in out
    assert "columns the spec does not use (ignored at ingest):" in out and "'mean_area'" in out
    assert "feature 'lab' is constant within a day" in out
    # A typo in the spec shows up here, before any ingest, and nothing is moved.
    data = yaml.safe_load(_history_spec(tmp_path).read_text())
    data["features"][0]["name"] = "mean_radiuss"
    assert check_landing_sample(spec_from_data(data, "typo.yaml"), 3)
    out = capsys.readouterr().out
    assert "PROBLEM: spec: column(s) ['mean_radiuss'] named by the spec are in none of the 3 file(s)" in out
    assert not (tmp_path / "exports" / "_quarantine").exists()


def _raw_rows(spec, labels: list) -> pd.DataFrame:
    """Rows as a CSV reader gives them: every value text, the label as written."""
    n = len(labels)
    frame = {spec.columns.entity_id: [f"r{i}" for i in range(n)], spec.columns.event_time: ["2024-03-01T10:00:00Z"] * n}
    for f in spec.features:
        frame[f.name] = ["1.5"] * n if f.kind == "numeric" else ["a"] * n
    frame[spec.columns.label] = labels
    return pd.DataFrame(frame).astype(object)


# -- a spec that breaks the contract: said before ingest, said by the run, which stops early ----------


def test_a_spec_that_breaks_the_contract_is_named_before_ingest_and_stops_the_run_early(
    home, tmp_path, instance, capsys
):
    from ml_assets.cli import check_landing_sample
    from ml_assets.runner import STOP_AFTER, run_history

    # last_login_days is missing in about 10 % of the demo's rows; this spec allows 1 %.
    features = yaml.safe_load(shipped_spec("demo").read_text())["features"]
    assert features[3]["name"] == "last_login_days"
    features[3]["max_null_rate"] = 0.01
    spec, path = small_demo_spec(tmp_path, features=features)
    days = day_keys(STOP_AFTER + 2)
    land_demo_days(spec, days)
    field = "spec: features[3] last_login_days: max_null_rate 0.01: raise it, or drop the feature"

    # Before any ingest: the rule, the column, the observed value, the limit, the spec field, and
    # on how many sampled days; exit 1; nothing moved.
    assert check_landing_sample(spec, 5)
    out = capsys.readouterr().out
    contract = [line for line in out.splitlines() if line.startswith("data: CONTRACT: ")]
    assert len(contract) == 1, out
    assert "null rate of `last_login_days`: 0." in contract[0] and "> 0.01; " + field in contract[0], contract
    assert "(on 5/5 sampled days, e.g." in contract[0]
    assert "data: 5 of 5 sampled day(s) would fail the raw_data contract" in out
    assert not (Path(str(landing_root(spec))) / "_quarantine").exists()

    # The run says the same for each day, and stops once the rule has failed STOP_AFTER days in a row.
    plan = plan_history(days, set(days), set(), set(), train_on=None, score=False)
    lines: list[str] = []
    outcome = run_history(spec, str(path), plan, instance, say=lines.append)
    assert len(outcome.failed) == STOP_AFTER and outcome.not_run == 3  # 2 days and the monitoring page
    assert len(instance.get_runs()) == 1 + STOP_AFTER  # the range, then one run per day until the stop
    for (_, day), errors in outcome.failed.items():
        assert errors[0].startswith(f"check demo_churn/raw_data:raw_data_contract ({day}) failed: null rate of"), errors
        assert field in errors[0] and "DagsterAssetCheckFailedError" not in " ".join(errors)
    assert outcome.stopped and f"the same rule failed on {STOP_AFTER} days in a row" in outcome.stopped
    assert "the spec, not the data, looks wrong" in outcome.stopped and "--keep-going" in outcome.stopped
    assert all(field in line for line in lines if "FAILED" in line), lines
    # --keep-going: every day runs, whatever fails.
    outcome = run_history(spec, str(path), plan, instance, say=lines.append, keep_going=True)
    assert outcome.stopped is None and len(outcome.failed) == len(days) and outcome.not_run == 0


def test_a_day_with_a_quarantined_file_reads_as_partial(home, tmp_path, instance):
    from ml_assets.runner import run_history

    spec, path = small_demo_spec(tmp_path)
    days = day_keys(2)
    land_demo_days(spec, days)
    # A second file for the last day, written with `;` as its separator: quarantined, the day goes on.
    folder = Path(str(landing_root(spec) / days[-1]))
    (folder / "events-west.csv").write_text((folder / "events.csv").read_text().replace(",", ";"))
    plan = plan_history(days, set(days), set(), set(), train_on=None, score=False)
    lines: list[str] = []
    outcome = run_history(spec, str(path), plan, instance, say=lines.append)
    assert not outcome.failed and list(outcome.partial) == [days[-1]]
    note = outcome.partial[days[-1]]
    assert note.startswith(f"{days[-1]}: ok, 1 of 2 files (1 quarantined: events-west.csv: "), note
    assert any("· partial: " + note in line for line in lines), lines
    record = instance.get_latest_materialization_event(model_key("raw_data"))
    assert list(record.asset_materialization.metadata["partial_days"].value) == [days[-1]]


def test_force_rescores_every_day_it_reingests():
    days = ["2024-03-01", "2024-03-02", "2024-03-03"]
    # Without training, scoring starts after the newest scored day: a forced day before it is still re-scored.
    plan = plan_history(days, set(days), set(days), set(days), train_on=None, force=True, score_from="2024-03-04")
    assert plan.ingest == days and plan.score == days
    plan = plan_history(days, set(days), set(days), set(days), train_on=None, force=False, score_from="2024-03-04")
    assert plan.ingest == [] and plan.score == []


def test_force_without_scoring_is_refused(tmp_path):
    from ml_assets.cli.history import run_range

    with pytest.raises(SystemExit, match="--force re-scores the days it re-ingests"):
        run_range(tmp_path / "never-read.yaml", force=True, score=False)
