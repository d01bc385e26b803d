"""Check cost per partition next to feature computation, at 100k and 1M rows per day.

Times, on the same in-memory day: the feature module (`build_features`), each Great Expectations
suite (`raw_data_contract`, `features_contract`, `features_statistics`) and the drift computation
(`features_drift`). Median of N runs, with min-max; all measured side by side in one process.
"""

from __future__ import annotations

import datetime as dt
import statistics

import pandas as pd

from bench.project import timed, verdict
from ml_assets.core.demo_data import landed_day
from ml_assets.core.expectations import feature_types, features_suite, raw_suite, raw_types, statistics_suite, validate
from ml_assets.core.features import build_features
from ml_assets.core.profile import build_profile, feature_drift
from ml_assets.core.spec import PipelineSpec

TARGET = 5  # all checks of a day, as a multiple of the feature computation


def _cases(spec: PipelineSpec, raw: pd.DataFrame, feats: pd.DataFrame, profile: dict) -> dict:
    warn, error = spec.validation.drift_warn.model_dump(), spec.validation.drift_error.model_dump()
    return {
        "feature computation (build_features)": lambda: build_features(raw, spec),
        "raw_data_contract (GX)": lambda: validate(raw, raw_suite(spec), raw_types(spec)),
        "features_contract (GX)": lambda: validate(feats, features_suite(spec), feature_types(spec)),
        "features_statistics (GX)": lambda: validate(feats, statistics_suite(spec, profile)),
        "features_drift (PSI + KS)": lambda: feature_drift(feats, profile, warn, error),
    }


def run(spec: PipelineSpec, sizes: list[int], repeats: int, log=print) -> list[dict]:
    validate(landed_day(dt.date(2026, 1, 1), spec, 200), raw_suite(spec))  # import and warm GX once
    rows = []
    for size in sizes:
        log(f"checks: {size:,} rows per day")
        reference_raw = landed_day(dt.date(2026, 1, 5), spec, size)
        profile = build_profile(build_features(reference_raw, spec), spec)
        raw = landed_day(dt.date(2026, 1, 6), spec, size)
        feats = build_features(raw, spec)
        for name, fn in _cases(spec, raw, feats, profile).items():
            times = timed(fn, repeats)
            rows.append(
                {
                    "benchmark": "checks",
                    "case": name,
                    "rows": size,
                    "median_s": statistics.median(times),
                    "min_s": min(times),
                    "max_s": max(times),
                    "runs": repeats,
                }
            )
    return rows


def table(rows: list[dict]) -> str:
    out = ["| rows per day | step | median (s) | min–max (s) | × feature computation |", "|---:|---|---:|---:|---:|"]
    for size in sorted({r["rows"] for r in rows}):
        group = [r for r in rows if r["rows"] == size]
        base = next(r["median_s"] for r in group if r["case"].startswith("feature computation"))
        for r in group:
            out.append(
                f"| {size:,} | {r['case']} | {r['median_s']:.3f} | {r['min_s']:.3f}–{r['max_s']:.3f} | "
                f"{r['median_s'] / base:.2f} |"
            )
        checks = sum(r["median_s"] for r in group if not r["case"].startswith("feature computation"))
        # The target is for the largest day, where the checks' fixed costs no longer hide the per-row ones.
        mark = (
            f" (target ≤ {TARGET:.0f}: {verdict(checks / base <= TARGET)})"
            if size == max(r["rows"] for r in rows)
            else ""
        )
        out.append(f"| {size:,} | **all checks** | **{checks:.3f}** | | **{checks / base:.2f}**{mark} |")
    return "\n".join(out)
