"""Enforce the spec's schema on one landing file's rows: required columns and types.

Pure: takes the DataFrame as read and returns a typed copy, or raises `SchemaError`
listing every problem found in that file (column, problem, example rows).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ml_assets.core.spec import PipelineSpec


class SchemaError(ValueError):
    """Landing data that does not match the spec. `source` names the file."""

    def __init__(self, source: str, problems: list[str]):
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: " + "; ".join(problems))


def _examples(raw: pd.Series, bad: pd.Series) -> str:
    # Row numbers are 1-based data rows (CSV line = row + 1 for the header).
    rows = list(np.flatnonzero(bad.to_numpy())[:3] + 1)
    values = [repr(v) for v in raw[bad].head(3).tolist()]
    return f"{int(bad.sum())} value(s), e.g. {', '.join(values)} at data row(s) {', '.join(map(str, rows))}"


def _as_numeric(raw: pd.Series) -> tuple[pd.Series, pd.Series]:
    if pd.api.types.is_bool_dtype(raw):
        return raw.astype("float64"), pd.Series(False, index=raw.index)
    values = pd.to_numeric(raw, errors="coerce").astype("float64")
    bad = values.isna() & raw.notna()
    return values, bad


def _as_text(raw: pd.Series) -> pd.Series:
    return raw.astype("object").where(raw.notna(), None).map(lambda v: v if v is None else str(v))


def enforce_schema(df: pd.DataFrame, spec: PipelineSpec, source: str) -> pd.DataFrame:
    """Return `df` with the spec's columns, in order, with the spec's types."""
    cols = spec.columns
    problems: list[str] = []
    if len(df) == 0:
        raise SchemaError(source, ["the file has no rows"])

    required = [cols.entity_id, cols.event_time] + [f.name for f in spec.features]
    missing = [c for c in required if c not in df.columns]
    if missing:
        problems.append(
            f"column(s) {missing} named in the spec are missing (file has {sorted(map(str, df.columns))})"
        )

    out: dict[str, pd.Series] = {}
    if cols.entity_id in df.columns:
        ids = df[cols.entity_id]
        if ids.isna().any():
            problems.append(f"column '{cols.entity_id}' (entity id): {_examples(ids, ids.isna())} are empty")
        out[cols.entity_id] = _as_text(ids)

    if cols.event_time in df.columns:
        raw = df[cols.event_time]
        if pd.api.types.is_datetime64_any_dtype(raw):
            times = raw.dt.tz_localize("UTC") if raw.dt.tz is None else raw.dt.tz_convert("UTC")
        else:
            times = pd.to_datetime(raw, errors="coerce", utc=True, format="ISO8601")
        bad = times.isna()
        if bad.any():
            problems.append(f"column '{cols.event_time}' (event time): {_examples(raw, bad)} are not timestamps")
        out[cols.event_time] = times.astype("datetime64[ns, UTC]")

    for feature in spec.features:
        if feature.name not in df.columns:
            continue
        raw = df[feature.name]
        if feature.kind == "numeric":
            values, bad = _as_numeric(raw)
            if bad.any():
                problems.append(f"column '{feature.name}' (numeric): {_examples(raw, bad)} are not numbers")
            out[feature.name] = values
        else:
            out[feature.name] = _as_text(raw)

    # The label may be absent (labels can land later); when present it must parse.
    if cols.label in df.columns:
        raw = df[cols.label]
        if spec.is_classification:
            text = _as_text(raw)
            distinct = sorted({v for v in text if v is not None})
            if len(distinct) > 2:
                problems.append(
                    f"column '{cols.label}' (label): {len(distinct)} distinct values {distinct[:5]}; "
                    "binary classification needs at most 2"
                )
            positive = str(spec.task.positive_label)
            label = text.map(lambda v: np.nan if v is None else float(v == positive)).astype("float64")
        else:
            label, bad = _as_numeric(raw)
            if bad.any():
                problems.append(f"column '{cols.label}' (label): {_examples(raw, bad)} are not numbers")
        out[cols.label] = label
    else:
        out[cols.label] = pd.Series(np.nan, index=df.index, dtype="float64")

    if problems:
        raise SchemaError(source, problems)
    return pd.DataFrame(out).reset_index(drop=True)
