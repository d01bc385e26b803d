"""Models as skops files, never pickle: loading a model never runs code from the file."""

from __future__ import annotations

import json
import os
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ml_assets.core.training import ModelBundle


# -- models: skops, never pickle ------------------------------------------------------------
# skops refuses to load any type not listed as trusted. Beyond skops' own defaults (builtins'
# containers, numpy arrays) we trust exactly:
# * the types that the shipped pipelines hold (trusted_types.json: the preprocessing, the shipped
#   specs' estimators and what they hold inside; a test regenerates it and fails when it differs);
# * the estimator classes a spec may name (io/estimators.json), as classes;
# * what $ML_ASSETS_TRUSTED_TYPES adds on purpose (comma-separated dotted names): the visible
#   opt-in for the inner types of an estimator the shipped specs do not use.
# No functions, no other classes: a tampered model file cannot run code on load.
TRUSTED_FILE = Path(__file__).with_name("trusted_types.json")
TRUSTED_ENV = "ML_ASSETS_TRUSTED_TYPES"


class UntrustedModelError(ValueError):
    pass


@cache
def _shipped_trusted() -> frozenset[str]:
    from ml_assets.io import estimators

    return frozenset(json.loads(TRUSTED_FILE.read_text())) | frozenset(estimators.allowed())


def trusted_types() -> frozenset[str]:
    extra = {t.strip() for t in os.environ.get(TRUSTED_ENV, "").split(",") if t.strip()}
    return _shipped_trusted() | extra


def shipped_pipeline_types() -> list[str]:
    """The types skops does not trust by default in every shipped spec's candidates, fitted on a
    small synthetic frame (numbers with gaps, categories): what trusted_types.json holds."""
    import numpy as np
    import pandas as pd
    import skops.io as sio

    from ml_assets.core.training import build_pipeline
    from ml_assets.io.specs import load_spec, model_folders

    rng = np.random.default_rng(0)
    found: set[str] = set()
    for folder in model_folders():
        spec = load_spec(folder.parent / "spec.yaml")
        n = 200
        frame = pd.DataFrame(
            {
                **{c: np.where(rng.random(n) < 0.1, np.nan, rng.normal(size=n)) for c in spec.numeric_features},
                **{
                    c: rng.choice(np.array(["a", "b", "c", None], dtype=object), size=n)
                    for c in spec.categorical_features
                },
            }
        )
        label = (rng.random(n) < 0.4).astype(float) if spec.is_classification else rng.normal(size=n)
        for candidate in spec.model.candidates:
            found |= set(sio.get_untrusted_types(data=sio.dumps(build_pipeline(spec, candidate).fit(frame, label))))
    return sorted(found)


def untrusted_types_or_raise(data: bytes | None, source: str, declared: list[str] | None = None) -> list[str]:
    """The types skops must be told to trust for `data` (or the `declared` list), if our policy
    allows every one of them; else `UntrustedModelError` naming the refused types."""
    import skops.io as sio

    types = list(declared or []) if data is None else sio.get_untrusted_types(data=data)
    trusted = trusted_types()
    refused = [t for t in types if t not in trusted]
    if refused:
        raise UntrustedModelError(
            f"{source}: model holds types that are not trusted: {refused}. Only the types of the shipped pipelines and "
            f"the allowed estimator classes load; to trust more on purpose, list them in ${TRUSTED_ENV} "
            "(comma-separated)"
        )
    return types


def model_bytes(bundle: ModelBundle) -> bytes:
    import skops.io as sio

    payload = {
        "pipelines": bundle.pipelines,
        "selected": bundle.selected,
        "version": bundle.version,
        "metrics": bundle.metrics,
        "baseline_metrics": bundle.baseline_metrics,
        "info": bundle.info,
    }
    return sio.dumps(payload)


def load_model_bytes(data: bytes, source: str) -> ModelBundle:
    import skops.io as sio

    from ml_assets.core.training import ModelBundle

    payload = sio.loads(data, trusted=untrusted_types_or_raise(data, source))
    return ModelBundle(**payload)


if __name__ == "__main__":
    TRUSTED_FILE.write_text(json.dumps(shipped_pipeline_types(), indent=1) + "\n")
    print(f"wrote {TRUSTED_FILE}")
