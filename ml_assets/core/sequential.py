"""Comparing a challenger with the champion on live days, from delayed labels, looked at every day.

A fixed-horizon test repeated daily promotes a useless challenger far more often than its alpha
says (each look is another chance at a false positive). This is an *asymptotic confidence
sequence* instead (Waudby-Smith, Arnold, Wu, Ramdas and Ramdas, "Time-uniform central limit theory
and asymptotic confidence sequences", Annals of Statistics 2024, eq. 2.7): for observations with
running mean m_t and running variance v_t after t of them,

    m_t ± sqrt( 2 (t v_t r² + 1) / (t² r²) · log( sqrt(t v_t r² + 1) / alpha ) )

holds the true mean at every t at once with probability about 1 - alpha, so the experiment may be
looked at after every day and stopped as soon as the interval says so. `r` sets where the interval is
tightest (here: at `tuned_rows` observations).

What is compared is a per-row loss, lower is better: the Brier score for a classifier, the squared
error for a regressor (ROC AUC and the like are not sums over rows; the report shows them per arm
beside the test). The mean is the champion's loss minus the challenger's, so positive means the
challenger is better:

* shadow mode: both models score every row; each labelled row gives the paired difference;
* A/B mode: each row was served by one arm, the challenger's with probability `share`; each
  labelled row gives `loss·(1-A)/(1-share) - loss·A/share` (A = 1 for the challenger's rows),
  whose mean is the same difference (inverse-propensity weighting), so one sequence serves both.

Pure: arrays in, a decision with its numbers out."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import numpy as np

CHALLENGER_ARM, CHAMPION_ARM = "challenger", "champion"


def assign_arm(experiment_id: str, entity_id: str, share: float) -> str:
    """The arm that serves an entity: sticky (the same entity, the same arm, every day) and
    monotone in `share` (raising it only moves entities from the champion to the challenger),
    because the entity's position in [0, 1) depends on the experiment and the entity alone."""
    digest = hashlib.sha256(f"{experiment_id}\x00{entity_id}".encode()).digest()
    position = int.from_bytes(digest[:8], "big") / 2**64
    return CHALLENGER_ARM if position < share else CHAMPION_ARM


def squared_loss(y: np.ndarray, prediction: np.ndarray) -> np.ndarray:
    """Per-row loss, lower is better: the Brier score of a classifier's score for a 0/1 label, the
    squared error of a regressor's prediction (the same formula)."""
    return (np.asarray(prediction, dtype=float) - np.asarray(y, dtype=float)) ** 2


def paired_differences(champion_loss: np.ndarray, challenger_loss: np.ndarray) -> np.ndarray:
    """Shadow mode: one observation per labelled row, champion minus challenger."""
    return np.asarray(champion_loss, dtype=float) - np.asarray(challenger_loss, dtype=float)


def weighted_differences(loss: np.ndarray, challenger: np.ndarray, share: float) -> np.ndarray:
    """A/B mode: one observation per labelled row, whose mean is champion minus challenger."""
    loss, served = np.asarray(loss, dtype=float), np.asarray(challenger, dtype=bool)
    return np.where(served, -loss / share, loss / (1 - share))


def radius(t: int, variance: float, alpha: float, tuned_rows: int) -> float:
    """Half-width of the confidence sequence after `t` observations of running `variance`."""
    if t < 2:
        return math.inf
    r2 = (-2 * math.log(alpha) + math.log(-2 * math.log(alpha) + 1)) / tuned_rows
    tv = t * variance * r2 + 1
    return math.sqrt(2 * tv / (t * t * r2) * math.log(math.sqrt(tv) / alpha))


@dataclass(frozen=True)
class Rules:
    alpha: float = 0.05
    min_labeled_rows: int = 500
    max_days: int = 14
    min_improvement: float = 0.0  # how much lower the challenger's loss must be, with confidence
    guardrail: float = 0.0  # stop when the challenger is worse than this, with confidence
    tuned_rows: int = 5000  # where the interval is tightest (about a week of labels for a mid-sized model)
    min_days: int = 3  # live days with labels before a promotion: one day's rows share its conditions


def day_variance(day_rows: np.ndarray, day_sums: np.ndarray, mean: float) -> float | None:
    """The per-row variance that the spread of the days' means implies (a cluster-robust variance of
    the mean, times the rows), or None with fewer than two days. Rows of one day are not independent
    (a storm delays every flight of the day; a holiday moves every basket): where days differ more
    than their rows say, this is larger than the rows' variance, and the interval widens to match."""
    n, sums = np.asarray(day_rows, dtype=float), np.asarray(day_sums, dtype=float)
    keep = n > 0
    n, sums = n[keep], sums[keep]
    d, t = len(n), float(n.sum())
    if d < 2:
        return None
    return float(d / (d - 1) * ((sums - n * mean) ** 2).sum() / t)


@dataclass(frozen=True)
class Decision:
    action: str  # "continue", "promote", "stop"
    reason: str
    rows: int
    estimate: float  # mean of champion loss minus challenger loss
    lower: float
    upper: float


def decide(observations: np.ndarray, days: int, rules: Rules) -> Decision:
    """The experiment's verdict after `days` live days and every observation so far (all days)."""
    x = np.asarray(observations, dtype=float)
    x = x[np.isfinite(x)]
    t = len(x)
    return decide_from(t, float(x.mean()) if t else 0.0, float(x.var(ddof=1)) if t > 1 else 0.0, days, rules)


def decide_from(
    t: int,
    mean: float,
    variance: float,
    days: int,
    rules: Rules,
    between_days: float | None = None,
    labelled_days: int | None = None,
) -> Decision:
    """`decide` from the running count, mean and variance (what a day's run keeps). `between_days`:
    the per-row variance the days' spread implies (`day_variance`); the larger of the two sets the
    interval. `labelled_days`: days with labels, at least `rules.min_days` for a promotion (None:
    `days`, for observations known to be independent)."""
    labelled = days if labelled_days is None else labelled_days
    width = radius(t, max(variance, between_days or 0.0), rules.alpha, rules.tuned_rows)
    low, high = mean - width, mean + width
    said = (
        f"challenger's loss lower by {mean:.4g} (champion minus challenger; {1 - rules.alpha:.0%} "
        f"confidence sequence [{low:.4g}, {high:.4g}]) on {t} labelled rows over {days} day(s)"
    )

    def verdict(action: str, why: str) -> Decision:
        return Decision(action, f"{why}: {said}", t, mean, low, high)

    if high < -rules.guardrail:
        return verdict("stop", f"stopped: the challenger is worse by more than the guardrail ({rules.guardrail:g})")
    if t >= rules.min_labeled_rows and low > rules.min_improvement:
        if labelled >= rules.min_days:
            return verdict("promote", f"promote: the challenger is better by more than {rules.min_improvement:g}")
        if days < rules.max_days:
            return verdict("continue", f"waiting: better so far, on {labelled} of min_days {rules.min_days} days")
    if days >= rules.max_days:
        return verdict("stop", f"stopped at max_days ({rules.max_days}) without a conclusion; the champion stays")
    if t < rules.min_labeled_rows:
        return verdict("continue", f"waiting: {t} of min_labeled_rows {rules.min_labeled_rows}")
    return verdict("continue", "continuing: not yet conclusive")
