"""The spec's operations sections: validation, registry, automation, prediction store, labels, retention."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from ml_assets.core.cron import is_valid_cron
from ml_assets.core.spec.data_sections import PartitionSpec
from ml_assets.core.spec.vocabulary import _Strict


class DriftLimits(_Strict):
    psi: float = Field(gt=0)
    """Population stability index limit."""
    ks: float = Field(gt=0, le=1)
    """Kolmogorov–Smirnov statistic limit (numeric features)."""


class ValidationSpec(_Strict):
    min_rows: int = Field(default=1, ge=1)
    """Row count of one day (raw_data and features); outside it the day is blocked."""
    max_rows: int | None = Field(default=None, ge=1)
    """Most rows a day may have (blocking contract on `raw_data`); default none."""
    max_null_rate: float = Field(default=0.5, ge=0, le=1)
    """Null rate allowed for a feature that does not set its own max_null_rate."""
    stat_tolerance: float = Field(default=0.5, gt=0)
    """Statistical bounds learned from the champion's training reference (WARN): a day's mean and quantiles
    may move by `stat_tolerance` reference standard deviations, its standard deviation by that fraction
    of the reference's.
    """
    drift_warn: DriftLimits = Field(default_factory=lambda: DriftLimits(psi=0.1, ks=0.1))
    """Per-feature drift of a day against the champion's training reference: WARN above drift_warn, ERROR
    (blocking) above drift_error. KS applies to numeric features.
    """
    drift_min_rows: int = Field(default=200, ge=1)
    """Below this many rows a day's PSI/KS is mostly sampling noise (PSI over 10 bins is ~10/rows for
    identical distributions), so drift (features and scores) is not judged: the check passes with "not
    judged: N rows < drift_min_rows" in its description, and the page shows the day hollow.
    """
    drift_error: DriftLimits = Field(default_factory=lambda: DriftLimits(psi=0.25, ks=0.2))
    """`{psi, ks}` limits for per-feature drift: WARN above the first, blocking ERROR above the second
    (defaults 0.1/0.1 and 0.25/0.2)
    """
    prediction_drift_warn: DriftLimits = Field(default_factory=lambda: DriftLimits(psi=0.1, ks=0.1))
    """Drift of the day's scores against the holdout's scores (the prediction-drift check)."""
    prediction_drift_error: DriftLimits = Field(default_factory=lambda: DriftLimits(psi=0.25, ks=0.2))
    """the same for the score distribution"""

    @model_validator(mode="after")
    def _ordered(self) -> ValidationSpec:
        if self.max_rows is not None and self.max_rows < self.min_rows:
            raise ValueError(f"max_rows: {self.max_rows} is below min_rows {self.min_rows}")
        for warn, error, name in (
            (self.drift_warn, self.drift_error, "drift_error"),
            (self.prediction_drift_warn, self.prediction_drift_error, "prediction_drift_error"),
        ):
            if error.psi < warn.psi or error.ks < warn.ks:
                raise ValueError(f"{name}: must not be below the matching warn limits")
        return self


class RegistrySpec(_Strict):
    model_name: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]+$")
    """The registered model in MLflow's registry; default: the pipeline's name."""
    tolerance: float = Field(default=0.0, ge=0)
    """A challenger may be this much worse than the champion (in the metric's units) and still replace it:
    0 means "at least as good".
    """


def _valid_cron(value: str) -> str:
    if not is_valid_cron(value):
        raise ValueError(f"{value!r} is not a cron expression (e.g. '0 3 * * 1': Mondays 03:00)")
    return value


class FreshnessLimit(_Strict):
    fail_after_hours: float = Field(ge=1 / 60)
    """An asset not materialized for `fail_after_hours` shows as failing freshness in the UI
    (`warn_after_hours`: warning). Dagster evaluates this at most once a minute.
    """
    warn_after_hours: float | None = Field(default=None, gt=0)
    """Hours before a freshness warning; below `fail_after_hours`."""

    @model_validator(mode="after")
    def _warn_before_fail(self) -> FreshnessLimit:
        if self.warn_after_hours is not None and self.warn_after_hours >= self.fail_after_hours:
            raise ValueError(
                f"warn_after_hours: {self.warn_after_hours} must be below fail_after_hours ({self.fail_after_hours})"
            )
        return self


class FreshnessSpec(_Strict):
    batch_predictions: FreshnessLimit = Field(
        default_factory=lambda: FreshnessLimit(fail_after_hours=26, warn_after_hours=24)
    )
    """`{fail_after_hours, warn_after_hours}` for `batch_predictions` (defaults 26 / 24)."""
    model: FreshnessLimit = Field(
        default_factory=lambda: FreshnessLimit(fail_after_hours=8 * 24, warn_after_hours=7 * 24)
    )
    """`{fail_after_hours, warn_after_hours}` for `model` (defaults 192 / 168)."""


class RetrySpec(_Strict):
    max_retries: int = Field(default=3, ge=0, le=10)
    """Steps that touch storage (S3) or MLflow retry transient failures: delay, 2*delay, 4*delay... (+/-
    jitter). Bad data is never retried: it fails at once with its reason.
    """
    delay_seconds: float = Field(default=10, ge=0)
    """First retry delay; doubles each time, with jitter."""


class AutomationSpec(_Strict):
    enabled: bool = True
    """Watch this model's landing location (the code location's landing sensor), give its assets
    automation conditions, and start the labels and approval sensors as RUNNING when the code location
    first loads (they can be toggled in the UI). The shared landing, automation and alert sensors
    start STOPPED only when every model of the location turns this off.
    """
    schedules_enabled: bool = False
    """Start the fallback schedules (retraining_schedule, scoring_schedule) as RUNNING."""
    landing_sensor_interval_seconds: int = Field(default=30, ge=1)
    """How often the landing sensor lists the landing location (the code location's one landing sensor
    looks as often as its most eager model asks).
    """
    landing_lookback_seconds: int = Field(default=3600, ge=1)
    """How far before its watermark the landing sensor still looks for files it has not seen (late uploads,
    clock skew).
    """
    automation_interval_seconds: int = Field(default=30, ge=1)
    """How often declarative automation evaluates the graph."""
    retrain_cron: str = "0 3 * * 1"
    """Retraining cron (default: Mondays 03:00) and scoring cron (daily 06:00), in `timezone` (default:
    partitions.timezone). Retraining also runs when a blocking drift check fails.
    """
    scoring_cron: str = "0 6 * * *"
    """When the fallback scoring schedule runs (cron)."""
    timezone: str | None = None
    """Time zone of the crons; default `partitions.timezone`."""
    retrain_on_drift: bool = True
    """retrain when a blocking drift check fails on a window day (default `true`)"""
    retrain_on_quality_drop: bool = True
    """Retrain when the newest day with enough labels falls below labels.quality_threshold (the monitoring
    page's latest_realized_quality check fails).
    """
    retrain_on_estimated_drop: bool = False
    """Also retrain when the newest day without enough labels has a label-free estimate (CBPE / DLE-style,
    from the scores) whose whole band is worse than labels.quality_threshold. Off by default: the estimate
    cannot see a change the scores do not show (docs/monitoring.md).
    """
    monitoring_cron: str = "0 7 * * *"
    """The monitoring page is rebuilt when its data changes, and at least once a day at this time."""
    freshness: FreshnessSpec = Field(default_factory=FreshnessSpec)
    """How old `batch_predictions` and `model` may get before they show as stale."""
    retries: RetrySpec = Field(default_factory=RetrySpec)
    """`{max_retries, delay_seconds}` for transient failures (3, 10: exponential backoff with jitter)"""

    _cron = field_validator("retrain_cron", "scoring_cron", "monitoring_cron")(
        classmethod(lambda cls, v: _valid_cron(v))
    )
    _tz = field_validator("timezone")(classmethod(lambda cls, v: v if v is None else PartitionSpec._known_timezone(v)))


class PredictionStoreSpec(_Strict):
    enabled: bool = False
    """Publish the newest day's predictions to Redis ($ML_ASSETS_REDIS_URL), keyed by entity id, for online
    lookups (`ml-assets lookup ID`). Off by default: the embedded default runs no servers.
    """
    ttl_hours: float = Field(default=48, gt=0)
    """The published set expires this long after the last publish, so a stalled pipeline stops serving
    stale predictions.
    """
    key_prefix: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.:-]+$")
    """Redis keys start with this (default: the pipeline's name)."""


class LabelsSpec(_Strict):
    uri: str = Field(description="Folder or s3:// prefix holding <arrival YYYY-MM-DD>/<file> label files.")
    """Labels that land after the predictions (a churn, a click, a payment): files under <uri>/<arrival
    YYYY-MM-DD>/<any name>.<format>, each row the entity id, the event time (or only the event's day,
    YYYY-MM-DD) and the label, in the columns named by `columns`.
    """
    format: Literal["csv", "parquet"] = "csv"
    """`csv` or `parquet`."""
    max_delay_days: int = Field(default=7, ge=0, le=366)
    """Labels for day D are read from the arrival folders D .. D+max_delay_days; later ones are not counted
    (the day's realized quality is final once that many days have passed).
    """
    min_labeled_rows: int = Field(default=100, ge=1)
    """Below this many labelled predictions a day's realized quality is shown but not judged."""
    quality_threshold: float | None = None
    """The worst acceptable realized value of model.metric (a floor for roc_auc, pr_auc, f1, r2; a ceiling
    for log_loss, rmse, mae). None: the model must beat the day's trivial baseline.
    """


class RetentionSpec(_Strict):
    days: int | None = Field(default=None, ge=1)
    """Partitions of raw_data, features, training_set and batch_predictions older than this many days
    (before the newest complete day) are deleted by retention_job. None: keep everything.
    """
    model_version_days: int | None = Field(default=None, ge=1)
    """Delete registered versions older than this (default none), keeping the newest `keep_model_versions`
    and any with an alias.
    """
    keep_model_versions: int = Field(default=5, ge=1)
    """The newest N versions are always kept, whatever their age (rollback targets)."""
    cron: str = "30 4 * * *"
    """When retention_schedule runs (in automation.timezone); it starts RUNNING once days or
    model_version_days is set.
    """

    _cron = field_validator("cron")(classmethod(lambda cls, v: _valid_cron(v)))

    @property
    def enabled(self) -> bool:
        return self.days is not None or self.model_version_days is not None


class RolloutSpec(_Strict):
    mode: Literal["immediate", "shadow", "ab"] = "immediate"
    """How a candidate that passes the holdout gate takes over. `immediate`: it becomes `champion` at once.
    `shadow`: it becomes `challenger` and scores every live day beside the champion, whose predictions are
    still the ones served; `ab`: it becomes `challenger` and serves a sticky `share` of entities. In both, the
    delayed labels decide (`rollout_decision`): promoted when better with confidence, stopped on harm or
    at `max_days`. Needs a `labels` section. See docs/rollouts.md.
    """
    share: float = Field(default=0.25, gt=0, lt=1)
    """`ab`: the share of entities the challenger serves, by a hash of the experiment and the entity id, so an
    entity keeps its arm every day; raising it only moves entities to the challenger.
    """
    min_labeled_rows: int = Field(default=500, ge=1)
    """No promotion before this many labelled rows (all days of the experiment together)."""
    min_days: int = Field(default=3, ge=1)
    """No promotion before this many live days with labels. The rows of one day share its conditions (the
    weather, a holiday, an outage), so one day is no sample of days; from the second day on, the spread of
    the days' results widens the interval too.
    """
    max_days: int = Field(default=14, ge=1)
    """Live days after which an experiment without a conclusion stops; the champion stays."""
    alpha: float = Field(default=0.05, gt=0, lt=0.5)
    """The sequential test's error rate: the chance of ever promoting a challenger that is not better, however
    often the experiment is looked at.
    """
    min_improvement: float = Field(default=0.0, ge=0)
    """How much lower the challenger's per-row loss (Brier score, or squared error for a regressor) must be,
    with confidence, to be promoted. 0: better at all.
    """
    guardrail: float = Field(default=0.0, ge=0)
    """Stop the experiment as soon as the challenger's loss is higher than the champion's by more than this,
    with confidence. 0: stop on any harm that the test can see.
    """
    approval: Literal["none", "required"] = "none"
    """`required`: a decided promotion (or, in `immediate` mode, a candidate that passes the gate) waits for
    a person: `ml-assets approve --model M --version N`, `ml-assets reject ...`, or the model version's tag
    `approval` set to `approved` / `rejected` in the MLflow UI.
    """
    srm_p_value: float = Field(default=0.001, gt=0, lt=1)
    """`ab`: a day whose arms' row counts are this unlikely under `share` fails the blocking sample-ratio
    check, and is not counted by the decision.
    """

    @model_validator(mode="after")
    def _days_fit(self) -> RolloutSpec:
        if self.min_days > self.max_days:
            raise ValueError(
                f"min_days ({self.min_days}) is more than max_days ({self.max_days}): no experiment could promote"
            )
        return self

    @property
    def experimenting(self) -> bool:
        """A candidate that passes the gate becomes `challenger` and waits (for labels or a person)."""
        return self.mode != "immediate" or self.approval == "required"
