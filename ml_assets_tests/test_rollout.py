"""Live experiments (`rollout` in the spec), run in process on the shared trained project: a
challenger on trial in shadow and A/B mode, decided by the delayed labels of the days it scored;
approval by a person through the CLI and the approval sensor; the default changes nothing."""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import pytest
from dagster import AssetKey, build_sensor_context

from ml_assets.cli import main as cli_main
from ml_assets.core.rollout import EXPERIMENT
from ml_assets.core.sequential import CHALLENGER_ARM, assign_arm
from ml_assets.graph.pipeline import build_definitions
from ml_assets.graph.runtime.resources import MlflowRegistry
from ml_assets.io.paths import storage_root
from ml_assets.io.registry import CHALLENGER, CHAMPION, Registry, default_tracking_uri
from ml_assets.runner import run_days
from ml_assets_tests.conftest import (
    LAST_DAY,
    MISCALIBRATED,
    land_demo_days,
    materialize,
    model_job,
    small_demo_spec,
)

LIVE = [(LAST_DAY + dt.timedelta(days=i)).isoformat() for i in (1, 2, 3)]


def _spec(trained, rollout: dict, candidates=None, tolerance: float = 0.05):
    overrides = {
        # Two live days before a promotion (the default is 3): the tests have three.
        "rollout": {"min_labeled_rows": 1500, "min_days": 2, **rollout},
        "registry": {"tolerance": tolerance},
        "partitions": {"end_date": LIVE[-1]},
    }
    if candidates is not None:
        overrides["model"] = {"candidates": candidates}
    return small_demo_spec(trained.path.parent, **overrides)


def _train(spec, path, instance) -> None:
    run_days(spec, str(path), [("training_job", LAST_DAY.isoformat())], instance)


def _score(defs, instance, day: str) -> pd.DataFrame:
    assert materialize(defs, instance, ["batch_predictions", "realized_quality"], day).success
    return pd.read_parquet(storage_root() / "demo_churn" / "batch_predictions" / f"{day}.parquet")


def _decide(defs, instance) -> dict:
    result = materialize(defs, instance, ["rollout_decision"])
    assert result.success
    (event,) = result.get_asset_materialization_events()
    return {k: v.value for k, v in event.materialization.metadata.items()}


def _tags(registry: Registry, version: str) -> dict:
    return registry.version_tags(version)[1]


def test_shadow_a_worse_challenger_is_stopped_a_better_one_promoted_an_equal_one_kept_out(trained):
    inst = trained.instance
    registry = Registry(default_tracking_uri(), trained.spec.name, trained.spec.registered_model_name)
    assert registry.alias_version(CHAMPION) == "1"

    # 1. A badly calibrated challenger passes the holdout gate and goes on trial: v1 still serves.
    worse, worse_path = _spec(trained, {"mode": "shadow", "max_days": 3}, MISCALIBRATED)
    land_demo_days(worse, LIVE, rows=1000)
    run_days(worse, str(worse_path), [("ingest_job", d) for d in LIVE], inst)
    _train(worse, worse_path, inst)
    assert registry.alias_version(CHAMPION) == "1" and registry.alias_version(CHALLENGER) == "2"
    tags = _tags(registry, "2")
    assert tags["rollout.state"] == "running" and tags["rollout.champion"] == "1"
    assert tags["rollout.experiment"] == "demo_churn:v2"
    defs = build_definitions(worse, str(worse_path))
    day = _score(defs, inst, LIVE[0])
    assert set(day["model_version"]) == {"1"} and set(day["challenger_version"]) == {"2"}
    assert set(day["arm"]) == {"champion"} and set(day[EXPERIMENT]) == {"demo_churn:v2"}
    assert day["challenger_score"].notna().all() and not day["challenger_score"].equals(day["score"])
    quality = pd.read_parquet(storage_root() / "demo_churn" / "realized_quality" / f"{LIVE[0]}.parquet").iloc[0]
    assert quality["estimated_version"] == "1" and 0.5 < quality["challenger_estimated_roc_auc"] < 1
    # The guardrail stops it on the first day's labels, with the numbers; the champion stays.
    found = _decide(defs, inst)
    assert found["state"] == "stopped", found
    assert "worse by more than the guardrail" in found["reason"] and found["upper"] < 0
    assert registry.alias_version(CHAMPION) == "1" and registry.alias_version(CHALLENGER) is None
    assert _tags(registry, "2")["rollout.state"] == "stopped"
    # The next day is scored by the champion alone: no experiment runs.
    assert "arm" not in _score(defs, inst, LIVE[1]).columns

    # 2. Rollback to the badly calibrated v2 (one command); a well calibrated challenger (the demo's
    # candidates) goes on trial against it and is promoted once min_labeled_rows labels say so.
    registry.rollback("2", "to test a better challenger", actor="test")
    better, better_path = _spec(trained, {"mode": "shadow", "max_days": 3})
    _train(better, better_path, inst)
    assert registry.alias_version(CHALLENGER) == "3" and _tags(registry, "3")["rollout.champion"] == "2"
    defs = build_definitions(better, str(better_path))
    decisions = []
    for d in LIVE:
        _score(defs, inst, d)
        decisions.append(_decide(defs, inst))
        if decisions[-1]["state"] != "running":
            break
    assert decisions[-1]["state"] == "promoted", decisions
    assert decisions[-1]["rows"] >= 1500 and decisions[-1]["lower"] > 0
    assert all(d["state"] == "running" and "waiting" in d["reason"] for d in decisions[:-1])
    assert registry.alias_version(CHAMPION) == "3" and registry.alias_version(CHALLENGER) is None
    assert registry.champion_history()[-1]["reason"].startswith("rollout (shadow): promote: the challenger is better")
    # The challenger's evaluation report in MLflow gets the experiment: its days per arm, every decision.
    assert decisions[-1]["report"].endswith("evaluation_report/experiment.html")
    report = json.loads(registry.read_artifact(registry.version_tags("3")[0], "evaluation_report/experiment.json"))
    assert report["state"] == "promoted" and report["experiment"] == "demo_churn:v3"
    assert [d["state"] for d in report["decisions"]] == ["running"] + ["promoted"]
    assert sum(d["challenger_rows"] for d in report["days"]) == decisions[-1]["rows"]
    # Run again: nothing is promoted twice.
    assert _decide(defs, inst)["state"] == "none"
    assert len(registry.champion_history()) == 3  # v1, rollback to v2, v3

    # 3. The same candidates on the same data: an equal challenger. Training is reproducible: the same
    # model fingerprint and byte-identical scores on every live row. It never proves better, and at
    # max_days the experiment stops; the champion that already serves stays.
    equal, equal_path = _spec(trained, {"mode": "shadow", "max_days": 2})
    defs = build_definitions(equal, str(equal_path))
    _train(equal, equal_path, inst)
    assert registry.alias_version(CHALLENGER) == "4"
    assert _tags(registry, "4")["model_fingerprint"] == _tags(registry, "3")["model_fingerprint"]
    for d in LIVE[:2]:
        day = _score(defs, inst, d)
        assert day["challenger_score"].to_numpy().tobytes() == day["score"].to_numpy().tobytes()
        found = _decide(defs, inst)
    assert found["state"] == "stopped" and "max_days (2) without a conclusion" in found["reason"], found
    assert found["estimate"] == 0 and found["days"] == 2
    assert registry.alias_version(CHAMPION) == "3"
    states = [(e["version"], e["state"]) for e in registry.rollout_history()]
    assert states == [
        ("2", "running"),
        ("2", "stopped"),
        ("3", "running"),
        ("3", "promoted"),
        ("4", "running"),
        ("4", "stopped"),
    ]

    # The monitoring page shows every decision with its interval, and each arm per day.
    assert materialize(defs, inst, ["monitoring_report"]).success
    page = storage_root() / "demo_churn" / "monitoring_report"
    html = (page / "report.html").read_text()
    assert "Live experiments (rollout.mode shadow)" in html and "Per day and arm" in html
    assert pd.read_parquet(page / "experiments.parquet")["state"].tolist() == [s for _, s in states]

    # `ml-assets rollout` tells the story.
    out = _cli(["rollout", "--spec", str(equal_path)])
    assert "champion: v3; challenger: v- (no experiment)" in out and "max_days (2) without a conclusion" in out


def _cli(argv: list[str], capsys=None) -> str:
    import contextlib
    import io

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        cli_main(argv)
    return buffer.getvalue()


def test_ab_each_row_says_its_arm_and_version_entities_keep_their_arm_and_the_split_is_checked(trained):
    inst = trained.instance
    spec, path = _spec(trained, {"mode": "ab", "share": 0.5}, MISCALIBRATED)
    land_demo_days(spec, LIVE[:1], rows=1000)
    run_days(spec, str(path), [("ingest_job", LIVE[0])], inst)
    _train(spec, path, inst)
    defs = build_definitions(spec, str(path))
    day = _score(defs, inst, LIVE[0])
    # Each row: its arm by the sticky hash of the experiment and the entity, the arm's version and score.
    expected = [assign_arm("demo_churn:v2", e, 0.5) for e in day["customer_id"]]
    assert day["arm"].tolist() == expected
    served = day["arm"] == CHALLENGER_ARM
    assert 0.35 < served.mean() < 0.65
    assert set(day.loc[served, "model_version"]) == {"2"} and set(day.loc[~served, "model_version"]) == {"1"}
    assert "challenger_score" not in day.columns
    # Raising the share moves entities only from the champion to the challenger.
    wider = [assign_arm("demo_churn:v2", e, 0.8) for e in day["customer_id"]]
    assert all(w == CHALLENGER_ARM for w, a in zip(wider, expected, strict=True) if a == CHALLENGER_ARM)
    # The split's sample-ratio check passed (blocking) and the day's record counts both arms.
    check = inst.event_log_storage.get_latest_asset_check_execution_by_key(
        [_check_key("batch_predictions", "batch_predictions_sample_ratio")]
    )
    evaluation = next(iter(check.values())).evaluation
    assert evaluation.passed and "against rollout.share 0.5" in evaluation.description
    quality = pd.read_parquet(storage_root() / "demo_churn" / "realized_quality" / f"{LIVE[0]}.parquet").iloc[0]
    assert quality["challenger_rows"] + quality["champion_rows"] == quality["exp_rows"] > 0
    assert quality["srm_p"] > 0.001


def _tick(sensor, instance, defs):
    return sensor(build_sensor_context(instance=instance, definitions=defs, resources={"mlflow": MlflowRegistry()}))


def _check_key(asset: str, name: str):
    from dagster import AssetCheckKey

    return AssetCheckKey(AssetKey(["demo_churn", asset]), name)


def test_approval_nothing_is_promoted_until_a_person_approves_and_a_rejection_ends_it(trained, monkeypatch):
    inst = trained.instance
    registry = Registry(default_tracking_uri(), trained.spec.name, trained.spec.registered_model_name)
    spec, path = _spec(trained, {"mode": "immediate", "approval": "required"})
    defs = build_definitions(spec, str(path))
    sensor = defs.resolve_sensor_def(model_job("approval_sensor"))

    # The gate passes: the version waits, the champion keeps serving, the UI's check says why.
    _train(spec, path, inst)
    assert registry.alias_version(CHAMPION) == "1" and registry.alias_version(CHALLENGER) == "2"
    assert _tags(registry, "2")["rollout.state"] == "awaiting_approval"
    found = _decide(defs, inst)
    assert (
        found["state"] == "awaiting_approval" and "ml-assets approve --model demo_churn --version 2" in found["reason"]
    )
    check = inst.event_log_storage.get_latest_asset_check_execution_by_key(
        [_check_key("rollout_decision", "rollout_approval")]
    )
    evaluation = next(iter(check.values())).evaluation
    assert not evaluation.passed and evaluation.description.startswith(
        "awaiting approval: v2: passed the holdout gate against v1"
    )
    assert _tick(sensor, inst, defs).run_requests == []
    assert registry.alias_version(CHAMPION) == "1"

    # A person approves from the terminal; the sensor asks for the decision on its next tick; it promotes.
    monkeypatch.setenv("ML_ASSETS_ACTOR", "alice")
    out = _cli(["approve", "--spec", str(path), "--version", "2", "--reason", "checked the report"])
    assert "demo_churn v2: approved by alice: checked the report" in out
    (request,) = _tick(sensor, inst, defs).run_requests
    assert request.run_key == "approval-2-approved"
    found = _decide(defs, inst)
    assert found["state"] == "promoted" and "approved by alice" in found["reason"]
    assert registry.alias_version(CHAMPION) == "2"
    assert "approved by alice" in registry.champion_history()[-1]["reason"]
    report = json.loads(registry.read_artifact(registry.version_tags("2")[0], "evaluation_report/experiment.json"))
    assert report["state"] == "promoted" and report["approval"].startswith("approved by alice at ")

    # The next version is rejected: its experiment ends, the champion stays, the alias is gone.
    _train(spec, path, inst)
    assert _tags(registry, "3")["rollout.state"] == "awaiting_approval"
    with pytest.raises(SystemExit, match="v2 is not on trial; the challenger is v3"):
        _cli(["reject", "--spec", str(path), "--version", "2", "--reason", "no"])
    _cli(["reject", "--spec", str(path), "--version", "3", "--reason", "holdout too small"])
    (request,) = _tick(sensor, inst, defs).run_requests
    found = _decide(defs, inst)
    assert found["state"] == "rejected" and "holdout too small" in found["reason"]
    assert registry.alias_version(CHAMPION) == "2" and registry.alias_version(CHALLENGER) is None
