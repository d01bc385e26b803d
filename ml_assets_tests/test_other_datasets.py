"""Real tabular datasets bundled with scikit-learn run through the same graph: a new spec, no code change."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from dagster import DagsterInstance

from ml_assets.cli import land_sklearn
from ml_assets.core.spec import load_spec
from ml_assets.runner import run_days
from ml_assets.storage import storage_root
from ml_assets_tests.conftest import LAST_DAY, SPECS, day_keys, graph_steps


@pytest.mark.parametrize(("dataset", "metric"), [("diabetes", "rmse"), ("breast_cancer", "pr_auc")])
def test_bundled_dataset_through_the_same_graph(home, dataset, metric):
    path = SPECS / f"{dataset}.yaml"
    spec = load_spec(path)
    days = day_keys(spec.training.window_days)
    land_sklearn(spec, dataset, len(days), LAST_DAY)
    with DagsterInstance.ephemeral() as instance:
        run_days(spec, str(path), graph_steps(days), instance)

    base = storage_root() / spec.name
    report = json.loads((base / "evaluation_report" / "report.json").read_text())
    selected = report["candidates"][report["selected"]]["metrics"][metric]
    baseline = report["baseline"]["metrics"][metric]
    # Real signal: the selected model beats the trivial baseline on the time-split holdout.
    assert (selected < baseline) if report["metric_direction"] == "min" else (selected > baseline)
    preds = pd.read_parquet(base / "batch_predictions" / f"{days[-1]}.parquet")
    assert len(preds) > 0 and np.isfinite(preds["score"]).all()
    assert (preds["model_version"] == report["model_version"]).all()
    if dataset == "diabetes":
        assert (base / "evaluation_report" / "residuals.png").exists()
