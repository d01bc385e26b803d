"""The project's definitions (spec from $ML_ASSETS_SPEC) plus `training_job_sequential`: the same
selection as `training_job`, on the same forkserver process pool limited to one step at a time.
Loaded by the training benchmark through `dagster job execute -m bench.training_defs`."""

from dagster import Definitions, define_asset_job, multiprocess_executor

from ml_assets.core.spec import load_spec
from ml_assets.definitions import build_definitions, spec_path_from_env
from ml_assets.defs.executors import PRELOAD_MODULES
from ml_assets.defs.jobs import TRAINING, TRAINS

SEQUENTIAL = multiprocess_executor.configured(
    {"max_concurrent": 1, "start_method": {"forkserver": {"preload_modules": PRELOAD_MODULES}}}, name="sequential_steps",
)

_spec_path = spec_path_from_env()
defs = Definitions.merge(
    build_definitions(load_spec(_spec_path), str(_spec_path)),
    Definitions(jobs=[define_asset_job("training_job_sequential", selection=TRAINING, executor_def=SEQUENTIAL, tags=TRAINS)]),
)
