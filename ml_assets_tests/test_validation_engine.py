"""The check engine without Dagster: types from the schema, one GX validation per suite, the two
GX costs turned off (pinned so a GX upgrade that moves them fails here), and exact drift figures."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from scipy.stats import ks_2samp

from ml_assets.core.demo_data import landed_day
from ml_assets.core.expectations import feature_types, features_suite, raw_suite, raw_types, statistics_suite, validate
from ml_assets.core.features import build_features
from ml_assets.core.profile import MISSING, build_profile, drift_of, ks_statistic
from ml_assets.io.specs import load_spec, shipped_spec


@pytest.fixture(scope="module")
def spec():
    return load_spec(shipped_spec("demo"))


@pytest.fixture(scope="module")
def raw(spec):
    return landed_day(dt.date(2025, 3, 4), spec, 500)


def test_gx_costs_turned_off_are_still_where_we_turn_them_off(raw, spec):
    validate(raw, raw_suite(spec), raw_types(spec))
    from great_expectations import util
    from great_expectations.execution_engine import pandas_execution_engine

    assert pandas_execution_engine.HASH_THRESHOLD == 0
    # The GX function our replacement wraps is still called by the metrics it is meant for.
    assert util.does_ndarray_contain_decimal_dtype.numeric_arrays_skipped
    assert "does_ndarray_contain_decimal_dtype" in util.convert_pandas_series_decimal_to_float_dtype.__code__.co_names
    from decimal import Decimal

    assert util.does_ndarray_contain_decimal_dtype(np.array([Decimal("1.5"), 2.0], dtype=object))
    assert not util.does_ndarray_contain_decimal_dtype(np.array([1.5, 2.0]))


def test_clean_day_passes_in_one_validation_with_types_from_the_schema(raw, spec):
    outcome = validate(raw, raw_suite(spec), raw_types(spec))
    assert outcome.success, outcome.failures
    assert {t["column"] for t in outcome.result["schema"]} == {f.name for f in spec.features}
    assert not any(
        r["expectation_config"]["type"] == "expect_column_values_to_be_in_type_list" for r in outcome.result["results"]
    )
    feats = build_features(raw, spec)
    assert validate(feats, features_suite(spec), feature_types(spec)).success


def test_wrong_column_type_is_named_with_its_dtype(raw, spec):
    bad = raw.assign(tenure_days=raw["tenure_days"].astype(str))
    outcome = validate(bad, raw_suite(spec), raw_types(spec))
    assert not outcome.success
    assert "`tenure_days` has type object, expected one of ['float64']" in outcome.failures


def test_statistics_and_null_failures_still_say_what_was_observed(raw, spec):
    profile = build_profile(build_features(raw, spec), spec)
    shifted = build_features(raw, spec).assign(monthly_charges=lambda d: d["monthly_charges"] * 10)
    outcome = validate(shifted, statistics_suite(spec, profile))
    assert not outcome.success and any(f.startswith("mean of `monthly_charges`") for f in outcome.failures)
    holes = raw.copy()
    holes.loc[holes.index[:200], "plan"] = None
    outcome = validate(holes, raw_suite(spec), raw_types(spec))
    assert any(f.startswith("null rate of `plan`: 0.4 >") for f in outcome.failures), outcome.failures


def _ks_by_definition(a, b) -> float:
    grid = np.concatenate([a, b])
    return float(
        np.max(
            np.abs(
                np.searchsorted(np.sort(a), grid, side="right") / len(a)
                - np.searchsorted(np.sort(b), grid, side="right") / len(b)
            )
        )
    )


def test_ks_statistic_is_exact_with_ties_and_matches_scipy():
    rng = np.random.default_rng(3)
    for i in range(500):
        m, n = rng.integers(1, 40), rng.integers(1, 60)
        if i % 2:
            a, b = rng.integers(0, 5, m).astype(float), rng.integers(0, 6, n).astype(float)
        else:
            a, b = rng.normal(size=m), rng.normal(rng.uniform(-1, 1), size=n)
        assert ks_statistic(a, b) == pytest.approx(_ks_by_definition(a, b), abs=1e-12)
    a, b = rng.normal(size=3000), rng.normal(0.1, size=100_000)
    assert ks_statistic(a, b) == pytest.approx(ks_2samp(a, b).statistic, abs=1e-12)


def test_category_shares_count_missing_and_unseen_values():
    reference = {"kind": "categorical", "shares": {"a": 0.5, "b": 0.5, MISSING: 0.0}}
    same = drift_of(reference, pd.Series(["a", "b"] * 50, dtype=object))
    assert same["psi"] == pytest.approx(0.0, abs=1e-6)
    moved = drift_of(reference, pd.Series(["a"] * 50 + [None] * 30 + ["z"] * 20, dtype=object))
    assert moved["psi"] > 1
