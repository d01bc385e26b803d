"""The live comparison's pieces (`ml_assets.core.sequential`): the sticky, monotone A/B split, the
two ways of turning labelled rows into observations, and the always-valid decision. Its error
rates over many simulated experiments are a benchmark (`python -m bench --only rollout`)."""

from __future__ import annotations

import numpy as np
import pytest

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
