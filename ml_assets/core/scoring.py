"""Batch scoring: features -> predictions with the model's Pipeline (same transforms as training)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np
import pandas as pd

from ml_assets.core.evaluation import predict_scores
from ml_assets.core.spec import PipelineSpec
from ml_assets.core.training import model_inputs


def score_frame(pipeline, model_version: str, features: pd.DataFrame, spec: PipelineSpec) -> pd.DataFrame:
    """Columns: entity id, event time, score, prediction, model_version.

    For classification `score` is the positive-class probability and `prediction` is
    1 where score >= the spec's threshold; for regression both hold the predicted value.
    """
    cols = spec.columns
    # scikit-learn refuses zero rows; an empty day still gets its (empty) predictions file.
    score = predict_scores(pipeline, model_inputs(features, spec), spec) if len(features) else np.empty(0, dtype="float64")
    out = pd.DataFrame({cols.entity_id: features[cols.entity_id], cols.event_time: features[cols.event_time]})
    out["score"] = score
    out["prediction"] = (score >= spec.model.threshold).astype("int64") if spec.is_classification else score
    out["model_version"] = str(model_version)
    return out.reset_index(drop=True)


def score_batches(pipeline, model_version: str, batches: Iterable[pd.DataFrame], spec: PipelineSpec) -> Iterator[pd.DataFrame]:
    """`score_frame` over a day read in parts: one scored frame per batch of features, so memory
    is bounded by the batch, not the day. Row for row the same result as scoring the day whole."""
    for batch in batches:
        yield score_frame(pipeline, model_version, batch, spec)
