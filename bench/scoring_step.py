"""Child process of the scoring benchmark: materialize one day's `batch_predictions` (only that
step, in process) in the project named by the environment, and print JSON: the step's seconds
(from Dagster's step start/success events), this process's peak RSS, and its RSS before the run;
then the same step once more in this process ("warm": imports done, the registry open and the
champion loaded, as for the second day of a range or of a long-lived worker) and its seconds.

    python -m bench.scoring_step <day>
"""

from __future__ import annotations

import json
import sys


def _status_kib(field: str) -> int:
    """VmHWM / VmRSS of this process from /proc (ru_maxrss would count the parent's peak: Linux
    keeps it across fork and exec)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def main(day: str) -> None:
    import os

    from dagster import AssetSelection, DagsterEventType, DagsterInstance, Definitions, define_asset_job

    from ml_assets.graph.pipeline import build_definitions
    from ml_assets.io.specs import load_spec

    spec_path = os.environ["ML_ASSETS_SPEC"]
    # The step alone: the project's definitions plus a job of batch_predictions without its checks.
    spec = load_spec(spec_path)
    step = f"{spec.name}__batch_predictions"
    only = define_asset_job(
        "bench_batch_predictions", selection=AssetSelection.assets([spec.name, "batch_predictions"]).without_checks()
    )
    defs = Definitions.merge(build_definitions(spec, spec_path), Definitions(jobs=[only]))
    job = defs.resolve_job_def("bench_batch_predictions")
    before = _status_kib("VmRSS") * 1024
    seconds, peak = [], None
    with DagsterInstance.get() as instance:
        for _ in range(2):
            result = job.execute_in_process(
                partition_key=day,
                instance=instance,
                raise_on_error=False,
                run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
            )
            peak = peak or _status_kib("VmHWM") * 1024
            if not result.success:
                raise SystemExit(
                    f"batch_predictions {day} failed: {[e.message for e in result.all_events if e.is_step_failure]}"
                )
            times = {
                e.dagster_event.event_type: e.timestamp
                for e in instance.all_logs(result.run_id)
                if e.step_key == step
                and e.dagster_event
                and e.dagster_event.event_type in (DagsterEventType.STEP_START, DagsterEventType.STEP_SUCCESS)
            }
            seconds.append(times[DagsterEventType.STEP_SUCCESS] - times[DagsterEventType.STEP_START])
            steps = {e.step_key for e in instance.all_logs(result.run_id) if e.step_key}
    print(
        json.dumps(
            {
                "seconds": seconds[0],
                "warm_seconds": seconds[1],
                "peak_rss": peak,
                "rss_before": before,
                "steps": sorted(steps),
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1])
