"""Batch scoring: features -> predictions with the model's Pipeline (same transforms as training)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from ml_assets.core.evaluation import predict_scores
from ml_assets.core.rollout import ARM, CHALLENGER_PREDICTION, CHALLENGER_SCORE, CHALLENGER_VERSION, EXPERIMENT
from ml_assets.core.sequential import CHALLENGER_ARM, CHAMPION_ARM, assign_arm
from ml_assets.core.spec import PipelineSpec
from ml_assets.core.training import model_inputs


def _scores(pipeline, x: pd.DataFrame, spec: PipelineSpec) -> tuple[np.ndarray, np.ndarray]:
    """(score, prediction) for model inputs `x`. For classification `score` is the positive-class
    probability and `prediction` is 1 where score >= the spec's threshold; for regression both
    hold the predicted value."""
    # scikit-learn refuses zero rows; an empty day still gets its (empty) predictions file.
    score = predict_scores(pipeline, x, spec) if len(x) else np.empty(0, dtype="float64")
    return score, (score >= spec.model.threshold).astype("int64") if spec.is_classification else score


def score_frame(pipeline, model_version: str, features: pd.DataFrame, spec: PipelineSpec) -> pd.DataFrame:
    """Columns: entity id, event time, score, prediction, model_version."""
    cols = spec.columns
    score, prediction = _scores(pipeline, model_inputs(features, spec), spec)
    out = pd.DataFrame({cols.entity_id: features[cols.entity_id], cols.event_time: features[cols.event_time]})
    out["score"] = score
    out["prediction"] = prediction
    out["model_version"] = str(model_version)
    return out.reset_index(drop=True)


def score_batch(pipeline, model_version: str, batch: pa.RecordBatch, spec: PipelineSpec) -> pa.RecordBatch:
    """`score_frame` for one Arrow record batch of a day's features, kept in Arrow: only the model's
    inputs go through pandas; the id and event time columns are passed through as they are. Row
    for row the same result as `score_frame` over the day whole."""
    cols = spec.columns
    score, prediction = _scores(pipeline, batch.select(spec.model_inputs).to_pandas(), spec)
    version = pa.DictionaryArray.from_arrays(
        pa.array(np.zeros(len(score), dtype="int32")), pa.array([str(model_version)])
    )
    return pa.record_batch(
        [
            batch.column(cols.entity_id),
            batch.column(cols.event_time),
            pa.array(score),
            pa.array(prediction),
            version.cast(pa.string()),
        ],
        names=[cols.entity_id, cols.event_time, "score", "prediction", "model_version"],
    )


def score_batches(
    pipeline, model_version: str, batches: Iterable[pa.RecordBatch], spec: PipelineSpec
) -> Iterator[pa.RecordBatch]:
    """A day read in parts, scored part by part: memory is bounded by the batch, not the day."""
    for batch in batches:
        yield score_batch(pipeline, model_version, batch, spec)


def _arms(entity_ids: pa.Array, experiment: str, share: float) -> np.ndarray:
    """True where the entity is served by the challenger (sticky: by the experiment and the entity)."""
    ids = entity_ids.cast(pa.string()).to_pylist()
    return np.fromiter((assign_arm(experiment, str(e), share) == CHALLENGER_ARM for e in ids), bool, len(ids))


def score_experiment_batch(
    champion: tuple[Any, str],
    challenger: tuple[Any, str],
    batch: pa.RecordBatch,
    spec: PipelineSpec,
    experiment: str,
) -> pa.RecordBatch:
    """One batch during a live experiment (`rollout.mode` shadow or ab); `champion` and `challenger`
    are (pipeline, version). The columns of `score_batch`, then `arm` (who served the row) and
    `experiment`. Shadow: the champion serves every row and the challenger's score, prediction and
    version are kept beside it. A/B: each row is scored by its entity's arm only."""
    base = score_batch(champion[0], champion[1], batch, spec)
    x = batch.select(spec.model_inputs).to_pandas()
    n = len(x)
    if spec.rollout.mode == "shadow":
        score, prediction = _scores(challenger[0], x, spec)
        extra = {
            ARM: pa.array([CHAMPION_ARM] * n, pa.string()),
            CHALLENGER_SCORE: pa.array(score),
            CHALLENGER_PREDICTION: pa.array(prediction),
            CHALLENGER_VERSION: pa.array([str(challenger[1])] * n, pa.string()),
        }
        columns = {name: base.column(name) for name in base.schema.names}
    else:
        served = _arms(batch.column(spec.columns.entity_id), experiment, spec.rollout.share)
        score = base.column("score").to_numpy(zero_copy_only=False).copy()
        prediction = base.column("prediction").to_numpy(zero_copy_only=False).copy()
        if served.any():
            score[served], prediction[served] = _scores(challenger[0], x[served], spec)
        version = np.where(served, str(challenger[1]), str(champion[1]))
        columns = {name: base.column(name) for name in base.schema.names}
        columns.update(
            {"score": pa.array(score), "prediction": pa.array(prediction), "model_version": pa.array(version.tolist())}
        )
        extra = {ARM: pa.array(np.where(served, CHALLENGER_ARM, CHAMPION_ARM).tolist(), pa.string())}
    columns.update(extra)
    columns[EXPERIMENT] = pa.array([experiment] * n, pa.string())
    return pa.record_batch(list(columns.values()), names=list(columns))
