"""The ML core without Dagster: schema, features, training, evaluation, scoring, model format."""

from __future__ import annotations

import datetime as dt
import io

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import mean_squared_error, roc_auc_score

from ml_assets.core.demo_data import generate_day
from ml_assets.core.evaluation import build_report, compute_metrics
from ml_assets.core.features import build_features
from ml_assets.core.schema import SchemaError, enforce_schema
from ml_assets.core.scoring import score_frame
from ml_assets.core.training import SPLIT_COLUMN, TrainingDataError, assemble_training_set, train_candidates
from ml_assets.io.files import atomic_write_bytes
from ml_assets.io.model_files import UntrustedModelError, load_model_bytes, model_bytes
from ml_assets.io.specs import load_spec, shipped_spec
from ml_assets_tests.conftest import day_keys, small_demo_spec


@pytest.fixture(scope="module")
def spec():
    return load_spec(shipped_spec("demo"))


def _csv_frame(df: pd.DataFrame) -> pd.DataFrame:
    # What the landing reader gives for a CSV: every column as text.
    return pd.read_csv(io.StringIO(df.to_csv(index=False)), dtype=str)


def test_schema_types_a_clean_file(spec):
    raw = _csv_frame(generate_day(dt.date(2026, 3, 2), rows=200))
    typed = enforce_schema(raw, spec, "f.csv")
    assert list(typed.columns) == ["customer_id", "event_time"] + [f.name for f in spec.features] + ["churned"]
    assert str(typed["event_time"].dtype) == "datetime64[ns, UTC]"
    assert typed["tenure_days"].dtype == "float64"
    assert typed["last_login_days"].isna().any()  # missing values survive as NaN
    assert set(typed["churned"].unique()) <= {0.0, 1.0}


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda d: d.drop(columns=["plan"]), "column(s) ['plan'] named in the spec are missing"),
        (
            lambda d: d.assign(tenure_days=["abc"] + list(d.tenure_days[1:])),
            "column 'tenure_days' (numeric): 1 value(s), e.g. 'abc' at data row(s) 1",
        ),
        (lambda d: d.assign(event_time=list(d.event_time[:-1]) + ["yesterday"]), "column 'event_time' (event time)"),
        (lambda d: d.iloc[:0], "the file has no rows"),
        # "yes" is the positive class 1 as a file may write it; "maybe" is neither class.
        (
            lambda d: d.assign(churned=["maybe", "yes"] + list(d.churned[2:])),
            "column 'churned' (label): 1 value(s) are neither class of task.positive_label 1 nor task.negative_label "
            "'0': 'maybe' (1)",
        ),
        (lambda d: d.assign(customer_id=[None] + list(d.customer_id[1:])), "column 'customer_id' (entity id)"),
    ],
)
def test_schema_problems_name_file_and_column(spec, mutate, expected):
    raw = mutate(_csv_frame(generate_day(dt.date(2026, 3, 2), rows=50)))
    with pytest.raises(SchemaError) as exc:
        enforce_schema(raw, spec, "landing/2026-03-02/events.csv")
    assert str(exc.value).startswith("landing/2026-03-02/events.csv: ")
    assert expected in str(exc.value)


def test_schema_reports_every_problem_at_once(spec):
    raw = _csv_frame(generate_day(dt.date(2026, 3, 2), rows=20)).drop(columns=["region"])
    raw.loc[3, "monthly_charges"] = "n/a!"
    with pytest.raises(SchemaError) as exc:
        enforce_schema(raw, spec, "f.csv")
    assert len(exc.value.problems) == 2


def test_label_may_be_absent(spec):
    raw = _csv_frame(generate_day(dt.date(2026, 3, 2), rows=20)).drop(columns=["churned"])
    typed = enforce_schema(raw, spec, "f.csv")
    assert typed["churned"].isna().all()


def test_features_are_row_wise_and_deterministic(spec):
    typed = enforce_schema(_csv_frame(generate_day(dt.date(2026, 3, 7), rows=100)), spec, "f.csv")
    feats = build_features(typed, spec)
    assert set(feats["day_of_week"]) == {"Sat"}
    np.testing.assert_allclose(feats["support_calls"], np.log1p(typed["support_calls"]))
    # Row-wise: features of a subset equal the subset of features (no cross-row state to skew).
    part = build_features(typed.iloc[10:20].reset_index(drop=True), spec)
    pd.testing.assert_frame_equal(part, feats.iloc[10:20].reset_index(drop=True))


def _window(spec, days):
    frames = {}
    for day in days:
        raw = enforce_schema(_csv_frame(generate_day(dt.date.fromisoformat(day), rows=300)), spec, day)
        frames[day] = build_features(raw, spec)
    return frames


def test_training_set_splits_by_time(tmp_path):
    spec, _ = small_demo_spec(tmp_path)
    days = day_keys(6)
    data = assemble_training_set(_window(spec, days), spec)
    holdout_days = set(data.loc[data[SPLIT_COLUMN] == "holdout", "_day"])
    assert holdout_days == set(days[-2:])
    assert data.loc[data[SPLIT_COLUMN] == "train", "_day"].max() < min(holdout_days)

    # A day without data (an outage) is skipped; the holdout stays the window's last calendar days.
    gap = {d: f for d, f in _window(spec, days).items() if d != days[-1]}
    data = assemble_training_set(gap, spec, last_day=days[-1])
    assert set(data.loc[data[SPLIT_COLUMN] == "holdout", "_day"]) == {days[-2]}
    assert set(data["_day"]) == set(days[:-1])
    # With the whole holdout missing, the error says which part is empty.
    with pytest.raises(TrainingDataError, match="holdout part of the training window has no labelled rows"):
        assemble_training_set({d: f for d, f in gap.items() if d != days[-2]}, spec, last_day=days[-1])


def test_training_beats_baseline(tmp_path):
    # Training twice gives identical models and predictions: test_rollout.py (an equal challenger, its
    # fingerprint and scores), test_cli.py (the CLI's retraining) and test_reproduce.py (a version retrained).
    spec, _ = small_demo_spec(tmp_path)
    data = assemble_training_set(_window(spec, day_keys(6)), spec)
    a = train_candidates(data, spec, log=lambda _: None)
    assert a.metrics[a.selected]["roc_auc"] > a.baseline_metrics["roc_auc"] + 0.05
    assert set(a.metrics) == {"logistic_regression", "gradient_boosting"}


def test_metrics_match_scikit_learn(spec):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 500).astype(float)
    score = np.clip(y * 0.3 + rng.random(500) * 0.7, 0, 1)
    m = compute_metrics(y, score, spec)
    assert m["roc_auc"] == pytest.approx(roc_auc_score(y, score))
    reg = load_spec(shipped_spec("diabetes"))
    m = compute_metrics(y, score, reg)
    assert m["rmse"] == pytest.approx(np.sqrt(mean_squared_error(y, score)))


def test_report_has_every_candidate_baseline_and_plots(tmp_path):
    spec, _ = small_demo_spec(tmp_path)
    data = assemble_training_set(_window(spec, day_keys(6)), spec)
    bundle = train_candidates(data, spec, log=lambda _: None)
    report = build_report(bundle, data[data[SPLIT_COLUMN] == "holdout"], spec)
    for name in ("logistic_regression", "gradient_boosting"):
        metrics = report.data["candidates"][name]["metrics"]
        assert {"roc_auc", "pr_auc", "log_loss", "f1"} <= set(metrics)
        assert np.array(report.data["candidates"][name]["confusion_matrix"]["matrix"]).sum() == metrics["rows"]
    assert report.data["baseline"]["metrics"]["roc_auc"] == 0.5
    assert {"calibration.png", "roc.png", "importance.png"} <= set(report.plots)
    assert all(png.startswith(b"\x89PNG") for png in report.plots.values())
    assert "data:image/png;base64," in report.html and "<script" not in report.html
    assert set(report.data["feature_importance"]) == set(spec.model_inputs)


def test_model_format_round_trips_and_refuses_foreign_types(tmp_path):
    spec, _ = small_demo_spec(tmp_path)
    data = assemble_training_set(_window(spec, day_keys(6)), spec)
    bundle = train_candidates(data, spec, log=lambda _: None)
    loaded = load_model_bytes(model_bytes(bundle), "m.skops")
    holdout = data[data[SPLIT_COLUMN] == "holdout"]
    pd.testing.assert_frame_equal(
        score_frame(bundle.pipeline, "1", holdout, spec), score_frame(loaded.pipeline, "1", holdout, spec)
    )

    import skops.io as sio
    from sklearn.pipeline import FunctionTransformer

    evil = sio.dumps({"pipelines": {"x": FunctionTransformer(func=print)}})
    with pytest.raises(UntrustedModelError, match="not trusted"):
        load_model_bytes(evil, "evil.skops")


def test_atomic_write_keeps_the_old_file_on_failure(tmp_path):
    from upath import UPath

    target = UPath(tmp_path / "a" / "x.parquet")
    atomic_write_bytes(target, b"good")
    with pytest.raises(TypeError):
        atomic_write_bytes(target, "not bytes")  # fails while writing the temporary file
    assert target.read_bytes() == b"good"
    assert [p.name for p in (tmp_path / "a").iterdir()] == ["x.parquet"]


def test_temporary_files_of_killed_writes_are_removed_by_the_next_write(tmp_path):
    """A kill between writing the temporary file and the rename leaves it behind; the next write
    to the folder removes it once it is old enough not to be another writer's file in progress."""
    import os
    import time

    from upath import UPath

    from ml_assets.io.files import STALE_TMP_SECONDS
    from ml_assets.io.parquet_parts import write_parquet_parts

    folder = tmp_path / "features"
    folder.mkdir()
    stale, live = folder / ".2025-01-01.parquet.0a1b.tmp", folder / ".2025-01-02.parquet.2c3d.tmp"
    for f in (stale, live):
        f.write_bytes(b"half a file")
    old = time.time() - STALE_TMP_SECONDS - 60
    os.utime(stale, (old, old))
    atomic_write_bytes(UPath(folder / "2025-01-03.parquet"), b"whole")
    assert not stale.exists() and live.exists()
    os.utime(live, (old, old))
    write_parquet_parts(UPath(folder / "2025-01-04.parquet"), iter([pd.DataFrame({"a": [1.0]})]))
    assert sorted(p.name for p in folder.iterdir()) == ["2025-01-03.parquet", "2025-01-04.parquet"]
