"""The one feature module: raw rows -> model-ready feature rows.

Both training and batch scoring read the `features` asset that this function builds,
so the two cannot skew. Everything here is row-wise and stateless: statistics that
must be learned (imputation, scaling, encoding) live in the model's Pipeline instead.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ml_assets.core.spec import PipelineSpec

_DAY_NAMES = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]


def build_features(raw: pd.DataFrame, spec: PipelineSpec) -> pd.DataFrame:
    cols = spec.columns
    out = pd.DataFrame({cols.entity_id: raw[cols.entity_id], cols.event_time: raw[cols.event_time]})
    for feature in spec.features:
        values = raw[feature.name]
        if feature.transform == "log1p":
            # Negative inputs are clipped to 0: log1p is meant for counts and amounts.
            values = np.log1p(values.clip(lower=0))
        out[feature.name] = values
    local_time = raw[cols.event_time].dt.tz_convert(spec.partitions.timezone)
    for name in spec.derived_features:
        if name == "day_of_week":
            out[name] = local_time.dt.dayofweek.map(lambda d: _DAY_NAMES[d]).astype("object")
        elif name == "hour_of_day":
            out[name] = local_time.dt.hour.astype("float64")
        elif name == "month":
            out[name] = local_time.dt.month.map(lambda m: f"{m:02d}").astype("object")
    out[cols.label] = raw[cols.label]
    return out.reset_index(drop=True)
