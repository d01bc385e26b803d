"""The estimator table a spec's candidates are checked against (`estimators.json`, generated from
the installed scikit-learn by `ml_assets.core.estimators.generate`). Regenerate it after a
scikit-learn upgrade: `uv run python -m ml_assets.io.estimators`."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from ml_assets.core.estimators import Table, generate

FILE = Path(__file__).with_name("estimators.json")


@cache
def allowed() -> Table:
    """{"sklearn.<package>.<Class>": {"kinds": ["classifier"|"regressor", ...], "params": [...]}}"""
    return json.loads(FILE.read_text())


if __name__ == "__main__":
    FILE.write_text(json.dumps(generate(), indent=1) + "\n")
    print(f"wrote {FILE} ({len(allowed.__wrapped__())} estimators)")
