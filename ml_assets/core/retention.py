"""Retention: which stored partitions and registered model versions to delete, and why the rest stay.

Pure: the caller lists what exists and what the champion and challenger need; `plan_retention`
decides. The same plan is printed by a dry run and carried out by a real one.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass

from ml_assets.core.spec import PipelineSpec

# The daily assets retention deletes. Monitoring data (feature_drift, realized_quality) is one
# small row set per day and stays: it is the history the monitoring page plots.
RETAINED_ASSETS = ("raw_data", "features", "training_set", "batch_predictions")
# What a model version needs to be reproduced: the days of its window, and its training_set day.
WINDOW_ASSETS = ("raw_data", "features")


@dataclass(frozen=True)
class Decision:
    kind: str  # "partition" | "model_version"
    name: str  # asset name, or the registered model
    key: str  # partition day, or version
    action: str  # "delete" | "keep"
    reason: str

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Protected:
    """A model version that must stay reproducible: its alias and training window."""

    alias: str
    version: str
    window_first_day: str | None
    window_last_day: str | None


def _days(first: str, last: str) -> set[str]:
    a, b = dt.date.fromisoformat(first), dt.date.fromisoformat(last)
    return {(a + dt.timedelta(days=i)).isoformat() for i in range((b - a).days + 1)}


def _version_decisions(spec: PipelineSpec, versions: list[dict], now: dt.datetime) -> list[Decision]:
    """Registered versions older than retention.model_version_days: delete, or keep and say why."""
    r = spec.retention
    assert r.model_version_days is not None
    decisions: list[Decision] = []
    oldest_kept = now - dt.timedelta(days=r.model_version_days)
    newest = {str(v["version"]) for v in sorted(versions, key=lambda v: int(v["version"]))[-r.keep_model_versions :]}
    for v in sorted(versions, key=lambda v: int(v["version"])):
        created = dt.datetime.fromtimestamp(v["created_ms"] / 1000, dt.UTC)
        if created >= oldest_kept:
            continue
        version = str(v["version"])
        if v.get("aliases"):
            why = f"holds alias {', '.join(v['aliases'])}"
        elif version in newest:
            why = (
                f"one of the newest {r.keep_model_versions} versions (retention.keep_model_versions; rollback targets)"
            )
        else:
            why = None
        decisions.append(
            Decision(
                "model_version",
                spec.registered_model_name,
                version,
                "keep" if why else "delete",
                why or f"created {created:%Y-%m-%d}, older than retention.model_version_days ({r.model_version_days})",
            )
        )
    return decisions


def plan_retention(
    spec: PipelineSpec,
    newest_day: str,
    partitions: dict[str, list[str]],
    versions: list[dict],
    protected: list[Protected],
    now: dt.datetime,
) -> list[Decision]:
    """`partitions`: stored days per asset; `versions`: {version, created_ms, aliases}. Returns one
    Decision per item that is old enough to go: delete, or keep with the reason it must stay."""
    r = spec.retention
    decisions: list[Decision] = []
    needs: dict[tuple[str, str], list[str]] = {}
    for p in protected:
        if not (p.window_first_day and p.window_last_day):
            continue
        used = f"{p.alias} v{p.version} trained on it (window {p.window_first_day} .. {p.window_last_day})"
        for asset in WINDOW_ASSETS:
            for day in _days(p.window_first_day, p.window_last_day):
                needs.setdefault((asset, day), []).append(used)
        needs.setdefault(("training_set", p.window_last_day), []).append(used)
    if r.days is not None:
        # Keep the newest `days` days up to the newest complete day; anything before goes.
        cutoff = (dt.date.fromisoformat(newest_day) - dt.timedelta(days=r.days - 1)).isoformat()
        for asset in RETAINED_ASSETS:
            for day in sorted(partitions.get(asset, [])):
                if day >= cutoff:
                    continue
                if reasons := needs.get((asset, day)):
                    decisions.append(Decision("partition", asset, day, "keep", "; ".join(sorted(set(reasons)))))
                else:
                    decisions.append(
                        Decision(
                            "partition", asset, day, "delete", f"older than retention.days ({r.days}: before {cutoff})"
                        )
                    )
    if r.model_version_days is not None:
        decisions += _version_decisions(spec, versions, now)
    return decisions
