"""`Pipeline`: what every builder of one model's definitions needs, in one object.

One code location serves many models (one `MLPipeline` component instance per spec), so every
name a model defines is qualified by the spec's name: asset keys are prefixed (`demo/features`),
and jobs, sensors, schedules, ops and groups are `demo__<name>`. The builders ask this object for
those names instead of writing them, so no two models can clash.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from functools import cached_property

from dagster import AssetIn, AssetKey, AssetSelection, DailyPartitionsDefinition
from upath import UPath

from ml_assets.core.spec import PipelineSpec

SEP = "__"  # between the model's name and a job, sensor, schedule, op or group name


def promotion_pool(model: str) -> str:
    """The Dagster pool of a model's registering step: one at a time (limit 1)."""
    return f"{model}{SEP}promotion"


MODEL_TAG = "ml_assets/model"  # on every run of a model's jobs, sensors and schedules


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
        return f"{self.name}{SEP}{name}"

    @cached_property
    def daily(self) -> DailyPartitionsDefinition:
        return daily_partitions(self.spec)

    @cached_property
    def retry(self):
        from ml_assets.graph.policies import step_retry_policy

        return step_retry_policy(self.spec)


def daily_partitions(spec: PipelineSpec) -> DailyPartitionsDefinition:
    """One partition per day from start_date to end_date (inclusive; Dagster's end is exclusive), or
    up to the newest complete day when the spec sets no end."""
    end = spec.partitions.end_date
    return DailyPartitionsDefinition(
        start_date=spec.partitions.start_date.isoformat(),
        end_date=(end + dt.timedelta(days=1)).isoformat() if end else None,
        timezone=spec.partitions.timezone,
    )


def model_of(name: str) -> str | None:
    """The model a qualified job/sensor name belongs to (`demo__training_job` -> `demo`)."""
    model, sep, _ = name.partition(SEP)
    return model if sep else None
