"""The pipeline spec: one YAML file that holds every parameter of a pipeline.

Loaded and validated with pydantic. A wrong or missing field raises `SpecError`
naming the field and the file. `${VAR}` and `${VAR:-default}` in string values are
replaced from the environment before validation, so one spec serves a laptop
(local folders) and production (S3) without edits.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib
import inspect
import json
import os
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

CLASSIFICATION_METRICS = {"roc_auc": "max", "pr_auc": "max", "log_loss": "min", "f1": "max"}
REGRESSION_METRICS = {"rmse": "min", "mae": "min", "r2": "max"}
DERIVED_FEATURES = {"day_of_week": "categorical", "hour_of_day": "numeric", "month": "categorical"}
# Estimators are named by dotted path; only scikit-learn's own are allowed, so a spec cannot
# import arbitrary code and the saved model only holds types skops can load safely.
ALLOWED_ESTIMATOR_PREFIX = "sklearn."
_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"


class SpecError(ValueError):
    """A spec file that cannot be used; the message names the file and the field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LandingSpec(_Strict):
    uri: str = Field(description="Folder or s3:// prefix holding <YYYY-MM-DD>/<file> landing files.")
    format: Literal["csv", "parquet"] = "csv"


class PartitionSpec(_Strict):
    start_date: dt.date
    # The last day of a finished dataset (a year of history, say). None: days run up to yesterday.
    end_date: dt.date | None = None
    timezone: str = "UTC"

    @model_validator(mode="after")
    def _end_after_start(self) -> PartitionSpec:
        if self.end_date is not None and self.end_date < self.start_date:
            raise ValueError(f"end_date: {self.end_date} is before start_date {self.start_date}")
        return self

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        import zoneinfo

        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value


class ColumnsSpec(_Strict):
    entity_id: str
    event_time: str
    label: str


# Label values as files write them: 1, 1.0, "1", true, "yes" all mean the same class.
_TRUE_WORDS = {"true", "t", "yes", "y"}
_FALSE_WORDS = {"false", "f", "no", "n"}


def label_token(value: Any) -> str:
    """The canonical form of one label value, however YAML or a file writes it: numbers by value
    (1, 1.0, "1.0" -> "1"), booleans and yes/no as 1/0 ("true", "Yes" -> "1"), other text as written
    (stripped). Two values are the same class when their tokens are equal."""
    if isinstance(value, bool):
        return "1" if value else "0"
    text = str(value).strip()
    lower = text.lower()
    if lower in _TRUE_WORDS:
        return "1"
    if lower in _FALSE_WORDS:
        return "0"
    try:
        number = float(text)
    except ValueError:
        return text
    if number != number or number in (float("inf"), float("-inf")):
        return text
    return str(int(number)) if number.is_integer() else repr(number)


class TaskSpec(_Strict):
    type: Literal["binary_classification", "regression"]
    # The label value that counts as the positive class (classification only), matched however the
    # files write it: 1 matches "1", "1.0", 1.0, "true" and "yes".
    positive_label: str | int | float | bool | None = None
    # The other class. Default: the opposite of a 1/0/true/false/yes/no positive label; required for
    # any other positive label (e.g. positive_label: M, negative_label: B). Any label value that is
    # neither class rejects the file at ingest.
    negative_label: str | int | float | bool | None = None

    @model_validator(mode="after")
    def _two_classes(self) -> TaskSpec:
        if self.type != "binary_classification" or self.positive_label is None:
            return self
        positive = label_token(self.positive_label)
        if self.negative_label is None and positive not in ("0", "1"):
            raise ValueError(
                f"negative_label: required when positive_label ({self.positive_label!r}) is not 1/0/true/false/yes/no"
            )
        if self.negative_label is not None and label_token(self.negative_label) == positive:
            raise ValueError(f"negative_label: {self.negative_label!r} is the same class as positive_label {self.positive_label!r}")
        return self

    @property
    def classes(self) -> tuple[str, str]:
        """(positive, negative) label tokens (see `label_token`)."""
        positive = label_token(self.positive_label)
        negative = label_token(self.negative_label) if self.negative_label is not None else ("0" if positive == "1" else "1")
        return positive, negative


class FeatureSpec(_Strict):
    name: str
    kind: Literal["numeric", "categorical"]
    # Row-wise transform applied by the feature module before the model's Pipeline.
    transform: Literal["none", "log1p"] = "none"
    # Data contract, checked on raw_data (blocking): value range, null rate, allowed categories.
    min: float | None = None
    max: float | None = None
    max_null_rate: float | None = Field(default=None, ge=0, le=1)
    allowed: list[str] | None = None
    # Judge this feature's drift against the training reference. Turn off for a column that is
    # constant within a day by nature (a season, a weekday, a daily price): its one-day distribution
    # always differs from a multi-day reference. Such columns are also detected from the reference
    # and reported as not judged.
    drift: bool = True

    @model_validator(mode="after")
    def _transform_fits_kind(self) -> FeatureSpec:
        if self.transform != "none" and self.kind != "numeric":
            raise ValueError(f"transform: {self.transform!r} applies to numeric features only")
        if self.kind == "numeric" and self.allowed is not None:
            raise ValueError("allowed: applies to categorical features only (use min/max for numeric ones)")
        if self.kind == "categorical" and (self.min is not None or self.max is not None):
            raise ValueError("min: min/max apply to numeric features only (use allowed for categorical ones)")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min: {self.min} is above max {self.max}")
        return self


class TrainingSpec(_Strict):
    window_days: int = Field(ge=2, description="Days of features the model trains on (incl. holdout).")
    holdout_days: int = Field(ge=1, description="The last K days of the window, held out by time.")

    @model_validator(mode="after")
    def _holdout_inside_window(self) -> TrainingSpec:
        if self.holdout_days >= self.window_days:
            raise ValueError(
                f"holdout_days: {self.holdout_days} must be smaller than window_days ({self.window_days})"
            )
        return self


class CandidateSpec(_Strict):
    name: str = Field(pattern=_NAME)
    estimator: str
    params: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _estimator_and_params_exist(self) -> CandidateSpec:
        if not self.estimator.startswith(ALLOWED_ESTIMATOR_PREFIX):
            raise ValueError(f"estimator {self.estimator!r} must be a scikit-learn class (sklearn.…)")
        cls = estimator_class(self.estimator)
        accepted = set(inspect.signature(cls.__init__).parameters) - {"self"}
        unknown = sorted(set(self.params) - accepted)
        if unknown:
            raise ValueError(f"{self.estimator} has no parameter(s) {unknown}; it accepts {sorted(accepted)}")
        return self


class ModelSpec(_Strict):
    candidates: list[CandidateSpec] = Field(min_length=2)
    metric: str
    # Score at or above which a row is predicted positive (classification only).
    threshold: float = Field(default=0.5, gt=0, lt=1)

    @field_validator("candidates")
    @classmethod
    def _unique_names(cls, value: list[CandidateSpec]) -> list[CandidateSpec]:
        names = [c.name for c in value]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"candidate names must be unique; repeated: {dupes}")
        return value


class DriftLimits(_Strict):
    psi: float = Field(gt=0)
    ks: float = Field(gt=0, le=1)


class ValidationSpec(_Strict):
    # Row count of one day (raw_data and features); outside it the day is blocked.
    min_rows: int = Field(default=1, ge=1)
    max_rows: int | None = Field(default=None, ge=1)
    # Null rate allowed for a feature that does not set its own max_null_rate.
    max_null_rate: float = Field(default=0.5, ge=0, le=1)
    # Statistical bounds learned from the champion's training reference (WARN): a day's mean and
    # quantiles may move by `stat_tolerance` reference standard deviations, its standard deviation
    # by that fraction of the reference's.
    stat_tolerance: float = Field(default=0.5, gt=0)
    # Per-feature drift of a day against the champion's training reference: WARN above
    # drift_warn, ERROR (blocking) above drift_error. KS applies to numeric features.
    drift_warn: DriftLimits = Field(default_factory=lambda: DriftLimits(psi=0.1, ks=0.1))
    # Below this many rows a day's PSI/KS is mostly sampling noise (PSI over 10 bins is ~10/rows
    # for identical distributions), so drift (features and scores) is not judged: the check passes
    # with "not judged: N rows < drift_min_rows" in its description, and the page shows the day hollow.
    drift_min_rows: int = Field(default=200, ge=1)
    drift_error: DriftLimits = Field(default_factory=lambda: DriftLimits(psi=0.25, ks=0.2))
    # Drift of the day's scores against the holdout's scores (the prediction-drift check).
    prediction_drift_warn: DriftLimits = Field(default_factory=lambda: DriftLimits(psi=0.1, ks=0.1))
    prediction_drift_error: DriftLimits = Field(default_factory=lambda: DriftLimits(psi=0.25, ks=0.2))

    @model_validator(mode="after")
    def _ordered(self) -> ValidationSpec:
        if self.max_rows is not None and self.max_rows < self.min_rows:
            raise ValueError(f"max_rows: {self.max_rows} is below min_rows {self.min_rows}")
        for warn, error, name in ((self.drift_warn, self.drift_error, "drift_error"),
                                  (self.prediction_drift_warn, self.prediction_drift_error, "prediction_drift_error")):
            if error.psi < warn.psi or error.ks < warn.ks:
                raise ValueError(f"{name}: must not be below the matching warn limits")
        return self


class RegistrySpec(_Strict):
    # The registered model in MLflow's registry; default: the pipeline's name.
    model_name: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]+$")
    # A challenger may be this much worse than the champion (in the metric's units) and still
    # replace it: 0 means "at least as good".
    tolerance: float = Field(default=0.0, ge=0)


def _valid_cron(value: str) -> str:
    from dagster._utils.schedules import is_valid_cron_string

    if not is_valid_cron_string(value):
        raise ValueError(f"{value!r} is not a cron expression (e.g. '0 3 * * 1': Mondays 03:00)")
    return value


class FreshnessLimit(_Strict):
    # An asset not materialized for `fail_after_hours` shows as failing freshness in the UI
    # (`warn_after_hours`: warning). Dagster evaluates this at most once a minute.
    fail_after_hours: float = Field(ge=1 / 60)
    warn_after_hours: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _warn_before_fail(self) -> FreshnessLimit:
        if self.warn_after_hours is not None and self.warn_after_hours >= self.fail_after_hours:
            raise ValueError(f"warn_after_hours: {self.warn_after_hours} must be below fail_after_hours ({self.fail_after_hours})")
        return self


class FreshnessSpec(_Strict):
    batch_predictions: FreshnessLimit = Field(default_factory=lambda: FreshnessLimit(fail_after_hours=26, warn_after_hours=24))
    model: FreshnessLimit = Field(default_factory=lambda: FreshnessLimit(fail_after_hours=8 * 24, warn_after_hours=7 * 24))


class RetrySpec(_Strict):
    # Steps that touch storage (S3) or MLflow retry transient failures: delay, 2*delay, 4*delay...
    # (+/- jitter). Bad data is never retried: it fails at once with its reason.
    max_retries: int = Field(default=3, ge=0, le=10)
    delay_seconds: float = Field(default=10, ge=0)


class AutomationSpec(_Strict):
    # Start the landing sensor, the automation-condition sensor and the run-failure alert
    # sensor as RUNNING when the code location first loads (they can be toggled in the UI).
    enabled: bool = True
    # Start the fallback schedules (retraining_schedule, scoring_schedule) as RUNNING.
    schedules_enabled: bool = False
    # How often the landing sensor lists the landing location, and how far before the newest
    # file it still looks for files it has not seen (slow uploads, clock skew, moved-in files).
    landing_sensor_interval_seconds: int = Field(default=30, ge=1)
    landing_lookback_seconds: int = Field(default=3600, ge=1)
    # How often declarative automation evaluates the graph.
    automation_interval_seconds: int = Field(default=30, ge=1)
    # Retraining cron (default: Mondays 03:00) and scoring cron (daily 06:00), in `timezone`
    # (default: partitions.timezone). Retraining also runs when a blocking drift check fails.
    retrain_cron: str = "0 3 * * 1"
    scoring_cron: str = "0 6 * * *"
    timezone: str | None = None
    retrain_on_drift: bool = True
    # Retrain when the newest day with enough labels falls below labels.quality_threshold (the
    # monitoring page's latest_realized_quality check fails).
    retrain_on_quality_drop: bool = True
    # The monitoring page is rebuilt when its data changes, and at least once a day at this time.
    monitoring_cron: str = "0 7 * * *"
    freshness: FreshnessSpec = Field(default_factory=FreshnessSpec)
    retries: RetrySpec = Field(default_factory=RetrySpec)

    _cron = field_validator("retrain_cron", "scoring_cron", "monitoring_cron")(classmethod(lambda cls, v: _valid_cron(v)))
    _tz = field_validator("timezone")(classmethod(lambda cls, v: v if v is None else PartitionSpec._known_timezone(v)))


class PredictionStoreSpec(_Strict):
    # Publish the newest day's predictions to Redis ($ML_ASSETS_REDIS_URL), keyed by entity id, for
    # online lookups (`ml-assets lookup ID`). Off by default: the embedded default runs no servers.
    enabled: bool = False
    # The published set expires this long after the last publish, so a stalled pipeline stops
    # serving stale predictions.
    ttl_hours: float = Field(default=48, gt=0)
    # Redis keys start with this (default: the pipeline's name).
    key_prefix: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.:-]+$")


class LabelsSpec(_Strict):
    # Labels that land after the predictions (a churn, a click, a payment): files under
    # <uri>/<arrival YYYY-MM-DD>/<any name>.<format>, each row the entity id, the event time (or only
    # the event's day, YYYY-MM-DD) and the label, in the columns named by `columns`.
    uri: str = Field(description="Folder or s3:// prefix holding <arrival YYYY-MM-DD>/<file> label files.")
    format: Literal["csv", "parquet"] = "csv"
    # Labels for day D are read from the arrival folders D .. D+max_delay_days; later ones are not
    # counted (the day's realized quality is final once that many days have passed).
    max_delay_days: int = Field(default=7, ge=0, le=366)
    # Below this many labelled predictions a day's realized quality is shown but not judged.
    min_labeled_rows: int = Field(default=100, ge=1)
    # The worst acceptable realized value of model.metric (a floor for roc_auc, pr_auc, f1, r2; a
    # ceiling for log_loss, rmse, mae). None: the model must beat the day's trivial baseline.
    quality_threshold: float | None = None


class RetentionSpec(_Strict):
    # Partitions of raw_data, features, training_set and batch_predictions older than this many days
    # (before the newest complete day) are deleted by retention_job. None: keep everything.
    days: int | None = Field(default=None, ge=1)
    # Registered model versions created more than this many days ago are deleted. None: keep all.
    model_version_days: int | None = Field(default=None, ge=1)
    # The newest N versions are always kept, whatever their age (rollback targets).
    keep_model_versions: int = Field(default=5, ge=1)
    # When retention_schedule runs (in automation.timezone); it starts RUNNING once days or
    # model_version_days is set.
    cron: str = "30 4 * * *"

    _cron = field_validator("cron")(classmethod(lambda cls, v: _valid_cron(v)))

    @property
    def enabled(self) -> bool:
        return self.days is not None or self.model_version_days is not None


class PipelineSpec(_Strict):
    name: str = Field(pattern=_NAME)
    description: str = ""
    landing: LandingSpec
    partitions: PartitionSpec
    columns: ColumnsSpec
    task: TaskSpec
    features: list[FeatureSpec] = Field(min_length=1)
    derived_features: list[Literal["day_of_week", "hour_of_day", "month"]] = Field(default_factory=list)
    training: TrainingSpec
    model: ModelSpec
    registry: RegistrySpec = Field(default_factory=RegistrySpec)
    validation: ValidationSpec = Field(default_factory=ValidationSpec)
    automation: AutomationSpec = Field(default_factory=AutomationSpec)
    prediction_store: PredictionStoreSpec = Field(default_factory=PredictionStoreSpec)
    labels: LabelsSpec | None = None
    retention: RetentionSpec = Field(default_factory=RetentionSpec)
    seed: int = 0

    @model_validator(mode="after")
    def _consistent(self) -> PipelineSpec:
        names = [f.name for f in self.features]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"features: repeated names {dupes}")
        reserved = {self.columns.entity_id, self.columns.event_time, self.columns.label}
        clash = sorted(reserved & set(names))
        if clash:
            raise ValueError(f"features: {clash} is also the entity id, event time or label column")
        clash = sorted(set(self.derived_features) & set(names))
        if clash:
            raise ValueError(f"derived_features: {clash} clashes with a feature of the same name")
        metrics = CLASSIFICATION_METRICS if self.is_classification else REGRESSION_METRICS
        if self.model.metric not in metrics:
            raise ValueError(
                f"model.metric: {self.model.metric!r} does not fit task {self.task.type!r}; "
                f"choose one of {sorted(metrics)}"
            )
        if self.is_classification and self.task.positive_label is None:
            raise ValueError("task.positive_label: required for binary_classification")
        if (keep := self.retention.days) is not None:
            # The next training window and the days whose labels may still land must survive.
            need = max(self.training.window_days, (self.labels.max_delay_days + 1) if self.labels else 0)
            if keep < need:
                raise ValueError(
                    f"retention.days: {keep} would delete data still needed: keep at least {need} days "
                    f"(training.window_days {self.training.window_days}"
                    + (f", labels.max_delay_days {self.labels.max_delay_days} + 1)" if self.labels else ")")
                )
        from sklearn.base import is_classifier, is_regressor

        for i, cand in enumerate(self.model.candidates):
            kind, test = ("classifier", is_classifier) if self.is_classification else ("regressor", is_regressor)
            if not test(estimator_class(cand.estimator)()):
                raise ValueError(
                    f"model.candidates.{i}.estimator: {cand.estimator} ('{cand.name}') is not a {kind}, "
                    f"as task {self.task.type!r} needs"
                )
        return self

    # -- derived views -------------------------------------------------------------------
    @property
    def is_classification(self) -> bool:
        return self.task.type == "binary_classification"

    @property
    def metric_direction(self) -> str:
        return {**CLASSIFICATION_METRICS, **REGRESSION_METRICS}[self.model.metric]

    @property
    def automation_timezone(self) -> str:
        return self.automation.timezone or self.partitions.timezone

    @property
    def registered_model_name(self) -> str:
        return self.registry.model_name or self.name

    @property
    def numeric_features(self) -> list[str]:
        derived = [d for d in self.derived_features if DERIVED_FEATURES[d] == "numeric"]
        return [f.name for f in self.features if f.kind == "numeric"] + derived

    @property
    def categorical_features(self) -> list[str]:
        derived = [d for d in self.derived_features if DERIVED_FEATURES[d] == "categorical"]
        return [f.name for f in self.features if f.kind == "categorical"] + derived

    @property
    def model_inputs(self) -> list[str]:
        return self.numeric_features + self.categorical_features

    def section_hash(self, *sections: str) -> str:
        """A short, stable hash of some top-level sections: feeds assets' code versions."""
        data = self.model_dump(mode="json", include=set(sections))
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:12]

    @property
    def spec_hash(self) -> str:
        return self.section_hash(*type(self).model_fields)


def estimator_class(dotted: str) -> type:
    module_name, _, class_name = dotted.rpartition(".")
    try:
        module = importlib.import_module(module_name)
        return getattr(module, class_name)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ValueError(f"cannot import estimator {dotted!r}: {exc}") from exc


_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def _substitute_env(value: Any, where: str, source: str) -> Any:
    if isinstance(value, dict):
        return {k: _substitute_env(v, f"{where}.{k}" if where else str(k), source) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute_env(v, f"{where}.{i}", source) for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def repl(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in os.environ:
            return os.environ[name]
        if default is not None:
            return default
        raise SpecError(f"{source}: field '{where}': environment variable {name} is not set and has no default")

    return _VAR.sub(repl, value)


def parse_spec(data: Any, source: str = "<spec>") -> PipelineSpec:
    if not isinstance(data, dict):
        raise SpecError(f"{source}: the spec must be a YAML mapping, got {type(data).__name__}")
    data = _substitute_env(data, "", source)
    try:
        return PipelineSpec.model_validate(data)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            field = ".".join(str(p) for p in err["loc"])
            msg = err["msg"].removeprefix("Value error, ")
            # Cross-field checks report their field as "path.to.field: message".
            if match := re.match(r"^([A-Za-z_][\w.]*): (.*)$", msg, re.S):
                field = ".".join(filter(None, [field, match.group(1)]))
                msg = match.group(2)
            field = field or "(top level)"
            if err["type"] == "missing":
                msg = "required field is missing"
            elif err["type"] == "extra_forbidden":
                msg = "unknown field (check the spelling against the spec reference in README.md)"
            lines.append(f"  field '{field}': {msg}")
        raise SpecError(f"{source}: invalid pipeline spec:\n" + "\n".join(lines)) from None


def load_spec(path: str | os.PathLike[str]) -> PipelineSpec:
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise SpecError(f"{path}: spec file not found") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SpecError(f"{path}: not valid YAML: {exc}") from None
    return parse_spec(data, source=str(path))
