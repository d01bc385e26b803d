"""The raw_data contract's verdict on a day of landing files, as ingest would build the day, with
nothing moved: `ml-assets validate-spec --data` says before any ingest which rules would fail, on
how many days, and the spec field to change."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pandas as pd

from ml_assets.core.day_rules import DayRuleError, apply_day_rules, origins
from ml_assets.core.expectations import feature_field, raw_suite, raw_type_fixes, raw_types, validate
from ml_assets.core.leakage import leaks
from ml_assets.core.schema import SchemaError, SpecColumnsError, check_spec_columns, enforce_schema
from ml_assets.core.spec import PipelineSpec


@dataclass
class DayVerdict:
    day: str
    failures: list[str] = field(default_factory=list)  # what would fail the day (the contract, a day rule)
    quarantined: list[str] = field(default_factory=list)  # files that would be set aside: the day is partial
    files: int = 0
    rows: pd.DataFrame | None = None  # the day as ingest would build it (typed, day rules applied)


def day_verdict(frames: dict[str, pd.DataFrame], spec: PipelineSpec, day: str) -> DayVerdict:
    """{file name: frame as read} of one day -> what ingest and the raw_data contract would say."""
    verdict = DayVerdict(day, files=len(frames))
    try:
        check_spec_columns(list(frames.values()), spec)
    except SpecColumnsError as exc:
        verdict.failures.append(f"spec: {exc}")
        return verdict
    typed, sources = [], []
    for source, frame in frames.items():
        try:
            typed.append(enforce_schema(frame, spec, source))
            sources.append(source)
        except SchemaError as exc:
            verdict.quarantined.append(f"{source}: {'; '.join(exc.problems)[:300]}")
    if not typed:
        verdict.failures.append(f"all {len(frames)} file(s) would be quarantined")
        return verdict
    try:
        data, _, _ = apply_day_rules(pd.concat(typed, ignore_index=True), origins(typed, sources), spec, day)
    except DayRuleError as exc:
        verdict.failures.append(str(exc))
        return verdict
    verdict.rows = data
    outcome = validate(data, raw_suite(spec), raw_types(spec), raw_type_fixes(spec))
    verdict.failures += outcome.failures
    return verdict


def sample_leaks(verdicts: list[DayVerdict], spec: PipelineSpec) -> list[str]:
    """Leakage warnings on the sampled days' rows for the spec's features (but those marked
    `leakage_ok`), each naming the spec field that acknowledges it."""
    frames = [v.rows for v in verdicts if v.rows is not None]
    if not frames:
        return []
    data = pd.concat(frames, ignore_index=True)
    label = data[spec.columns.label]
    labelled = label.notna()
    names = [f.name for f in spec.features if not f.leakage_ok]
    numeric = [f.name for f in spec.features if f.kind == "numeric" and not f.leakage_ok]
    classification = spec.task.type != "regression"
    found = leaks(data[labelled], label[labelled], names, classification, numeric)
    return [
        f"{leak.describe()}: not known when predicting? leave it out; known? set leakage_ok: true on "
        + " and ".join(feature_field(spec, c) for c in leak.columns)
        for leak in found
    ]


def rule_of(failure: str) -> str:
    """A failure line without its observed numbers: the same rule on another day reads the same."""
    return re.sub(r"-?\d+(\.\d+)?(e[-+]?\d+)?", "#", failure.split("; spec: ", 1)[0]) + (
        "; spec: " + failure.split("; spec: ", 1)[1] if "; spec: " in failure else ""
    )


def summarize(verdicts: list[DayVerdict]) -> list[str]:
    """One line per rule that fails on any sampled day: an example with its observed value and
    limit, the spec field to change, and on how many of the sampled days it fails."""
    by_rule: dict[str, list[tuple[str, str]]] = {}
    for verdict in verdicts:
        for failure in verdict.failures:
            by_rule.setdefault(rule_of(failure), []).append((verdict.day, failure))
    lines = []
    for seen in by_rule.values():
        days = sorted({day for day, _ in seen})
        lines.append(f"{seen[0][1]} (on {len(days)}/{len(verdicts)} sampled days, e.g. {days[0]})")
    return lines
