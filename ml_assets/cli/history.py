"""A history of days: land demo or scikit-learn data, then ingest, train, score and report (`demo`, `run`)."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

from ml_assets.cli.common import (
    DEMO_MODELS,
    _day_arg,
    _say,
    _spec_path,
    daily_partition_range,
    ensure_dagster_home,
    last_complete_day,
)
from ml_assets.core.spec import PipelineSpec
from ml_assets.io.paths import ml_assets_home
from ml_assets.io.specs import load_spec, shipped_spec


def generate_demo(
    spec: PipelineSpec,
    days: int,
    rows_per_day: int,
    last_day: dt.date,
    drift_from: dt.date | None,
    seed: int = 7,
    flip_labels_from: dt.date | None = None,
) -> list[str]:
    """Landing files for `days` days ending `last_day` (and their delayed labels, see write_demo_days)."""
    dates = [last_day - dt.timedelta(days=days - 1 - i) for i in range(days)]
    return write_demo_days(
        spec,
        dates,
        rows_per_day,
        seed=seed,
        drift_from=drift_from,
        flip_labels_from=flip_labels_from,
        labels_until=last_day + dt.timedelta(days=1),
    )


def write_demo_days(
    spec: PipelineSpec,
    dates: list[dt.date],
    rows_per_day: int,
    seed: int = 7,
    drift_from: dt.date | None = None,
    flip_labels_from: dt.date | None = None,
    labels_until: dt.date | None = None,
) -> list[str]:
    """Demo landing files for `dates`; with a `labels` section in the spec, also their delayed label
    files (arriving 1-3 days after their day), for arrival days up to `labels_until` (None: all)."""
    from ml_assets.core.demo_data import delayed_labels, generate_day
    from ml_assets.io.landing import write_landing_file
    from ml_assets.io.paths import labels_root, landing_root

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
    from ml_assets.io.landing import write_landing_file
    from ml_assets.io.paths import landing_root

    frames = cut_into_days(
        sklearn_dataset(dataset),
        last_day,
        days,
        seed=spec.seed,
        id_column=spec.columns.entity_id,
        time_column=spec.columns.event_time,
    )
    landing = landing_root(spec)
    return [str(write_landing_file(landing, day, "part-0", df, spec.landing.format)) for day, df in frames.items()]


def _check_range(spec: PipelineSpec, spec_path: Path, landed: dict, landing, first, last, train_on) -> tuple[str, str]:
    """(first day, last day) of the run, checked against the partitions and the landed days."""
    partitions = daily_partition_range(spec)
    if partitions is None:
        raise SystemExit(
            f"error: {spec_path}: partitions start {spec.partitions.start_date}, so no day is complete yet"
        )
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
    for name, day in (("--from", first_day), ("--to", last_day)) + (
        (("--train-on", train_on.isoformat()),) if train_on else ()
    ):
        if not partitions[0] <= day <= partitions[1]:
            raise SystemExit(
                f"error: {name} {day} is not a day of the spec's partitions ({partitions[0]} .. {partitions[1]})"
            )
    if first_day > last_day:
        raise SystemExit(f"error: --from {first_day} is after --to {last_day}")
    if train_on and train_on.isoformat() > last_day:
        raise SystemExit(
            f"error: --train-on {train_on} is after --to {last_day}: its window's days would not be ingested"
        )
    if outside:
        _say(f"  left alone: {len(outside)} landed day(s) outside the partitions ({outside[0]} .. {outside[-1]})")
    return first_day, last_day


def _stored(base, asset: str) -> set[str]:
    from ml_assets.io.files import stored_partition_paths

    return {p.name.removesuffix(".parquet") for p in stored_partition_paths(base, asset)}


def _report(outcome, registry, base, took: float) -> None:
    """The run's summary: what ran, what failed or was blocked, and where to look."""
    from ml_assets.io.registry import CHAMPION

    champion = registry.alias_version(CHAMPION)
    scored = sorted(_stored(base, "batch_predictions"))
    failed = outcome.failed
    partial = f" ({len(outcome.partial)} day(s) partial: some files quarantined)" if outcome.partial else ""
    _say(
        f"\n{'Stopped early' if outcome.stopped else 'Done'} in {took:.0f} s: {len(outcome.done)} step(s) ok{partial}, "
        f"{len(failed)} failed, {len(outcome.blocked)} day(s) not scored (blocked by their checks)"
        + (f", {outcome.not_run} not run." if outcome.stopped else ".")
    )
    if outcome.stopped:
        _say(f"  STOPPED: {outcome.stopped}")
    if outcome.model:
        meta = outcome.model
        _say(
            f"  model {meta.get('model_version')}: trained on {meta.get('window')}, selected {meta.get('selected')}; "
            + ", ".join(f"{k} {v:.4f}" for k, v in meta.items() if k.startswith(("holdout_", "baseline_")))
        )
        _say(f"  {meta.get('promotion')}")
    for (job_name, day), errors in list(failed.items())[:10]:
        _say(f"  FAILED {job_name} {day or ''}: {errors[0][:600] if errors else ''}")
    if len(failed) > 10:
        _say(f"  ... and {len(failed) - 10} more failed run(s): see the Runs page (`ml-assets ui`)")
    for note in list(outcome.partial.values())[:10]:
        _say(f"  partial {note}")
    for day, checks in list(outcome.blocked.items())[:5]:
        _say(f"  not scored {day}: blocking checks failed: {', '.join(checks)}")
    _say("Dagster runs: `ml-assets ui`; MLflow runs and the model registry: `ml-assets mlflow-ui`.")
    if scored:
        _say(f"  predictions for {scored[-1]}: {base / 'batch_predictions' / (scored[-1] + '.parquet')}")
    _say(f"  evaluation report:         {base / 'evaluation_report' / 'report.html'}")
    _say(f"  monitoring page:           {base / 'monitoring_report' / 'report.html'}")
    _say(
        f"  registered model:          {registry.model_name} v{champion} is champion, at {registry.tracking_uri}"
        if champion
        else f"  registered model:          {registry.model_name} has no champion yet, at {registry.tracking_uri}"
    )


def _refuse_force_without_scoring(force: bool, score: bool) -> None:
    if force and not score:
        raise SystemExit(
            "error: --force re-scores the days it re-ingests (their predictions would otherwise come from rows that "
            "are no longer their raw data); drop --no-score, or --force"
        )


def run_range(
    spec_path: Path,
    first: dt.date | None = None,
    last: dt.date | None = None,
    train_on: dt.date | None = None,
    train: bool = True,
    score: bool = True,
    force: bool = False,
    score_from_training_day: bool = False,
    keep_going: bool = False,
) -> int:
    """Ingest the landed days of a range, train as of a day, score the days with no predictions and
    rebuild the monitoring page, each as a run in the persistent instance (the UI shows them), with
    progress. Prints the summary; returns the exit code (1 if any run failed)."""
    from dagster import DagsterInstance

    from ml_assets import runner
    from ml_assets.io.landing import landing_days
    from ml_assets.io.paths import landing_root, storage_root
    from ml_assets.io.registry import Registry, default_tracking_uri

    _refuse_force_without_scoring(force, score)
    spec = load_spec(spec_path)
    landing = landing_root(spec)
    landed = landing_days(landing, spec.landing.format)
    first_day, last_day = _check_range(spec, spec_path, landed, landing, first, last, train_on)
    days = runner.day_range(dt.date.fromisoformat(first_day), dt.date.fromisoformat(last_day))
    train_day = (train_on.isoformat() if train_on else last_day) if train else None
    base = storage_root() / spec.name
    predicted = _stored(base, "batch_predictions")
    # Scoring starts at the training day (days before it are in-sample; --score-all scores them too).
    # Without training: at the day after the newest scored one (new days only), or everywhere.
    score_from = None
    if score_from_training_day:
        newest = max(predicted) if predicted else None
        score_from = train_day or (newest and (dt.date.fromisoformat(newest) + dt.timedelta(days=1)).isoformat())
    plan = runner.plan_history(
        days,
        set(landed),
        _stored(base, "features"),
        predicted,
        train_day,
        force=force,
        score=score,
        score_from=score_from,
    )
    _say_plan(plan, spec_path, landed, landing, first_day, last_day, train_day)
    from ml_assets.graph.context import promotion_pool
    from ml_assets.graph.runtime.dead_runs import prepare_instance

    started = dt.datetime.now()
    instance = DagsterInstance.get()
    for line in prepare_instance(instance, default_tracking_uri(), [promotion_pool(spec.name)], base.parent / "_runs"):
        _say(f"recovered: {line}")
    outcome = runner.run_history(
        spec, str(spec_path), plan, instance, say=_say, day_bytes=landed, keep_going=keep_going
    )
    registry = Registry(default_tracking_uri(), spec.name, spec.registered_model_name)
    _report(outcome, registry, base, (dt.datetime.now() - started).total_seconds())
    return 1 if outcome.failed else 0


def _say_plan(plan, spec_path: Path, landed: dict, landing, first_day: str, last_day: str, train_day: str | None):
    """The plan of `ml-assets run`, printed before it starts."""
    _say(f"spec {spec_path}: {len(landed)} landed day(s) under {landing}; range {first_day} .. {last_day}")
    _say(
        f"plan: ingest {len(plan.ingest)} day(s), "
        + (f"train on the window ending {train_day}, " if train_day else "no training, ")
        + f"score {len(plan.score)} day(s), rebuild the monitoring page ({len(plan.steps)} steps)"
    )
    missing = [d for d, why in plan.skipped.items() if why == "no landing files"]
    if missing:
        _say(f"  no landing files for {len(missing)} day(s) of the range, e.g. {missing[:3]}")


DEMO_EXTRA_DAYS = 18  # demo days after the first training window: two weeks+ of scored days on the page
DEMO_DRIFT_DAYS = 4  # the demo's last days drift: the page shows it, and the checks block them


def cmd_demo(args) -> None:
    """Every shipped model side by side (or the one --model names), in one instance: the UI shows
    them in one code location."""
    ensure_dagster_home()
    models = [args.model] if args.model else list(DEMO_MODELS)
    if args.spec and len(models) > 1:
        raise SystemExit("error: --spec needs --model (the data to land for it)")
    failed = []
    for i, model in enumerate(models, start=1):
        if len(models) > 1:
            _say(f"\n== model {i}/{len(models)}: {model} ==")
        spec_path = Path(args.spec) if args.spec else shipped_spec(model)
        if demo_model(
            model, spec_path, args.days, args.rows_per_day, _day_arg(args.last_day) if args.last_day else None
        ):
            failed.append(model)
    if len(models) > 1:
        _say(
            f"\n{len(models) - len(failed)}/{len(models)} model(s) ok"
            + (f"; failed: {', '.join(failed)}" if failed else "")
            + ". All of them in one code location: `ml-assets ui`."
        )
    if failed:
        raise SystemExit(1)


def demo_model(
    model: str, spec_path: Path, days: int | None, rows_per_day: int, last_day: dt.date | None = None
) -> int:
    """Land `model`'s demo data ending `last_day` (default: the newest complete day) and run its
    history; returns the exit code."""
    spec = load_spec(spec_path)
    window = spec.training.window_days
    days = days or window + (DEMO_EXTRA_DAYS if model == "demo" else 0)
    if days < window:
        raise SystemExit(f"--days {days} is shorter than the training window ({window} days)")
    last = last_day or last_complete_day(spec)
    _say(f"ML_ASSETS_HOME={ml_assets_home()}  DAGSTER_HOME={os.environ['DAGSTER_HOME']}  spec={spec_path}")
    if model == "demo":
        # The world changes in the last days: the drift checks flag and block them (see the monitoring page).
        drift = last - dt.timedelta(days=DEMO_DRIFT_DAYS - 1) if days > window + DEMO_DRIFT_DAYS else None
        files = generate_demo(spec, days, rows_per_day, last, drift_from=drift)
    else:
        files = land_sklearn(spec, model, days, last)
    _say(f"landed {len(files)} daily file(s) under {Path(files[0]).parent.parent}")
    first = last - dt.timedelta(days=days - 1)
    # Train on the first full window, then score every day from it on: the page shows the model's life.
    return run_range(
        spec_path, first, last, train_on=first + dt.timedelta(days=window - 1), score_from_training_day=True
    )


def cmd_run(args) -> None:
    ensure_dagster_home()
    day = lambda v: None if v is None else _day_arg(v)  # noqa: E731
    code = run_range(
        _spec_path(args.spec),
        day(args.from_day),
        day(args.to_day),
        day(args.train_on),
        train=not args.no_train,
        score=not args.no_score,
        force=args.force,
        score_from_training_day=not args.score_all,
        keep_going=args.keep_going,
    )
    if code:
        raise SystemExit(code)


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
        from ml_assets.io.paths import labels_root

        _say(
            f"wrote delayed label files under {labels_root(spec)} (1-3 days after each day, up to "
            f"{last + dt.timedelta(days=1)})"
        )


def cmd_land_sklearn(args) -> None:
    spec = load_spec(Path(args.spec) if args.spec else shipped_spec(args.dataset))
    last = dt.date.fromisoformat(args.last_day) if args.last_day else last_complete_day(spec)
    files = land_sklearn(spec, args.dataset, args.days, last)
    _say(f"wrote {len(files)} file(s): {files[0]} .. {files[-1]}")
