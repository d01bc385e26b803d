"""Run jobs of the graph for given days through a Dagster instance (used by `ml-assets demo` and tests)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from dagster import DagsterInstance, ExecuteInProcessResult

from ml_assets.core.spec import PipelineSpec
from ml_assets.definitions import build_definitions
from ml_assets.defs.sensors import failure_text

QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


class JobFailed(RuntimeError):
    def __init__(self, job_name: str, day: str | None, result: ExecuteInProcessResult):
        self.result = result
        self.errors = [
            f"{e.step_key}: {failure_text(e.step_failure_data)}"
            for e in result.all_events
            if e.is_step_failure
        ]
        super().__init__(f"{job_name} for {day} failed:\n" + "\n".join(self.errors))


def run_days(
    spec: PipelineSpec,
    spec_path: str,
    steps: Sequence[tuple[str, str | None]],
    instance: DagsterInstance,
    storage_uri: str | None = None,
    tracking_uri: str | None = None,
    asset_checks: list | None = None,
    progress: Callable | None = None,
) -> list[ExecuteInProcessResult]:
    """Run each (job name, partition day) in order, in process, recorded in `instance` (day None: an
    unpartitioned job such as monitoring_job).

    Stops at the first failure with `JobFailed`, whose message holds each failed step's error.
    The run's full log stays in the instance; the console only shows warnings.
    """
    defs = build_definitions(spec, spec_path, storage_uri=storage_uri, tracking_uri=tracking_uri, asset_checks=asset_checks)
    results = []
    for i, (job_name, day) in enumerate(steps, start=1):
        started = time.monotonic()
        result = defs.resolve_job_def(job_name).execute_in_process(
            partition_key=day, instance=instance, raise_on_error=False, run_config=QUIET
        )
        if progress:
            progress(i, len(steps), job_name, day, result, time.monotonic() - started)
        if not result.success:
            raise JobFailed(job_name, day, result)
        results.append(result)
    return results
