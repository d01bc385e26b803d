"""Did retraining a registered version give the same model? The verdict is on predictions: the
retrained pipeline's holdout scores must equal the registered version's byte for byte. What could
explain a difference (the training data, the spec, the code, the packages) is compared next to it."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Reproduction:
    version: str
    rows: int
    predictions: str | None  # None: identical byte for byte; else what differs
    provenance: list[str] = field(default_factory=list)  # what differs from the recorded training

    @property
    def reproduced(self) -> bool:
        return self.predictions is None

    def summary(self) -> str:
        head = (
            f"reproduced: v{self.version}'s holdout predictions ({self.rows} rows) are identical byte for byte"
            if self.reproduced
            else f"not reproduced: v{self.version}: {self.predictions}"
        )
        if not self.provenance:
            return head + (
                "; data, spec, code and packages are as recorded"
                if self.reproduced
                else "; data, spec, code and packages are as recorded (a non-deterministic estimator?)"
            )
        return head + "\n" + "\n".join(f"  differs: {line}" for line in self.provenance)


def compare_predictions(registered: np.ndarray, retrained: np.ndarray) -> str | None:
    a, b = np.ascontiguousarray(registered, dtype="float64"), np.ascontiguousarray(retrained, dtype="float64")
    if a.shape != b.shape:
        return f"{len(a)} holdout predictions registered, {len(b)} retrained"
    if a.tobytes() == b.tobytes():
        return None
    differ = ~((a == b) | (np.isnan(a) & np.isnan(b)))
    return (
        f"{int(differ.sum())} of {len(a)} holdout predictions differ "
        f"(largest difference {float(np.nanmax(np.abs(a - b))):.3g})"
    )


def compare_provenance(
    recorded: dict[str, str], now: dict[str, str], packages_then: dict, packages_now: dict
) -> list[str]:
    """Lines naming each recorded fact that is not what it is now."""
    names = {
        "training_set_fingerprint": "training data fingerprint",
        "spec_hash": "spec hash (the spec file in use now; the retraining used the recorded spec)",
        "git_commit": "code commit",
    }
    lines = []
    for key, name in names.items():
        if recorded.get(key) and now.get(key) and recorded[key] != now[key]:
            lines.append(f"{name}: recorded {recorded[key][:16]}, now {now[key][:16]}")
    if now.get("git_dirty") == "true":
        lines.append("code: the working tree has uncommitted changes")
    changed = sorted(k for k in set(packages_then) | set(packages_now) if packages_then.get(k) != packages_now.get(k))
    if changed:
        lines.append(
            "package versions: "
            + ", ".join(f"{k} {packages_then.get(k, '-')} -> {packages_now.get(k, '-')}" for k in changed)
        )
    return lines
