"""A user's history, planned: which days `ml-assets run` ingests, trains on and scores, in which
runs, and how it reads a failed or partial day. Pure: the runner (`ml_assets.runner`) carries it out."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field


@dataclass
class Plan:
    """What `run_history` will do, decided before any run starts (so progress has a total).

    Days up to the training day are ingested first (`ingest_job`), then the model is trained; days
    after it are ingested and scored in one run each (`scoring_job`), so their drift and statistics
    checks judge them against the new champion's training reference, as in production. Days that
    are already ingested but have no predictions are scored by `predictions_job`."""

    ingest: list[str]
    train_on: str | None
    score: list[str]
    skipped: dict[str, str] = field(default_factory=dict)  # day -> why it is left alone

    @property
    def steps(self) -> list[tuple[str, str | None]]:
        train = self.train_on
        first = [d for d in self.ingest if train is not None and d <= train]  # the model's window and before
        later = set(self.ingest) - set(first)  # ingested once the model exists (or with no training at all)
        score = set(self.score)
        steps = [("ingest_job", d) for d in first] + ([("training_job", train)] if train else [])
        for day in sorted(score | later):
            if day in later:
                steps.append(("scoring_job" if day in score else "ingest_job", day))
            else:
                steps.append(("predictions_job", day))
        return steps + [("monitoring_job", None)]


# The same rule failing on this many days in a row (a run each) stops `ml-assets run`: every later
# day would fail the same way, so the spec, not the data, is what looks wrong.
STOP_AFTER = 5


def failure_signature(errors: list[str]) -> str:
    """Pure: the rule a day failed on, without its day and its observed numbers, so the same rule
    failing on another day has the same signature."""
    first = re.sub(r"\d{4}-\d{2}-\d{2}", "", errors[0] if errors else "")
    return re.sub(r"-?\d+(\.\d+)?(e[-+]?\d+)?", "#", first)


def partial_note(day: str, entry: dict) -> str:
    """`ok, 2 of 3 files (1 quarantined: x.csv: why)` for a day built from some of its files."""
    quarantined = entry["quarantined"]
    said = "; ".join(f"{q['file']}: {q['reason'].splitlines()[0][:200]}" for q in quarantined[:3])
    more = f"; and {len(quarantined) - 3} more" if len(quarantined) > 3 else ""
    return (
        f"{day}: ok, {entry['files']} of {entry['files'] + len(quarantined)} files "
        f"({len(quarantined)} quarantined: {said}{more})"
    )


def day_range(first: dt.date, last: dt.date) -> list[str]:
    return [(first + dt.timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]


def plan_history(
    days: list[str],
    landed: set[str],
    stored_features: set[str],
    stored_predictions: set[str],
    train_on: str | None,
    force: bool = False,
    score: bool = True,
    score_from: str | None = None,
) -> Plan:
    """Pure: which days to ingest (landed, and not ingested yet unless `force`), the day to train on,
    and which days to score (ingested or about to be, with no predictions yet; from `score_from` on)."""
    skipped = {d: "no landing files" for d in days if d not in landed}
    ingest = [d for d in days if d in landed and (force or d not in stored_features)]
    for d in days:
        if d in landed and d not in ingest:
            skipped[d] = "already ingested (--force re-ingests)"
    have_features = stored_features | set(ingest)
    # A re-ingested day that had predictions is always scored again: they came from its old rows.
    rescore = {d for d in ingest if d in stored_predictions} if force else set()
    wanted = [d for d in days if d in have_features and (force or d not in stored_predictions)]
    to_score = [d for d in days if d in rescore or (d in wanted and (score_from is None or d >= score_from))]
    return Plan(
        ingest=ingest, train_on=train_on, score=to_score if score else [], skipped=dict(sorted(skipped.items()))
    )


# A range of days is ingested in one run (BackfillPolicy.single_run on the ingest assets) up to these
# limits: the run holds its days in memory, and a failed range is redone day by day.
RANGE_MAX_DAYS = 31
RANGE_MAX_BYTES = 256 * 2**20


def ingest_ranges(
    days: list[str], day_bytes: dict[str, int], max_days: int = RANGE_MAX_DAYS, max_bytes: int = RANGE_MAX_BYTES
) -> list[list[str]]:
    """Pure: consecutive calendar days grouped into ranges of at most `max_days` days and
    `max_bytes` bytes of landing files (a day over the limit is a range of its own)."""
    ranges: list[list[str]] = []
    for day in days:
        current = ranges[-1] if ranges else []
        follows = bool(current) and dt.date.fromisoformat(day) - dt.date.fromisoformat(current[-1]) == dt.timedelta(
            days=1
        )
        if (
            follows
            and len(current) < max_days
            and sum(day_bytes.get(d, 0) for d in current) + day_bytes.get(day, 0) <= max_bytes
        ):
            current.append(day)
        else:
            ranges.append([day])
    return ranges
