"""Operating a model: the registry (`models`, `rollback`), `retention`, online `lookup`, the UIs."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from ml_assets.cli.common import PROJECT_ROOT, _say, ensure_dagster_home, last_complete_day, model_spec


def _registry(args):
    from ml_assets.io.registry import Registry, default_tracking_uri

    spec = model_spec(args)
    return Registry(default_tracking_uri(), spec.name, spec.registered_model_name)


def cmd_rollback(args) -> None:
    from ml_assets.io.registry import RegistryError

    registry = _registry(args)
    try:
        previous = registry.rollback(args.to, args.reason)
    except RegistryError as exc:
        raise SystemExit(f"error: {exc}") from None
    if previous == str(args.to):
        _say(f"{registry.model_name}: v{args.to} is already champion; nothing changed")
        return
    _say(f"{registry.model_name}: champion v{previous or '-'} -> v{args.to} ({registry.tracking_uri})")
    _say(f"The next scoring run ({registry.experiment_name}__scoring_job, or batch_predictions) uses it.")


def cmd_retention(args) -> None:
    """Plan retention and print it; without --dry-run, carry it out (files and check results, an
    observation per deleted partition in the Dagster instance, model versions)."""
    from dagster import DagsterInstance

    from ml_assets.io import retention
    from ml_assets.io.paths import storage_root
    from ml_assets.io.registry import RegistryError

    spec = model_spec(args)
    if not spec.retention.enabled:
        _say("retention is off: set retention.days and/or retention.model_version_days in the spec; nothing to do")
        return
    registry = _registry(args)
    base = storage_root() / spec.name
    try:
        decisions = retention.plan(spec, base, registry, last_complete_day(spec).isoformat())
    except RegistryError as exc:
        raise SystemExit(f"error: cannot read the registry, nothing deleted: {exc}") from None
    for line in retention.describe(decisions):
        _say(line)
    if args.dry_run:
        _say("dry run: nothing deleted")
        return
    ensure_dagster_home()
    try:
        done = retention.apply(decisions, base, registry, DagsterInstance.get().report_runless_asset_event, _say)
    except RegistryError as exc:
        raise SystemExit(f"error: stopped at a model version (everything listed before it is deleted): {exc}") from None
    _say(f"deleted {len(done)}")


def cmd_models(args) -> None:
    from ml_assets.io.registry import RegistryError

    if not (args.spec or args.model or os.environ.get("ML_ASSETS_SPEC")):
        _models_of_code_location()
        return
    registry = _registry(args)
    try:
        rows = registry.versions() if registry.exists() else None
    except RegistryError as exc:
        raise SystemExit(f"error: {exc}") from None
    if rows is None:
        _say(f"{registry.model_name}: no version registered yet at {registry.tracking_uri} (training registers one)")
        return
    _say(f"{registry.model_name} at {registry.tracking_uri}")
    _say(f"{'version':>7}  {'aliases':<20} {'created':<16}  {'window':<23}  {'fingerprint':<19}  champion history")
    for r in rows:
        t = r["tags"]
        window = f"{t.get('window_first_day', '?')}..{t.get('window_last_day', '?')}"
        note = f"{t.get('champion.set_at', '')} {t.get('champion.reason', '')}".strip()
        _say(
            f"{r['version']:>7}  {','.join(r['aliases']) or '-':<20} {r['created']:<16}  {window:<23}  "
            f"{t.get('model_fingerprint', '?'):<19}  {note[:80]}"
        )


def _models_of_code_location() -> None:
    """One line per model of the code location: its registered model, versions and champion."""
    from ml_assets.io.registry import Registry, RegistryError, default_tracking_uri
    from ml_assets.io.specs import code_location_specs

    uri = default_tracking_uri()
    found = code_location_specs()
    _say(f"{len(found)} model(s) in the code location; registry at {uri} (one model: --model NAME)")
    _say(f"{'model':<24} {'registered model':<24} {'versions':>8}  champion")
    for _, spec in found:
        registry = Registry(uri, spec.name, spec.registered_model_name)
        try:
            versions = registry.versions() if registry.exists() else []
            champion = registry.alias_version("champion") if versions else None
        except RegistryError as exc:
            _say(f"{spec.name:<24} {spec.registered_model_name:<24} {'?':>8}  error: {exc}")
            continue
        said = f"v{champion}" if champion else ("none yet" if versions else "not trained yet")
        _say(f"{spec.name:<24} {spec.registered_model_name:<24} {len(versions):>8}  {said}")


def cmd_lookup(args) -> None:
    import json

    from ml_assets.io.prediction_store import PredictionStore, PredictionStoreError

    spec = model_spec(args)
    store = PredictionStore.for_spec(spec)
    try:
        values = store.lookup_many(args.entity_ids)
        meta = store.current()
    except PredictionStoreError as exc:
        raise SystemExit(f"error: {exc}") from None
    missing = [e for e, v in zip(args.entity_ids, values, strict=True) if v is None]
    for entity, value in zip(args.entity_ids, values, strict=True):
        if value is not None:
            print(json.dumps({spec.columns.entity_id: entity, **value}))
    if missing:
        online = f"day {meta['day']} is online" if meta else "nothing is published (or it expired)"
        print(f"no prediction for {', '.join(missing)} in '{store.live}' ({online})", file=sys.stderr)
        raise SystemExit(1)


def cmd_mlflow_ui(args) -> None:
    from ml_assets.io.registry import default_tracking_uri

    uri = default_tracking_uri()
    if not uri.startswith("sqlite:"):
        raise SystemExit(f"MLFLOW_TRACKING_URI is {uri}: open that server's UI instead")
    mlflow = Path(sys.executable).parent / "mlflow"
    os.execv(
        str(mlflow), [str(mlflow), "ui", "--backend-store-uri", uri, "--host", "127.0.0.1", "--port", str(args.port)]
    )


def cmd_ui(args) -> None:
    ensure_dagster_home()
    dagster = Path(sys.executable).parent / "dagster"
    extra = args.extra[1:] if args.extra[:1] == ["--"] else args.extra
    os.execv(str(dagster), [str(dagster), "dev", "-w", str(PROJECT_ROOT / "workspace.yaml"), *extra])


def cmd_recover(args) -> None:
    """Runs whose process died (kill -9, out of memory, a reboot) are marked FAILED, their pool
    slots freed and their MLflow runs ended; what the daemon's dead_run_sensor does every 30 s."""
    from dagster import DagsterInstance

    from ml_assets.graph.context import promotion_pool
    from ml_assets.graph.runtime.dead_runs import prepare_instance
    from ml_assets.io.paths import storage_root
    from ml_assets.io.registry import default_tracking_uri

    ensure_dagster_home()
    spec = model_spec(args)
    with DagsterInstance.get() as instance:
        done = prepare_instance(instance, default_tracking_uri(), [promotion_pool(spec.name)], storage_root() / "_runs")
    for line in done:
        _say(f"recovered: {line}")
    if not done:
        _say("nothing to recover: every run in progress has a live process")


def cmd_reproduce(args) -> None:
    """Retrain a registered version and compare its holdout predictions byte for byte; exit 1 if they differ."""
    from ml_assets.io.paths import storage_root
    from ml_assets.io.registry import Registry, RegistryError, default_tracking_uri
    from ml_assets.io.reproduce import ReproduceError, reproduce_version

    spec = model_spec(args)
    registry = Registry(default_tracking_uri(), spec.name, spec.registered_model_name)
    try:
        outcome = reproduce_version(spec, storage_root() / spec.name, registry, args.version, say=_say)
    except (ReproduceError, RegistryError) as exc:
        raise SystemExit(f"error: {exc}") from None
    _say(outcome.summary())
    if not outcome.reproduced:
        raise SystemExit(1)
