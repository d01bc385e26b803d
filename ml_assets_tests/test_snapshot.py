"""A snapshot of the code location's definitions: every change to the graph is a visible diff in review.

Keys, groups, partitions, code versions, checks, automation conditions, freshness policies, jobs,
sensors and schedules of the shipped models, as JSON. After an intended change, rewrite it with
`ML_ASSETS_UPDATE_SNAPSHOT=1 uv run pytest ml_assets_tests/test_snapshot.py` and commit the diff.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

SNAPSHOT = Path(__file__).parent / "snapshots" / "definitions.json"


def _partitions(defn) -> str | None:
    if defn is None:
        return None
    return f"daily from {defn.start.date().isoformat()} ({defn.timezone})"


def _freshness(policy) -> dict | None:
    if policy is None:
        return None
    return {
        k: str(getattr(policy, k).to_timedelta()) if getattr(policy, k, None) is not None else None
        for k in ("fail_window", "warn_window")
        if hasattr(policy, k)
    }


def describe(defs) -> dict:
    graph = defs.resolve_asset_graph()
    assets = {}
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        checks = sorted(f"{c.name}{' (blocking)' if graph.get_check_spec(c).blocking else ''}" for c in node.check_keys)
        assets[key.to_user_string()] = {
            "group": node.group_name,
            "partitions": _partitions(node.partitions_def),
            "code_version": node.code_version,
            "checks": checks,
            "automation": node.automation_condition.get_label() if node.automation_condition else None,
            "freshness": _freshness(node.freshness_policy),
        }
    repo = defs.get_repository_def()
    jobs = {
        j.name: sorted(k.to_user_string() for k in (j.asset_layer.executable_asset_keys if j.asset_layer else []))
        for j in sorted(repo.get_all_jobs(), key=lambda j: j.name)
        if not j.name.startswith("__")
    }
    sensors = {
        s.name: {"status": s.default_status.value, "interval_seconds": s.minimum_interval_seconds}
        for s in sorted(repo.sensor_defs, key=lambda s: s.name)
    }
    schedules = {
        s.name: {"cron": s.cron_schedule, "job": s.job_name, "status": s.default_status.value}
        for s in sorted(repo.schedule_defs, key=lambda s: s.name)
    }
    return {"assets": assets, "jobs": jobs, "sensors": sensors, "schedules": schedules}


def test_definitions_match_the_snapshot(home):
    from ml_assets.definitions import defs

    current = describe(defs())
    text = json.dumps(current, indent=1, sort_keys=True) + "\n"
    if os.environ.get("ML_ASSETS_UPDATE_SNAPSHOT"):
        SNAPSHOT.parent.mkdir(exist_ok=True)
        SNAPSHOT.write_text(text)
    assert SNAPSHOT.exists(), f"no snapshot yet: run with ML_ASSETS_UPDATE_SNAPSHOT=1 to write {SNAPSHOT}"
    committed = json.loads(SNAPSHOT.read_text())
    changed = sorted(
        f"{section}: {name}"
        for section in current
        for name in set(current[section]) | set(committed.get(section, {}))
        if current[section].get(name) != committed.get(section, {}).get(name)
    )
    assert not changed, (
        "the definitions differ from ml_assets_tests/snapshots/definitions.json in: "
        + ", ".join(changed[:20])
        + ". If intended: ML_ASSETS_UPDATE_SNAPSHOT=1 uv run pytest ml_assets_tests/test_snapshot.py, and commit the "
        "diff."
    )


def test_editing_wiring_changes_no_code_version(home, monkeypatch):
    """Code versions hash the spec sections and the core code an asset calls: a comment added to
    every Dagster wiring module (as a move or a reformat would change them) leaves every code
    version as it was, and the same comment in a core module it calls changes that asset's."""
    from pathlib import Path as _Path

    from ml_assets import definitions as location
    from ml_assets.definitions import defs
    from ml_assets.graph.runtime import versions

    def code_versions() -> dict[str, str]:
        versions._module_source_hash.cache_clear()
        location._BUILT.clear()  # built once per process for the same specs: the code changes here
        graph = defs().resolve_asset_graph()
        return {k.to_user_string(): graph.get(k).code_version for k in graph.get_all_asset_keys()}

    before = code_versions()
    read_text = _Path.read_text

    def edited(prefix: str):
        def read(self, *args, **kwargs):
            text = read_text(self, *args, **kwargs)
            return text + "\n# edited\n" if str(self).startswith(str(SNAPSHOT.parents[2] / prefix)) else text

        return read

    monkeypatch.setattr(_Path, "read_text", edited("ml_assets/graph"))
    assert code_versions() == before
    monkeypatch.setattr(_Path, "read_text", edited("ml_assets/core/features.py"))
    changed = {k for k, v in code_versions().items() if v != before[k]}
    assert changed and all(k.endswith(("/features", "/feature_drift")) for k in changed), changed
    versions._module_source_hash.cache_clear()
