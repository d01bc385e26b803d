"""The daily update without Dagster: the same core functions `scoring`'s assets call, from a plain
script (the comparison point of the orchestration benchmark). One day: landing files -> schema
-> raw_data Parquet -> features -> features Parquet -> champion from the registry -> predictions
Parquet (streamed, as the asset does), with the same checks the Dagster side runs on these
three assets (the Great Expectations suites, feature drift and prediction drift against the
champion's training reference).

    python -m bench.plain_daily <day> <output folder>
"""

from __future__ import annotations

import sys


def main(day: str, out: str) -> None:
    import os

    import pandas as pd
    from upath import UPath

    from ml_assets.core.expectations import (
        feature_types,
        features_suite,
        raw_suite,
        raw_types,
        statistics_suite,
        validate,
    )
    from ml_assets.core.features import build_features
    from ml_assets.core.profile import drift_of, feature_drift
    from ml_assets.core.schema import enforce_schema
    from ml_assets.core.scoring import score_batches
    from ml_assets.io.files import atomic_write_bytes, parquet_bytes
    from ml_assets.io.landing import list_landing_files, read_landing_file
    from ml_assets.io.parquet_parts import ParquetParts, write_parquet_parts
    from ml_assets.io.paths import landing_root
    from ml_assets.io.registry import Registry, default_tracking_uri
    from ml_assets.io.specs import load_spec

    spec = load_spec(os.environ["ML_ASSETS_SPEC"])
    base = UPath(out)
    files, _ = list_landing_files(landing_root(spec), day, spec.landing.format)
    raw = pd.concat(
        [enforce_schema(read_landing_file(f, spec.landing.format), spec, str(f)) for f in files], ignore_index=True
    )
    atomic_write_bytes(base / "raw_data" / f"{day}.parquet", parquet_bytes(raw))
    validate(raw, raw_suite(spec), raw_types(spec))
    feats = build_features(raw, spec)
    atomic_write_bytes(base / "features" / f"{day}.parquet", parquet_bytes(feats))
    registry = Registry(default_tracking_uri(), spec.name, spec.registered_model_name)
    _, profile = registry.champion_profile()
    validate(feats, features_suite(spec), feature_types(spec))
    validate(feats, statistics_suite(spec, profile))
    feature_drift(feats, profile, spec.validation.drift_warn.model_dump(), spec.validation.drift_error.model_dump())
    champion = registry.champion()
    features = ParquetParts(base / "features" / f"{day}.parquet")
    write_parquet_parts(
        base / "batch_predictions" / f"{day}.parquet",
        score_batches(champion.pipeline, champion.version, features.batches(), spec),
    )
    drift_of(profile["scores"], pd.read_parquet(base / "batch_predictions" / f"{day}.parquet")["score"])


if __name__ == "__main__":
    main(*sys.argv[1:3])
