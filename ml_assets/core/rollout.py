"""A challenger on live days: what each scored day records of the experiment, and the verdict over
all of them. Pure: the caller passes the day's joined predictions and labels, or the stored days.

An experiment is one challenger version against the champion that served when it started. Its id
(`<registered model>:v<version>`) seeds the A/B split, so an entity keeps its arm every day and
raising `share` only moves entities to the challenger (see `sequential.assign_arm`).

Each day with labels keeps three sums of the per-row observations of `sequential` (count, sum, sum
of squares), so the verdict over any number of days needs only the stored day rows, never the
predictions again; and, for the page, each arm's labelled rows and its metric.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ml_assets.core.evaluation import compute_metrics
from ml_assets.core.sequential import (
    CHALLENGER_ARM,
    CHAMPION_ARM,
    Decision,
    Rules,
    day_variance,
    decide_from,
    paired_differences,
    squared_loss,
    weighted_differences,
)
from ml_assets.core.spec import PipelineSpec

# Columns batch_predictions has during an experiment (shadow: the challenger's beside the champion's).
ARM, EXPERIMENT = "arm", "experiment"
CHALLENGER_SCORE, CHALLENGER_PREDICTION, CHALLENGER_VERSION = (
    "challenger_score",
    "challenger_prediction",
    "challenger_version",
)
# The states of an experiment, kept as the challenger version's tag `rollout.state`.
RUNNING, AWAITING, PROMOTED, STOPPED, REJECTED, SUPERSEDED = (
    "running",
    "awaiting_approval",
    "promoted",
    "stopped",
    "rejected",
    "superseded",
)
OPEN_STATES = (RUNNING, AWAITING)


def experiment_id(model_name: str, version: str) -> str:
    return f"{model_name}:v{version}"


def approval_of(tags: dict[str, str]) -> tuple[str | None, str]:
    """("approved" | "rejected" | None, who/when/why) from a challenger version's tags: `approval`
    (set by `ml-assets approve/reject` or by hand in the MLflow UI), `approval.by/at/reason`."""
    answer = (tags.get("approval") or "").strip().lower() or None
    if answer not in (None, "approved", "rejected"):
        return None, f"tag approval={tags.get('approval')!r} is neither 'approved' nor 'rejected': ignored"
    who = tags.get("approval.by") or "someone in the MLflow UI"
    when = tags.get("approval.at") or "an unrecorded time"
    why = tags.get("approval.reason") or ""
    return answer, f"{answer} by {who} at {when}" + (f": {why}" if why else "")


def rules_of(spec: PipelineSpec) -> Rules:
    r = spec.rollout
    return Rules(
        alpha=r.alpha,
        min_labeled_rows=r.min_labeled_rows,
        max_days=r.max_days,
        min_improvement=r.min_improvement,
        guardrail=r.guardrail,
        min_days=r.min_days,
    )


def srm_p_value(challenger_rows: int, total_rows: int, share: float) -> float:
    """Sample-ratio mismatch: the two-sided p-value of seeing `challenger_rows` of `total_rows` in
    the challenger's arm when each row goes there with probability `share` (normal approximation to
    the binomial, which is what a chi-square test with one degree of freedom computes)."""
    if total_rows == 0:
        return 1.0
    sd = math.sqrt(total_rows * share * (1 - share))
    z = abs(challenger_rows - total_rows * share) / sd
    return math.erfc(z / math.sqrt(2))


def _metric(y: np.ndarray, s: np.ndarray, spec: PipelineSpec) -> float:
    if len(y) == 0 or (spec.is_classification and len(np.unique(y)) < 2):
        return float("nan")
    return float(compute_metrics(y, s, spec)[spec.model.metric])


def day_summary(predictions: pd.DataFrame, labels: pd.DataFrame, spec: PipelineSpec) -> dict:
    """One day's record of the experiment: the day's batch_predictions (with the experiment's
    columns) and the labels found for it (entity id, label). Keys: experiment, srm_p (A/B),
    exp_rows/exp_sum/exp_sumsq (the observations' sums), and per arm its labelled rows, mean loss
    and the spec's metric."""
    ent, label, metric = spec.columns.entity_id, spec.columns.label, spec.model.metric
    shadow = CHALLENGER_SCORE in predictions.columns
    keep = [ent, "score", CHALLENGER_SCORE if shadow else ARM]
    joined = predictions[keep].merge(labels, on=ent, how="inner")
    y = joined[label].to_numpy(dtype="float64")
    served = joined["score"].to_numpy(dtype="float64")
    row: dict = {EXPERIMENT: str(predictions[EXPERIMENT].iloc[0]) if len(predictions) else ""}
    if shadow:  # both models scored every row: paired differences
        other = joined[CHALLENGER_SCORE].to_numpy(dtype="float64")
        champion_loss, challenger_loss = squared_loss(y, served), squared_loss(y, other)
        obs = paired_differences(champion_loss, challenger_loss)
        arms = {
            CHAMPION_ARM: (len(y), champion_loss, _metric(y, served, spec)),
            CHALLENGER_ARM: (len(y), challenger_loss, _metric(y, other, spec)),
        }
    else:  # A/B: each row served by one arm; inverse-propensity weighted
        in_challenger = int((predictions[ARM] == CHALLENGER_ARM).sum())
        row["srm_p"] = srm_p_value(in_challenger, len(predictions), spec.rollout.share)
        is_challenger = (joined[ARM] == CHALLENGER_ARM).to_numpy()
        loss = squared_loss(y, served)
        obs = weighted_differences(loss, is_challenger, spec.rollout.share)
        arms = {
            arm: (int(mask.sum()), loss[mask], _metric(y[mask], served[mask], spec))
            for arm, mask in ((CHAMPION_ARM, ~is_challenger), (CHALLENGER_ARM, is_challenger))
        }
    row.update({"exp_rows": int(len(obs)), "exp_sum": float(obs.sum()), "exp_sumsq": float((obs**2).sum())})
    for arm, (n, loss, value) in arms.items():
        row[f"{arm}_rows"] = int(n)
        row[f"{arm}_loss"] = float(loss.mean()) if len(loss) else float("nan")
        row[f"{arm}_{metric}"] = value
    return row


def pooled(rows: pd.DataFrame) -> tuple[int, float, float]:
    """(count, mean, variance) of every observation of the day records `rows` (their three sums)."""
    if not len(rows):
        return 0, 0.0, 0.0
    t = int(rows["exp_rows"].sum())
    mean = float(rows["exp_sum"].sum()) / t if t else 0.0
    variance = max(float(rows["exp_sumsq"].sum()) - t * mean * mean, 0.0) / (t - 1) if t > 1 else 0.0
    return t, mean, variance


@dataclass(frozen=True)
class Verdict:
    decision: Decision
    days: int  # live days the challenger scored
    excluded: list[str]  # days left out (sample-ratio mismatch), with the reason


def verdict(days: pd.DataFrame, experiment: str, spec: PipelineSpec) -> Verdict:
    """The experiment's decision from the stored realized_quality rows (one per day; days of
    other experiments are ignored). A day whose A/B split failed the sample-ratio check is not
    counted: its arms are not the random split the test assumes."""
    rows = days[days[EXPERIMENT] == experiment] if EXPERIMENT in days.columns else days.iloc[0:0]
    excluded = []
    if spec.rollout.mode == "ab" and len(rows):
        p = rows["srm_p"].astype(float)
        bad = rows[p < spec.rollout.srm_p_value]
        excluded = [
            f"{r['day']}: sample-ratio mismatch, p={r['srm_p']:.2g} < rollout.srm_p_value {spec.rollout.srm_p_value:g}"
            for _, r in bad.iterrows()
        ]
        rows = rows[~(p < spec.rollout.srm_p_value)]
    t, mean, variance = pooled(rows)
    scored = len(rows) + len(excluded)
    n = rows["exp_rows"].to_numpy(dtype="float64") if len(rows) else np.zeros(0)
    between = day_variance(n, rows["exp_sum"].to_numpy(dtype="float64") if len(rows) else np.zeros(0), mean)
    labelled = int((n > 0).sum())
    return Verdict(decide_from(t, mean, variance, scored, rules_of(spec), between, labelled), scored, excluded)
