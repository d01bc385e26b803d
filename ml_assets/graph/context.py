"""`Pipeline`: what every builder of one model's definitions needs, in one object.

One code location serves many models (one `MLPipeline` component instance per spec), so every
name a model defines is qualified by the spec's name: asset keys are prefixed (`demo/features`),
and jobs, sensors, schedules, ops and groups are `demo__<name>`. The builders ask this object for
those names instead of writing them, so no two models can clash.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from dagster import AssetIn, AssetKey, AssetSelection, DailyPartitionsDefinition
from upath import UPath

from ml_assets.core.spec import PipelineSpec
from ml_assets.graph.runtime.partitions import daily_partitions

SEP = "__"  # between the model's name and a job, sensor, schedule, op or group name


def qualified_name(model: str, name: str) -> str:
    """A job, sensor, schedule, op or group name of `model`: `<model>__<name>`."""
    return f"{model}{SEP}{name}"


def promotion_pool(model: str) -> str:
    """The Dagster pool of a model's registering step: one at a time (limit 1)."""
    return qualified_name(model, "promotion")


MODEL_TAG = "ml_assets/model"  # on every run of a model's jobs, sensors and schedules
# What started a run (landing_sensor, labels_sensor, a schedule): only the landing sensor's runs
# skip a day whose files and ingest code are unchanged.
TRIGGER_TAG = "ml_assets/trigger"


@dataclass(frozen=True)
class Pipeline:
    spec: PipelineSpec
    spec_path: str
    base: UPath  # this model's folder in the asset store: <storage>/<spec name>
    extra_checks: tuple = field(default=())  # checks added by the caller (tests, users) to the spec's own

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def in_spec(self) -> str:
        return f"(spec: {self.spec_path})"

    @property
    def tags(self) -> dict[str, str]:
        return {MODEL_TAG: self.name}

    def key(self, asset: str) -> AssetKey:
        return AssetKey([self.name, asset])

    def asset_in(self, asset: str, **kwargs) -> AssetIn:
        return AssetIn(key=self.key(asset), **kwargs)

    def select(self, *assets: str) -> AssetSelection:
        return AssetSelection.assets(*(self.key(a) for a in assets))

    def all_assets(self) -> AssetSelection:
        return AssetSelection.key_prefixes([self.name])

    def qualified(self, name: str) -> str:
        """A job, sensor, schedule, op or group name of this model: `<model>__<name>`."""
        return qualified_name(self.name, name)

    @cached_property
    def daily(self) -> DailyPartitionsDefinition:
        return daily_partitions(self.spec)

    @cached_property
    def retry(self):
        from ml_assets.graph.automation.policies import step_retry_policy

        return step_retry_policy(self.spec)


def model_of(name: str) -> str | None:
    """The model a qualified job/sensor name belongs to (`demo__training_job` -> `demo`)."""
    model, sep, _ = name.partition(SEP)
    return model if sep else None
