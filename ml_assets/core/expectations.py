"""Great Expectations 1.x suites built from the spec (and the champion's training reference),
run on a DataFrame in memory, with every failure rendered as a line a person can act on.

Three suites:
* `raw_suite`: the data contract on raw_data (columns, types, ids and times present, row count,
  null rates, value ranges, allowed categories): a failure is an ERROR and blocks the day.
* `features_suite`: model inputs present and row count: ERROR, blocking.
* `statistics_suite`: each numeric feature's mean, standard deviation and quantiles against the
  bounds learned from the training reference: a deviation is a WARN.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ml_assets.core.spec import PipelineSpec

STAT_QUANTILES = (0.05, 0.5, 0.95)
NUMERIC_TYPES = ("float64",)
TEXT_TYPES = ("object", "str", "string")


@dataclass
class Outcome:
    success: bool
    failures: list[str] = field(default_factory=list)
    result: dict[str, Any] = field(default_factory=dict)  # GX's validation result, JSON-ready
    evaluated: int = 0


def _gx():
    import great_expectations as gx

    _skip_fixed_costs()
    return gx


def _skip_fixed_costs() -> None:
    """Two per-validation costs of GX 1.x's pandas engine that grow with the day and buy nothing
    here (1M rows: 1.0 s and 0.5 s of a 2.3 s validation, BENCHMARKS.md section 6). Both are module
    attributes; test_checks pins that they still exist, so a GX upgrade that moves them fails loudly.

    * Every in-memory batch under 1 GB is fingerprinted by hashing all of its values
      (`pd.util.hash_pandas_object`), a marker nothing here reads: the day's content hash is
      already raw_data's data version. Turned off (threshold 0).
    * Mean, standard deviation and sum look at each value of a column, in Python, for a
      `decimal.Decimal`, even in a float64 array, which cannot hold one. Only object arrays are
      looked at now; the result is the same.
    """
    from great_expectations import util
    from great_expectations.execution_engine import pandas_execution_engine

    pandas_execution_engine.HASH_THRESHOLD = 0
    scan = util.does_ndarray_contain_decimal_dtype
    if getattr(scan, "numeric_arrays_skipped", False):
        return

    def contains_decimal(data):
        return getattr(data, "dtype", None) is not None and data.dtype.kind == "O" and scan(data)

    contains_decimal.numeric_arrays_skipped = True  # type: ignore[attr-defined]
    util.does_ndarray_contain_decimal_dtype = contains_decimal  # type: ignore[assignment]


@functools.cache
def _batch_definition():
    """One ephemeral GX context per process (nothing is stored by GX itself), reused by every
    validation: creating one costs more than validating a small day."""
    gx = _gx()
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    return (
        context.data_sources.add_pandas("ml_assets")
        .add_dataframe_asset("frame")
        .add_batch_definition_whole_dataframe("whole")
    )


def raw_types(spec: PipelineSpec) -> dict[str, tuple[str, ...]]:
    """The type each raw feature column must have: checked on the frame's schema (the Parquet file's
    Arrow schema fixes it for every value), not value by value."""
    return {f.name: NUMERIC_TYPES if f.kind == "numeric" else TEXT_TYPES for f in spec.features}


def raw_type_fixes(spec: PipelineSpec) -> dict[str, str]:
    return {f.name: f"{feature_field(spec, f.name)}: kind {f.kind}: change it, or fix the files" for f in spec.features}


def feature_types(spec: PipelineSpec) -> dict[str, tuple[str, ...]]:
    return {**{n: NUMERIC_TYPES for n in spec.numeric_features}, **{n: TEXT_TYPES for n in spec.categorical_features}}


def type_results(df: pd.DataFrame, types: dict[str, tuple[str, ...]]) -> list[dict]:
    """One entry per column present: its dtype, the types allowed, and whether it is one of them.
    (A missing column is reported by its ExpectColumnToExist.)"""
    return [
        {
            "column": col,
            "dtype": str(df[col].dtype),
            "expected": list(allowed),
            "success": str(df[col].dtype) in allowed,
        }
        for col, allowed in types.items()
        if col in df.columns
    ]


def feature_field(spec: PipelineSpec, name: str) -> str:
    """Where a feature is in the spec, as a user finds it: `features[3] wind_gust`."""
    index = next((i for i, f in enumerate(spec.features) if f.name == name), None)
    return f"features[{index}] {name}" if index is not None else name


def raw_suite(spec: PipelineSpec):
    """The raw_data contract. Each expectation's meta names the spec field that sets its limit, so a
    failure says what to change (`fix`)."""
    gx = _gx()
    e = gx.expectations
    cols, v = spec.columns, spec.validation

    def fix(text: str) -> dict:
        return {"fix": text}

    id_fix = fix("columns.entity_id: name the id column the files have")
    time_fix = fix("columns.event_time: name the timestamp column the files have")
    exps = [
        e.ExpectColumnToExist(column=cols.entity_id, meta=id_fix),
        e.ExpectColumnValuesToNotBeNull(column=cols.entity_id, meta=id_fix),
        e.ExpectColumnToExist(column=cols.event_time, meta=time_fix),
        e.ExpectColumnValuesToNotBeNull(column=cols.event_time, meta=time_fix),
        e.ExpectTableRowCountToBeBetween(
            min_value=v.min_rows,
            max_value=v.max_rows,
            meta=fix(f"validation.min_rows ({v.min_rows}) / validation.max_rows ({v.max_rows or 'none'})"),
        ),
    ]
    for f in spec.features:
        where = feature_field(spec, f.name)
        exps.append(e.ExpectColumnToExist(column=f.name, meta=fix(f"{where}: fix its name or drop the feature")))
        max_null = v.max_null_rate if f.max_null_rate is None else f.max_null_rate
        if max_null < 1:
            default = " (validation.max_null_rate)" if f.max_null_rate is None else ""
            field = f"{where}: max_null_rate {max_null:g}{default}"
            exps.append(
                e.ExpectColumnValuesToNotBeNull(
                    column=f.name, mostly=1 - max_null, meta=fix(f"{field}: raise it, or drop the feature")
                )
            )
        if f.min is not None or f.max is not None:
            exps.append(
                e.ExpectColumnValuesToBeBetween(
                    column=f.name,
                    min_value=f.min,
                    max_value=f.max,
                    meta=fix(f"{where}: min {f.min} / max {f.max}: widen them, or remove them"),
                )
            )
        if f.allowed is not None:
            exps.append(
                e.ExpectColumnValuesToBeInSet(
                    column=f.name,
                    value_set=list(f.allowed),
                    meta=fix(f"{where}: allowed: add the values, or remove the list"),
                )
            )
    return gx.ExpectationSuite(name=f"{spec.name}.raw_data", expectations=exps)


def features_suite(spec: PipelineSpec):
    gx = _gx()
    e = gx.expectations
    v = spec.validation
    exps = [e.ExpectTableRowCountToBeBetween(min_value=v.min_rows, max_value=v.max_rows)]
    exps += [e.ExpectColumnToExist(column=name) for name in [*spec.numeric_features, *spec.categorical_features]]
    return gx.ExpectationSuite(name=f"{spec.name}.features", expectations=exps)


def statistics_suite(spec: PipelineSpec, profile: dict[str, Any]):
    """Bounds learned from the reference: mean within `stat_tolerance` reference standard
    deviations, standard deviation within that fraction of the reference's, and each checked
    quantile q between the reference's quantiles at q-0.05 and q+0.05, widened by the same margin
    (so counts and other discrete features do not trip on a jump between adjacent values)."""
    gx = _gx()
    e = gx.expectations
    tol = spec.validation.stat_tolerance
    exps = []
    for f in spec.features:
        ref = profile["features"].get(f.name)
        # A day-constant feature (or one with drift: false) has one value a day: its day mean is not
        # comparable with a multi-day reference either.
        if f.kind != "numeric" or not ref or "mean" not in ref or ref.get("day_constant") or not f.drift:
            continue
        margin = tol * ref["std"] if ref["std"] > 0 else tol * max(abs(ref["mean"]), 1.0)
        exps.append(
            e.ExpectColumnMeanToBeBetween(column=f.name, min_value=ref["mean"] - margin, max_value=ref["mean"] + margin)
        )
        exps.append(
            e.ExpectColumnStdevToBeBetween(
                column=f.name, min_value=ref["std"] * (1 - tol), max_value=ref["std"] * (1 + tol)
            )
        )
        exps.append(
            e.ExpectColumnQuantileValuesToBeBetween(
                column=f.name,
                quantile_ranges={
                    "quantiles": list(STAT_QUANTILES),
                    "value_ranges": [
                        [_ref_q(ref, q - 0.05) - margin, _ref_q(ref, q + 0.05) + margin] for q in STAT_QUANTILES
                    ],
                },
            )
        )
    return gx.ExpectationSuite(name=f"{spec.name}.features.statistics", expectations=exps)


def _ref_q(ref: dict[str, Any], q: float) -> float:
    return ref["quantiles"][str(round(min(max(q, 0.0), 1.0), 2))]


def jsonable(obj):
    """`obj` as strict JSON values: numpy scalars as Python ones, NaN and infinities as null."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    return obj


def _fmt(x) -> str:
    return f"{x:.4g}" if isinstance(x, (int, float, np.number)) and not isinstance(x, bool) else repr(x)


def describe_failure(kind: str, kwargs: dict, result: dict, meta: dict | None = None) -> str:
    """One line saying what was expected and what was observed, and, where the expectation's meta
    names it, the spec field to change."""
    line = _describe(kind, kwargs, result)
    fix = (meta or {}).get("fix")
    return f"{line}; spec: {fix}" if fix else line


def _describe(kind: str, kwargs: dict, result: dict) -> str:
    col = kwargs.get("column")
    observed = result.get("observed_value")
    pct = result.get("unexpected_percent")
    examples = [v for v in (result.get("partial_unexpected_list") or [])[:3]]
    if kind == "expect_column_to_exist":
        return f"column `{col}` is missing"
    if kind == "expect_column_values_to_not_be_null":
        allowed = 1 - (kwargs.get("mostly") or 1.0)
        return f"null rate of `{col}`: {(pct or 0) / 100:.3g} > {allowed:.3g}"
    if kind == "expect_column_values_to_be_between":
        return (
            f"`{col}`: {pct:.3g}% of values outside [{_fmt(kwargs.get('min_value'))}, "
            f"{_fmt(kwargs.get('max_value'))}], e.g. {', '.join(map(_fmt, examples))}"
        )
    if kind == "expect_column_values_to_be_in_set":
        return f"`{col}`: {pct:.3g}% of values not in {kwargs.get('value_set')}, e.g. {', '.join(map(_fmt, examples))}"
    if kind == "expect_column_values_to_be_in_type_list":
        return f"`{col}` has type {observed}, expected one of {kwargs.get('type_list')}"
    if kind == "expect_table_row_count_to_be_between":
        return f"row count {observed} outside [{kwargs.get('min_value')}, {kwargs.get('max_value') or 'no limit'}]"
    if kind == "expect_column_quantile_values_to_be_between":
        qr = kwargs["quantile_ranges"]
        parts = [
            f"q{q:g}={_fmt(v)} not in [{_fmt(lo)}, {_fmt(hi)}]"
            for q, v, (lo, hi) in zip(
                qr["quantiles"], (observed or {}).get("values", []), qr["value_ranges"], strict=False
            )
            if not lo <= v <= hi
        ]
        return f"quantiles of `{col}`: " + "; ".join(parts)
    if kind in ("expect_column_mean_to_be_between", "expect_column_stdev_to_be_between"):
        stat = "mean" if "mean" in kind else "standard deviation"
        return (
            f"{stat} of `{col}`: {_fmt(observed)} not in [{_fmt(kwargs.get('min_value'))}, "
            f"{_fmt(kwargs.get('max_value'))}]"
        )
    return f"{kind} failed on `{col}`: observed {observed!r}"


def validate(
    df: pd.DataFrame, suite, types: dict[str, tuple[str, ...]] | None = None, type_fixes: dict[str, str] | None = None
) -> Outcome:
    """Run `suite` on `df` in one GX validation, and check the column `types` on its schema
    (`type_fixes`: the spec field to change, per column, said with a type failure)."""
    gx = _gx()
    schema = type_results(df, types or {})
    fixes = type_fixes or {}
    failures = [
        f"`{t['column']}` has type {t['dtype']}, expected one of {t['expected']}"
        + (f"; spec: {fixes[t['column']]}" if t["column"] in fixes else "")
        for t in schema
        if not t["success"]
    ]
    missing = {
        exp.column
        for exp in suite.expectations
        if type(exp).__name__ == "ExpectColumnToExist" and exp.column not in df.columns
    }
    skipped = missing | {t["column"] for t in schema if not t["success"]}
    if skipped:
        # Expectations on a missing or mistyped column only raise or mislead: the column's own
        # failure (missing, wrong type) is what is reported.
        suite = gx.ExpectationSuite(
            name=suite.name,
            expectations=[
                exp
                for exp in suite.expectations
                if getattr(exp, "column", None) not in skipped or type(exp).__name__ == "ExpectColumnToExist"
            ],
        )
    if not suite.expectations:
        return Outcome(
            success=not failures,
            failures=failures,
            result={"suite": suite.name, "results": [], "schema": schema},
            evaluated=len(schema),
        )
    # BASIC: the unexpected percentage and a few examples, which is all a failure line shows.
    result = _batch_definition().get_batch(batch_parameters={"dataframe": df}).validate(suite, result_format="BASIC")
    for r in result.results:
        if r.success:
            continue
        config = r.expectation_config
        if r.exception_info and r.exception_info.get("raised_exception"):
            failures.append(
                f"{config.type} on `{config.kwargs.get('column')}` raised: {r.exception_info.get('exception_message')}"
            )
        else:
            failures.append(describe_failure(config.type, dict(config.kwargs), dict(r.result), dict(config.meta or {})))
    payload = jsonable({**result.to_json_dict(), "schema": schema})
    json.dumps(payload, allow_nan=False)  # fail here, not in storage, if anything is still not JSON
    return Outcome(
        success=bool(result.success) and all(t["success"] for t in schema),
        failures=failures,
        result=payload,
        evaluated=len(result.results) + len(schema),
    )
