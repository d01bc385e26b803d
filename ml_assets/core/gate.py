"""The champion/challenger gate: may a newly trained model replace the serving one?

Pure data plus rules: the numbers come in, a decision with every rule's numbers and verdict goes
out. The rules:
  (a) not worse than the champion re-scored on the SAME holdout, minus the spec's tolerance;
  (b) better than the trivial baseline;
  (c) no blocking check failed on the data it was trained on.
The first model (no champion yet) needs only (b) and (c).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Literal


@dataclass(frozen=True)
class Metric:
    """A metric that knows its direction: every comparison of metric values goes through here."""

    name: str
    direction: Literal["max", "min"]

    def better(self, a: float, b: float) -> bool:
        """`a` is strictly better than `b`."""
        return a > b if self.direction == "max" else a < b

    def at_least(self, a: float, b: float) -> bool:
        """`a` is as good as `b` or better."""
        return a >= b if self.direction == "max" else a <= b

    def worse_by(self, value: float, margin: float) -> float:
        """`value` moved `margin` in the bad direction: the bar a challenger must reach."""
        return value - margin if self.direction == "max" else value + margin

    @property
    def words(self) -> str:
        return "higher is better" if self.direction == "max" else "lower is better"


@dataclass
class Rule:
    name: str
    passed: bool
    detail: str
    values: dict = field(default_factory=dict)  # the numbers the rule compared


@dataclass
class Decision:
    promote: bool
    rules: list[Rule] = field(default_factory=list)

    @property
    def held_back_by(self) -> list[Rule]:
        return [r for r in self.rules if not r.passed]

    def summary(self) -> str:
        if self.promote:
            return "promoted to champion: " + "; ".join(r.detail for r in self.rules)
        return "kept as challenger, held back by: " + "; ".join(r.detail for r in self.held_back_by)

    def to_dict(self) -> dict:
        return {"promote": self.promote, "summary": self.summary(), "rules": [asdict(r) for r in self.rules]}


def champion_rule(
    metric: Metric, challenger: float, champion: float, champion_version: str | None, tolerance: float
) -> Rule:
    # "At least as good, minus the tolerance": the bar moves against the challenger by `tolerance`.
    bar = metric.worse_by(champion, tolerance)
    ok = metric.at_least(challenger, bar)
    symbol = (">=" if ok else "<") if metric.direction == "max" else ("<=" if ok else ">")
    return Rule(
        "champion",
        ok,
        f"{metric.name} {challenger:.5f} {symbol} champion v{champion_version} {champion:.5f} "
        f"re-scored on the same holdout (tolerance {tolerance:g})",
        {
            "challenger": challenger,
            "champion": champion,
            "champion_version": champion_version,
            "tolerance": tolerance,
            "bar": bar,
        },
    )


def baseline_rule(metric: Metric, challenger: float, baseline: float) -> Rule:
    beats = metric.better(challenger, baseline)
    return Rule(
        "baseline",
        beats,
        f"{metric.name} {challenger:.5f} {'beats' if beats else 'does not beat'} the trivial baseline {baseline:.5f}",
        {"challenger": challenger, "baseline": baseline},
    )


def checks_rule(blocking_failures: Sequence[str]) -> Rule:
    return Rule(
        "checks",
        not blocking_failures,
        "no blocking check failed on the training data"
        if not blocking_failures
        else f"blocking checks failed on the training data: {', '.join(blocking_failures)}",
        {"blocking_failures": list(blocking_failures)},
    )


def decide(
    *,
    metric: Metric,
    challenger: float,
    baseline: float,
    champion: float | None = None,
    champion_version: str | None = None,
    tolerance: float = 0.0,
    blocking_failures: Sequence[str] = (),
) -> Decision:
    rules = [champion_rule(metric, challenger, champion, champion_version, tolerance)] if champion is not None else []
    rules += [baseline_rule(metric, challenger, baseline), checks_rule(blocking_failures)]
    return Decision(promote=all(r.passed for r in rules), rules=rules)


def fenced(decision: Decision, reason: str | None) -> Decision:
    """`decision`, held back when the promotion may no longer commit: the run asking is no longer
    alive, or the champion is not the one the challenger was compared against. The version stays
    `challenger` with the reason; the next training compares again."""
    if reason is None:
        return decision
    return Decision(promote=False, rules=[*decision.rules, Rule("fence", False, reason)])
