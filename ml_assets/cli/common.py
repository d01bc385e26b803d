"""What every command shares: output, the Dagster home, which spec, which days."""

from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path

from ml_assets.core.spec import PipelineSpec
from ml_assets.io.paths import ml_assets_home
from ml_assets.io.specs import shipped_spec

PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent
# The shipped models (folders of ml_assets/defs/) and the data `ml-assets demo` lands for each.
DEMO_MODELS = ("demo", "breast_cancer", "diabetes")


def _say(msg: str) -> None:
    print(msg, flush=True)


def ensure_dagster_home() -> Path:
    """$DAGSTER_HOME, defaulting to $ML_ASSETS_HOME/dagster, holding the project's dagster.yaml."""
    home = Path(os.environ.get("DAGSTER_HOME") or ml_assets_home() / "dagster").resolve()
    home.mkdir(parents=True, exist_ok=True)
    os.environ["DAGSTER_HOME"] = str(home)
    target = home / "dagster.yaml"
    source = PROJECT_ROOT / "dagster.yaml"
    if not target.exists() and source.exists():
        shutil.copyfile(source, target)
    return home


def _spec_path(arg: str | None) -> Path:
    """A spec file, or the name of a model folder in ml_assets/defs/ (`--spec breast_cancer`)."""
    value = arg or os.environ.get("ML_ASSETS_SPEC") or "demo"
    if "/" not in value and not value.endswith((".yaml", ".yml")) and shipped_spec(value).exists():
        return shipped_spec(value)
    return Path(value)


def model_spec(args) -> PipelineSpec:
    """The model a command is about: `--model NAME` (a model of the code location, by its spec's
    name or its folder), else `--spec` (default $ML_ASSETS_SPEC, else demo)."""
    from ml_assets.io.specs import code_location_specs, load_spec

    name = getattr(args, "model", None)
    if not name:
        return load_spec(_spec_path(getattr(args, "spec", None)))
    if getattr(args, "spec", None):
        raise SystemExit("error: give --model or --spec, not both")
    found = code_location_specs()
    for where, spec in found:
        if name in (spec.name, Path(where).parent.name):
            return spec
    names = ", ".join(spec.name for _, spec in found) or "none"
    raise SystemExit(f"error: --model {name}: no such model in the code location (its models: {names})")


def last_complete_day(spec: PipelineSpec) -> dt.date:
    from ml_assets.graph.runtime.partitions import daily_partitions

    key = daily_partitions(spec).get_last_partition_key()
    if key is None:
        raise SystemExit(f"spec {spec.name}: partitions start {spec.partitions.start_date}, no complete day yet")
    return dt.date.fromisoformat(key)


def daily_partition_range(spec: PipelineSpec) -> tuple[str, str] | None:
    """(first, last) day of the spec's daily partitions, or None when no day is complete yet."""
    from ml_assets.graph.runtime.partitions import daily_partitions

    partitions = daily_partitions(spec)
    last = partitions.get_last_partition_key()
    return None if last is None else (partitions.get_first_partition_key(), last)


def _day_arg(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise SystemExit(f"error: {value!r} is not a day (YYYY-MM-DD)") from None
