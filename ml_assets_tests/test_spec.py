"""The pipeline spec: shipped specs load; every wrong or missing field is named with the file."""

from __future__ import annotations

import pytest
import yaml

from ml_assets.core.spec import SpecError
from ml_assets.io.specs import load_spec, shipped_spec
from ml_assets_tests.conftest import write_spec


@pytest.mark.parametrize("name", ["demo", "diabetes", "breast_cancer"])
def test_shipped_specs_load(name):
    spec = load_spec(shipped_spec(name))
    assert len(spec.model.candidates) >= 2
    assert spec.training.holdout_days < spec.training.window_days


def _error(tmp_path, **overrides) -> str:
    with pytest.raises(SpecError) as exc:
        write_spec(tmp_path, **overrides)
    return str(exc.value)


def test_missing_field_names_field_and_file(tmp_path):
    data = yaml.safe_load((shipped_spec("demo")).read_text())
    del data["columns"]["label"]
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(SpecError) as exc:
        load_spec(path)
    assert str(path) in str(exc.value)
    assert "field 'columns.label': required field is missing" in str(exc.value)


@pytest.mark.parametrize(
    ("overrides", "field", "text"),
    [
        ({"training": {"window_days": 5, "holdout_days": 5}}, "training.holdout_days", "must be smaller"),
        ({"training": {"window_days": "many", "holdout_days": 2}}, "training.window_days", "integer"),
        ({"model": {"metric": "rmse"}}, "model.metric", "does not fit task"),
        ({"landing": {"uri": "x", "format": "xlsx"}}, "landing.format", "'csv' or 'parquet'"),
        ({"partitions": {"timezone": "Mars/Olympus"}}, "partitions.timezone", "unknown time zone"),
        ({"featurez": []}, "featurez", "unknown field"),
        ({"task": {"type": "binary_classification", "positive_label": None}}, "task.positive_label", "required"),
    ],
)
def test_bad_field_is_named(tmp_path, overrides, field, text):
    message = _error(tmp_path, **overrides)
    assert f"field '{field}'" in message, message
    assert text in message
    assert ".yaml" in message


def test_unknown_estimator_and_parameter(tmp_path):
    spec = yaml.safe_load((shipped_spec("demo")).read_text())
    cands = spec["model"]["candidates"]
    bad_class = [{**cands[0], "estimator": "sklearn.linear_model.NoSuchModel"}, cands[1]]
    message = _error(tmp_path, model={"candidates": bad_class})
    assert "model.candidates.0" in message and "NoSuchModel" in message

    bad_param = [{**cands[0], "params": {"C": 1.0, "max_itr": 10}}, cands[1]]
    message = _error(tmp_path, model={"candidates": bad_param})
    assert "model.candidates.0" in message and "max_itr" in message

    not_sklearn = [{**cands[0], "estimator": "os.system"}, cands[1]]
    assert "scikit-learn class" in _error(tmp_path, model={"candidates": not_sklearn})

    regressor = [{**cands[0], "estimator": "sklearn.linear_model.Ridge", "params": {}}, cands[1]]
    message = _error(tmp_path, model={"candidates": regressor})
    assert "field 'model.candidates.0.estimator'" in message and "not a classifier" in message


def test_one_candidate_is_not_enough(tmp_path):
    spec = yaml.safe_load((shipped_spec("demo")).read_text())
    message = _error(tmp_path, model={"candidates": spec["model"]["candidates"][:1]})
    assert "field 'model.candidates'" in message and "at least 2" in message


def test_environment_substitution(tmp_path, monkeypatch):
    monkeypatch.setenv("ML_ASSETS_LANDING_ROOT", "s3://bucket/landing")
    spec, _ = write_spec(tmp_path)
    assert spec.landing.uri == "s3://bucket/landing/demo_churn"
    monkeypatch.delenv("ML_ASSETS_LANDING_ROOT")
    spec, _ = write_spec(tmp_path)
    assert spec.landing.uri == "landing/demo_churn"
    message = _error(tmp_path, landing={"uri": "${NO_SUCH_VAR_FOR_TESTS}"})
    assert "field 'landing.uri'" in message and "NO_SUCH_VAR_FOR_TESTS" in message


def test_not_yaml_and_missing_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("name: [unclosed")
    with pytest.raises(SpecError, match="not valid YAML"):
        load_spec(path)
    with pytest.raises(SpecError, match="spec file not found"):
        load_spec(tmp_path / "none.yaml")


def test_the_committed_spec_reference_is_generated_from_the_code():
    from ml_assets.core.spec.reference import reference_markdown
    from ml_assets_tests.conftest import PROJECT_ROOT

    committed = (PROJECT_ROOT / "docs" / "spec-reference.md").read_text()
    assert committed == reference_markdown(), (
        "docs/spec-reference.md is out of date: uv run python -m ml_assets.core.spec.reference > docs/spec-reference.md"
    )
    assert "| `automation.retries.max_retries` |" in committed and "**required**" in committed


@pytest.mark.parametrize(
    "cron",
    [
        "0 3 * * 1",
        "*/15 * * * *",
        "30 4 * * *",
        "0 0 1 jan,jul *",
        "0 6 * * mon-fri",
        "@daily",
        "0 3 * * 8",
        "60 * * * *",
        "* * *",
        "0 3 * * funday",
        "*/0 * * * *",
        "5-1 * * * *",
    ],
)
def test_cron_check_agrees_with_dagster(cron):
    from dagster._utils.schedules import is_valid_cron_string

    from ml_assets.core.cron import is_valid_cron

    assert is_valid_cron(cron) == is_valid_cron_string(cron), cron


def test_the_estimator_list_matches_the_installed_scikit_learn():
    from ml_assets.core import estimators
    from ml_assets.io.estimators import allowed

    assert allowed() == estimators.generate(), "scikit-learn changed: python -m ml_assets.io.estimators"


def test_spec_validation_imports_no_estimator(tmp_path):
    """Validating a spec reads the estimator list; it never imports (or calls) what a spec names."""
    import subprocess
    import sys

    _, path = write_spec(tmp_path)
    code = (
        f"import sys; from ml_assets.io.specs import load_spec; load_spec({str(path)!r}); print('sklearn' in "
        "sys.modules)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "False", proc.stderr
    message = _error(
        tmp_path,
        model={
            "metric": "roc_auc",
            "candidates": [
                {"name": "a", "estimator": "sklearn.datasets.clear_data_home"},
                {"name": "b", "estimator": "sklearn.linear_model.LogisticRegression"},
            ],
        },
    )
    assert "'sklearn.datasets.clear_data_home' is not a scikit-learn classifier or regressor" in message
