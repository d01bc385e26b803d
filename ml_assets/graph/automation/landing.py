"""The landing sensor: one for the code location, watching every model's landing folder.

A new day for many models is a few runs, not one per model. Each tick lists every model's
landing location (its own cursor, kept in the sensor's one cursor), and the models whose day
received new files are grouped into runs: models whose daily partitions are the same (start, end,
timezone) share a run of that day, at most `$ML_ASSETS_MODELS_PER_RUN` (default 25) per run. A run
then pays the process start, the definitions' load and the imports once for its models, instead of
once per model (BENCHMARKS.md, "A day for a hundred models").

Each model's day stays its own: its own assets and partition, its own checks. A failed step or a
failed blocking check of one model skips that model's steps below it and nothing else; the run
ends FAILURE and its alert names the failed models (alerts.py), while the others' predictions land.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass

from dagster import (
    AssetKey,
    AssetRecordsFilter,
    AssetSelection,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from ml_assets.graph.automation.jobs import DAILY_MAX_RUNTIME
from ml_assets.graph.automation.sensors import sensor_status
from ml_assets.graph.context import MODEL_TAG, TRIGGER_TAG, Pipeline
from ml_assets.io.arrivals import Cursor, LandedFile, by_day, list_landed, listing_since, new_files, run_key
from ml_assets.io.paths import landing_root

MODELS_PER_RUN_ENV = "ML_ASSETS_MODELS_PER_RUN"
DEFAULT_MODELS_PER_RUN = 25
MODELS_TAG = "ml_assets/models"  # on a landing run: the models it ingests and scores, comma-separated

# What a landing run materializes for each of its models: the day from its files to its predictions,
# so a new day is scored without waiting for automation ticks between the steps. The checks of these
# assets run in it too, and a failed blocking check stops that model's steps below it.
INGEST_ASSETS = ("raw_data", "features", "feature_drift")
SCORING_ASSETS = ("batch_predictions", "realized_quality")


def models_per_run(env=os.environ) -> int:
    text = env.get(MODELS_PER_RUN_ENV, "").strip()
    if not text:
        return DEFAULT_MODELS_PER_RUN
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"${MODELS_PER_RUN_ENV}={text!r}: give a whole number of models, 1 or more")
    return int(text)


def _ingested_after(instance, raw_data: AssetKey, day: str, files: list[LandedFile]) -> bool:
    """raw_data for the day was materialized after its newest file appeared (already ingested)."""
    records = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=raw_data, asset_partitions=[day]), limit=1
    ).records
    return bool(records) and records[0].timestamp > max(f.modified for f in files)


def landing_assets(p: Pipeline, instance) -> list[AssetKey]:
    """INGEST_ASSETS, and SCORING_ASSETS once a model has been trained (before that there is no
    champion to score with; automation scores the day once a model exists, see policies.py)."""
    trained = instance.get_latest_materialization_event(p.key("model")) is not None
    return [p.key(a) for a in INGEST_ASSETS + (SCORING_ASSETS if trained else ())]


def due_days(p: Pipeline, days: dict, pending: set, last_day: str | None, ingested) -> tuple[dict, list[str]]:
    """{day: files} of the complete days with new files (a day not complete yet waits in `pending`),
    and a note per day. `ingested(day, files)`: already ingested after those files landed."""
    first_day = p.spec.partitions.start_date.isoformat()
    due, notes = {}, []
    for day, files in sorted(days.items()):
        if day < first_day:
            notes.append(f"{p.name} {day}: before partitions.start_date {first_day}, ignored ({len(files)} file(s))")
            continue
        if last_day is None or day > last_day:
            pending.add(day)
            notes.append(f"{p.name} {day}: the day is not complete yet; requested once it is ({len(files)} file(s))")
            continue
        pending.discard(day)
        if not files or ingested(day, files):
            continue  # first look (or a reset cursor): this day was already ingested after its files landed
        due[day] = files
        shown = ", ".join(f.key for f in files[:5]) + (" ..." if len(files) > 5 else "")
        notes.append(f"{p.name} {day}: {len(files)} new or rewritten file(s): {shown}")
    return due, notes


def model_tick(p: Pipeline, cursor_text: str | None, instance) -> tuple[dict, str, list[str]]:
    """One model's look at its landing location: ({day: files} to run, its next cursor, notes)."""
    spec, lookback = p.spec, p.spec.automation.landing_lookback_seconds
    landing = landing_root(spec)
    cursor = Cursor.from_json(cursor_text)
    try:
        listed = list_landed(landing, spec.landing.format, since=listing_since(cursor, lookback))
    except FileNotFoundError as exc:
        return {}, cursor_text or Cursor().to_json(), [f"{p.name}: {exc}: nothing to watch yet"]
    fresh, next_cursor = new_files(listed, cursor, lookback)
    last_day = p.daily.get_last_partition_key()
    pending = set(cursor.pending)
    days = by_day(fresh)
    # A day that was not complete yet when its files landed is requested once its partition exists.
    for day in sorted(pending):
        if last_day is not None and day <= last_day and day not in days:
            days[day] = list_landed(landing, spec.landing.format, day=day)
    first_look = cursor_text is None
    ingested = lambda d, f: first_look and _ingested_after(instance, p.key("raw_data"), d, f)  # noqa: E731
    due, notes = due_days(p, days, pending, last_day, ingested)
    next_cursor = Cursor(next_cursor.watermark, next_cursor.recent, tuple(sorted(pending)))
    return due, next_cursor.to_json(), notes


@dataclass(frozen=True)
class ModelDay:
    p: Pipeline
    day: str
    files: tuple[LandedFile, ...]


def group_runs(model_days: list[ModelDay], per_run: int, assets_of) -> list[RunRequest]:
    """One run per day and partitions definition, for at most `per_run` models each. `assets_of(p)`:
    what the run materializes of model p."""
    groups: list[tuple[str, object, list[ModelDay]]] = []
    for md in sorted(model_days, key=lambda m: (m.day, m.p.name)):
        group = next((g for g in groups if g[0] == md.day and g[1] == md.p.daily and len(g[2]) < per_run), None)
        if group is None:
            groups.append((md.day, md.p.daily, [md]))
        else:
            group[2].append(md)
    requests = []
    for day, _, members in groups:
        names = [m.p.name for m in members]
        keys = sorted(run_key(day, list(m.files)) + m.p.name for m in members)
        digest = hashlib.sha256("\n".join(keys).encode()).hexdigest()[:16]
        tags = {
            **DAILY_MAX_RUNTIME,
            TRIGGER_TAG: "landing_sensor",
            "ml_assets/new_files": str(sum(len(m.files) for m in members)),
            MODELS_TAG: ",".join(names),
            **({MODEL_TAG: names[0]} if len(names) == 1 else {}),
        }
        selection = [key for m in members for key in assets_of(m.p)]
        requests.append(
            RunRequest(run_key=f"landing:{day}:{digest}", partition_key=day, tags=tags, asset_selection=selection)
        )
    return requests


def build_landing_sensor(pipelines: list[Pipeline]):
    """The code location's landing sensor over the models whose spec turns automation on; None when
    no model does. Its interval is the shortest any of them asks for."""
    watched = [p for p in pipelines if p.spec.automation.enabled]
    if not watched:
        return None
    per_run = models_per_run()
    shown = [f"{p.name} ({p.spec.landing.uri})" for p in watched[:10]]
    names = ", ".join(shown) + (f" and {len(watched) - 10} more" if len(watched) > 10 else "")

    @sensor(
        name="landing_sensor",
        asset_selection=AssetSelection.assets(*(p.key(a) for p in watched for a in INGEST_ASSETS + SCORING_ASSETS)),
        minimum_interval_seconds=min(p.spec.automation.landing_sensor_interval_seconds for p in watched),
        default_status=sensor_status(True),
        description=(
            f"Watches the landing location of every model with automation on ({names}): <YYYY-MM-DD>/ folders. "
            "Each day that received new or rewritten files is a run of raw_data, features and feature_drift with their "
            "checks, and once a model is trained batch_predictions and realized_quality too (one hop from a file to "
            f"predictions). Models with the same daily partitions share the day's run (at most {per_run}, "
            f"${MODELS_PER_RUN_ENV}); each keeps its own partition, checks and failure. Each model's cursor is kept "
            "by Dagster, so a restarted daemon neither misses nor re-ingests a file; run keys make requests idempotent."
        ),
    )
    def landing_sensor(context: SensorEvaluationContext):
        cursors = json.loads(context.cursor) if context.cursor else {}
        model_days, notes, next_cursors = [], [], {}
        for p in watched:
            try:
                due, next_cursors[p.name], model_notes = model_tick(p, cursors.get(p.name), context.instance)
            except Exception as exc:  # one model's unreadable landing must not stall the others
                context.log.error(f"{p.name}: its landing location {p.spec.landing.uri} was not read: {exc}")
                next_cursors[p.name], due, model_notes = cursors.get(p.name), {}, [f"{p.name}: not read: {exc}"]
            notes += model_notes
            model_days += [ModelDay(p, day, tuple(files)) for day, files in due.items()]
        for note in notes:
            context.log.info(note)
        requests = group_runs(model_days, per_run, lambda p: landing_assets(p, context.instance))
        cursor = json.dumps(next_cursors, sort_keys=True)
        if not requests:
            said = "; ".join(notes[:20]) + (f" (and {len(notes) - 20} more)" if len(notes) > 20 else "")
            return SensorResult(skip_reason=SkipReason(said or "no new landing files"), cursor=cursor)
        return SensorResult(run_requests=requests, cursor=cursor)

    return landing_sensor
