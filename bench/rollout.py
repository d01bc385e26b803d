"""The live comparison's error rates, in simulation (`ml_assets.core.sequential`).

Each simulated experiment is a binary classifier scored every day on `rows` labelled rows (label
share 30 %), for up to `max_days` days, looked at after every day (the sequence's whole point).
Scores are the label's base rate plus noise: the champion's noise has a standard deviation of 0.25,
the challenger's 0.25 (equal), 0.27 (slightly worse) or 0.23 (better), so the Brier losses differ by
about ±0.01. Shadow mode: both models score every row (paired differences). A/B: each row is served
by the challenger with probability `share` (25 %, 50 %) and only that arm's loss is known.

Counted per scenario: false promotions (equal and worse: the target is at most alpha), promotions
of the better one (the power) and the median days to decide, stops by the guardrail, and stops at
max_days. The rules are the defaults of `ml_assets.core.sequential.Rules`.
"""

from __future__ import annotations

import math
import statistics
from statistics import NormalDist

import numpy as np

from bench.project import verdict

SCENARIOS = {"equal": 0.25, "slightly worse": 0.27, "better": 0.23}
MODES = {"shadow (paired)": None, "A/B, 25 % share": 0.25, "A/B, 50 % share": 0.5}


def _losses(rng: np.random.Generator, n: int, noise: float) -> tuple[np.ndarray, np.ndarray]:
    y = (rng.random(n) < 0.3).astype(float)
    base = 0.3 + 0.4 * y
    champion = np.clip(base + rng.normal(0, 0.25, n), 0, 1)
    challenger = np.clip(base + rng.normal(0, noise, n), 0, 1)
    return (champion - y) ** 2, (challenger - y) ** 2


def _experiment(rng, noise: float, share: float | None, rows: int, rules) -> tuple[str, int, bool]:
    """(final action, day it was taken, whether a one-sided z-test at alpha repeated after every day
    would have promoted at some look) of one simulated experiment."""
    from ml_assets.core.sequential import day_variance, decide_from, paired_differences, weighted_differences

    t, total, total_sq, naive, day_rows, day_sums = 0, 0.0, 0.0, False, [], []
    z = NormalDist().inv_cdf(1 - rules.alpha)
    for day in range(1, rules.max_days + 1):
        champion, challenger = _losses(rng, rows, noise)
        if share is None:
            x = paired_differences(champion, challenger)
        else:
            served = rng.random(rows) < share
            x = weighted_differences(np.where(served, challenger, champion), served, share)
        t, total, total_sq = t + len(x), total + x.sum(), total_sq + (x * x).sum()
        day_rows.append(len(x))
        day_sums.append(x.sum())
        mean = total / t
        variance = max(0.0, (total_sq - t * mean * mean) / (t - 1))
        naive = naive or mean > z * math.sqrt(variance / t)
        # As rollout_decision does: the days' spread may widen the interval, and min_days must pass.
        decision = decide_from(t, mean, variance, day, rules, day_variance(day_rows, day_sums, mean), day)
        if decision.action != "continue":
            return decision.action + (" (guardrail)" if "guardrail" in decision.reason else ""), day, naive
    return "continue", rules.max_days, naive


def run(experiments: int, rows: int, seed: int = 7, log=print) -> list[dict]:
    from ml_assets.core.sequential import Rules

    rules = Rules()
    out = []
    for mode, share in MODES.items():
        for scenario, noise in SCENARIOS.items():
            rng = np.random.default_rng(seed)
            results = [_experiment(rng, noise, share, rows, rules) for _ in range(experiments)]
            promoted = [day for action, day, _ in results if action == "promote"]
            out.append(
                {
                    "mode": mode,
                    "scenario": scenario,
                    "experiments": experiments,
                    "promoted": len(promoted) / experiments,
                    "median_days": statistics.median(promoted) if promoted else None,
                    "guardrail": sum(a == "stop (guardrail)" for a, _, _ in results) / experiments,
                    "max_days": sum(a == "stop" for a, _, _ in results) / experiments,
                    "naive": sum(n for _, _, n in results) / experiments,
                    "alpha": rules.alpha,
                }
            )
            log(f"  rollout: {mode}, {scenario}: promoted {out[-1]['promoted']:.1%}")
    return out


def table(rows: list[dict], rows_per_day: int) -> str:
    lines = [
        f"{rows[0]['experiments']:,} simulated experiments per line, {rows_per_day:,} labelled rows a day, a look "
        "every day.",
        "",
        "| mode | challenger | promoted | median days to promote | stopped by the guardrail | stopped at max_days "
        "| a z-test repeated daily would have promoted |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        promoted = f"{r['promoted']:.1%}"
        if r["scenario"] != "better":
            promoted += f" (target ≤ {r['alpha']:.0%}: {verdict(r['promoted'] <= r['alpha'])})"
        days = "" if r["median_days"] is None else f"{r['median_days']:g}"
        lines.append(
            f"| {r['mode']} | {r['scenario']} | {promoted} | {days} | {r['guardrail']:.1%} | {r['max_days']:.1%} "
            f"| {r['naive']:.1%} |"
        )
    lines.append(
        "\nThe last column is why the test is a confidence sequence: the same data judged by a fixed-horizon "
        "test after every day promotes an equal challenger far more often than its alpha."
    )
    return "\n".join(lines)
