"""Label-free estimates (`ml_assets.core.estimates`): close to the realized metric when the scores
can see what changed, blind when only P(y|x) changed; and the spec switch that retrains on an
estimated drop. On real data, over a year of days, it is a benchmark (`python -m bench --only
estimates`, BENCHMARKS.md section 11)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from ml_assets.core.estimates import estimate, fit_estimator
from ml_assets.core.evaluation import compute_metrics
from ml_assets.core.quality import estimated_drop
from ml_assets.core.spec import SpecError
from ml_assets.io.specs import load_spec, shipped_spec, spec_from_data

CLASSIFIER = load_spec(shipped_spec("demo"))  # roc_auc
REGRESSOR = load_spec(shipped_spec("diabetes"))


def _day(rng, n: int, shift: float = 0.0, flip: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(labels, scores): a model whose scores are a monotone but miscalibrated view of the truth."""
    x = rng.normal(shift, 1, n)
    p = 1 / (1 + np.exp(-(1.5 * x - 1)))
    y = (rng.random(n) < p).astype(float)
    return (1 - y if flip else y), 1 / (1 + np.exp(-(0.6 * x)))  # squeezed toward 0.5: not calibrated


def test_cbpe_follows_a_shift_the_scores_see_and_misses_one_they_do_not():
    rng = np.random.default_rng(0)
    fitted = fit_estimator(*_day(rng, 5_000), CLASSIFIER)
    assert fitted is not None and fitted["kind"] == "cbpe"
    for shift in (0.0, 1.0):  # the population moves: the scores move with it
        y, s = _day(rng, 3_000, shift)
        found = estimate(s, fitted, CLASSIFIER)
        realized = compute_metrics(y, s, CLASSIFIER)["roc_auc"]
        assert found["estimated_roc_auc"] == pytest.approx(realized, abs=0.03)
        assert found["estimated_low"] - 0.02 <= realized <= found["estimated_high"] + 0.02
    y, s = _day(rng, 3_000, flip=True)  # the world flipped, the features did not: invisible to the scores
    found = estimate(s, fitted, CLASSIFIER)
    assert compute_metrics(y, s, CLASSIFIER)["roc_auc"] < 0.3 < found["estimated_low"]


def test_the_binned_error_model_estimates_mae_and_widens_with_the_error():
    rng = np.random.default_rng(1)

    def day(n, scale):
        pred = rng.uniform(50, 300, n)
        return pred + rng.normal(0, scale * pred / 100, n), pred  # larger predictions, larger errors

    fitted = fit_estimator(*day(4_000, 20), REGRESSOR)
    assert fitted["kind"] == "dle"
    y, pred = day(3_000, 20)
    found = estimate(pred, fitted, REGRESSOR)
    metric = REGRESSOR.model.metric
    assert found[f"estimated_{metric}"] == pytest.approx(compute_metrics(y, pred, REGRESSOR)[metric], rel=0.1)
    high = estimate(rng.uniform(250, 300, 3_000), fitted, REGRESSOR)[f"estimated_{metric}"]
    low = estimate(rng.uniform(50, 100, 3_000), fitted, REGRESSOR)[f"estimated_{metric}"]
    assert high > 2 * low  # rows predicted high are the ones that err most
    assert fit_estimator(np.ones(10), np.ones(10), REGRESSOR) is None  # too few holdout rows: no estimate


def test_an_estimated_drop_below_the_threshold_can_retrain_when_the_spec_says_so():
    spec = CLASSIFIER  # quality_threshold 0.65
    quality = pd.DataFrame(
        [
            {"day": "d1", "roc_auc": 0.80, "estimated_roc_auc": 0.79, "estimated_low": 0.75, "estimated_high": 0.83},
            {"day": "d2", "roc_auc": np.nan, "estimated_roc_auc": 0.60, "estimated_low": 0.57, "estimated_high": 0.64},
        ]
    )
    verdict, why = estimated_drop(quality, spec, after={"day": "d1"})
    assert verdict == "low" and why.startswith("d2: estimated roc_auc 0.6000 (band 0.5700 .. 0.6400")
    assert "below labels.quality_threshold (0.6500)" in why
    quality.loc[1, "estimated_high"] = 0.66  # the band reaches the threshold: not a clear drop
    assert estimated_drop(quality, spec, after={"day": "d1"}) is None
    assert estimated_drop(quality.iloc[:1], spec, after={"day": "d1"}) is None  # nothing newer than labels

    data = yaml.safe_load(shipped_spec("demo").read_text())
    data["automation"]["retrain_on_estimated_drop"] = True
    data["labels"].pop("quality_threshold")
    with pytest.raises(SpecError, match="retrain_on_estimated_drop.: needs labels.quality_threshold"):
        spec_from_data(data, "x.yaml")
