"""Label-free estimates of a day's metric, from the model's scores alone, while labels are late.

* Classification, CBPE (confidence-based performance estimation, as in NannyML): the scores are
  calibrated on the training window's holdout (isotonic regression; never on training rows), so
  a calibrated score p is the chance that the row is positive. The expected confusion matrix at
  every threshold follows (expected true positives at threshold t = the sum of p over rows scored
  at or above t), and from it ROC AUC, average precision (pr_auc), F1, precision and recall at the
  spec's threshold, and the expected log loss.
* Regression, DLE-style (direct loss estimation): the holdout's errors, binned by the prediction
  (quantile bins), give each row the expected absolute and squared error of rows predicted
  alike: MAE, RMSE and R² (against the holdout's label variance).

The band is the spread of the metric if labels were drawn as the calibration (or the binned
errors) says: what sampling alone would move, not a bound on calibration error.

Both assume that what the scores cannot see does not change: a shift in P(y|x) (the world
changed, the features did not) is invisible here and shows only when labels land (BENCHMARKS.md
measures both cases on real data). Pure: arrays and dicts in, numbers out.
"""

from __future__ import annotations

import numpy as np

from ml_assets.core.evaluation import metric_value
from ml_assets.core.spec import PipelineSpec

MAX_POINTS = 400  # calibration curve points kept in the reference profile
BINS = 20  # regression: prediction bins of the error model
QUANTILES = 100  # regression: each bin's errors, kept as this many quantiles (the band draws from them)
BAND_DRAWS, BAND_ROWS = 40, 20_000  # label draws for the band, on at most this many rows of the day
_EPS = 1e-15


def fit_estimator(y: np.ndarray, scores: np.ndarray, spec: PipelineSpec) -> dict | None:
    """What the estimates need, fitted on the holdout's labels and scores (JSON-ready), or None
    when the holdout cannot support it (too few rows, one class)."""
    y, scores = np.asarray(y, dtype="float64"), np.asarray(scores, dtype="float64")
    if len(y) < 50 or (spec.is_classification and len(np.unique(y)) < 2):
        return None
    if spec.is_classification:
        from sklearn.isotonic import IsotonicRegression

        iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(scores, y)
        x, p = iso.X_thresholds_, iso.y_thresholds_
        if len(x) > MAX_POINTS:
            keep = np.unique(np.linspace(0, len(x) - 1, MAX_POINTS).round().astype(int))
            x, p = x[keep], p[keep]
        return {"kind": "cbpe", "x": x.tolist(), "p": p.tolist(), "rows": int(len(y))}
    edges = np.unique(np.quantile(scores, np.linspace(0, 1, BINS + 1)))
    which = np.clip(np.searchsorted(edges, scores, side="right") - 1, 0, max(len(edges) - 2, 0))
    errors = y - scores
    bins = []
    for b in range(max(len(edges) - 1, 1)):
        e = errors[which == b] if len(edges) > 1 else errors
        e = e if len(e) else errors
        bins.append(
            {
                "mae": float(np.abs(e).mean()),
                "mse": float((e**2).mean()),
                "q": np.quantile(e, (np.arange(QUANTILES) + 0.5) / QUANTILES).tolist(),
            }
        )
    return {"kind": "dle", "edges": edges.tolist(), "bins": bins, "label_var": float(y.var()), "rows": int(len(y))}


def calibrated(scores: np.ndarray, fitted: dict) -> np.ndarray:
    return np.interp(np.asarray(scores, dtype="float64"), fitted["x"], fitted["p"])


def _expected_curve(scores: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Expected (true positives, false positives) at each distinct score taken as the threshold,
    highest first."""
    order = np.argsort(-scores, kind="stable")
    s, q = scores[order], p[order]
    last = np.r_[np.flatnonzero(np.diff(s) != 0), len(s) - 1]  # the last row of each run of equal scores
    return np.cumsum(q)[last], np.cumsum(1 - q)[last]


def cbpe(scores: np.ndarray, fitted: dict, threshold: float) -> dict[str, float]:
    scores = np.asarray(scores, dtype="float64")
    p = calibrated(scores, fitted)
    positives, negatives = p.sum(), (1 - p).sum()
    tp, fp = _expected_curve(scores, p)
    tpr, fpr = np.r_[0.0, tp / positives], np.r_[0.0, fp / negatives]
    recall, precision = tp / positives, tp / np.maximum(tp + fp, _EPS)
    above = scores >= threshold
    tp_t, fp_t, fn_t = p[above].sum(), (1 - p[above]).sum(), p[~above].sum()
    clipped = np.clip(scores, _EPS, 1 - _EPS)
    return {
        "roc_auc": float(np.trapezoid(tpr, fpr)),
        "pr_auc": float(np.sum(np.diff(np.r_[0.0, recall]) * precision)),
        "f1": float(2 * tp_t / max(2 * tp_t + fp_t + fn_t, _EPS)),
        "precision": float(tp_t / max(tp_t + fp_t, _EPS)),
        "recall": float(tp_t / max(positives, _EPS)),
        "log_loss": float(-np.mean(p * np.log(clipped) + (1 - p) * np.log(1 - clipped))),
        "positive_rate": float(p.mean()),
    }


def _bin_of(predictions: np.ndarray, fitted: dict) -> np.ndarray:
    edges = np.asarray(fitted["edges"])
    return np.clip(np.searchsorted(edges, predictions, side="right") - 1, 0, len(fitted["bins"]) - 1)


def dle(predictions: np.ndarray, fitted: dict) -> dict[str, float]:
    which = _bin_of(np.asarray(predictions, dtype="float64"), fitted)
    mae = np.array([b["mae"] for b in fitted["bins"]])[which]
    mse = np.array([b["mse"] for b in fitted["bins"]])[which]
    return {
        "mae": float(mae.mean()),
        "rmse": float(np.sqrt(mse.mean())),
        "r2": float(1 - mse.mean() / fitted["label_var"]) if fitted["label_var"] > 0 else float("nan"),
    }


def _fast_metric(metric: str, scores: np.ndarray):
    """The metric of labels `y` for these fixed scores, for the band's many draws: ROC AUC from the
    scores' ranks (computed once; the Mann-Whitney statistic, ties at their average rank), MAE and
    RMSE directly. None: computed the usual way."""
    if metric == "roc_auc":
        from scipy.stats import rankdata

        ranks = rankdata(scores)

        def auc(y: np.ndarray) -> float:
            positives = y == 1
            p, n = int(positives.sum()), int((~positives).sum())
            return float((ranks[positives].sum() - p * (p + 1) / 2) / (p * n)) if p and n else float("nan")

        return auc
    if metric == "mae":
        return lambda y: float(np.abs(y - scores).mean())
    if metric == "rmse":
        return lambda y: float(np.sqrt(((y - scores) ** 2).mean()))
    return None


def estimate(scores: np.ndarray, fitted: dict | None, spec: PipelineSpec, seed: int = 0) -> dict[str, float]:
    """`estimated_<metric>` with its band (`estimated_low`, `estimated_high`: the 5th and 95th
    percentiles over label draws), and for classifiers the estimated precision and recall at the
    threshold. Empty without a fitted estimator or rows."""
    scores = np.asarray(scores, dtype="float64")
    if fitted is None or len(scores) == 0:
        return {}
    metric = spec.model.metric
    point = cbpe(scores, fitted, spec.model.threshold) if fitted["kind"] == "cbpe" else dle(scores, fitted)
    rng = np.random.default_rng(seed)
    rows = scores if len(scores) <= BAND_ROWS else rng.choice(scores, BAND_ROWS, replace=False)
    value = _fast_metric(metric, rows)
    draws = []
    for _ in range(BAND_DRAWS):
        if fitted["kind"] == "cbpe":
            y = (rng.random(len(rows)) < calibrated(rows, fitted)).astype(float)
            if len(np.unique(y)) < 2:
                continue
        else:
            quantiles = np.asarray([b["q"] for b in fitted["bins"]])[_bin_of(rows, fitted)]
            y = rows + quantiles[np.arange(len(rows)), rng.integers(0, quantiles.shape[1], len(rows))]
        draws.append(value(y) if value is not None else metric_value(y, rows, spec))
    out = {f"estimated_{metric}": point[metric]}
    if draws:
        out["estimated_low"], out["estimated_high"] = (float(v) for v in np.quantile(draws, [0.05, 0.95]))
    if fitted["kind"] == "cbpe":
        out.update({"estimated_precision": point["precision"], "estimated_recall": point["recall"]})
    return out
