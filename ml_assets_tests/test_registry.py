"""MLflow tracking and registry, on the embedded SQLite store: the champion/challenger gate,
serving the champion, rollback, what each training run records."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from dagster import AssetCheckResult, AssetCheckSeverity, AssetSelection, Definitions, asset_check, define_asset_job

from ml_assets.core.gate import Metric, decide
from ml_assets.graph.pipeline import build_definitions
from ml_assets.graph.runtime.partitions import daily_partitions
from ml_assets.io.paths import storage_root
from ml_assets.io.registry import CHALLENGER, CHAMPION, Registry, RegistryError, default_tracking_uri
from ml_assets.runner import JobFailed, run_days
from ml_assets_tests.conftest import day_keys, land_demo_days, model_job, model_key, small_demo_spec

WEAK = [  # one-split trees: better than the baseline, worse than the demo spec's candidates
    {"name": "stump", "estimator": "sklearn.tree.DecisionTreeClassifier", "params": {"max_depth": 1}},
    {
        "name": "stump_balanced",
        "estimator": "sklearn.tree.DecisionTreeClassifier",
        "params": {"max_depth": 1, "class_weight": "balanced"},
    },
]
USELESS = [  # constant scores: no better than the trivial baseline
    {"name": "prior", "estimator": "sklearn.dummy.DummyClassifier", "params": {"strategy": "prior"}},
    {"name": "most_frequent", "estimator": "sklearn.dummy.DummyClassifier", "params": {"strategy": "most_frequent"}},
]
DAYS = day_keys(6)


@pytest.fixture
def landed(home, tmp_path):
    spec, path = small_demo_spec(tmp_path)
    land_demo_days(spec, DAYS)
    return tmp_path


def _spec(tmp_path, candidates=None, **overrides):
    if candidates is not None:
        overrides["model"] = {"candidates": candidates}
    return small_demo_spec(tmp_path, **overrides)


def _train(spec, path, instance, **kw):
    return run_days(spec, str(path), [("ingest_job", d) for d in DAYS] + [("training_job", DAYS[-1])], instance, **kw)


def _score(spec, path, instance) -> pd.DataFrame:
    run_days(spec, str(path), [("scoring_job", DAYS[-1])], instance)
    return pd.read_parquet(storage_root() / spec.name / "batch_predictions" / f"{DAYS[-1]}.parquet")


def _report(spec) -> dict:
    return json.loads((storage_root() / spec.name / "evaluation_report" / "report.json").read_text())


def _registry(spec) -> Registry:
    return Registry(default_tracking_uri(), spec.name, spec.registered_model_name)


def test_gate_promotes_better_holds_back_worse_and_rollback_switches_serving(landed, instance):
    weak, weak_path = _spec(landed, WEAK)
    good, good_path = _spec(landed)
    registry = _registry(good)

    # 1. The first model beats the baseline: it becomes champion and serves.
    _train(weak, weak_path, instance)
    assert registry.alias_version(CHAMPION) == "1"
    assert set(_score(weak, weak_path, instance)["model_version"]) == {"1"}
    weak_auc = _report(weak)["candidates"][_report(weak)["selected"]]["metrics"]["roc_auc"]

    # 2. A better challenger, judged against the champion re-scored on the same holdout: promoted.
    _train(good, good_path, instance)
    report = _report(good)
    assert report["promotion"]["alias"] == CHAMPION and report["promotion"]["promote"]
    assert report["promotion"]["champion_version_before"] == "1"
    assert report["promotion"]["champion_metric_before"] == pytest.approx(weak_auc)
    assert registry.alias_version(CHAMPION) == "2"
    assert set(_score(good, good_path, instance)["model_version"]) == {"2"}

    # 3. A worse one is registered but held back, with both numbers; the champion keeps serving.
    _train(weak, weak_path, instance)
    report = _report(weak)
    assert report["promotion"]["alias"] == CHALLENGER and not report["promotion"]["promote"]
    held = [r for r in report["promotion"]["rules"] if not r["passed"]]
    assert [r["name"] for r in held] == ["champion"]
    assert f"{weak_auc:.5f} < champion v2" in held[0]["detail"]
    assert "held back by" in report["promotion"]["summary"]
    assert registry.alias_version(CHAMPION) == "2" and registry.alias_version(CHALLENGER) == "3"
    assert set(_score(good, good_path, instance)["model_version"]) == {"2"}
    assert "kept as challenger" in (storage_root() / weak.name / "evaluation_report" / "report.html").read_text()

    # 4. Rollback: one call moves champion back; the next scoring run uses it; the move is recorded.
    previous = registry.rollback("1", "v2 misbehaves in production", actor="alice")
    assert previous == "2"
    assert set(_score(good, good_path, instance)["model_version"]) == {"1"}
    tags = registry.client.get_model_version(registry.model_name, "1").tags
    assert tags["champion.set_by"] == "alice" and tags["champion.previous"] == "2"
    assert tags["champion.reason"] == "rollback: v2 misbehaves in production" and tags["champion.set_at"]
    history = registry.client.get_registered_model(registry.model_name).description
    assert "champion v2 -> v1 by alice: rollback: v2 misbehaves in production" in history
    # The history as data, from the registered model's tags (what the monitoring page reads).
    events = registry.champion_history()
    assert [(e["previous"], e["version"], e["kind"]) for e in events] == [
        ("-", "1", "promotion"),
        ("1", "2", "promotion"),
        ("2", "1", "rollback"),
    ]
    assert events[-1]["by"] == "alice" and events[-1]["reason"] == "rollback: v2 misbehaves in production"

    with pytest.raises(RegistryError, match="has no version 9"):
        registry.rollback("9", "typo")

    # 5. The local model cache: a process that had a version reads it from disk, not from MLflow's
    # artifacts; a torn cache file is ignored and the version loaded from the registry again.
    import mlflow.sklearn

    from ml_assets.io import registry as registry_module

    cached = sorted(registry_module.ModelCache().folder.glob("*.skops"))
    assert len(cached) == 2, cached  # v1 and v2 scored above
    registry_module._MODELS.clear()
    real_load = mlflow.sklearn.load_model
    mlflow.sklearn.load_model = lambda *a, **k: pytest.fail("loaded from MLflow despite the cache")
    try:
        assert registry.champion().version == "1"
    finally:
        mlflow.sklearn.load_model = real_load
    for f in cached:
        f.write_bytes(f.read_bytes()[:200])
    registry_module._MODELS.clear()
    champion = registry.champion()
    assert champion.version == "1" and champion.pipeline.predict_proba is not None
    assert (
        registry_module.ModelCache().get((registry.tracking_uri, registry.model_name, "1", champion.run_id)) is not None
    )


def test_useless_model_is_held_back_by_the_baseline_rule(landed, instance):
    useless, path = _spec(landed, USELESS)
    _train(useless, path, instance)
    report = _report(useless)
    assert report["promotion"]["alias"] == CHALLENGER
    assert [r["name"] for r in report["promotion"]["rules"] if not r["passed"]] == ["baseline"]
    assert "does not beat the trivial baseline 0.50000" in report["promotion"]["summary"]
    assert _registry(useless).alias_version(CHAMPION) is None
    with pytest.raises(JobFailed, match="has no champion"):
        _score(useless, path, instance)


def test_days_failing_a_blocking_check_are_left_out_of_training(landed, instance):
    spec, path = _spec(landed)
    bad_day = DAYS[2]

    @asset_check(asset=model_key("features"), blocking=True, partitions_def=daily_partitions(spec))
    def features_not_corrupt(context):
        passed = context.partition_key != bad_day
        return AssetCheckResult(
            passed=passed, severity=AssetCheckSeverity.ERROR, metadata={"day": context.partition_key}
        )

    checks = {"asset_checks": [features_not_corrupt]}
    for day in DAYS:
        if day == bad_day:
            # Dagster fails the run when a blocking check fails; the partition itself was written.
            with pytest.raises(JobFailed, match=rf"check demo_churn/features:features_not_corrupt \({day}\) failed"):
                run_days(spec, str(path), [("ingest_job", day)], instance, **checks)
        else:
            run_days(spec, str(path), [("ingest_job", day)], instance, **checks)
    # A later training run (its own run, as a schedule would start it) leaves the day out.
    run_days(spec, str(path), [("training_job", DAYS[-1])], instance, **checks)
    training = pd.read_parquet(storage_root() / spec.name / "training_set" / f"{DAYS[-1]}.parquet")
    assert bad_day not in set(training["_day"]) and len(set(training["_day"])) == len(DAYS) - 1
    assert _registry(spec).alias_version(CHAMPION) == "1"


def test_failed_unpartitioned_blocking_check_holds_the_model_back(landed, instance):
    spec, path = _spec(landed)

    @asset_check(asset=model_key("features"), blocking=True)
    def features_source_audited():
        # e.g. an upstream audit that judges the whole asset, not one day
        return AssetCheckResult(passed=False, severity=AssetCheckSeverity.ERROR, description="source under audit")

    checks = {"asset_checks": [features_source_audited]}
    run_days(spec, str(path), [("ingest_job", d) for d in DAYS], instance)
    audit = define_asset_job("audit_job", selection=AssetSelection.checks(features_source_audited))
    defs = Definitions.merge(build_definitions(spec, str(path), **checks), Definitions(jobs=[audit]))
    result = defs.resolve_job_def("audit_job").execute_in_process(instance=instance, raise_on_error=False)
    assert not result.success  # the check failed (blocking), as intended
    run_days(spec, str(path), [("training_job", DAYS[-1])], instance, **checks)
    report = _report(spec)
    held = [r for r in report["promotion"]["rules"] if not r["passed"]]
    assert [r["name"] for r in held] == ["checks"]
    assert "demo_churn/features:features_source_audited" in held[0]["detail"]
    assert _registry(spec).alias_version(CHAMPION) is None


def test_rollback_job_with_config(landed, instance):
    weak, weak_path = _spec(landed, WEAK)
    good, good_path = _spec(landed)
    _train(weak, weak_path, instance)
    _train(good, good_path, instance)
    defs = build_definitions(good, str(good_path))
    result = defs.resolve_job_def(model_job("rollback_job")).execute_in_process(
        instance=instance,
        run_config={"ops": {model_job("set_champion"): {"config": {"to_version": "1", "reason": "drill"}}}},
        tags={"user": "bob"},
    )
    assert result.success
    registry = _registry(good)
    assert registry.alias_version(CHAMPION) == "1"
    assert registry.client.get_model_version(registry.model_name, "1").tags["champion.set_by"] == "bob"
    bad = defs.resolve_job_def(model_job("rollback_job")).execute_in_process(
        instance=instance,
        raise_on_error=False,
        run_config={"ops": {model_job("set_champion"): {"config": {"to_version": "42", "reason": "typo"}}}},
    )
    assert not bad.success


def test_training_run_records_what_reproduces_it(landed, instance, monkeypatch):
    spec, path = _spec(landed)
    _train(spec, path, instance)
    registry = _registry(spec)
    report = _report(spec)
    run = registry.client.get_run(registry.client.get_model_version(registry.model_name, "1").run_id)
    tags, params, metrics = run.data.tags, run.data.params, run.data.metrics
    assert run.info.status == "FINISHED"
    assert tags["dagster_run_id"] and tags["spec_hash"] == spec.spec_hash
    assert tags["window_first_day"] == DAYS[0] and tags["window_last_day"] == DAYS[-1]
    assert tags["training_set_fingerprint"] == report["training"]["training_set_fingerprint"]
    assert len(tags["git_commit"]) == 40 or tags["git_commit"] == "unknown"
    for cand in ("logistic_regression", "gradient_boosting"):
        assert f"{cand}.holdout_roc_auc" in metrics and f"{cand}.estimator" in params
    assert params["logistic_regression.C"] == "0.5"
    artifacts = {a.path for a in registry.client.list_artifacts(run.info.run_id)}
    assert {"spec", "environment", "training", "promotion", "evaluation_report"} <= artifacts
    report_files = {a.path for a in registry.client.list_artifacts(run.info.run_id, "evaluation_report")}
    assert {"evaluation_report/report.html", "evaluation_report/calibration.png"} <= report_files
    local = registry.client.download_artifacts(run.info.run_id, "environment/packages.json", str(landed))
    packages = json.loads(open(local).read())
    assert packages["scikit-learn"].startswith("1.")
    version = registry.client.get_model_version(registry.model_name, "1")
    assert version.tags["model_fingerprint"] == report["training"]["model_fingerprint"]
    # The logged model (sklearn flavour, skops) carries a signature and an input example.
    import mlflow

    monkeypatch.setenv("MLFLOW_TRACKING_URI", registry.tracking_uri)
    info = mlflow.models.get_model_info(f"models:/{registry.model_name}/1")
    assert info.flavors["sklearn"]["serialization_format"] == "skops"
    assert info.signature.inputs.input_names() == spec.model_inputs
    assert info.saved_input_example_info is not None
    assert registry.champion().inputs == spec.model_inputs


def test_gate_rules_in_isolation():
    d = decide(
        metric=Metric("rmse", "min"),
        challenger=10.0,
        baseline=12.0,
        champion=9.9,
        champion_version="4",
        tolerance=0.2,
        blocking_failures=[],
    )
    assert d.promote  # within tolerance of the champion
    d = decide(
        metric=Metric("rmse", "min"),
        challenger=10.5,
        baseline=12.0,
        champion=9.9,
        champion_version="4",
        tolerance=0.2,
        blocking_failures=[],
    )
    assert not d.promote and "10.50000 > champion v4 9.90000" in d.summary()
    d = decide(
        metric=Metric("roc_auc", "max"),
        challenger=0.8,
        baseline=0.5,
        champion=None,
        champion_version=None,
        tolerance=0.0,
        blocking_failures=["features:x"],
    )
    assert not d.promote and [r.name for r in d.held_back_by] == ["checks"]
    # every rule carries the numbers it compared; decide takes keywords only
    rmse = Metric("rmse", "min")
    d = decide(metric=rmse, challenger=10.5, baseline=12.0, champion=9.9, champion_version="4", tolerance=0.2)
    assert d.to_dict()["rules"][0]["values"] == {
        "challenger": 10.5,
        "champion": 9.9,
        "champion_version": "4",
        "tolerance": 0.2,
        "bar": 9.9 + 0.2,
    }
    assert rmse.better(1.0, 2.0) and not rmse.better(2.0, 2.0) and rmse.at_least(2.0, 2.0)
    with pytest.raises(TypeError):
        decide(rmse, 10.0, 12.0)


def test_models_lists_every_model_of_the_code_location_and_any_one_by_name(trained, capsys):
    from ml_assets.cli import main

    main(["models"])  # no --spec, no --model, no $ML_ASSETS_SPEC: every model, one line each
    out = capsys.readouterr().out
    assert "3 model(s) in the code location" in out, out
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines()[2:]}
    assert rows["demo_churn"] == ["demo_churn", "1", "v1"], out
    assert rows["breast_cancer"] == ["breast_cancer", "0", "not", "trained", "yet"], out
    for name in ("demo_churn", "demo"):  # the spec's name, or the model's folder
        main(["models", "--model", name])
        assert "1  champion" in capsys.readouterr().out
    main(["models", "--model", "diabetes"])
    assert "diabetes: no version registered yet at " in capsys.readouterr().out
    with pytest.raises(SystemExit, match=r"--model nope: no such model in the code location \(its models: "):
        main(["models", "--model", "nope"])
