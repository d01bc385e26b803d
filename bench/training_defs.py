"""The project's definitions (spec from $ML_ASSETS_SPEC) plus `training_job_sequential`: the same
selection as `training_job`, on the same forkserver process pool limited to one step at a time.
Loaded by the training benchmark through `dagster job execute -m bench.training_defs`."""

from dagster import AssetKey, AssetSelection, Definitions, define_asset_job, multiprocess_executor

from ml_assets.graph.automation.jobs import TRAINING, TRAINS_TAG
from ml_assets.graph.pipeline import build_definitions
from ml_assets.graph.runtime.executors import PRELOAD_MODULES
from ml_assets.io.specs import load_spec, spec_path_from_env

SEQUENTIAL = multiprocess_executor.configured(
    {"max_concurrent": 1, "start_method": {"forkserver": {"preload_modules": PRELOAD_MODULES}}}, name="sequential_steps"
)

_spec_path = spec_path_from_env()
_spec = load_spec(_spec_path)
_training = AssetSelection.assets(*(AssetKey([_spec.name, a]) for a in TRAINING))
defs = Definitions.merge(
    build_definitions(_spec, str(_spec_path)),
    Definitions(
        jobs=[
            define_asset_job(
                "training_job_sequential", selection=_training, executor_def=SEQUENTIAL, tags={TRAINS_TAG: _spec.name}
            )
        ]
    ),
)
