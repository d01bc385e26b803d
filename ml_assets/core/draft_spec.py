"""A first spec written from a sample of landed days (`ml-assets init-spec`): each column's kind, its
observed null rate with a stated margin, the label's classes, the id and time columns (guessed when
not given, and said so), the partitions from the landed days and the time zone from the timestamps'
offsets, candidates and a metric that fit the task. Columns that cannot be features are left out
with a comment saying why: ids, free text, constants, leaks.

Pure: the sample in, the spec's text and the notes out; the CLI reads the files and prints."""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from dataclasses import dataclass, field

import pandas as pd

from ml_assets.core.leakage import leaks
from ml_assets.core.spec import label_token

NULL_MARGIN = 0.1  # max_null_rate = the worst sampled day's null rate + this
RANGE_MARGIN = 0.1  # --ranges: min/max widened by this share of the observed span
FREE_TEXT = 50  # a text column with more distinct values than this (and than half its rows) is left out
TRUE_TOKENS = {"1", "true", "yes", "y", "t", "positive", "pos"}
ID_NAME = re.compile(r"(^|[_\W])(id|key|uuid)$|id$", re.IGNORECASE)
TIME_NAME = re.compile(r"time|date|timestamp|^ts$|_ts$|_at$", re.IGNORECASE)
OFFSET = re.compile(r"(Z|[+-]\d{2}:?\d{2})$")
CANDIDATES = {
    "binary_classification": (
        "pr_auc",
        [
            ("logistic_regression", "sklearn.linear_model.LogisticRegression", "{C: 1.0, max_iter: 2000}"),
            ("random_forest", "sklearn.ensemble.RandomForestClassifier", "{n_estimators: 200, min_samples_leaf: 2}"),
        ],
    ),
    "regression": (
        "rmse",
        [
            ("ridge", "sklearn.linear_model.Ridge", "{alpha: 1.0}"),
            ("random_forest", "sklearn.ensemble.RandomForestRegressor", "{n_estimators: 100, min_samples_leaf: 5}"),
        ],
    ),
}


class DraftError(ValueError):
    """The sample cannot give a spec (no label column, no id or time column found, ...)."""


@dataclass
class Draft:
    text: str  # the spec: YAML with comments
    notes: list[str] = field(default_factory=list)  # what was guessed or left out, for the terminal


@dataclass
class Column:
    """What the sample says about one column (values as read: CSV columns are text)."""

    name: str
    values: pd.Series
    days: pd.Series  # each row's landing day folder

    @property
    def present(self) -> pd.Series:
        return self.values.dropna()

    def numbers(self) -> pd.Series:
        if pd.api.types.is_bool_dtype(self.values):
            return self.values.astype("float64")
        return pd.to_numeric(self.values, errors="coerce")

    @property
    def numeric_share(self) -> float:
        present = self.values.notna()
        return float(self.numbers()[present].notna().mean()) if present.any() else 0.0

    @property
    def worst_null_rate(self) -> float:
        return float(self.values.isna().groupby(self.days).mean().max())

    def unique_per_day(self) -> bool:
        return bool(
            self.values.notna().all() and not self.values.groupby(self.days).apply(lambda v: v.duplicated().any()).any()
        )

    def day_constant(self) -> bool:
        per_day = self.values.groupby(self.days).nunique(dropna=True)
        return self.days.nunique() >= 2 and bool((per_day <= 1).all()) and self.present.nunique() > 1


def _quote(value) -> str:
    return json.dumps(value) if isinstance(value, str) else str(value)


def _guess_id(columns: dict[str, Column], taken: set[str]) -> str | None:
    unique = [c for name, c in columns.items() if name not in taken and c.unique_per_day()]
    named = [c for c in unique if ID_NAME.search(c.name)]
    ranked = named or [c for c in unique if c.numeric_share < 1] or unique
    return ranked[0].name if ranked else None


def _times(column: Column) -> pd.Series:
    return pd.to_datetime(column.values, errors="coerce", utc=True, format="mixed")


def _parse_share(c: Column) -> float:
    return float(_times(c)[c.values.notna()].notna().mean())


def _guess_time(columns: dict[str, Column], taken: set[str]) -> str | None:
    parsed = [
        c
        for name, c in columns.items()
        if name not in taken
        and c.numeric_share < 0.5
        and c.present.size
        and _times(c)[c.values.notna()].notna().mean() >= 0.95
    ]
    ranked = [c for c in parsed if TIME_NAME.search(c.name)] or parsed
    return ranked[0].name if ranked else None


def time_zone(times: pd.Series) -> tuple[str, str]:
    """(IANA name, why) from the offsets the timestamps are written with."""
    offsets = Counter(m.group(1) for v in times.dropna().astype(str) if (m := OFFSET.search(v.strip())))
    if not offsets:
        return "UTC", "the timestamps carry no offset: taken as UTC"
    if set(offsets) <= {"Z", "+00:00", "+0000", "-00:00"}:
        return "UTC", "the timestamps are written in UTC"
    common = offsets.most_common(1)[0][0]
    sign, hours, minutes = common[0], int(common[1:3]), int(common[-2:])
    seen = ", ".join(sorted(offsets))
    if minutes or len(offsets) > 1:
        why = "daylight saving time" if len(offsets) > 1 else "a fractional-hour offset"
        return "UTC", (
            f"the timestamps are written with offsets {seen} ({why}): set partitions.timezone to your region's "
            "name (e.g. Europe/Paris), in which the files are cut into days; UTC until then"
        )
    # Etc/GMT names have the sign reversed (POSIX): +05:00 is Etc/GMT-5.
    name = "UTC" if hours == 0 else f"Etc/GMT{'-' if sign == '+' else '+'}{hours}"
    return name, f"every timestamp is written with offset {common}"


def _label_section(label: Column, task: str | None) -> tuple[str, list[str], list[str]]:
    """(task type, the task section's lines, notes)."""
    tokens = label.present.astype(str).str.strip()
    distinct = sorted(tokens.unique())
    numeric = label.numeric_share == 1.0
    if task is None:
        if len(distinct) <= 2:
            task = "binary_classification"
        elif numeric:
            task = "regression"
        else:
            raise DraftError(
                f"label column '{label.name}' has {len(distinct)} distinct values ({distinct[:6]}...): not 2 classes "
                "and not numbers; ml-assets handles binary_classification and regression (--task)"
            )
    notes = [f"task: {task} (label '{label.name}': {len(distinct)} distinct value(s) in the sample)"]
    if task == "regression":
        return task, ["  type: regression"], notes
    if len(distinct) != 2:
        raise DraftError(f"label column '{label.name}' has {len(distinct)} distinct value(s) {distinct}: not 2 classes")
    positive, negative = label_targets(label)
    if not _reads_as_true(positive):
        notes.append(f"positive_label '{positive}' is the rarer class; swap the two if the other is what you predict")
    share = float((tokens == positive).mean())
    lines = [
        "  type: binary_classification",
        f"  positive_label: {_quote(positive)}   # {share:.1%} of labelled rows in the sample",
        f"  negative_label: {_quote(negative)}",
    ]
    return task, lines, notes


def _feature_line(c: Column, ranges: bool) -> tuple[str, str]:
    """(the feature's YAML entry, its comment)."""
    numeric = c.numeric_share >= 0.98
    entry = {"name": _quote(c.name), "kind": "numeric" if numeric else "categorical"}
    worst = c.worst_null_rate
    limit = min(1.0, math.ceil((worst + NULL_MARGIN) * 100) / 100)
    # Written even at 1 (no limit): left out, validation.max_null_rate (0.5) would apply.
    entry["max_null_rate"] = f"{limit:g}"
    comment = [f"null rate up to {worst:.2f} a day" + (f", margin {NULL_MARGIN:g}" if limit < 1 else ": not limited")]
    if ranges and numeric:
        low, high = float(c.numbers().min()), float(c.numbers().max())
        pad = (high - low) * RANGE_MARGIN
        entry["min"] = f"{(0.0 if low >= 0 and low - pad < 0 else low - pad):g}"
        entry["max"] = f"{high + pad:g}"
    elif ranges and c.present.nunique() <= 20:
        entry["allowed"] = "[" + ", ".join(_quote(v) for v in sorted(c.present.astype(str).unique())) + "]"
    if c.day_constant():
        entry["drift"] = "false"
        comment.append("constant within each day: its drift is not judged")
    return "{" + ", ".join(f"{k}: {v}" for k, v in entry.items()) + "}", "; ".join(comment)


def _why_not_a_feature(c: Column) -> str | None:
    present = c.present
    if present.empty:
        return "empty in the sample"
    if present.nunique() == 1:
        return f"constant: one value ({_quote(str(present.iloc[0]))}) in the sample"
    if c.numeric_share < 0.98 and present.nunique() > FREE_TEXT and present.nunique() > 0.5 * len(present):
        return f"free text or an id: {present.nunique()} distinct values in {len(present)} rows"
    return None


def draft_spec(
    sample: pd.DataFrame,
    days: list[str],
    *,
    name: str,
    landing_uri: str,
    fmt: str,
    label: str,
    entity_id: str | None = None,
    event_time: str | None = None,
    task: str | None = None,
    ranges: bool = False,
) -> Draft:
    """`sample`: the sampled days' rows as read, with a `_landing_day` column (the day folder);
    `days`: every landed day, in order."""
    columns = {str(c): Column(str(c), sample[c], sample["_landing_day"]) for c in sample.columns if c != "_landing_day"}
    if label not in columns:
        raise DraftError(f"--label {label}: no such column in the sample (columns: {sorted(columns)})")
    notes: list[str] = []
    entity_id, event_time = _roles(columns, label, entity_id, event_time, notes)
    task, task_lines, task_notes = _label_section(columns[label], task)
    notes += task_notes
    zone, why = time_zone(columns[event_time].values)
    notes.append(f"partitions.timezone {zone}: {why}")
    features, left_out = _features(columns, {label, entity_id, event_time}, columns[label], task, ranges)
    notes += [f"left out {line}" for line in left_out]
    hours_vary = _times(columns[event_time]).dt.hour.nunique() > 1
    window, holdout, why_holdout = training_window(
        days, _classes_by_day(columns[label]) if task != "regression" else None
    )
    notes.append(f"training: window_days {window}, holdout_days {holdout}: {why_holdout}")
    head = _head(name, landing_uri, fmt, days, zone, why, (entity_id, event_time, label))
    training = ["training:", f"  window_days: {window}", f"  holdout_days: {holdout}   # {why_holdout}"]
    body = _body(task, features, left_out, training, hours_vary)
    text = "\n".join([*head, "task:", *task_lines, "", *body]) + "\n"
    return Draft(text, notes)


def _roles(columns: dict[str, Column], label: str, entity_id, event_time, notes: list[str]) -> tuple[str, str]:
    for flag, given in (("--id", entity_id), ("--time", event_time)):
        if given is not None and given not in columns:
            raise DraftError(f"{flag} {given}: no such column in the sample (columns: {sorted(columns)})")
    if event_time is None:
        event_time = _guess_time(columns, {label, entity_id or ""})
        if event_time is None:
            raise DraftError("no column of timestamps found in the sample: name it with --time COL")
        notes.append(f"guessed --time {event_time} (its values parse as timestamps)")
    if entity_id is None:
        entity_id = _guess_id(columns, {label, event_time})
        if entity_id is None:
            raise DraftError("no column is unique within every sampled day: name the id column with --id COL")
        notes.append(f"guessed --id {entity_id} (unique and never empty within every sampled day)")
    return entity_id, event_time


def _features(columns, taken: set[str], label: Column, task: str, ranges: bool) -> tuple[list[str], list[str]]:
    """(feature entries with their comments, `name: why` of each column left out)."""
    kept, left_out = [], []
    for name, c in columns.items():
        if name in taken:
            continue
        if why := _why_not_a_feature(c):
            left_out.append(f"{name}: {why}")
        else:
            kept.append(c)
    classification = task == "binary_classification"
    tokens = label.present.astype(str).str.strip()
    y = (tokens == label_targets(label)[0]).astype(float) if classification else pd.to_numeric(tokens, errors="coerce")
    frame = pd.DataFrame({c.name: (c.numbers() if c.numeric_share >= 0.98 else c.values) for c in kept})
    frame = frame.loc[y.index]
    numeric = [c.name for c in kept if c.numeric_share >= 0.98]
    leaked = {
        col: leak for leak in leaks(frame, y, [c.name for c in kept], classification, numeric) for col in leak.columns
    }
    lines = []
    for c in kept:
        if c.name in leaked:
            left_out.append(
                f"{c.name}: {leaked[c.name].describe()}: a leak? add it back with leakage_ok: true if it is known "
                "when predictions are made"
            )
            continue
        entry, comment = _feature_line(c, ranges)
        lines.append(f"  - {entry}   # {comment}")
    return lines, left_out


def _reads_as_true(token: str) -> bool:
    return label_token(token) == "1" or token.lower() in TRUE_TOKENS


def label_targets(label: Column) -> list[str]:
    """The label's values, the positive class first: the one that reads as true/yes/1, else the
    rarer (what a model is usually about)."""
    tokens = label.present.astype(str).str.strip()
    distinct = sorted(tokens.unique())
    positive = next((d for d in distinct if _reads_as_true(d)), None) or str(tokens.value_counts().idxmin())
    return [positive, *[d for d in distinct if d != positive]]


def _head(name: str, landing_uri: str, fmt: str, days: list[str], zone: str, why: str, roles) -> list[str]:
    entity_id, event_time, label = roles
    return [
        f"# Written by `ml-assets init-spec` from a sample of {len(days)} landed day(s) ({days[0]} .. {days[-1]}).",
        "# Read it through, then: ml-assets validate-spec THIS_FILE --data. Every field: docs/spec-reference.md.",
        f"name: {name}",
        "",
        "landing:",
        f"  uri: {_quote(landing_uri)}",
        f"  format: {fmt}",
        "",
        "partitions:",
        f'  start_date: "{days[0]}"   # the first landed day',
        f'  end_date: "{days[-1]}"     # the last landed day: drop it while new days keep landing',
        f"  timezone: {zone}   # {why}",
        "",
        "columns:",
        f"  entity_id: {_quote(entity_id)}",
        f"  event_time: {_quote(event_time)}",
        f"  label: {_quote(label)}",
        "",
    ]


def _classes_by_day(label: Column) -> dict[str, set[str]]:
    """The label values seen on each sampled day."""
    tokens = label.values.dropna().astype(str).str.strip()
    return {str(day): set(values) for day, values in tokens.groupby(label.days[tokens.index])}


def training_window(days: list[str], classes: dict[str, set[str]] | None) -> tuple[int, int, str]:
    """(window_days, holdout_days, why): the window ends on the last landed day and spans up to 28
    of them. For classification, the holdout reaches back until the sampled days in it hold both
    classes and those before it do too (rare classes come in bursts: rain, fraud, churn waves)."""
    window = min(28, max(2, len(days)))
    default = max(1, window // 4)
    if classes is None:
        return window, default, "the last quarter of the window"
    in_window = days[-window:]
    for k in range(default, window // 2 + 1):
        held, trained = in_window[-k:], in_window[:-k]
        seen_held = set().union(*(classes.get(d, set()) for d in held))
        seen_trained = set().union(*(classes.get(d, set()) for d in trained))
        if len(seen_held) >= 2 and len(seen_trained) >= 2:
            return window, k, f"the sampled days in the last {k} hold both classes, and so do those before"
    return (
        window,
        default,
        (
            "the sample holds no split of the window with both classes on each side: training may fail with "
            "'only one class'; widen the window or the holdout when more labels land"
        ),
    )


def _body(task: str, features: list[str], left_out: list[str], training: list[str], hours_vary: bool) -> list[str]:
    metric, candidates = CANDIDATES[task]
    lines = [
        "# Each column's kind is what its sampled values parse as; max_null_rate is the worst sampled",
        f"# day's null rate plus a margin of {NULL_MARGIN:g} (the raw_data contract blocks a day above it).",
        "features:",
        *features,
    ]
    lines += ["# Left out:"] + [f"#   {line}" for line in left_out] if left_out else []
    lines += [
        "",
        "# From the event time, in partitions.timezone (day_of_week is constant within a day).",
        f"derived_features: [{'hour_of_day' if hours_vary else ''}]",
        "",
        *training,
        "",
        "model:",
        "  candidates:",
    ]
    for cand, estimator, params in candidates:
        lines += [f"    - name: {cand}", f"      estimator: {estimator}", f"      params: {params}"]
    return [*lines, f"  metric: {metric}"]
