"""What the gate compares, computed on one training set: the champion re-scored on the new
holdout (the same rows the challenger was judged on), the reference profile that drift and the
data checks measure new days against, and the holdout rows a registered model keeps as its input
example. Pure functions: the registry and Dagster are the caller's (graph/assets/promotion.py)."""

from __future__ import annotations

import pandas as pd

from ml_assets.core.estimates import fit_estimator
from ml_assets.core.evaluation import compute_metrics, predict_scores
from ml_assets.core.profile import build_profile
from ml_assets.core.spec import PipelineSpec
from ml_assets.core.training import DAY_COLUMN, SPLIT_COLUMN, split


def holdout_inputs(training_set: pd.DataFrame, spec: PipelineSpec) -> pd.DataFrame:
    """The training set's holdout rows, as the model's inputs."""
    return split(training_set, spec)[2]


def holdout_metric(pipeline, training_set: pd.DataFrame, spec: PipelineSpec) -> float:
    """The spec's metric of `pipeline` (e.g. the champion) on this training set's holdout."""
    _, _, x_hold, y_hold = split(training_set, spec)
    return compute_metrics(y_hold, predict_scores(pipeline, x_hold, spec), spec)[spec.model.metric]


def comparable(inputs: list[str] | None, spec: PipelineSpec) -> bool:
    """A model trained for other inputs (another feature list) cannot be scored on these rows."""
    return inputs in (None, spec.model_inputs)


def reference_profile(pipeline, training_set: pd.DataFrame, spec: PipelineSpec) -> dict:
    """The training reference: each feature's distribution on the training rows (with which
    features are constant within a day), the selected model's scores on the holdout, and what the
    label-free estimates need, fitted on the holdout (`ml_assets.core.estimates`)."""
    x_train, _, x_hold, y_hold = split(training_set, spec)
    train_days = training_set.loc[training_set[SPLIT_COLUMN] == "train", DAY_COLUMN]
    scores = predict_scores(pipeline, x_hold, spec)
    profile = build_profile(x_train, spec, scores=scores, days=train_days)
    profile["estimator"] = fit_estimator(y_hold, scores, spec)
    return profile
