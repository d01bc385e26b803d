"""The training reference profile and drift against it: PSI and KS, pure functions.

A profile summarises the rows a model was trained on: per numeric feature its mean, standard
deviation, quantiles, decile bin edges with their shares, and a fixed-size sample (for KS); per
categorical feature the share of each category. Drift of a new day is measured against it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ml_assets.core.spec import PipelineSpec

SAMPLE_SIZE = 5000
QUANTILES = tuple(round(q, 2) for q in np.linspace(0, 1, 21))  # 0.00, 0.05, ..., 1.00
OTHER = "__other__"
MISSING = "__missing__"
_EPS = 1e-4


def _numeric_profile(values: pd.Series, rng: np.random.Generator) -> dict[str, Any]:
    present = values.dropna().to_numpy(dtype="float64")
    out: dict[str, Any] = {"kind": "numeric", "null_rate": float(values.isna().mean()), "rows": int(len(values))}
    if len(present) == 0:
        return out
    edges = np.unique(np.quantile(present, np.linspace(0, 1, 11)[1:-1]))
    sample = present if len(present) <= SAMPLE_SIZE else np.sort(rng.choice(present, SAMPLE_SIZE, replace=False))
    out.update(
        {
            "mean": float(present.mean()),
            "std": float(present.std()),
            "min": float(present.min()),
            "max": float(present.max()),
            "quantiles": {str(q): float(np.quantile(present, q)) for q in QUANTILES},
            "bin_edges": edges.tolist(),
            "bin_shares": _bin_shares(present, edges).tolist(),
            "sample": sample.tolist(),
        }
    )
    return out


def _categorical_profile(values: pd.Series, max_categories: int = 50) -> dict[str, Any]:
    shares = values.fillna(MISSING).astype(str).value_counts(normalize=True)
    top = shares.head(max_categories)
    cats = {str(k): float(v) for k, v in top.items()}
    if len(shares) > max_categories:
        cats[OTHER] = float(shares.iloc[max_categories:].sum())
    return {"kind": "categorical", "null_rate": float(values.isna().mean()), "rows": int(len(values)), "shares": cats}


def _bin_shares(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    counts = np.bincount(np.searchsorted(edges, values, side="right"), minlength=len(edges) + 1)
    return counts / max(len(values), 1)


# A feature whose most common value covers at least this share of a day's rows, on average over the
# reference's days, is "constant within a day" (a season, a weekday, a daily price): one day of it
# always differs from a multi-day reference, so its per-day drift means nothing.
DAY_CONSTANT_SHARE = 0.95


def day_constant(values: pd.Series, days: pd.Series) -> bool:
    """Whether `values` is (nearly) constant within each day of `days` (needs two days or more)."""
    frame = pd.DataFrame({"v": values.fillna(MISSING).astype(str).to_numpy(), "d": days.to_numpy()})
    if frame["d"].nunique() < 2:
        return False
    top_share = frame.groupby("d")["v"].agg(lambda v: v.value_counts(normalize=True).iloc[0])
    return bool(top_share.mean() >= DAY_CONSTANT_SHARE)


def build_profile(
    frame: pd.DataFrame, spec: PipelineSpec, scores: np.ndarray | None = None, days: pd.Series | None = None
) -> dict[str, Any]:
    """The reference profile of the model inputs in `frame` (and of the model's `scores`, if given).
    With each row's `days`, features constant within a day are marked `day_constant`."""
    rng = np.random.default_rng(spec.seed)
    features = {}
    for name in spec.numeric_features:
        features[name] = _numeric_profile(frame[name], rng)
    for name in spec.categorical_features:
        features[name] = _categorical_profile(frame[name])
    if days is not None:
        for name, feature in features.items():
            feature["day_constant"] = day_constant(frame[name], days)
    profile: dict[str, Any] = {"rows": int(len(frame)), "features": features}
    if scores is not None:
        profile["scores"] = _numeric_profile(pd.Series(scores, dtype="float64"), rng)
    return profile


def psi(expected: np.ndarray, actual: np.ndarray) -> float:
    """Population stability index between two share vectors over the same bins."""
    e = np.clip(np.asarray(expected, dtype="float64"), _EPS, None)
    a = np.clip(np.asarray(actual, dtype="float64"), _EPS, None)
    return float(np.sum((a - e) * np.log(a / e)))


def ks_statistic(reference_sample: np.ndarray, values: np.ndarray) -> float:
    """Two-sample Kolmogorov-Smirnov statistic: the largest gap between the two empirical CDFs.

    The reference's CDF only steps at its own distinct values u_1 < ... < u_m and the day's CDF only
    rises, so the gap is largest at some u_j, measured at u_j or just below it: m binary searches
    in the sorted day, instead of evaluating both CDFs at every value of the day."""
    ref = np.asarray(reference_sample, dtype="float64")
    new = np.sort(np.asarray(values, dtype="float64"))
    if len(ref) == 0 or len(new) == 0:
        return 0.0
    u, counts = np.unique(ref, return_counts=True)
    ref_at = np.cumsum(counts) / len(ref)  # F_ref(u_j)
    ref_below = np.concatenate([[0.0], ref_at[:-1]])  # F_ref just below u_j
    at = np.searchsorted(new, u, side="right") / len(new)
    below = np.searchsorted(new, u, side="left") / len(new)
    return float(max(np.max(np.abs(ref_at - at)), np.max(np.abs(ref_below - below))))


def drift_of(reference: dict[str, Any], values: pd.Series) -> dict[str, float | None]:
    """PSI (and KS for numeric features) of `values` against one feature's reference profile."""
    if reference["kind"] == "numeric":
        # Sorted once: the KS statistic needs it, and binning a sorted array is faster.
        present = np.sort(values.dropna().to_numpy(dtype="float64"))
        if "bin_edges" not in reference or len(present) == 0:
            return {"psi": None, "ks": None}
        edges = np.asarray(reference["bin_edges"])
        return {
            "psi": psi(reference["bin_shares"], _bin_shares(present, edges)),
            "ks": ks_statistic(np.asarray(reference["sample"]), present),
        }
    shares = _category_shares(values)
    known = set(reference["shares"]) - {OTHER}
    actual = {k: float(shares.get(k, 0.0)) for k in known}
    actual[OTHER] = float(shares[[k for k in shares.index if k not in known]].sum())
    expected = {k: reference["shares"].get(k, 0.0) for k in actual}
    keys = sorted(actual)
    return {"psi": psi(np.array([expected[k] for k in keys]), np.array([actual[k] for k in keys])), "ks": None}


def _category_shares(values: pd.Series) -> pd.Series:
    """Each category's share, missing values as MISSING, counted before turning labels into text
    (a day's million values are counted once; only the distinct labels become strings)."""
    counts = values.value_counts(dropna=False)
    labels = [MISSING if pd.isna(k) else str(k) for k in counts.index]
    return pd.Series(counts.to_numpy(), index=labels).groupby(level=0).sum() / max(len(values), 1)


def drift_status(d: dict[str, float | None], warn: dict[str, float], error: dict[str, float]) -> str:
    """ "error" if PSI or KS is above its error limit, else "warn" above its warn limit, else "ok"."""
    status = "ok"
    for level, limits in (("warn", warn), ("error", error)):
        if any((value := d.get(m)) is not None and value > limits[m] for m in ("psi", "ks") if m in limits):
            status = level
    return status


NOT_JUDGED = "not_judged"


def not_judged_features(profile: dict[str, Any], spec: PipelineSpec) -> dict[str, str]:
    """The reference's features whose per-day drift is not judged, with the reason: derived calendar
    features, features the spec sets `drift: false`, and features constant within a day in the
    reference (detected at training)."""
    off = {f.name for f in spec.features if not f.drift}
    reasons = {}
    for name, ref in profile["features"].items():
        if name in spec.derived_features:
            reasons[name] = "derived calendar feature: a day always differs from a multi-day reference"
        elif name in off:
            reasons[name] = "drift: false in the spec"
        elif ref.get("day_constant"):
            reasons[name] = (
                f"constant within a day in the training reference (top value >= {DAY_CONSTANT_SHARE:.0%} "
                "of each day's rows): one day's distribution always differs from a multi-day reference; "
                "set drift: false on the feature to say so in the spec"
            )
    return reasons


def feature_drift(
    frame: pd.DataFrame, profile: dict[str, Any], warn: dict[str, float], error: dict[str, float]
) -> pd.DataFrame:
    """One row per feature: psi, ks, and status (ok / warn / error) against the thresholds."""
    rows = []
    for name, ref in profile["features"].items():
        if name not in frame.columns:
            continue
        d = drift_of(ref, frame[name])
        rows.append(
            {
                "feature": name,
                "kind": ref["kind"],
                "psi": d["psi"],
                "ks": d["ks"],
                "status": drift_status(d, warn, error),
            }
        )
    return pd.DataFrame(rows, columns=["feature", "kind", "psi", "ks", "status"])


DRIFT_COLUMNS = ["day", "feature", "kind", "psi", "ks", "status", "reference_version"]


def drift_table(spec: PipelineSpec, frame: pd.DataFrame, day: str, reference) -> tuple[pd.DataFrame, dict[str, str]]:
    """The day's drift per judged feature, and the features not judged with the reason. A day
    with fewer than drift_min_rows rows keeps its figures, with status not_judged."""
    v = spec.validation
    if reference is None:
        return pd.DataFrame(columns=DRIFT_COLUMNS), {}
    version, profile = reference
    skipped = not_judged_features(profile, spec)
    profile = {**profile, "features": {k: f for k, f in profile["features"].items() if k not in skipped}}
    table = feature_drift(frame, profile, v.drift_warn.model_dump(), v.drift_error.model_dump())
    if len(frame) < v.drift_min_rows:
        table["status"] = NOT_JUDGED
    table.insert(0, "day", day)
    table["reference_version"] = version
    return table[DRIFT_COLUMNS], skipped
