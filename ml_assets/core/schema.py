"""Enforce the spec's schema on one landing file's rows: required columns and types.

Pure: takes the DataFrame as read and returns a typed copy, or raises `SchemaError`
listing every problem found in that file (column, problem, example rows).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ml_assets.core.profile import day_constant
from ml_assets.core.spec import PipelineSpec, label_token


class SchemaError(ValueError):
    """Landing data that does not match the spec. `source` names the file."""

    def __init__(self, source: str, problems: list[str]):
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: " + "; ".join(problems))


class SpecColumnsError(ValueError):
    """Columns the spec names that none of a day's files has: the spec is wrong, not the files."""


def required_columns(spec: PipelineSpec) -> list[str]:
    return [spec.columns.entity_id, spec.columns.event_time] + [f.name for f in spec.features]


def check_spec_columns(frames: list[pd.DataFrame], spec: PipelineSpec) -> None:
    """Raise SpecColumnsError when a column the spec requires is in none of `frames` (a typo in the
    spec, or the wrong dataset), naming the columns and what the files have instead."""
    seen = set().union(*(map(str, f.columns) for f in frames)) if frames else set()
    absent = [c for c in required_columns(spec) if c not in seen]
    if absent:
        raise SpecColumnsError(
            f"column(s) {absent} named by the spec are in none of the {len(frames)} file(s) "
            f"(they have {sorted(seen)}); fix the spec's columns/features"
        )


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def oversized_text(df: pd.DataFrame, limit: int) -> list[str]:
    """One problem per column holding text values over `limit` UTF-8 bytes, naming the rows."""
    problems = []
    for name in df.columns:
        column = df[name]
        if not (pd.api.types.is_object_dtype(column) or pd.api.types.is_string_dtype(column)):
            continue
        text = column.map(lambda v: v if isinstance(v, str) else "")
        # A character is at most 4 bytes: only values over limit/4 characters can be over.
        candidates = text[text.str.len() > limit // 4]
        sizes = candidates.map(lambda v: len(v.encode("utf-8")))
        over = sizes[sizes > limit]
        if len(over):
            positions = column.index.get_indexer(over.index[:5])
            rows = [int(p) + 1 for p in positions]
            problems.append(
                f"column '{name}': {len(over)} text value(s) over landing.max_text_bytes ({limit} bytes; the largest "
                "is "
                f"{int(over.max())} bytes) at data row(s) {', '.join(map(str, rows))}"
            )
    return problems


def _examples(raw: pd.Series, bad: pd.Series) -> str:
    # Row numbers are 1-based data rows (CSV line = row + 1 for the header).
    rows = list(np.flatnonzero(bad.to_numpy())[:3] + 1)
    values = [_short(repr(v)) for v in raw[bad].head(3).tolist()]
    return f"{int(bad.sum())} value(s), e.g. {', '.join(values)} at data row(s) {', '.join(map(str, rows))}"


def _as_numeric(raw: pd.Series) -> tuple[pd.Series, pd.Series]:
    if pd.api.types.is_bool_dtype(raw):
        return raw.astype("float64"), pd.Series(False, index=raw.index)
    values = pd.to_numeric(raw, errors="coerce").astype("float64")
    bad = values.isna() & raw.notna()
    return values, bad


def _as_text(raw: pd.Series) -> pd.Series:
    return raw.astype("object").map(lambda v: None if pd.isna(v) else str(v))


def parse_label(raw: pd.Series, spec: PipelineSpec, problems: list[str]) -> pd.Series:
    """The label column as float64: 1.0/0.0 for the spec's positive/negative class, however the file
    writes them (see `label_token`), or the number for regression; NaN where the label is missing.
    A value that is neither class (or not a number) is added to `problems` with a count."""
    name = spec.columns.label
    if not spec.is_classification:
        label, bad = _as_numeric(raw)
        if bad.any():
            problems.append(f"column '{name}' (label): {_examples(raw, bad)} are not numbers")
        return label
    text = _as_text(raw).map(lambda v: None if v is None or not v.strip() else v)
    tokens = text.map(lambda v: None if v is None else label_token(v))
    positive, negative = spec.task.classes
    bad = tokens.notna() & ~tokens.isin([positive, negative])
    if bad.any():
        counts = text[bad].value_counts()
        shown = ", ".join(f"{v!r} ({n})" for v, n in counts.head(5).items())
        problems.append(
            f"column '{name}' (label): {int(bad.sum())} value(s) are neither class of task.positive_label "
            f"{spec.task.positive_label!r} nor task.negative_label "
            f"{spec.task.negative_label if spec.task.negative_label is not None else negative!r}: {shown}"
            + (f" and {len(counts) - 5} more" if len(counts) > 5 else "")
        )
    return tokens.map(lambda t: np.nan if t is None else float(t == positive)).astype("float64")


def enforce_schema(df: pd.DataFrame, spec: PipelineSpec, source: str) -> pd.DataFrame:
    """Return `df` with the spec's columns, in order, with the spec's types."""
    cols = spec.columns
    problems: list[str] = []
    if len(df) == 0:
        raise SchemaError(source, ["the file has no rows"])
    problems += oversized_text(df, spec.landing.max_text_bytes)

    required = required_columns(spec)
    missing = [c for c in required if c not in df.columns]
    if missing:
        problems.append(f"column(s) {missing} named in the spec are missing (file has {sorted(map(str, df.columns))})")

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
        out[cols.label] = parse_label(df[cols.label], spec, problems)
    else:
        out[cols.label] = pd.Series(np.nan, index=df.index, dtype="float64")

    if problems:
        raise SchemaError(source, problems)
    return pd.DataFrame(out).reset_index(drop=True)


def _describe_label(data: pd.DataFrame, spec: PipelineSpec, problems: list[str], notes: list[str]) -> None:
    """The label in a typed sample: class balance (or value range), missing values; one class is a problem."""
    label = data[spec.columns.label]
    missing = int(label.isna().sum())
    if spec.is_classification:
        positive, negative = spec.task.classes
        pos, neg = int((label == 1).sum()), int((label == 0).sum())
        share = pos / (pos + neg) if pos + neg else float("nan")
        notes.append(
            f"label '{spec.columns.label}': {pos} positive ({positive!r}), {neg} negative ({negative!r}), "
            f"{missing} missing; positive share {share:.1%}"
        )
        if pos + neg and min(pos, neg) == 0:
            problems.append(
                f"label '{spec.columns.label}': only one class in the sample; check task.positive_label / "
                "negative_label"
            )
    else:
        present = label.dropna()
        notes.append(
            f"label '{spec.columns.label}': {len(present)} values (mean {present.mean():.4g}, "
            f"min {present.min():.4g}, max {present.max():.4g}), {missing} missing"
        )


def describe_sample(frames: dict[str, pd.DataFrame], spec: PipelineSpec) -> tuple[list[str], list[str]]:
    """What the spec would do to a sample of landing files ({source: frame as read}): returns
    (problems, notes). Problems are what would reject a file or stop a day (missing columns, values
    that do not parse, label values of neither class); notes are what a user should know (class
    balance, unused columns, columns constant within a day, high-cardinality categories)."""
    problems: list[str] = []
    notes: list[str] = []
    required = required_columns(spec)
    used = set(required) | {spec.columns.label}
    try:
        check_spec_columns(list(frames.values()), spec)
    except SpecColumnsError as exc:
        problems.append(f"spec: {exc}")
    typed = []
    for source, frame in frames.items():
        try:
            typed.append(enforce_schema(frame, spec, source))
        except SchemaError as exc:
            problems.extend(f"{source}: {p}" for p in exc.problems)
    unused = sorted({str(c) for f in frames.values() for c in f.columns} - used)
    if unused:
        notes.append(f"columns the spec does not use (ignored at ingest): {unused}")
    if not typed:
        return problems, notes
    data = pd.concat(typed, ignore_index=True)
    _describe_label(data, spec, problems, notes)
    days = data[spec.columns.event_time].dt.tz_convert(spec.partitions.timezone).dt.date.astype(str)
    notes.append(f"{len(data)} rows in {len(frames)} file(s), {days.nunique()} event day(s)")
    for feature in spec.features:
        values = data[feature.name]
        if days.nunique() >= 2 and feature.drift:
            if day_constant(values, days):
                notes.append(
                    f"feature '{feature.name}' is constant within a day: its per-day drift is not judged "
                    "(set `drift: false` on it to say so)"
                )
        if feature.kind == "categorical":
            distinct = values.nunique()
            if distinct > 50 and distinct > 0.5 * values.notna().sum():
                notes.append(
                    f"feature '{feature.name}' (categorical) has {distinct} distinct values in {values.notna().sum()} "
                    "rows: "
                    "nearly an id; one-hot encoding will not generalise (drop it or make it numeric)"
                )
    return problems, notes
