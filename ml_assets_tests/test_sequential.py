"""The live comparison's pieces (`ml_assets.core.sequential`): the sticky, monotone A/B split, the
two ways of turning labelled rows into observations, and the always-valid decision. Its error
rates over many simulated experiments are a benchmark (`python -m bench --only rollout`)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from ml_assets.core.rollout import approval_of, day_summary, rules_of, srm_p_value, verdict
from ml_assets.core.sequential import (
    CHALLENGER_ARM,
    Rules,
    assign_arm,
    decide,
    paired_differences,
    radius,
    squared_loss,
    weighted_differences,
)
from ml_assets.core.spec import SpecError
from ml_assets.io.specs import load_spec, shipped_spec, spec_from_data

ENTITIES = [f"C{i:07d}" for i in range(20_000)]


def test_the_split_is_sticky_monotone_in_the_share_and_of_the_share_asked():
    quarter = {e for e in ENTITIES if assign_arm("exp-1", e, 0.25) == CHALLENGER_ARM}
    half = {e for e in ENTITIES if assign_arm("exp-1", e, 0.5) == CHALLENGER_ARM}
    assert quarter <= half  # raising the share never moves an entity back to the champion
    assert abs(len(quarter) / len(ENTITIES) - 0.25) < 0.01 and abs(len(half) / len(ENTITIES) - 0.5) < 0.01
    assert quarter == {e for e in ENTITIES if assign_arm("exp-1", e, 0.25) == CHALLENGER_ARM}  # every day the same
    other = {e for e in ENTITIES if assign_arm("exp-2", e, 0.25) == CHALLENGER_ARM}
    assert 0.2 < len(quarter & other) / len(quarter) < 0.3  # another experiment: another, independent split


def test_both_kinds_of_observation_estimate_the_same_difference():
    rng = np.random.default_rng(3)
    y = (rng.random(200_000) < 0.3).astype(float)
    champion = np.clip(0.3 + 0.4 * y + rng.normal(0, 0.25, len(y)), 0, 1)
    challenger = np.clip(0.3 + 0.4 * y + rng.normal(0, 0.2, len(y)), 0, 1)
    truth = (squared_loss(y, champion) - squared_loss(y, challenger)).mean()
    assert truth > 0.01  # the challenger's Brier score is lower
    served = rng.random(len(y)) < 0.25
    seen = np.where(served, squared_loss(y, challenger), squared_loss(y, champion))
    assert paired_differences(squared_loss(y, champion), squared_loss(y, challenger)).mean() == pytest.approx(truth)
    assert weighted_differences(seen, served, 0.25).mean() == pytest.approx(truth, abs=0.003)


def test_the_decision_promotes_stops_or_waits_and_says_why_with_its_numbers():
    rng = np.random.default_rng(5)
    rules = Rules(min_labeled_rows=500, max_days=14, guardrail=0.0)
    better = decide(rng.normal(0.02, 0.1, 5_000), days=5, rules=rules)
    assert better.action == "promote" and better.lower > 0, better
    assert better.reason.startswith("promote: the challenger is better by more than 0: challenger's loss lower by 0.0")
    assert f"on {better.rows} labelled rows over 5 day(s)" in better.reason
    worse = decide(rng.normal(-0.02, 0.1, 5_000), days=5, rules=rules)
    assert worse.action == "stop" and "worse by more than the guardrail (0)" in worse.reason
    equal = decide(rng.normal(0.0, 0.1, 5_000), days=5, rules=rules)
    assert equal.action == "continue" and equal.lower < 0 < equal.upper
    assert decide(rng.normal(0.0, 0.1, 5_000), days=14, rules=rules).reason.startswith(
        "stopped at max_days (14) without a conclusion; the champion stays"
    )
    few = decide(rng.normal(0.5, 0.1, 100), days=1, rules=rules)  # clearly better, too few rows yet
    assert few.action == "continue" and few.reason.startswith("waiting: 100 of min_labeled_rows 500")
    # A challenger only as good as asked is not enough: it must beat min_improvement with confidence.
    assert decide(rng.normal(0.02, 0.1, 5_000), days=5, rules=Rules(min_improvement=0.05)).action == "continue"


def test_the_interval_is_wider_than_a_fixed_horizon_one_and_shrinks_with_rows():
    variance = 0.01
    fixed = 1.96 * (variance / 5_000) ** 0.5
    assert radius(5_000, variance, 0.05, 5_000) > fixed  # the price of looking every day
    assert radius(50_000, variance, 0.05, 5_000) < radius(5_000, variance, 0.05, 5_000)
    assert radius(1, variance, 0.05, 5_000) == float("inf")


# -- the experiment's day records and verdict (`ml_assets.core.rollout`) ------------------------


def _spec(**rollout):
    spec = load_spec(shipped_spec("demo"))
    return spec.model_copy(update={"rollout": spec.rollout.model_copy(update=rollout)})


def test_day_records_sum_to_the_same_verdict_as_all_rows_at_once():
    spec = _spec(mode="shadow", min_labeled_rows=100, max_days=30)
    rng = np.random.default_rng(5)
    rows, observations = [], []
    for i, day in enumerate(("2026-01-01", "2026-01-02", "2026-01-03")):
        ids = [f"d{i}e{j}" for j in range(400)]
        y = (rng.random(400) < 0.3).astype(int)
        preds = pd.DataFrame(
            {
                "customer_id": ids,
                "score": np.clip(0.3 + 0.3 * y + rng.normal(0, 0.3, 400), 0, 1),
                "challenger_score": np.clip(0.3 + 0.3 * y + rng.normal(0, 0.2, 400), 0, 1),
                "experiment": "m:v2",
            }
        )
        labels = pd.DataFrame({"customer_id": ids[:300], "churned": y[:300]})  # a quarter not labelled yet
        rows.append({"day": day, **day_summary(preds, labels, spec)})
        observations.append(
            paired_differences(
                squared_loss(y[:300], preds["score"][:300]), squared_loss(y[:300], preds["challenger_score"][:300])
            )
        )
    other = {"day": "2026-01-04", "experiment": "m:v1", "exp_rows": 5000, "exp_sum": -900.0, "exp_sumsq": 1e3}
    found = verdict(pd.DataFrame([*rows, other]), "m:v2", spec)
    direct = decide(np.concatenate(observations), 3, rules_of(spec))
    assert found.days == 3 and found.decision.rows == 900  # labelled rows of this experiment's days only
    assert found.decision.estimate == pytest.approx(direct.estimate)
    assert (found.decision.lower, found.decision.upper) == pytest.approx((direct.lower, direct.upper))
    assert rows[0]["champion_rows"] == rows[0]["challenger_rows"] == 300


def test_days_that_differ_more_than_their_rows_say_widen_the_interval_and_one_day_never_promotes():
    """Real days share their conditions (a storm delays every flight of its day): the rows of one day
    are no sample of days. A challenger that wins big on one day and loses on the others is not
    promoted, though its rows alone would say so; and one day, however clear, waits for min_days."""
    spec = _spec(mode="shadow", min_labeled_rows=500, max_days=14, min_days=3)
    rng = np.random.default_rng(2)
    means = (0.1, 0.0, 0.0, 0.0, 0.0)  # mean +0.02: the first day carries it all
    rows = []
    for i, m in enumerate(means):
        x = rng.normal(m, 0.02, 1_000)
        rows.append(
            {"day": f"d{i}", "experiment": "m:v2", "exp_rows": 1000, "exp_sum": x.sum(), "exp_sumsq": (x**2).sum()}
        )
    days = pd.DataFrame(rows)
    x_all = np.concatenate([rng.normal(m, 0.02, 1_000) for m in means])
    assert decide(x_all, 5, rules_of(spec)).action == "promote"  # the rows alone, as if independent
    found = verdict(days, "m:v2", spec).decision
    assert found.action == "continue" and found.lower < 0 < found.estimate, found
    first = verdict(days.iloc[:1], "m:v2", spec).decision  # one clear day
    assert first.action == "continue" and first.lower > 0
    assert first.reason.startswith("waiting: better so far, on 1 of min_days 3 days")


def test_a_split_that_does_not_match_the_share_is_caught_and_its_day_left_out():
    assert srm_p_value(2_520, 10_000, 0.25) > 0.5  # what chance gives
    assert srm_p_value(2_800, 10_000, 0.25) < 1e-9  # rows lost from the champion's arm
    days = pd.DataFrame(
        [
            {"day": "d1", "experiment": "m:v2", "srm_p": 0.4, "exp_rows": 1000, "exp_sum": 10.0, "exp_sumsq": 90.0},
            {"day": "d2", "experiment": "m:v2", "srm_p": 1e-6, "exp_rows": 1000, "exp_sum": 500.0, "exp_sumsq": 900.0},
        ]
    )
    found = verdict(days, "m:v2", _spec(mode="ab", share=0.25))
    assert found.decision.rows == 1000 and found.days == 2
    assert found.excluded == ["d2: sample-ratio mismatch, p=1e-06 < rollout.srm_p_value 0.001"]


def test_approval_tags_and_the_specs_rollout_rules():
    assert approval_of({})[0] is None
    tags = {"approval": "Approved", "approval.by": "bob", "approval.at": "t", "approval.reason": "ok"}
    assert approval_of(tags) == ("approved", "approved by bob at t: ok")
    answer, said = approval_of({"approval": "yes"})
    assert answer is None and "neither 'approved' nor 'rejected'" in said

    data = yaml.safe_load(shipped_spec("demo").read_text())
    assert load_spec(shipped_spec("demo")).rollout.mode == "immediate"  # the default: nothing changes
    data.pop("labels")
    data["rollout"] = {"mode": "shadow"}
    with pytest.raises(SpecError, match="rollout.mode.: 'shadow' is decided by delayed labels; add a `labels`"):
        spec_from_data(data, "x.yaml")
    data["rollout"] = {"mode": "ab", "share": 1.5}
    with pytest.raises(SpecError, match="rollout.share"):
        spec_from_data(data, "x.yaml")
