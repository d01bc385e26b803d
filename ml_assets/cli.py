"""`ml-assets`: what Dagster's own CLI does not do.

    ml-assets demo [--dataset demo|diabetes|breast_cancer] [--days N] [--rows-per-day N]
    ml-assets run [--spec PATH] [--from D1] [--to D2] [--train-on D] [--no-train] [--no-score] [--score-all] [--force]
    ml-assets init
    ml-assets generate [--days N] [--rows-per-day N] [--drift-from DAY] [--flip-labels-from DAY] [--last-day DAY]
    ml-assets land-sklearn diabetes|breast_cancer [--days N]
    ml-assets validate-spec [PATH] [--data [--sample-days N]]
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


def run_range(spec_path: Path, first: dt.date | None = None, last: dt.date | None = None, train_on: dt.date | None = None,
              train: bool = True, score: bool = True, force: bool = False, score_from_training_day: bool = False) -> int:
    """Ingest the landed days of a range, train as of a day, score the days with no predictions and
    rebuild the monitoring page, each as a run in the persistent instance (the UI shows them), with
    progress. Prints the summary; returns the exit code (1 if any run failed)."""
    from dagster import DagsterInstance

    from ml_assets import runner
    from ml_assets.registry import CHAMPION, Registry, default_tracking_uri
    from ml_assets.storage import landing_days, landing_root, storage_root, stored_partition_paths

    spec = load_spec(spec_path)
    landing = landing_root(spec)
    landed = landing_days(landing, spec.landing.format)
    partitions = daily_partition_range(spec)
    if partitions is None:
        raise SystemExit(f"error: {spec_path}: partitions start {spec.partitions.start_date}, so no day is complete yet")
    in_range = [d for d in landed if partitions[0] <= d <= partitions[1]]
    outside = sorted(set(landed) - set(in_range))
    if not in_range and first is None:
        raise SystemExit(
            f"error: no {spec.landing.format} landing files under {landing}/<YYYY-MM-DD>/ for days "
            f"{partitions[0]} .. {partitions[1]} (partitions.start_date .. end_date or yesterday) (spec: {spec_path})"
            + (f"; days outside that range: {outside[:3]}{' ...' if len(outside) > 3 else ''}" if outside else "")
        )
    first_day = first.isoformat() if first else in_range[0]
    last_day = last.isoformat() if last else in_range[-1]
    for name, day in (("--from", first_day), ("--to", last_day)) + ((("--train-on", train_on.isoformat()),) if train_on else ()):
        if not partitions[0] <= day <= partitions[1]:
            raise SystemExit(f"error: {name} {day} is not a day of the spec's partitions ({partitions[0]} .. {partitions[1]})")
    if first_day > last_day:
        raise SystemExit(f"error: --from {first_day} is after --to {last_day}")
    if train_on and train_on.isoformat() > last_day:
        raise SystemExit(f"error: --train-on {train_on} is after --to {last_day}: its window's days would not be ingested")
    days = runner.day_range(dt.date.fromisoformat(first_day), dt.date.fromisoformat(last_day))
    train_day = (train_on.isoformat() if train_on else last_day) if train else None
    base = storage_root() / spec.name

    def stored(asset: str) -> set[str]:
        return {p.name.removesuffix(".parquet") for p in stored_partition_paths(base, asset)}

    predicted = stored("batch_predictions")
    # Scoring starts at the training day (days before it are in-sample; --score-all scores them too).
    # Without training: at the day after the newest scored one (new days only), or everywhere.
    score_from = None
    if score_from_training_day:
        newest = max(predicted) if predicted else None
        score_from = train_day or (newest and (dt.date.fromisoformat(newest) + dt.timedelta(days=1)).isoformat())
    plan = runner.plan_history(days, set(landed), stored("features"), predicted, train_day,
                               force=force, score=score, score_from=score_from)
    _say(f"spec {spec_path}: {len(landed)} landed day(s) under {landing}; range {first_day} .. {last_day}")
    _say(f"plan: ingest {len(plan.ingest)} day(s), " + (f"train on the window ending {train_day}, " if train_day else "no training, ")
         + f"score {len(plan.score)} day(s), rebuild the monitoring page ({len(plan.steps)} steps)")
    if outside:
        _say(f"  left alone: {len(outside)} landed day(s) outside the partitions ({outside[0]} .. {outside[-1]})")
    missing = [d for d, why in plan.skipped.items() if why == "no landing files"]
    if missing:
        _say(f"  no landing files for {len(missing)} day(s) of the range, e.g. {missing[:3]}")
    started = dt.datetime.now()
    outcome = runner.run_history(spec, str(spec_path), plan, DagsterInstance.get(), say=_say, day_bytes=landed)
    took = (dt.datetime.now() - started).total_seconds()

    registry = Registry(default_tracking_uri(), spec.name, spec.registered_model_name)
    champion = registry.alias_version(CHAMPION)
    scored = sorted(stored("batch_predictions"))
    failed = outcome.failed
    _say(f"\nDone in {took:.0f} s: {len(outcome.done)} step(s) ok, {len(failed)} failed, "
         f"{len(outcome.blocked)} day(s) not scored (blocked by their checks).")
    if outcome.model:
        meta = outcome.model
        _say(f"  model {meta.get('model_version')}: trained on {meta.get('window')}, selected {meta.get('selected')}; "
             + ", ".join(f"{k} {v:.4f}" for k, v in meta.items() if k.startswith(("holdout_", "baseline_"))))
        _say(f"  {meta.get('promotion')}")
    for (job_name, day), errors in list(failed.items())[:10]:
        _say(f"  FAILED {job_name} {day or ''}: {errors[0][:400] if errors else ''}")
    if len(failed) > 10:
        _say(f"  ... and {len(failed) - 10} more failed run(s): see the Runs page (`ml-assets ui`)")
    for day, checks in list(outcome.blocked.items())[:5]:
        _say(f"  not scored {day}: blocking checks failed: {', '.join(checks)}")
    _say("Dagster runs: `ml-assets ui`; MLflow runs and the model registry: `ml-assets mlflow-ui`.")
    if scored:
        _say(f"  predictions for {scored[-1]}: {base / 'batch_predictions' / (scored[-1] + '.parquet')}")
    _say(f"  evaluation report:         {base / 'evaluation_report' / 'report.html'}")
    _say(f"  monitoring page:           {base / 'monitoring_report' / 'report.html'}")
    _say(f"  registered model:          {registry.model_name} v{champion} is champion, at {registry.tracking_uri}"
         if champion else f"  registered model:          {registry.model_name} has no champion yet, at {registry.tracking_uri}")
    return 1 if failed else 0


def daily_partition_range(spec: PipelineSpec) -> tuple[str, str] | None:
    """(first, last) day of the spec's daily partitions, or None when no day is complete yet."""
    from ml_assets.defs.assets import daily_partitions

    partitions = daily_partitions(spec)
    last = partitions.get_last_partition_key()
    return None if last is None else (partitions.get_first_partition_key(), last)


DEMO_EXTRA_DAYS = 18  # demo days after the first training window: two weeks+ of scored days on the page
DEMO_DRIFT_DAYS = 4  # the demo's last days drift: the page shows it, and the checks block them


def cmd_demo(args) -> None:
    ensure_dagster_home()
    spec_path = SPECS / DATASETS[args.dataset] if args.spec is None else Path(args.spec)
    spec = load_spec(spec_path)
    window = spec.training.window_days
    days = args.days or window + (DEMO_EXTRA_DAYS if args.dataset == "demo" else 0)
    if days < window:
        raise SystemExit(f"--days {days} is shorter than the training window ({window} days)")
    last = last_complete_day(spec)
    _say(f"ML_ASSETS_HOME={ml_assets_home()}  DAGSTER_HOME={os.environ['DAGSTER_HOME']}  spec={spec_path}")
    if args.dataset == "demo":
        # The world changes in the last days: the drift checks flag and block them (see the monitoring page).
        drift = last - dt.timedelta(days=DEMO_DRIFT_DAYS - 1) if days > window + DEMO_DRIFT_DAYS else None
        files = generate_demo(spec, days, args.rows_per_day, last, drift_from=drift)
    else:
        files = land_sklearn(spec, args.dataset, days, last)
    _say(f"landed {len(files)} daily file(s) under {Path(files[0]).parent.parent}")
    first = last - dt.timedelta(days=days - 1)
    # Train on the first full window, then score every day from it on: the page shows the model's life.
    code = run_range(spec_path, first, last, train_on=first + dt.timedelta(days=window - 1), score_from_training_day=True)
    if code:
        raise SystemExit(code)


def cmd_run(args) -> None:
    ensure_dagster_home()
    day = lambda v: None if v is None else _day_arg(v)  # noqa: E731
    code = run_range(_spec_path(args.spec), day(args.from_day), day(args.to_day), day(args.train_on),
                       train=not args.no_train, score=not args.no_score, force=args.force,
                       score_from_training_day=not args.score_all)
    if code:
        raise SystemExit(code)


def _day_arg(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise SystemExit(f"error: {value!r} is not a day (YYYY-MM-DD)") from None


def cmd_init(args) -> None:
    home = ensure_dagster_home()
    _say(f"Dagster instance folder ready: {home} (dagster.yaml copied from the project)")
    _say("For `dagster ...` commands in this shell:")
    _say(f"  export DAGSTER_HOME={home}")


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
    if args.data:
        if check_landing_sample(spec, args.sample_days):
            raise SystemExit(1)


def check_landing_sample(spec: PipelineSpec, sample_days: int) -> bool:
    """Read a sample of the landing files (up to `sample_days` days, spread over the landed range) and
    say what the spec would do to them. Moves nothing. Returns True if a problem was found."""
    from ml_assets.core.schema import describe_sample
    from ml_assets.storage import LandingError, landing_days, landing_root, list_landing_files, read_landing_file

    landing = landing_root(spec)
    days = list(landing_days(landing, spec.landing.format))
    if not days:
        _say(f"data: PROBLEM: no {spec.landing.format} files under {landing}/<YYYY-MM-DD>/")
        return True
    picks = sorted({days[round(i * (len(days) - 1) / max(sample_days - 1, 1))] for i in range(min(sample_days, len(days)))})
    partitions = daily_partition_range(spec)
    outside = [d for d in days if partitions is None or not partitions[0] <= d <= partitions[1]]
    _say(f"data: {len(days)} landed day(s) {days[0]} .. {days[-1]} under {landing}; reading {len(picks)}: {', '.join(picks)}")
    if outside:
        _say(f"data: note: {len(outside)} landed day(s) are outside the partitions "
             f"({partitions[0] + ' .. ' + partitions[1] if partitions else 'none complete yet'}), e.g. {outside[:3]}: "
             "they will not be ingested (check partitions.start_date / end_date)")
    frames, problems = {}, []
    for day in picks:
        try:
            files, _ = list_landing_files(landing, day, spec.landing.format)
            for path in files[:3]:
                frames[str(path)] = read_landing_file(path, spec.landing.format)
        except LandingError as exc:
            problems.append(str(exc))
    found, notes = describe_sample(frames, spec)
    problems += found
    for line in problems:
        _say(f"data: PROBLEM: {line}")
    for line in notes:
        _say(f"data: note: {line}")
    _say("data: " + (f"{len(problems)} problem(s): fix them before ingesting (nothing was moved)" if problems else
                     "ok: the sample would be ingested as is"))
    return bool(problems)


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
    # One progress line per run is ours; MLflow's per-download progress bars would drown it.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    parser = argparse.ArgumentParser(prog="ml-assets", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("demo", help="generate demo data and materialize the whole graph (runs show in the UI)")
    p.add_argument("--dataset", choices=sorted(DATASETS), default="demo")
    p.add_argument("--spec", help="spec file (default: the dataset's spec in specs/)")
    p.add_argument("--days", type=int, help=f"days of data (default: the spec's training window, + {DEMO_EXTRA_DAYS} for the demo)")
    p.add_argument("--rows-per-day", type=int, default=2000)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("run", help="your own history: ingest a day range, train as of a day, score, report (with progress)")
    p.add_argument("--spec", help="spec file (default: $ML_ASSETS_SPEC or specs/demo.yaml)")
    p.add_argument("--from", dest="from_day", metavar="D1", help="first day, YYYY-MM-DD (default: the first landed day)")
    p.add_argument("--to", dest="to_day", metavar="D2", help="last day (default: the last landed day within the partitions)")
    p.add_argument("--train-on", metavar="D", help="train on the window ending D (default: --to)")
    p.add_argument("--no-train", action="store_true",
                   help="do not train: ingest and score the days after the newest scored day with the current champion")
    p.add_argument("--no-score", action="store_true", help="do not score")
    p.add_argument("--score-all", action="store_true",
                   help="also score the days before the training day (in-sample: the model was fitted on them)")
    p.add_argument("--force", action="store_true", help="re-ingest and re-score days that already have output")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("init", help="create the Dagster instance folder ($DAGSTER_HOME) so `dagster ...` commands work")
    p.set_defaults(func=cmd_init)

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

    p = sub.add_parser("validate-spec", help="load and validate a pipeline spec (--data: and what it does to the landing files)")
    p.add_argument("path", nargs="?", help="default: $ML_ASSETS_SPEC or specs/demo.yaml")
    p.add_argument("--data", action="store_true", help="also read a sample of the landing files and report what the spec would do to them")
    p.add_argument("--sample-days", type=int, default=5, help="days of landing files to read with --data (spread over the range)")
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
