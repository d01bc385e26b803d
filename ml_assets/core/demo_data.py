"""Deterministic synthetic data for the demo spec (`ml_assets/defs/demo/spec.yaml`): customer churn.

Each day's rows depend only on (seed, day, drift settings), so regenerating any day gives
the same file, whatever range is generated. Realistic on purpose: mixed numeric and
categorical features, missing values, an imbalanced label (~10 % churn), fewer events
and more churn at weekends, and optional drift from a given day onward.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

PLANS = ["basic", "standard", "premium"]
REGIONS = ["north", "south", "east", "west", "central"]
DEVICES = ["android", "ios", "web"]


def generate_day(
    day: dt.date,
    rows: int = 2000,
    seed: int = 7,
    drift_from: dt.date | None = None,
    drift_strength: float = 1.0,
    flip_labels_from: dt.date | None = None,
) -> pd.DataFrame:
    """`flip_labels_from`: from this day on the label is inverted (the world changed: what the model
    learned now predicts the opposite), which realized quality and its check must catch."""
    rng = np.random.default_rng([seed, day.toordinal()])
    weekend = day.weekday() >= 5
    n = int(rows * (0.7 if weekend else 1.0))
    drift = drift_strength if drift_from is not None and day >= drift_from else 0.0

    plan_p = np.array([0.5, 0.35, 0.15]) if not drift else np.array([0.25, 0.35, 0.40])
    plan = rng.choice(PLANS, size=n, p=plan_p)
    region = rng.choice(REGIONS, size=n, p=[0.3, 0.25, 0.2, 0.15, 0.1])
    device = rng.choice(DEVICES, size=n, p=[0.45, 0.35, 0.2]).astype(object)
    device[rng.random(n) < 0.05] = None  # unknown device

    tenure_days = rng.gamma(shape=2.0, scale=180.0, size=n).round()
    base_charge = np.select([plan == "basic", plan == "standard"], [20.0, 45.0], 80.0)
    monthly_charges = np.clip(base_charge * (1 + 0.4 * drift) + rng.normal(0, 6, n), 1.0, None).round(2)
    support_calls = rng.poisson(0.8 + 0.6 * drift, size=n).astype(float)
    last_login_days = rng.exponential(6.0, size=n).round(1)
    last_login_days[rng.random(n) < 0.12] = np.nan  # never logged in on this device

    logit = (
        -2.6
        - 0.0025 * tenure_days
        + 0.018 * (monthly_charges - 40)
        + 0.45 * support_calls
        + 0.07 * np.nan_to_num(last_login_days, nan=15.0)
        + np.where(plan == "premium", -0.5, 0.0)
        + np.where(region == "central", 0.4, 0.0)
        + (0.3 if weekend else 0.0)
    )
    churned = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    if flip_labels_from is not None and day >= flip_labels_from:
        churned = 1 - churned

    start = pd.Timestamp(day, tz="UTC")
    seconds = np.sort(rng.integers(0, 86400, size=n))
    ids = rng.choice(np.arange(1, 5_000_000), size=n, replace=False)
    return pd.DataFrame(
        {
            "customer_id": [f"C{i:07d}" for i in ids],
            "event_time": (start + pd.to_timedelta(seconds, unit="s")).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "tenure_days": tenure_days,
            "monthly_charges": monthly_charges,
            "support_calls": support_calls,
            "last_login_days": last_login_days,
            "plan": plan,
            "region": region,
            "device": device,
            "churned": churned,
        }
    )


# Share of a day's labels that arrive 1, 2 and 3 days after the day (delayed labels).
LABEL_DELAYS = {1: 0.6, 2: 0.25, 3: 0.15}


def delayed_labels(
    day_rows: pd.DataFrame, day: dt.date, seed: int = 7, max_delay_days: int = 3
) -> dict[dt.date, pd.DataFrame]:
    """The day's labels as they would arrive later: {arrival day: customer_id, event_time, churned}.
    Delays of 1-3 days (capped at `max_delay_days`), deterministic per (seed, day)."""
    rng = np.random.default_rng([seed, day.toordinal(), 1])
    delays = rng.choice(list(LABEL_DELAYS), size=len(day_rows), p=list(LABEL_DELAYS.values()))
    delays = np.minimum(delays, max_delay_days)
    labels = day_rows[["customer_id", "event_time", "churned"]]
    return {day + dt.timedelta(days=int(d)): labels[delays == d].reset_index(drop=True) for d in sorted(set(delays))}


def cut_into_days(
    frame: pd.DataFrame, last_day: dt.date, days: int, seed: int, id_column: str, time_column: str
) -> dict[dt.date, pd.DataFrame]:
    """Spread a static table over `days` consecutive days ending `last_day`, adding an id and event time.

    Used to run bundled real datasets (scikit-learn's) through the landing contract.
    """
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(frame))
    chunks = np.array_split(order, days)
    out = {}
    for i, chunk in enumerate(chunks):
        day = last_day - dt.timedelta(days=days - 1 - i)
        part = frame.iloc[np.sort(chunk)].copy()
        seconds = np.sort(rng.integers(0, 86400, size=len(part)))
        part.insert(
            0,
            time_column,
            (pd.Timestamp(day, tz="UTC") + pd.to_timedelta(seconds, unit="s")).strftime("%Y-%m-%dT%H:%M:%SZ"),
        )
        part.insert(0, id_column, [f"R{j:06d}" for j in part.index])
        out[day] = part.reset_index(drop=True)
    return out


def sklearn_dataset(name: str) -> pd.DataFrame:
    """A real tabular dataset that ships inside scikit-learn (no download): 'breast_cancer' or 'diabetes'."""
    from sklearn import datasets

    loaders = {"breast_cancer": datasets.load_breast_cancer, "diabetes": datasets.load_diabetes}
    if name not in loaders:
        raise ValueError(f"unknown bundled dataset {name!r}; choose one of {sorted(loaders)}")
    bunch = loaders[name](as_frame=True)
    frame = bunch.frame.copy()
    frame.columns = [c.replace(" ", "_") for c in frame.columns]
    if name == "diabetes":
        # 'sex' is a two-valued code in the bundled data: treat it as the category it is.
        frame["sex"] = np.where(frame["sex"] > 0, "a", "b")
    return frame


def landed_day(day: dt.date, spec, rows: int = 2000, seed: int = 7) -> pd.DataFrame:
    """A generated day as `raw_data` holds it: every value read as text, as from a CSV landing file,
    then typed by the spec's schema (`enforce_schema`)."""
    from ml_assets.core.schema import enforce_schema

    raw = generate_day(day, rows=rows, seed=seed)
    raw = raw.astype({c: "string" for c in raw.columns}).astype(object)
    raw = raw.map(lambda v: None if v is pd.NA else v)
    return enforce_schema(raw, spec, f"generated {day}")
