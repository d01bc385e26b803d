"""The champion/challenger gate: may a newly trained model replace the serving one?

Pure: the numbers come in, a decision with every rule's verdict goes out. The rules:
  (a) not worse than the champion re-scored on the SAME holdout, minus the spec's tolerance;
  (b) better than the trivial baseline;
  (c) no blocking check failed on the data it was trained on.
The first model (no champion yet) needs only (b) and (c).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class Rule:
    name: str
    passed: bool
    detail: str


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


def _at_least(a: float, b: float, direction: str) -> bool:
    return a >= b if direction == "max" else a <= b


def decide(
    metric: str,
    direction: str,
    challenger: float,
    baseline: float,
    champion: float | None,
    champion_version: str | None,
    tolerance: float,
    blocking_failures: list[str],
) -> Decision:
    rules = []
    if champion is not None:
        # "At least as good, minus the tolerance": the bar moves against the challenger by `tolerance`.
        bar = champion - tolerance if direction == "max" else champion + tolerance
        ok = _at_least(challenger, bar, direction)
        symbol = (">=" if ok else "<") if direction == "max" else ("<=" if ok else ">")
        rules.append(Rule(
            "champion", ok,
            f"{metric} {challenger:.5f} {symbol} champion v{champion_version} {champion:.5f} "
            f"re-scored on the same holdout (tolerance {tolerance:g})",
        ))
    beats = challenger > baseline if direction == "max" else challenger < baseline
    rules.append(Rule(
        "baseline", beats,
        f"{metric} {challenger:.5f} {'beats' if beats else 'does not beat'} the trivial baseline {baseline:.5f}",
    ))
    rules.append(Rule(
        "checks", not blocking_failures,
        "no blocking check failed on the training data" if not blocking_failures
        else f"blocking checks failed on the training data: {', '.join(blocking_failures)}",
    ))
    return Decision(promote=all(r.passed for r in rules), rules=rules)
