"""Where the steps of a run execute, chosen by $ML_ASSETS_EXECUTOR.

* `default`: daily runs (ingest, features, scoring, checks) in the run's own process (one set of
  imports per run); training runs in a forkserver process pool, so candidates train in parallel.
* `celery`: the steps of training runs (and of `full_pipeline_job`) are Celery tasks, executed by
  `dagster-celery` workers on any number of machines (dagster-celery's executor; see
  docs/production.md, "Scale-out"); daily runs keep their steps in the run's own process. A daily
  step is small (about a second for a model-day) and a Celery task costs about 3 s of hand-off: a
  day of 100 models with every step on Celery scored 10 of them in 10 minutes, with a day's steps
  in process all 100 in 343 s (BENCHMARKS.md, section 12).
* `celery_all`: every step of every run is a Celery task, daily ones included: for days whose
  steps outgrow the machine that runs the run processes.
Both need a persistent Dagster instance (Postgres) and storage every worker reaches (S3), like any
multi-machine setup.
"""

import os

from dagster import ExecutorDefinition, in_process_executor, multiprocess_executor

EXECUTOR_ENV = "ML_ASSETS_EXECUTOR"
CELERY_BROKER_ENV = "ML_ASSETS_CELERY_BROKER"
CELERY_BACKEND_ENV = "ML_ASSETS_CELERY_BACKEND"

# Each step in its own process, so the candidates train in parallel; the processes are forked from
# a server that has already imported the heavy libraries, so a step starts in well under a
# second instead of paying ~5 s of imports (pandas, scikit-learn, Great Expectations, MLflow).
# ml_assets.graph.runtime.step_guard first: it makes each step process die with its run (see there).
PRELOAD_MODULES = [
    "ml_assets.graph.runtime.step_guard",
    "dagster._core.executor.multiprocess",
    "ml_assets.definitions",
    "ml_assets.core.expectations",
    "great_expectations",
    "mlflow",
    "sklearn.ensemble",
    "pyarrow.parquet",
    "skops.io",
]
PARALLEL = multiprocess_executor.configured(
    {"start_method": {"forkserver": {"preload_modules": PRELOAD_MODULES}}}, name="parallel_steps"
)


class ExecutorConfigError(ValueError):
    pass


def executors_from_env(env=os.environ) -> tuple[ExecutorDefinition, ExecutorDefinition]:
    """(executor of daily runs, executor of training runs) for $ML_ASSETS_EXECUTOR."""
    name = env.get(EXECUTOR_ENV, "default").strip().lower() or "default"
    if name == "default":
        return in_process_executor, PARALLEL
    if name in ("celery", "celery_all"):
        missing = [var for var in (CELERY_BROKER_ENV, CELERY_BACKEND_ENV) if not env.get(var)]
        if missing:
            raise ExecutorConfigError(
                f"{EXECUTOR_ENV}={name} needs {' and '.join(missing)} (e.g. redis://host:6379/0 for both; "
                "the same values as the workers' deploy/celery.yaml reads)"
            )
        from dagster_celery import celery_executor

        # The URLs are read from the environment when a run starts, not copied into the job's
        # definition: they may hold a password, and the UI shows a job's executor config.
        celery = celery_executor.configured(
            {"broker": {"env": CELERY_BROKER_ENV}, "backend": {"env": CELERY_BACKEND_ENV}}, name="celery"
        )
        return (celery if name == "celery_all" else in_process_executor), celery
    raise ExecutorConfigError(f"{EXECUTOR_ENV}={name!r} is not an executor: use 'default', 'celery' or 'celery_all'")
