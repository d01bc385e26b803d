"""`PipelineSpec`, the whole spec, and `parse_spec`: from already-read data to a validated spec.

Validated with pydantic. A wrong or missing field raises `SpecError` naming the field and the
source. `${VAR}` and `${VAR:-default}` in string values are replaced from the `env` mapping the
caller passes (the loader in `ml_assets.io.specs` passes the process environment), so one spec
serves a laptop (local folders) and production (S3) without edits. Nothing here reads a file or
the environment.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field, ValidationError, ValidationInfo, field_validator, model_validator

from ml_assets.core import estimators
from ml_assets.core.estimators import Table
from ml_assets.core.gate import Metric
from ml_assets.core.spec.data_sections import (
    ColumnsSpec,
    FeatureSpec,
    LandingSpec,
    ModelSpec,
    PartitionSpec,
    TaskSpec,
    TrainingSpec,
)
from ml_assets.core.spec.operations_sections import (
    AutomationSpec,
    LabelsSpec,
    PredictionStoreSpec,
    RegistrySpec,
    RetentionSpec,
    RolloutSpec,
    ValidationSpec,
)
from ml_assets.core.spec.vocabulary import (
    _NAME,
    CLASSIFICATION_METRICS,
    DERIVED_FEATURES,
    ESTIMATORS,
    REGRESSION_METRICS,
    SpecError,
    _Strict,
    estimator_table,
)


class PipelineSpec(_Strict):
    name: str = Field(pattern=_NAME)
    """the pipeline's name (letters, digits, `_`): the folder its assets are stored under"""
    description: str = ""
    """free text"""
    landing: LandingSpec
    """Where this model's daily files arrive."""
    partitions: PartitionSpec
    """The days: one partition per day from `start_date`."""
    columns: ColumnsSpec
    """The three columns every landing file has."""
    task: TaskSpec
    """What is predicted."""
    features: list[FeatureSpec] = Field(min_length=1)
    """The model's inputs: one entry per column (name, kind, optional transform and contract)."""
    derived_features: list[Literal["day_of_week", "hour_of_day", "month"]] = Field(default_factory=list)
    """computed from the event time: `day_of_week`, `hour_of_day`, `month`"""
    training: TrainingSpec
    """The training window."""
    model: ModelSpec
    """The candidates, the selection metric and the decision threshold."""
    registry: RegistrySpec = Field(default_factory=RegistrySpec)
    """The MLflow registered model and the champion/challenger gate."""
    validation: ValidationSpec = Field(default_factory=ValidationSpec)
    """The data checks: contracts, statistics, drift limits."""
    automation: AutomationSpec = Field(default_factory=AutomationSpec)
    """Sensors, automation conditions, schedules, freshness and retries."""
    prediction_store: PredictionStoreSpec = Field(default_factory=PredictionStoreSpec)
    """Publishing the newest day's predictions to Redis for online lookups."""
    labels: LabelsSpec | None = None
    """Delayed labels, for realized quality after the model ships; none: not measured."""
    rollout: RolloutSpec = Field(default_factory=RolloutSpec)
    """How a new champion takes over: at once, or after proving itself on live days (shadow, A/B)."""
    retention: RetentionSpec = Field(default_factory=RetentionSpec)
    """Deleting old partitions and model versions (off by default)."""
    seed: int = 0
    """`random_state` of every candidate that takes one"""

    @field_validator("name")
    @classmethod
    def _no_separator(cls, value: str) -> str:
        # `__` separates a model's name from its jobs' and sensors' names (`churn__training_job`).
        if "__" in value:
            raise ValueError(f"{value!r} contains '__', which separates a model's name from its jobs' names")
        return value

    @model_validator(mode="after")
    def _consistent(self, info: ValidationInfo) -> PipelineSpec:
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
        if self.automation.retrain_on_estimated_drop and (self.labels is None or self.labels.quality_threshold is None):
            raise ValueError(
                "automation.retrain_on_estimated_drop: needs labels.quality_threshold, the value an estimate is "
                "compared with"
            )
        if self.rollout.mode != "immediate" and self.labels is None:
            raise ValueError(
                f"rollout.mode: {self.rollout.mode!r} is decided by delayed labels; add a `labels` section, "
                "or use mode 'immediate'"
            )
        kind = "classifier" if self.is_classification else "regressor"
        table = estimator_table(info)
        for i, cand in enumerate(self.model.candidates):
            if kind not in estimators.kinds(cand.estimator, table):
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
    def metric_direction(self) -> Literal["max", "min"]:
        return {**CLASSIFICATION_METRICS, **REGRESSION_METRICS}[self.model.metric]

    @property
    def metric(self) -> Metric:
        """The spec's selection metric, with its direction."""
        return Metric(self.model.metric, self.metric_direction)

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


_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def _substitute_env(value: Any, where: str, source: str, env: Mapping[str, str]) -> Any:
    if isinstance(value, dict):
        return {k: _substitute_env(v, f"{where}.{k}" if where else str(k), source, env) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute_env(v, f"{where}.{i}", source, env) for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def repl(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in env:
            return env[name]
        if default is not None:
            return default
        raise SpecError(f"{source}: field '{where}': environment variable {name} is not set and has no default")

    return _VAR.sub(repl, value)


def parse_spec(data: Any, source: str, estimators: Table, env: Mapping[str, str] | None = None) -> PipelineSpec:
    """Validate a spec's data (as YAML gives it) against the estimator table a candidate may name;
    `${VAR}` values come from `env` (none by default: only `${VAR:-default}` then resolves). Raises
    SpecError naming each bad field and `source`. `ml_assets.io.specs` reads files and passes both."""
    if not isinstance(data, dict):
        raise SpecError(f"{source}: the spec must be a YAML mapping, got {type(data).__name__}")
    data = _substitute_env(data, "", source, env or {})
    try:
        return PipelineSpec.model_validate(data, context={ESTIMATORS: estimators})
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
                msg = "unknown field (check the spelling against docs/spec-reference.md)"
            lines.append(f"  field '{field}': {msg}")
        raise SpecError(f"{source}: invalid pipeline spec:\n" + "\n".join(lines)) from None
