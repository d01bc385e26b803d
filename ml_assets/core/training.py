"""Training: assemble the time-split training set, fit every candidate Pipeline, pick the best.

Deterministic: candidates get the spec's seed as `random_state`, rows are ordered by
(day, event time, entity id) before fitting, so the same data, spec and code give
identical models and predictions.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import inspect
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ml_assets.core.evaluation import baseline_scores, compute_metrics, predict_scores
from ml_assets.core.spec import CandidateSpec, PipelineSpec, estimator_class

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

SPLIT_COLUMN = "_split"
DAY_COLUMN = "_day"
# Bump when training logic changes: feeds the model version and the asset's code version.
TRAINING_LOGIC_VERSION = "1"


class TrainingDataError(ValueError):
    """The training window cannot train a model (too few rows, one class only, ...)."""


@dataclass
class ModelBundle:
    """Every fitted candidate plus what is needed to reproduce and judge them."""

    pipelines: dict[str, Pipeline]
    selected: str
    version: str
    metrics: dict[str, dict[str, float]]
    baseline_metrics: dict[str, float]
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def pipeline(self) -> Pipeline:
        return self.pipelines[self.selected]

    @classmethod
    def one_candidate(cls, name: str, pipeline: Pipeline, metrics: dict[str, float]) -> ModelBundle:
        """One fitted candidate, as a training step hands it to the selecting step (not judged yet:
        no baseline, no version)."""
        return cls(
            pipelines={name: pipeline}, selected=name, version="", metrics={name: metrics}, baseline_metrics={}, info={}
        )


def window_days(last_day: str, spec: PipelineSpec) -> list[str]:
    """The calendar days of the training window ending on `last_day`."""
    last = dt.date.fromisoformat(last_day)
    n = spec.training.window_days
    return [(last - dt.timedelta(days=n - 1 - i)).isoformat() for i in range(n)]


def assemble_training_set(
    frames: Mapping[str, pd.DataFrame],
    spec: PipelineSpec,
    excluded: frozenset[str] | set[str] = frozenset(),
    last_day: str | None = None,
) -> pd.DataFrame:
    """Concatenate the window's daily feature frames; the last `holdout_days` calendar days of the
    window (ending on `last_day`, default the newest frame) form the holdout.

    Days with no data are simply absent (an outage does not stop retraining); rows without a label
    (labels not landed yet) are dropped, and so are `excluded` days (data that failed a blocking
    check). The split is by calendar day, never by row; each part must keep labelled rows of
    every class, or TrainingDataError says which part lacks them.
    """
    if not frames:
        raise TrainingDataError("the training window has no days of features")
    calendar = window_days(last_day or max(frames), spec)
    days = [d for d in sorted(frames) if d in calendar]
    holdout = set(calendar[-spec.training.holdout_days :])
    parts = []
    for day in days:
        if day in excluded:
            continue
        part = frames[day].copy()
        part[DAY_COLUMN] = day
        part[SPLIT_COLUMN] = "holdout" if day in holdout else "train"
        parts.append(part)
    if not parts:
        raise TrainingDataError(
            f"every day of the training window {calendar[0]} .. {calendar[-1]} is excluded or missing"
        )
    data = pd.concat(parts, ignore_index=True)
    label = spec.columns.label
    data = data[data[label].notna()]
    data = data.sort_values([DAY_COLUMN, spec.columns.event_time, spec.columns.entity_id], kind="stable")
    data = data.reset_index(drop=True)
    _check_trainable(data, spec)
    return data


def _check_trainable(data: pd.DataFrame, spec: PipelineSpec) -> None:
    label = spec.columns.label
    for split in ("train", "holdout"):
        part = data[data[SPLIT_COLUMN] == split]
        if part.empty:
            raise TrainingDataError(f"the {split} part of the training window has no labelled rows")
        if spec.is_classification and part[label].nunique() < 2:
            raise TrainingDataError(
                f"the {split} part of the training window has only one class "
                f"({label}={part[label].iloc[0]:g}); it needs both"
            )


def fingerprint(df: pd.DataFrame) -> str:
    """Content hash of a DataFrame (values and column names, not the index)."""
    digest = hashlib.sha256()
    digest.update("\x1f".join(map(str, df.columns)).encode())
    digest.update(pd.util.hash_pandas_object(df, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def build_pipeline(spec: PipelineSpec, candidate: CandidateSpec) -> Pipeline:
    # scikit-learn is imported where a model is built, so loading the definitions does not pay for it.
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    numeric = Pipeline([("impute", SimpleImputer(strategy="median", add_indicator=True)), ("scale", StandardScaler())])
    categorical = Pipeline(
        [
            ("impute", SimpleImputer(strategy="constant", fill_value="__missing__")),
            ("encode", OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
        ]
    )
    preprocess = ColumnTransformer(
        [("numeric", numeric, spec.numeric_features), ("categorical", categorical, spec.categorical_features)],
        remainder="drop",
    )
    cls = estimator_class(candidate.estimator)
    params = dict(candidate.params)
    if "random_state" in inspect.signature(cls).parameters:
        params.setdefault("random_state", spec.seed)
    return Pipeline([("preprocess", preprocess), ("estimator", cls(**params))])


def model_inputs(df: pd.DataFrame, spec: PipelineSpec) -> pd.DataFrame:
    return df[spec.model_inputs]


def split(training_set: pd.DataFrame, spec: PipelineSpec):
    """(x_train, y_train, x_holdout, y_holdout) from a training set made by `assemble_training_set`."""
    label = spec.columns.label
    train = training_set[training_set[SPLIT_COLUMN] == "train"]
    holdout = training_set[training_set[SPLIT_COLUMN] == "holdout"]
    return model_inputs(train, spec), train[label].to_numpy(), model_inputs(holdout, spec), holdout[label].to_numpy()


def train_candidate(training_set: pd.DataFrame, spec: PipelineSpec, candidate: CandidateSpec):
    """Fit one candidate on the train days; return (pipeline, its holdout metrics)."""
    x_train, y_train, x_hold, y_hold = split(training_set, spec)
    pipe = build_pipeline(spec, candidate)
    pipe.fit(x_train, y_train)
    return pipe, compute_metrics(y_hold, predict_scores(pipe, x_hold, spec), spec)


def select_best(metrics: Mapping[str, Mapping[str, float]], spec: PipelineSpec) -> str:
    """The best candidate by the spec's metric; the first in spec order wins ties (deterministic)."""
    selected = spec.model.candidates[0].name
    for cand in spec.model.candidates:
        if spec.metric.better(metrics[cand.name][spec.model.metric], metrics[selected][spec.model.metric]):
            selected = cand.name
    return selected


def training_info(training_set: pd.DataFrame, spec: PipelineSpec) -> dict[str, Any]:
    """What identifies a training: the window, the data's content hash, the spec, the code version."""
    train = training_set[training_set[SPLIT_COLUMN] == "train"]
    holdout = training_set[training_set[SPLIT_COLUMN] == "holdout"]
    data_hash = fingerprint(training_set)
    model_spec_hash = spec.section_hash("columns", "features", "derived_features", "training", "model", "seed", "task")
    version_seed = f"{data_hash}:{model_spec_hash}:{TRAINING_LOGIC_VERSION}"
    last_day = str(training_set[DAY_COLUMN].max())
    return {
        "spec_name": spec.name,
        "spec_hash": spec.spec_hash,
        "task": spec.task.type,
        "metric": spec.model.metric,
        "threshold": spec.model.threshold,
        "seed": spec.seed,
        "window_first_day": str(training_set[DAY_COLUMN].min()),
        "window_last_day": last_day,
        "holdout_first_day": str(holdout[DAY_COLUMN].min()),
        "train_rows": int(len(train)),
        "holdout_rows": int(len(holdout)),
        "training_set_fingerprint": data_hash,
        # Same data + same model-relevant spec + same training code => same fingerprint and predictions.
        "model_fingerprint": f"{last_day}.{hashlib.sha256(version_seed.encode()).hexdigest()[:8]}",
        "inputs": spec.model_inputs,
        "label_train_mean": float(np.mean(train[spec.columns.label].to_numpy())),
    }


def assemble_bundle(
    training_set: pd.DataFrame, spec: PipelineSpec, fitted: Mapping[str, tuple[Pipeline, dict[str, float]]]
) -> ModelBundle:
    """Select the best of the fitted candidates and compute the baseline on the same holdout."""
    _, y_train, _, y_hold = split(training_set, spec)
    metrics = {name: m for name, (_, m) in fitted.items()}
    baseline = compute_metrics(y_hold, baseline_scores(y_train, len(y_hold), spec), spec)
    info = training_info(training_set, spec)
    return ModelBundle(
        pipelines={name: p for name, (p, _) in fitted.items()},
        selected=select_best(metrics, spec),
        version=info["model_fingerprint"],
        metrics=metrics,
        baseline_metrics=baseline,
        info=info,
    )


def train_candidates(training_set: pd.DataFrame, spec: PipelineSpec, log=print) -> ModelBundle:
    """All candidates one after another (the asset graph trains them in parallel steps instead)."""
    fitted = {}
    for i, candidate in enumerate(spec.model.candidates, start=1):
        log(f"training candidate {i}/{len(spec.model.candidates)} '{candidate.name}'")
        fitted[candidate.name] = train_candidate(training_set, spec, candidate)
    return assemble_bundle(training_set, spec, fitted)
