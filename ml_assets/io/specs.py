"""Pipeline specs from files: a spec file, a model folder's defs.yaml, the shipped models' folder.
`${VAR}` values are taken from the process environment here; the validation itself is the core's
(`ml_assets.core.spec.parse_spec`)."""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from ml_assets.core.spec import PipelineSpec, SpecError, parse_spec
from ml_assets.io.estimators import allowed

# The shipped models: one folder per model in the Dagster defs folder, each with its spec.
SHIPPED_MODELS = Path(__file__).resolve().parent.parent / "defs"
SPEC_ENV = "ML_ASSETS_SPEC"  # one spec file: the code location serves that model alone
DEFS_ENV = "ML_ASSETS_DEFS"  # a folder of your own models (one sub-folder each)


def spec_path_from_env() -> Path | None:
    value = os.environ.get(SPEC_ENV, "").strip()
    return Path(value) if value else None


def models_root() -> Path:
    """The defs folder the code location serves: $ML_ASSETS_DEFS, else ml_assets/defs/."""
    value = os.environ.get(DEFS_ENV, "").strip()
    if not value:
        return SHIPPED_MODELS
    folder = Path(value).expanduser().resolve()
    if not folder.is_dir():
        raise NotADirectoryError(
            f"{DEFS_ENV}={value}: {folder}: not a folder (it should hold one <model>/defs.yaml per model)"
        )
    return folder


def code_location_specs() -> list[tuple[str, PipelineSpec]]:
    """(where, spec) of every model the code location serves: the spec $ML_ASSETS_SPEC names, else
    each model folder of $ML_ASSETS_DEFS (default the shipped ones). Raises SpecError on a bad one."""
    if (path := spec_path_from_env()) is not None:
        return [(str(path), load_spec(path))]
    return [load_instance(defs_yaml) for defs_yaml in model_folders(models_root())]


def shipped_spec(name: str) -> Path:
    """The spec of a model that ships with the project: `ml_assets/defs/<name>/spec.yaml`."""
    return SHIPPED_MODELS / name / "spec.yaml"


def model_folders(root: Path = SHIPPED_MODELS) -> list[Path]:
    """The `defs.yaml` of every model under a defs folder (one sub-folder per model), sorted."""
    return sorted(p for p in root.glob("*/defs.yaml") if "MLPipeline" in p.read_text())


def spec_of_instance(folder: Path, spec_file: str | None, inline: dict | None) -> tuple[str, PipelineSpec]:
    """(where, spec) of one `MLPipeline` instance: `spec_file` relative to its defs.yaml, or the
    spec inline. Raises SpecError naming the file."""
    if (spec_file is None) == (inline is None):
        raise SpecError(f"{folder / 'defs.yaml'}: set exactly one of `attributes.spec_file` and `attributes.spec`")
    if spec_file is not None:
        return str(folder / spec_file), load_spec(folder / spec_file)
    where = str(folder / "defs.yaml")
    return where, parse_spec(inline, where, allowed(), env=os.environ)


def load_instance(defs_yaml: Path) -> tuple[str, PipelineSpec]:
    """(where, spec) of the model a defs.yaml declares (what `ml-assets validate-spec --all` checks)."""
    try:
        data = parse_yaml(defs_yaml.read_text()) or {}
    except yaml.YAMLError as exc:
        raise SpecError(f"{defs_yaml}: not valid YAML: {exc}") from None
    attributes = data.get("attributes") or {}
    return spec_of_instance(defs_yaml.parent, attributes.get("spec_file"), attributes.get("spec"))


def load_spec(path: str | os.PathLike[str]) -> PipelineSpec:
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise SpecError(f"{path}: spec file not found") from None
    try:
        data = parse_yaml(text)
    except yaml.YAMLError as exc:
        raise SpecError(f"{path}: not valid YAML: {exc}") from None
    return parse_spec(data, str(path), allowed(), env=os.environ)


# libyaml's parser where PyYAML was built with it (the wheels are): ten times the pure-Python one,
# and every run process of a code location of many models reads every spec.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def parse_yaml(text: str):
    """`yaml.safe_load`, faster."""
    return yaml.load(text, Loader=_LOADER)  # noqa: S506 (a safe loader)


def spec_from_data(data, source: str) -> PipelineSpec:
    """A spec from data already read (a recorded spec, a test's dict), with this process's
    environment and the estimator table."""
    return parse_spec(data, source, allowed(), env=os.environ)
