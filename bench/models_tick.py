"""One daemon-like tick over a code location of many models (run by bench/models.py in a fresh
process with $ML_ASSETS_DEFS set): land a day for the first model, then evaluate every sensor and
every model's automation condition sensor once. Prints one JSON line."""

from __future__ import annotations

import datetime as dt
import json
import time

from dagster import (
    AutomationConditionSensorDefinition,
    DagsterInstance,
    build_sensor_context,
    evaluate_automation_conditions,
)

from ml_assets.core.demo_data import generate_day
from ml_assets.definitions import defs as load_defs
from ml_assets.graph.context import model_of
from ml_assets.graph.runtime.partitions import daily_partitions
from ml_assets.io.landing import write_landing_file
from ml_assets.io.paths import landing_root
from ml_assets.io.specs import load_spec, models_root


def main() -> None:
    defs = load_defs()
    repo = defs.get_repository_def()
    first = sorted({k.path[0] for k in defs.resolve_asset_graph().get_all_asset_keys()})[0]
    with DagsterInstance.get() as instance:
        # A first tick sets every sensor's cursor; then one model's new day lands.
        cursors = {}
        sensors = [s for s in repo.sensor_defs if s.name == "landing_sensor" or s.name.endswith("__labels_sensor")]
        for s in sensors:
            cursors[s.name] = s(build_sensor_context(instance=instance, definitions=defs)).cursor
        spec = load_spec(models_root() / first / "spec.yaml")
        day = dt.date.fromisoformat(daily_partitions(spec).get_last_partition_key())
        write_landing_file(landing_root(spec), day, "part-0", generate_day(day, rows=200), spec.landing.format)

        started = time.perf_counter()
        requesting = set()
        for s in sensors:
            result = s(build_sensor_context(instance=instance, definitions=defs, cursor=cursors[s.name]))
            for request in result.run_requests or []:
                # The landing sensor's runs name their models; a labels sensor is one model's.
                requesting |= set(request.tags.get("ml_assets/models", model_of(s.name) or "").split(","))
        automation = [s for s in repo.sensor_defs if isinstance(s, AutomationConditionSensorDefinition)]
        for s in automation:
            evaluated = evaluate_automation_conditions(defs, instance, asset_selection=s.asset_selection)
            requesting |= {r.key.path[0] for r in evaluated.results if r.true_subset.size}
        seconds = time.perf_counter() - started
    print(
        json.dumps(
            {
                "tick_seconds": seconds,
                "sensors": len(sensors) + len(automation) + 1,
                "requesting_models": sorted(requesting),
            }
        )
    )


if __name__ == "__main__":
    main()
