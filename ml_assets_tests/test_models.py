"""Many models in one code location: one `MLPipeline` component instance per spec folder."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from ml_assets.io.specs import SHIPPED_MODELS, shipped_spec
from ml_assets_tests.conftest import PROJECT_ROOT, VENV_BIN

COMPONENT = "ml_assets.graph.component.MLPipeline"


def _models_folder(tmp_path: Path, *shipped: str) -> Path:
    """A defs folder of one's own ($ML_ASSETS_DEFS), holding copies of shipped model folders."""
    root = tmp_path / "models"
    root.mkdir()
    for name in shipped:
        shutil.copytree(SHIPPED_MODELS / name, root / name)
    return root


def _add_model(root: Path, folder: str, spec: dict | None = None, inline: bool = False) -> Path:
    (root / folder).mkdir()
    if inline:
        (root / folder / "defs.yaml").write_text(
            yaml.safe_dump({"type": COMPONENT, "attributes": {"spec": spec}}, sort_keys=False)
        )
    else:
        (root / folder / "defs.yaml").write_text(
            yaml.safe_dump({"type": COMPONENT, "attributes": {"spec_file": "spec.yaml"}})
        )
        (root / folder / "spec.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    return root / folder


def _demo_spec(name: str, **changes) -> dict:
    data = yaml.safe_load(shipped_spec("demo").read_text())
    data.pop("registry", None)  # the registered model is then the model's name
    return {**data, "name": name, "landing": {**data["landing"], "uri": f"landing/{name}"}, **changes}


def _load(monkeypatch, root: Path):
    from ml_assets.definitions import defs

    monkeypatch.setenv("ML_ASSETS_DEFS", str(root))
    return defs()


def _prefixes(defs) -> set[str]:
    return {k.path[0] for k in defs.resolve_asset_graph().get_all_asset_keys()}


def test_a_fourth_model_folder_adds_a_model_with_no_code_change(home, tmp_path, monkeypatch):
    root = _models_folder(tmp_path, "demo", "breast_cancer", "diabetes")
    assert _prefixes(_load(monkeypatch, root)) == {"demo_churn", "breast_cancer", "diabetes"}
    _add_model(root, "churn_eu", _demo_spec("churn_eu"))
    _add_model(root, "churn_us", _demo_spec("churn_us"), inline=True)  # the spec inline in defs.yaml
    defs = _load(monkeypatch, root)
    assert _prefixes(defs) == {"demo_churn", "breast_cancer", "diabetes", "churn_eu", "churn_us"}
    jobs = {j.name for j in defs.resolve_all_job_defs()}
    assert {"churn_eu__training_job", "churn_us__training_job", "demo_churn__training_job"} <= jobs
    # Each model its own landing, storage prefix and registered model.
    sensors = {s.name: s for s in defs.get_repository_def().sensor_defs}
    assert "churn_eu (landing/churn_eu)" in sensors["landing_sensor"].description
    assert "demo_churn (landing/demo_churn)" in sensors["landing_sensor"].description


def test_a_broken_spec_breaks_only_its_own_model(home, tmp_path, monkeypatch):
    root = _models_folder(tmp_path, "demo")
    _add_model(root, "broken", _demo_spec("broken", model={**_demo_spec("x")["model"], "metric": "accuracy"}))
    defs = _load(monkeypatch, root)
    assert _prefixes(defs) == {"demo_churn"}, "the good model is served"
    sensor = defs.resolve_sensor_def("broken__spec_error")
    assert "field 'model.metric'" in sensor.description and str(root / "broken" / "spec.yaml") in sensor.description
    from dagster import build_sensor_context

    with pytest.raises(Exception, match="(?s)model 'broken' is not loaded: .*field 'model.metric'"):
        sensor(build_sensor_context())

    # CI's check: every model, the broken one named with its field, exit status 1.
    proc = subprocess.run(
        [str(VENV_BIN / "ml-assets"), "validate-spec", "--all", str(root)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1
    assert "demo: " in proc.stdout and "1/2 model(s) valid" in proc.stdout
    assert "broken: FAILED:" in proc.stderr and "field 'model.metric'" in proc.stderr


def test_two_models_with_one_name_are_refused_by_validate_all(tmp_path):
    root = _models_folder(tmp_path, "demo")
    _add_model(root, "copy", _demo_spec("demo_churn"))
    proc = subprocess.run(
        [str(VENV_BIN / "ml-assets"), "validate-spec", "--all", str(root)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1 and "name 'demo_churn' is already the name of the model in" in proc.stderr
    # Another name but the same registered model (or landing folder) would mix two models' versions.
    (root / "copy" / "spec.yaml").write_text(
        yaml.safe_dump({**_demo_spec("other"), "registry": {"model_name": "demo_churn"}})
    )
    proc = subprocess.run(
        [str(VENV_BIN / "ml-assets"), "validate-spec", "--all", str(root)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1 and "registry.model_name 'demo_churn' is already" in proc.stderr


def test_a_missing_defs_folder_is_named(home, tmp_path, monkeypatch):
    with pytest.raises(NotADirectoryError, match="ML_ASSETS_DEFS=.*nowhere: not a folder"):
        _load(monkeypatch, tmp_path / "nowhere")


@pytest.mark.cli
def test_dg_lists_checks_and_scaffolds_models(tmp_path, monkeypatch):
    """The `dg` CLI on this project, and `dg scaffold defs` adding a model to a project of one's own."""
    import json
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith(("ML_ASSETS_", "DAGSTER_"))}
    env.update(ML_ASSETS_HOME=str(tmp_path / "home"), VIRTUAL_ENV=str(VENV_BIN.parent))
    listed = subprocess.run(
        [str(VENV_BIN / "dg"), "list", "defs", "--json"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert listed.returncode == 0, listed.stderr[-2000:]
    keys = {a["asset_key"] for a in json.loads(listed.stdout)["assets"]}
    assert {"demo_churn/model", "breast_cancer/model", "diabetes/model"} <= keys
    checked = subprocess.run(
        [str(VENV_BIN / "dg"), "check", "yaml"], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert checked.returncode == 0 and "validated successfully" in checked.stdout + checked.stderr

    # A project of one's own: `dg scaffold defs` writes defs.yaml and a starter spec; it loads.
    project = tmp_path / "proj"
    (project / "mymodels" / "defs").mkdir(parents=True)
    (project / "mymodels" / "__init__.py").write_text("")
    (project / "mymodels" / "defs" / "__init__.py").write_text("")
    (project / "pyproject.toml").write_text(
        '[project]\nname = "mymodels"\nversion = "0.1"\n\n[tool.dg]\ndirectory_type = "project"\n\n'
        '[tool.dg.project]\nroot_module = "mymodels"\n'
    )
    scaffold = subprocess.run(
        [str(VENV_BIN / "dg"), "scaffold", "defs", COMPONENT, "churn"],
        cwd=project,
        env={**env, "PYTHONPATH": str(project)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert scaffold.returncode == 0, scaffold.stderr[-2000:]
    folder = project / "mymodels" / "defs" / "churn"
    assert yaml.safe_load((folder / "defs.yaml").read_text()) == {
        "type": COMPONENT,
        "attributes": {"spec_file": "spec.yaml"},
    }
    assert yaml.safe_load((folder / "spec.yaml").read_text())["name"] == "churn"
    monkeypatch.setenv("ML_ASSETS_HOME", str(tmp_path / "home"))
    assert _prefixes(_load(monkeypatch, project / "mymodels" / "defs")) == {"churn"}
