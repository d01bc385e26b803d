"""Realized quality: a day's predictions joined with the labels that arrived for it later.

Pure: the caller reads the label files (one DataFrame per arrival day) and the day's
batch_predictions; nothing here does I/O or knows about Dagster.

Labels are matched to predictions by entity id and event day (the day in the partitions' time
zone). When several labels arrive for the same entity and day, the one from the latest arrival
folder wins (a correction); within one folder, the last row.
"""

from __future__ import annotations

import datetime as dt
import re

import numpy as np
import pandas as pd

from ml_assets.core.evaluation import baseline_scores, compute_metrics
from ml_assets.core.schema import SchemaError, _as_text, _examples, parse_label
from ml_assets.core.spec import PipelineSpec

DAY = "_event_day"
ARRIVED = "_arrived"
QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9)
_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def parse_labels(raw: pd.DataFrame, spec: PipelineSpec, source: str) -> pd.DataFrame:
    """One label file as read -> columns entity id, `_event_day` (YYYY-MM-DD) and the label (0/1 or a
    number, as the schema parses raw labels). Raises SchemaError naming the file and every problem."""
    cols = spec.columns
    missing = [c for c in (cols.entity_id, cols.event_time, cols.label) if c not in raw.columns]
    if missing:
        raise SchemaError(
            source, [f"label file column(s) {missing} are missing (file has {sorted(map(str, raw.columns))})"]
        )
    problems = []
    ids = _as_text(raw[cols.entity_id])
    if ids.isna().any():
        problems.append(
            f"column '{cols.entity_id}' (entity id): {_examples(raw[cols.entity_id], ids.isna())} are empty"
        )
    days = event_days(raw[cols.event_time], spec.partitions.timezone)
    if days.isna().any():
        problems.append(
            f"column '{cols.event_time}' (event time or day): {_examples(raw[cols.event_time], days.isna())} "
            "are neither timestamps nor YYYY-MM-DD days"
        )
    label = parse_label(raw[cols.label], spec, problems)
    if problems:
        raise SchemaError(source, problems)
    out = pd.DataFrame({cols.entity_id: ids, DAY: days, cols.label: label})
    return out[out[cols.label].notna()].reset_index(drop=True)


def event_days(values: pd.Series, timezone: str) -> pd.Series:
    """YYYY-MM-DD of each event: a date is taken as it is, a timestamp is cut in `timezone`
    (without an offset it is UTC, as in the landing contract). Unparseable values give NaN."""
    if pd.api.types.is_datetime64_any_dtype(values):
        times = values.dt.tz_localize("UTC") if values.dt.tz is None else values
        return times.dt.tz_convert(timezone).dt.date.astype(str).where(times.notna())
    text = _as_text(values)
    out = pd.Series(np.nan, index=values.index, dtype="object")
    is_day = text.map(lambda v: v is not None and bool(_DATE_ONLY.match(v)))
    out[is_day] = text[is_day]
    rest = ~is_day & text.notna()
    if rest.any():
        times = pd.to_datetime(text[rest], errors="coerce", utc=True, format="ISO8601")
        out.loc[rest] = times.dt.tz_convert(timezone).dt.date.astype(str).where(times.notna(), np.nan).astype(object)
    return out


def labels_for_day(
    arrivals: dict[str, pd.DataFrame], day: str, spec: PipelineSpec
) -> tuple[pd.DataFrame, dict[str, int]]:
    """The labels for events of `day` from parsed label files keyed by arrival day; one per entity.

    Arrival folders outside day .. day+max_delay_days are not counted; rows of other event days
    are not this day's. Returns (entity id, label) and counts of what was left out."""
    ent, label = spec.columns.entity_id, spec.columns.label
    frames = [
        df.assign(**{ARRIVED: arrived})
        for arrived, df in sorted(arrivals.items())
        if day <= arrived <= last_arrival(day, spec)
    ]
    if not frames:
        return pd.DataFrame({ent: pd.Series(dtype="object"), label: pd.Series(dtype="float64")}), {
            "label_rows": 0,
            "duplicates": 0,
        }
    rows = pd.concat(frames, ignore_index=True)
    rows = rows[rows[DAY] == day]
    latest = rows.drop_duplicates(subset=[ent], keep="last")  # sorted by arrival: the newest wins
    return latest[[ent, label]].reset_index(drop=True), {"label_rows": len(rows), "duplicates": len(rows) - len(latest)}


def last_arrival(day: str, spec: PipelineSpec) -> str:
    """The last arrival folder whose labels count for `day` (the day itself without a labels section)."""
    delay = spec.labels.max_delay_days if spec.labels else 0
    return (dt.date.fromisoformat(day) + dt.timedelta(days=delay)).isoformat()


def realized_quality(
    predictions: pd.DataFrame, labels: pd.DataFrame, spec: PipelineSpec, day: str, today: dt.date | None = None
) -> dict:
    """One row for the day: volume and score distribution of the predictions, the model version(s)
    that made them, and (where labels arrived) the spec's metric and the trivial baseline's; with
    `today`, also `labels_final` (no more labels can count) and the `verdict` (see `judge`).

    The baseline is the best constant prediction for the day's own labels (its positive rate or
    mean label): a model that does not beat it had no skill that day."""
    ent, label = spec.columns.entity_id, spec.columns.label
    scores = predictions["score"].to_numpy(dtype="float64")
    versions = sorted(set(predictions["model_version"].astype(str)), key=lambda v: (len(v), v))
    row: dict = {
        "day": day,
        "model_version": ",".join(versions),
        "predictions": int(len(predictions)),
        "mean_score": float(scores.mean()) if len(scores) else np.nan,
        **{f"score_p{int(q * 100)}": (float(np.quantile(scores, q)) if len(scores) else np.nan) for q in QUANTILES},
    }
    joined = predictions[[ent, "score"]].merge(labels, on=ent, how="inner")
    y, s = joined[label].to_numpy(dtype="float64"), joined["score"].to_numpy(dtype="float64")
    row["labeled_rows"] = int(len(joined))
    row["label_coverage"] = float(len(joined) / len(predictions)) if len(predictions) else 0.0
    metric = spec.model.metric
    computable = len(joined) > 0 and (not spec.is_classification or len(np.unique(y)) == 2)
    if computable:
        row[metric] = compute_metrics(y, s, spec)[metric]
        row["baseline"] = compute_metrics(y, baseline_scores(y, len(y), spec), spec)[metric]
        row["label_mean"] = float(y.mean())
    else:
        row[metric] = row["baseline"] = row["label_mean"] = np.nan
    if today is not None:
        row["labels_final"] = spec.labels is not None and today.isoformat() > last_arrival(day, spec)
        row["verdict"] = judge(row, spec)[0]
    return row


def judge(row: dict, spec: PipelineSpec) -> tuple[str, str]:
    """("ok" | "low" | "too_few" | "no_labels", why) for one day's realized quality."""
    if spec.labels is None:
        return "no_labels", "no `labels` section in the spec"
    metric, lab = spec.model.metric, spec.labels
    n = int(row.get("labeled_rows") or 0)
    value, base = row.get(metric), row.get("baseline")
    if n < lab.min_labeled_rows or value is None or pd.isna(value):
        return (
            "too_few",
            f"{row['day']}: {n} labelled prediction(s) < labels.min_labeled_rows ({lab.min_labeled_rows}); not judged "
            "yet",
        )
    limit: float
    if lab.quality_threshold is not None:
        limit, what = lab.quality_threshold, "labels.quality_threshold"
        low = spec.metric.better(limit, value)
    else:
        limit, what = float(base), "the day's trivial baseline"  # type: ignore[arg-type]  # set when labelled
        low = not spec.metric.better(value, limit)
    verdict = "low" if low else "ok"
    higher = spec.metric.direction == "max"
    word = ("below" if higher else "above") if low else ("at or above" if higher else "at or below")
    return (
        verdict,
        f"{row['day']}: realized {metric} {value:.4f} on {n} labelled predictions (model v{row['model_version']}) is "
        f"{word} {what} ({limit:.4f})",
    )


def latest_judged(quality: pd.DataFrame, spec: PipelineSpec) -> dict | None:
    """The newest day with enough labels to judge, or None."""
    if spec.labels is None or quality.empty:
        return None
    enough = quality[quality["labeled_rows"] >= spec.labels.min_labeled_rows].dropna(subset=[spec.model.metric])
    if enough.empty:
        return None
    return enough.sort_values("day").iloc[-1].to_dict()


def estimated_drop(quality: pd.DataFrame, spec: PipelineSpec, after: dict | None) -> tuple[str, str] | None:
    """("low", why) when the newest day that labels have not judged yet (newer than `after`) has a
    label-free estimate whose whole band is worse than labels.quality_threshold; else None. What
    `automation.retrain_on_estimated_drop` retrains on."""
    metric = spec.model.metric
    column = f"estimated_{metric}"
    if spec.labels is None or spec.labels.quality_threshold is None or column not in quality.columns:
        return None
    rows = quality.dropna(subset=[column])
    if after is not None:
        rows = rows[rows["day"] > after["day"]]
    if rows.empty:
        return None
    newest = rows.sort_values("day").iloc[-1]
    value, limit = float(newest[column]), spec.labels.quality_threshold
    low, high = (float(newest.get("estimated_low", value)), float(newest.get("estimated_high", value)))
    best = high if spec.metric.direction == "max" else low  # the band's better end
    if not spec.metric.better(limit, best):
        return None
    word = "below" if spec.metric.direction == "max" else "above"
    return (
        "low",
        f"{newest['day']}: estimated {metric} {value:.4f} (band {low:.4f} .. {high:.4f}, from the scores, before "
        f"labels) is {word} labels.quality_threshold ({limit:.4f}) (automation.retrain_on_estimated_drop)",
    )
