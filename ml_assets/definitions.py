"""The code location: every model of a defs folder, or the one spec that $ML_ASSETS_SPEC names.

`dagster ... -m ml_assets.definitions`, `workspace.yaml` and `dg` load `defs` below. Each model is
an `MLPipeline` component instance (`<defs folder>/<model>/defs.yaml`, with its spec); the models
share the IO managers, the MLflow resource, the executor and the run-failure alerts
(graph/pipeline.py).

* `ML_ASSETS_DEFS`: a folder of your own models (one sub-folder each); default the shipped ones,
  `ml_assets/defs/`.
* `ML_ASSETS_SPEC`: one spec file instead: a code location of that one model.
"""

from __future__ import annotations

import os
import sys
import types
import warnings
from pathlib import Path

from dagster import BetaWarning, ComponentTree, Definitions, PreviewWarning, definitions

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _defs_module(folder: Path) -> types.ModuleType:
    """The defs folder as the package the component loader walks (a folder of your own need not be
    importable: only its YAML is read)."""
    if folder == Path(__file__).resolve().parent / "defs":
        import ml_assets.defs

        return ml_assets.defs
    module = types.ModuleType("ml_assets_user_defs")
    module.__file__ = None
    module.__path__ = [str(folder)]
    sys.modules.setdefault(module.__name__, module)
    return module


# The definitions this process built, by what they were built from. A process that executes the steps
# of many runs (a Celery worker) is asked for them once per run, and building a hundred models takes
# seconds; the same settings and unchanged spec files give the same definitions.
_BUILT: dict[tuple, Definitions] = {}
_SETTINGS = ("ML_ASSETS_", "MLFLOW_", "AWS_", "DAGSTER_")


def _built_from() -> tuple:
    """The environment's settings, and the name, modification time and size of every file of the
    spec or of every model folder."""
    from ml_assets.io.specs import models_root, spec_path_from_env

    path = spec_path_from_env()
    files = [path] if path is not None else sorted(models_root().glob("*/*"))
    stats = []
    for f in files:
        try:
            st = f.stat()
        except OSError:
            continue  # gone between the listing and now: the load says so
        stats.append((str(f), st.st_mtime_ns, st.st_size))
    return tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith(_SETTINGS))), tuple(stats)


@definitions
def defs() -> Definitions:
    """Loaded lazily by Dagster's tools, so importing this module reads no spec. Built once per
    process for the same settings and spec files."""
    key = _built_from()
    if key not in _BUILT:
        _BUILT.clear()
        _BUILT[key] = _build()
    return _BUILT[key]


def _build() -> Definitions:
    from ml_assets.graph.pipeline import build_definitions, shared_definitions
    from ml_assets.io.specs import model_folders, models_root, spec_path_from_env

    path = spec_path_from_env()
    if path is not None:
        from ml_assets.io.specs import load_spec

        # One model; a broken spec fails the load, with the field named (nothing else to keep running).
        return build_definitions(load_spec(path), str(path))
    folder = models_root()
    # The component tree of the defs folder, as `load_from_defs_folder` builds it, with two
    # differences: it reads no pyproject.toml (an installed package, the Docker image, loads the same
    # way), and it builds each model's folder, not the root. The root adds a catalog of every
    # component type installed (dagster-aws's among them) for the UI, importing them all: 1.3-1.7 s
    # on every load of every run process, for a page this project does not use.
    tree = ComponentTree.from_module(defs_module=_defs_module(folder), project_root=PROJECT_ROOT)
    with warnings.catch_warnings():
        # The component loader's own use of its beta/preview parts, on every load: not actionable.
        warnings.simplefilter("ignore", BetaWarning)
        warnings.simplefilter("ignore", PreviewWarning)
        folders = [defs_yaml.parent for defs_yaml in model_folders(folder)]
        models = Definitions.merge(*(tree.build_defs(f) for f in folders))
    # The models as built (a broken spec has none), for the sensor they share.
    pipelines = [c.pipeline for c in (tree.load_component(f) for f in folders) if getattr(c, "pipeline", None)]
    return Definitions.merge(models, shared_definitions(pipelines))
