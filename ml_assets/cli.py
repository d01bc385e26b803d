"""`ml-assets`: what Dagster's own CLI does not do.

    ml-assets demo [--dataset demo|diabetes|breast_cancer] [--days N] [--rows-per-day N]
    ml-assets generate [--days N] [--rows-per-day N] [--drift-from DAY] [--flip-labels-from DAY] [--last-day DAY]
    ml-assets land-sklearn diabetes|breast_cancer [--days N]
    ml-assets validate-spec [PATH]
    ml-assets paths
    ml-assets rollback --to VERSION --reason TEXT
    ml-assets models
    ml-assets retention [--dry-run]
    ml-assets mlflow-ui [--port 5000]
    ml-assets ui

Everything runs on the embedded default unless the environment says otherwise:
$ML_ASSETS_HOME (default ./.ml_assets) holds landing files, assets, reports and the Dagster
instance ($DAGSTER_HOME, default $ML_ASSETS_HOME/dagster).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import sys
from pathlib import Path

from ml_assets.core.spec import PipelineSpec, SpecError, load_spec
from ml_assets.storage import ml_assets_home

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SPECS = PROJECT_ROOT / "specs"
DATASETS = {"demo": "demo.yaml", "diabetes": "diabetes.yaml", "breast_cancer": "breast_cancer.yaml"}


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
    return Path(arg or os.environ.get("ML_ASSETS_SPEC") or SPECS / "demo.yaml")


def last_complete_day(spec: PipelineSpec) -> dt.date:
    from ml_assets.defs.assets import daily_partitions

    key = daily_partitions(spec).get_last_partition_key()
    if key is None:
        raise SystemExit(f"spec {spec.name}: partitions start {spec.partitions.start_date}, no complete day yet")
    return dt.date.fromisoformat(key)


def generate_demo(spec: PipelineSpec, days: int, rows_per_day: int, last_day: dt.date,
                  drift_from: dt.date | None, seed: int = 7, flip_labels_from: dt.date | None = None) -> list[str]:
    """Landing files for `days` days ending `last_day` (and their delayed labels, see write_demo_days)."""
    dates = [last_day - dt.timedelta(days=days - 1 - i) for i in range(days)]
    return write_demo_days(spec, dates, rows_per_day, seed=seed, drift_from=drift_from, flip_labels_from=flip_labels_from,
                           labels_until=last_day + dt.timedelta(days=1))


def write_demo_days(spec: PipelineSpec, dates: list[dt.date], rows_per_day: int, seed: int = 7,
                    drift_from: dt.date | None = None, flip_labels_from: dt.date | None = None,
                    labels_until: dt.date | None = None) -> list[str]:
    """Demo landing files for `dates`; with a `labels` section in the spec, also their delayed label
    files (arriving 1-3 days after their day), for arrival days up to `labels_until` (None: all)."""
    from ml_assets.core.demo_data import delayed_labels, generate_day
    from ml_assets.storage import labels_root, landing_root, write_landing_file

    landing = landing_root(spec)
    written = []
    for day in dates:
        df = generate_day(day, rows=rows_per_day, seed=seed, drift_from=drift_from, flip_labels_from=flip_labels_from)
        written.append(str(write_landing_file(landing, day, "events", df, spec.landing.format)))
        if spec.labels is not None:
            # One file per (arrival day, event day): regenerating a day rewrites its own files only.
            for arrived, labels in delayed_labels(df, day, seed, spec.labels.max_delay_days).items():
                if labels_until is None or arrived <= labels_until:
                    write_landing_file(labels_root(spec), arrived, f"labels-{day}", labels, spec.labels.format)
    return written


def land_sklearn(spec: PipelineSpec, dataset: str, days: int, last_day: dt.date) -> list[str]:
    from ml_assets.core.demo_data import cut_into_days, sklearn_dataset
    from ml_assets.storage import landing_root, write_landing_file

    frames = cut_into_days(
        sklearn_dataset(dataset), last_day, days, seed=spec.seed,
        id_column=spec.columns.entity_id, time_column=spec.columns.event_time,
    )
    landing = landing_root(spec)
    return [str(write_landing_file(landing, day, "part-0", df, spec.landing.format)) for day, df in frames.items()]


def run_graph(spec_path: Path, days: list[str]) -> dict:
    """Materialize the whole graph through the persistent instance: ingest every day, train on the
    window ending the last day, score the last day. Returns paths of what was written."""
    from dagster import DagsterInstance

    from ml_assets.runner import JobFailed, run_days
    from ml_assets.storage import storage_root

    spec = load_spec(spec_path)
    steps = [("ingest_job", d) for d in days] + [("training_job", days[-1]), ("scoring_job", days[-1]), ("monitoring_job", None)]

    def progress(i, n, job_name, day, result, took):
        what = f"{job_name} {day}" if day else job_name
        _say(f"[{i}/{n}] {what}: {'ok' if result.success else 'FAILED'} ({took:.1f} s, run {result.run_id[:8]})")
        if result.success and job_name == "training_job":
            for event in result.get_asset_materialization_events():
                if event.asset_key.to_user_string() == "model":
                    meta = event.materialization.metadata
                    _say(f"  model {meta['model_version'].value}: selected {meta['selected'].value}; " + ", ".join(
                        f"{k} {v.value:.4f}" for k, v in meta.items() if k.startswith(("holdout_", "baseline_"))))
                    _say(f"  {meta['promotion'].value}")

    try:
        run_days(spec, str(spec_path), steps, DagsterInstance.get(), progress=progress)
    except JobFailed as exc:
        _say(str(exc))
        raise SystemExit(1) from None
    from ml_assets.registry import CHAMPION, Registry, default_tracking_uri

    base = storage_root() / spec.name
    registry = Registry(default_tracking_uri(), spec.name, spec.registered_model_name)
    champion = registry.alias_version(CHAMPION)
    return {
        "predictions": str(base / "batch_predictions" / f"{days[-1]}.parquet"),
        "report": str(base / "evaluation_report" / "report.html"),
        "monitoring": str(base / "monitoring_report" / "report.html"),
        "registry": f"{registry.model_name} v{champion} is champion, at {registry.tracking_uri}",
    }


def cmd_demo(args) -> None:
    ensure_dagster_home()
    spec_path = SPECS / DATASETS[args.dataset] if args.spec is None else Path(args.spec)
    spec = load_spec(spec_path)
    days = args.days or spec.training.window_days
    if days < spec.training.window_days:
        raise SystemExit(f"--days {days} is shorter than the training window ({spec.training.window_days} days)")
    last = last_complete_day(spec)
    _say(f"ML_ASSETS_HOME={ml_assets_home()}  DAGSTER_HOME={os.environ['DAGSTER_HOME']}  spec={spec_path}")
    if args.dataset == "demo":
        files = generate_demo(spec, days, args.rows_per_day, last, drift_from=None)
    else:
        files = land_sklearn(spec, args.dataset, days, last)
    _say(f"landed {len(files)} daily file(s) under {Path(files[0]).parent.parent}")
    day_keys = [(last - dt.timedelta(days=days - 1 - i)).isoformat() for i in range(days)]
    paths = run_graph(spec_path, day_keys)
    _say("\nDone. Dagster runs: `ml-assets ui`; MLflow runs and the model registry: `ml-assets mlflow-ui`.")
    _say(f"  predictions for {day_keys[-1]}: {paths['predictions']}")
    _say(f"  evaluation report:         {paths['report']}")
    _say(f"  monitoring page:           {paths['monitoring']}")
    _say(f"  registered model:          {paths['registry']}")


def cmd_generate(args) -> None:
    spec = load_spec(_spec_path(args.spec))
    last = dt.date.fromisoformat(args.last_day) if args.last_day else last_complete_day(spec)
    drift = dt.date.fromisoformat(args.drift_from) if args.drift_from else None
    flip = dt.date.fromisoformat(args.flip_labels_from) if args.flip_labels_from else None
    files = generate_demo(spec, args.days, args.rows_per_day, last, drift, flip_labels_from=flip)
    _say(f"wrote {len(files)} file(s): {files[0]} .. {files[-1]}")
    if spec.labels is not None:
        from ml_assets.storage import labels_root

        _say(f"wrote delayed label files under {labels_root(spec)} (1-3 days after each day, up to {last + dt.timedelta(days=1)})")


def cmd_land_sklearn(args) -> None:
    spec = load_spec(Path(args.spec) if args.spec else SPECS / DATASETS[args.dataset])
    last = dt.date.fromisoformat(args.last_day) if args.last_day else last_complete_day(spec)
    files = land_sklearn(spec, args.dataset, args.days, last)
    _say(f"wrote {len(files)} file(s): {files[0]} .. {files[-1]}")


def cmd_validate_spec(args) -> None:
    path = _spec_path(args.path)
    spec = load_spec(path)
    _say(
        f"{path}: ok: pipeline '{spec.name}', {spec.task.type}, {len(spec.features)} features "
        f"(+{len(spec.derived_features)} derived), {len(spec.model.candidates)} candidates, "
        f"metric {spec.model.metric}, window {spec.training.window_days} d / holdout {spec.training.holdout_days} d"
    )


def cmd_paths(args) -> None:
    from ml_assets.storage import landing_root, storage_root

    spec_path = _spec_path(None)
    spec = load_spec(spec_path)
    _say(f"spec:          {spec_path}")
    _say(f"ML_ASSETS_HOME {ml_assets_home()}")
    _say(f"DAGSTER_HOME   {os.environ.get('DAGSTER_HOME') or ml_assets_home() / 'dagster'}")
    _say(f"landing:       {landing_root(spec)}")
    _say(f"assets:        {storage_root() / spec.name}")


def _registry(spec_arg: str | None):
    from ml_assets.registry import Registry, default_tracking_uri

    spec = load_spec(_spec_path(spec_arg))
    return Registry(default_tracking_uri(), spec.name, spec.registered_model_name)


def cmd_rollback(args) -> None:
    from ml_assets.registry import RegistryError

    registry = _registry(args.spec)
    try:
        previous = registry.rollback(args.to, args.reason)
    except RegistryError as exc:
        raise SystemExit(f"error: {exc}") from None
    if previous == str(args.to):
        _say(f"{registry.model_name}: v{args.to} is already champion; nothing changed")
        return
    _say(f"{registry.model_name}: champion v{previous or '-'} -> v{args.to} ({registry.tracking_uri})")
    _say("The next scoring run (scoring_job, or batch_predictions) uses it.")


def cmd_retention(args) -> None:
    """Plan retention and print it; without --dry-run, carry it out (files and check results, an
    observation per deleted partition in the Dagster instance, model versions)."""
    from dagster import DagsterInstance

    from ml_assets import retention
    from ml_assets.registry import RegistryError
    from ml_assets.storage import storage_root

    spec = load_spec(_spec_path(args.spec))
    if not spec.retention.enabled:
        _say("retention is off: set retention.days and/or retention.model_version_days in the spec; nothing to do")
        return
    registry = _registry(args.spec)
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
    from ml_assets.registry import RegistryError

    registry = _registry(args.spec)
    try:
        rows = registry.versions()
    except RegistryError as exc:
        raise SystemExit(f"error: {exc}") from None
    _say(f"{registry.model_name} at {registry.tracking_uri}")
    _say(f"{'version':>7}  {'aliases':<20} {'created':<16}  {'window':<23}  {'fingerprint':<19}  champion history")
    for r in rows:
        t = r["tags"]
        window = f"{t.get('window_first_day', '?')}..{t.get('window_last_day', '?')}"
        note = f"{t.get('champion.set_at', '')} {t.get('champion.reason', '')}".strip()
        _say(f"{r['version']:>7}  {','.join(r['aliases']) or '-':<20} {r['created']:<16}  {window:<23}  "
             f"{t.get('model_fingerprint', '?'):<19}  {note[:80]}")


def cmd_lookup(args) -> None:
    import json

    from ml_assets.prediction_store import PredictionStore, PredictionStoreError

    spec = load_spec(_spec_path(args.spec))
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
    from ml_assets.registry import default_tracking_uri

    uri = default_tracking_uri()
    if not uri.startswith("sqlite:"):
        raise SystemExit(f"MLFLOW_TRACKING_URI is {uri}: open that server's UI instead")
    mlflow = Path(sys.executable).parent / "mlflow"
    os.execv(str(mlflow), [str(mlflow), "ui", "--backend-store-uri", uri, "--host", "127.0.0.1", "--port", str(args.port)])


def cmd_ui(args) -> None:
    ensure_dagster_home()
    dagster = Path(sys.executable).parent / "dagster"
    extra = args.extra[1:] if args.extra[:1] == ["--"] else args.extra
    os.execv(str(dagster), [str(dagster), "dev", "-w", str(PROJECT_ROOT / "workspace.yaml"), *extra])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="ml-assets", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("demo", help="generate demo data and materialize the whole graph (runs show in the UI)")
    p.add_argument("--dataset", choices=sorted(DATASETS), default="demo")
    p.add_argument("--spec", help="spec file (default: the dataset's spec in specs/)")
    p.add_argument("--days", type=int, help="days of data (default: the spec's training window)")
    p.add_argument("--rows-per-day", type=int, default=2000)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("generate", help="write demo landing files only")
    p.add_argument("--spec", help="spec file (default: $ML_ASSETS_SPEC or specs/demo.yaml)")
    p.add_argument("--days", type=int, default=28)
    p.add_argument("--rows-per-day", type=int, default=2000)
    p.add_argument("--last-day", help="YYYY-MM-DD (default: the newest complete day)")
    p.add_argument("--drift-from", help="YYYY-MM-DD: inject drift from this day onward")
    p.add_argument("--flip-labels-from", help="YYYY-MM-DD: invert the label from this day onward (realized quality drops)")
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser("land-sklearn", help="cut a dataset bundled with scikit-learn into daily landing files")
    p.add_argument("dataset", choices=["breast_cancer", "diabetes"])
    p.add_argument("--spec", help="spec file (default: specs/<dataset>.yaml)")
    p.add_argument("--days", type=int, default=14)
    p.add_argument("--last-day", help="YYYY-MM-DD (default: the newest complete day)")
    p.set_defaults(func=cmd_land_sklearn)

    p = sub.add_parser("validate-spec", help="load and validate a pipeline spec")
    p.add_argument("path", nargs="?", help="default: $ML_ASSETS_SPEC or specs/demo.yaml")
    p.set_defaults(func=cmd_validate_spec)

    p = sub.add_parser("paths", help="print where the spec, landing files, assets and instance are")
    p.set_defaults(func=cmd_paths)

    p = sub.add_parser("rollback", help="move the registry's `champion` alias to an earlier version")
    p.add_argument("--to", required=True, metavar="VERSION", help="registered model version to serve again")
    p.add_argument("--reason", required=True, help="why (recorded on the version and in the model's history)")
    p.add_argument("--spec", help="spec file (default: $ML_ASSETS_SPEC or specs/demo.yaml)")
    p.set_defaults(func=cmd_rollback)

    p = sub.add_parser("retention", help="delete partitions and model versions older than the spec's retention")
    p.add_argument("--dry-run", action="store_true", help="print the plan (what goes, what stays and why); delete nothing")
    p.add_argument("--spec", help="spec file (default: $ML_ASSETS_SPEC or specs/demo.yaml)")
    p.set_defaults(func=cmd_retention)

    p = sub.add_parser("models", help="list the registered model's versions, aliases and champion history")
    p.add_argument("--spec", help="spec file (default: $ML_ASSETS_SPEC or specs/demo.yaml)")
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("lookup", help="read entities' predictions from the online prediction store (Redis)")
    p.add_argument("entity_ids", nargs="+", metavar="ENTITY_ID")
    p.add_argument("--spec", help="spec file (default: $ML_ASSETS_SPEC or specs/demo.yaml)")
    p.set_defaults(func=cmd_lookup)

    p = sub.add_parser("mlflow-ui", help="open the MLflow UI on the local store ($ML_ASSETS_HOME/mlflow)")
    p.add_argument("--port", type=int, default=5000)
    p.set_defaults(func=cmd_mlflow_ui)

    p = sub.add_parser("ui", help="start the Dagster UI on the local instance (dagster dev)")
    p.add_argument("extra", nargs=argparse.REMAINDER, help="passed to `dagster dev`")
    p.set_defaults(func=cmd_ui)

    args = parser.parse_args(argv)
    try:
        args.func(args)
    except SpecError as exc:
        raise SystemExit(f"error: {exc}") from None


if __name__ == "__main__":
    main()
