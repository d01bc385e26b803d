"""Global policies, applied once in `definitions.py`: when each asset is materialized again
(declarative automation), how old it may get (freshness), and how steps retry.

Who materializes what, with no human in the loop:

| asset | materialized again when |
|---|---|
| `raw_data` | the landing sensor sees new or rewritten files for the day, whose bytes differ from the last ingest (`sensors.py`, `ingest.py`) |
| `features`, `feature_drift` | in the landing sensor's run; else that day's `raw_data` is updated and its blocking checks passed |
| `batch_predictions` | in the landing sensor's run once a model exists; else that day's `features` is updated and its blocking checks passed (also in the same run); the latest day again when its freshness fails |
| `training_set` (newest day) | the retraining cron passes; a blocking drift check fails on a day of the window (`retrain_on_drift`); the newest judged day's realized quality drops below the threshold (`retrain_on_quality_drop`); `model` fails its freshness |
| `model` | the newest `training_set` has been updated (by a run that did not already train) |
| `evaluation_report` | `model` is updated (in the same run) |
| `prediction_store` (if enabled) | the newest day's `batch_predictions` is updated (in the same run) |
| `realized_quality` | that day's `batch_predictions` is updated (in the same run); the labels sensor sees new labels for the day |
| `monitoring_report` | any day's `realized_quality` has been updated (new predictions or labels); the daily `monitoring_cron` passes |
| `rollout_decision` (live experiments) | any day's `realized_quality` has been updated; the approval sensor sees an answer in MLflow |

Runs only start when nothing they read is missing or still running (for `training_set`: when
the newest day is there; a day of the window without data is skipped). Days whose blocking
checks failed are never trained on (`training_set` leaves them out) and never scored.
"""  # noqa: E501 (a table/HTML template)

import datetime as dt

from dagster import (
    AssetCheckKey,
    AssetKey,
    AssetSelection,
    AutomationCondition,
    Backoff,
    FreshnessPolicy,
    Jitter,
    RetryPolicy,
)

from ml_assets.core.spec import PipelineSpec
from ml_assets.graph.context import Pipeline

AC = AutomationCondition


def step_retry_policy(spec: PipelineSpec) -> RetryPolicy | None:
    """Exponential backoff with jitter for every step: all of them read or write the asset store
    (S3 in production) and many talk to MLflow. Data errors raise Failure(allow_retries=False)
    and are never retried."""
    retries = spec.automation.retries
    if retries.max_retries == 0:
        return None
    return RetryPolicy(
        max_retries=retries.max_retries,
        delay=retries.delay_seconds,
        backoff=Backoff.EXPONENTIAL,
        jitter=Jitter.PLUS_MINUS,
    )


def _parents_updated(*parents: AssetKey) -> AutomationCondition:
    """Some parent (of `parents`) was materialized since the last tick, by a run that did not also
    materialize this asset. Unlike `any_deps_updated()`, a parent merely requested on this tick
    does not count: a downstream asset with other partitioning would run beside it, not after it."""
    updated = (AC.newly_updated() & ~AC.executed_with_root_target()).with_label("newly_updated_without_root")
    names = ", ".join(k.path[-1] for k in parents)
    return AC.any_deps_match(updated).allow(AssetSelection.assets(*parents)).with_label(f"updated: {names}")


_READY = (~AC.any_deps_missing() & ~AC.any_deps_in_progress() & ~AC.in_progress()).with_label(
    "inputs ready, not running"
)


def _retrain_condition(p: Pipeline) -> AutomationCondition:
    """When the newest window is retrained: the cron, the model's freshness, and where the spec
    asks, a failed blocking drift check on a window day or a drop in realized quality."""
    spec, key = p.spec, p.key
    tz = spec.automation_timezone
    retrain = AC.cron_tick_passed(spec.automation.retrain_cron, tz) | AC.asset_matches(
        key("model"), AC.freshness_failed().newly_true()
    ).with_label("model freshness failed")
    if spec.automation.retrain_on_drift:
        drift_failed = AC.any_checks_match(AC.check_failed(), blocking_only=True).allow(
            AssetSelection.checks(AssetCheckKey(key("features"), "features_drift"))
        )
        retrain = retrain | AC.any_deps_match(drift_failed.newly_true()).allow(p.select("features")).with_label(
            "drift check failed on a window day"
        )
    auto = spec.automation
    if (auto.retrain_on_quality_drop or auto.retrain_on_estimated_drop) and spec.labels is not None:
        # The page is unpartitioned, so its check maps to every training_set day; the newest is kept below.
        quality_failed = AC.any_checks_match(AC.check_failed()).allow(
            AssetSelection.checks(AssetCheckKey(key("monitoring_report"), "latest_realized_quality"))
        )
        retrain = retrain | AC.asset_matches(key("monitoring_report"), quality_failed.newly_true()).with_label(
            "realized quality dropped"
        )
    return retrain


def automation_conditions(p: Pipeline) -> dict[str, AutomationCondition]:
    """Each asset's condition, by its name within the model."""
    spec, key = p.spec, p.key
    tz = spec.automation_timezone
    day_updated = AC.any_deps_updated().ignore(p.select("model"))
    scored_stale = (AC.freshness_failed().newly_true() & AC.in_latest_time_window()).with_label(
        "latest day, freshness failed"
    )

    retrain = _retrain_condition(p)

    # Days of the window without data are skipped by training_set; the newest one must be there.
    newest_day_ready = (
        ~AC.any_deps_match(AC.missing() & AC.in_latest_time_window()) & ~AC.any_deps_in_progress() & ~AC.in_progress()
    ).with_label("newest day ingested, not running")
    # Any day, not only the latest: a late file for an old day re-materializes that day.
    on_new_day = (day_updated.since_last_handled() & _READY & AC.all_deps_blocking_checks_passed()).with_label(
        "day updated, checks passed"
    )
    return {
        "features": on_new_day,
        "feature_drift": on_new_day,
        "batch_predictions": (
            (day_updated | scored_stale).since_last_handled() & _READY & AC.all_deps_blocking_checks_passed()
        ).with_label("features updated or stale, checks passed"),
        "training_set": (AC.in_latest_time_window() & retrain.since_last_handled() & newest_day_ready).with_label(
            "retrain: cron, drift, quality drop or stale model"
        ),
        "model": (
            _parents_updated(key("training_set")).since_last_handled() & _READY & AC.all_deps_blocking_checks_passed()
        ).with_label("newest training_set updated"),
        "evaluation_report": (AC.any_deps_updated().since_last_handled() & _READY).with_label("model updated"),
        # Only the newest day goes online (an older one would not replace it anyway).
        "prediction_store": (
            AC.in_latest_time_window() & AC.any_deps_updated().since_last_handled() & _READY
        ).with_label("newest day's predictions updated"),
        "realized_quality": (AC.any_deps_updated().since_last_handled() & _READY).with_label(
            "the day's predictions updated"
        ),
        # Not `_READY`: the page reads every day since the start date, most of which have no data.
        "monitoring_report": (
            # realized_quality follows every scored day (and new labels), so the day's drift, written a
            # run earlier, comes along; a blocked day's drift arrives with the daily rebuild (its
            # features_drift check shows it at once). One page per scored tick, not two.
            (
                _parents_updated(key("realized_quality")) | AC.cron_tick_passed(spec.automation.monitoring_cron, tz)
            ).since_last_handled()
            & ~AC.any_deps_in_progress()
            & ~AC.in_progress()
        ).with_label("monitoring data updated, or daily"),
        "rollout_decision": (
            _parents_updated(key("realized_quality")).since_last_handled()
            & ~AC.any_deps_in_progress()
            & ~AC.in_progress()
        ).with_label("realized quality updated"),
    }


def freshness_policies(spec: PipelineSpec) -> dict[str, FreshnessPolicy]:
    def policy(limit) -> FreshnessPolicy:
        warn = dt.timedelta(hours=limit.warn_after_hours) if limit.warn_after_hours else None
        return FreshnessPolicy.time_window(fail_window=dt.timedelta(hours=limit.fail_after_hours), warn_window=warn)

    fresh = spec.automation.freshness
    return {"batch_predictions": policy(fresh.batch_predictions), "model": policy(fresh.model)}


def apply_policies(assets: list, p: Pipeline) -> list:
    """Each asset with its automation condition and freshness policy from the spec."""
    conditions, freshness = automation_conditions(p), freshness_policies(p.spec)

    if not p.spec.automation.enabled:
        conditions = {}  # automation off for this model: the shared automation sensor has nothing of it to evaluate

    def with_policies(asset_spec):
        name = asset_spec.key.path[-1]
        return asset_spec.replace_attributes(
            automation_condition=conditions.get(name, asset_spec.automation_condition),
            freshness_policy=freshness.get(name, asset_spec.freshness_policy),
        )

    return [a.map_asset_specs(with_policies) for a in assets]
