"""Run jobs of the graph for given days in one process, through a Dagster instance: `ml-assets run`
(a user's own history: ingest a day range, train as of a day, score, report), `ml-assets demo`
and the tests.

Each (job, day) is its own Dagster run, recorded in the instance the UI shows, so one bad day fails
alone and its log is where the UI puts it. All runs share one process: the definitions, the
imports, the MLflow client and the loaded champion are paid for once, not once per day (a run
launched by the daemon pays ~5-20 s of start-up; a run here ~0.5-1 s).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from dagster import DagsterInstance, Definitions, ExecuteInProcessResult

from ml_assets.core.history import (  # noqa: F401 (the runner's own names, as before)
    RANGE_MAX_BYTES,
    RANGE_MAX_DAYS,
    STOP_AFTER,
    Plan,
    day_range,
    failure_signature,
    ingest_ranges,
    partial_note,
    plan_history,
)
from ml_assets.core.spec import PipelineSpec
from ml_assets.graph.automation.alerts import failed_check_lines, failure_text
from ml_assets.graph.context import model_of, qualified_name
from ml_assets.graph.pipeline import build_definitions
from ml_assets.io.registry import CHAMPION

QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
# `ml-assets run` prints one line per run (and its errors): the console logger only says what is critical.
SILENT = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


class JobFailed(RuntimeError):
    def __init__(self, job_name: str, day: str | None, result: ExecuteInProcessResult):
        self.result = result
        self.errors = failure_lines(result)
        super().__init__(f"{job_name} for {day} failed:\n" + "\n".join(self.errors))


def failure_lines(result: ExecuteInProcessResult) -> list[str]:
    """Why a run failed, as a user reads it: each failed blocking check with its rule, column,
    observed value, limit and spec field; then each failed step's own error, except the steps whose
    only error is that a blocking check failed (the check's line says more)."""
    checks = failed_check_lines(result.all_events)
    steps = [
        f"{e.step_key}: {failure_text(e.step_failure_data)}"
        for e in result.all_events
        if e.is_step_failure and not (checks and _check_failed_error(e.step_failure_data))
    ]
    return checks + steps


def _check_failed_error(data) -> bool:
    return bool(data.error and data.error.cls_name == "DagsterAssetCheckFailedError")


def qualified(spec: PipelineSpec, job_name: str) -> str:
    """The job's name in the code location: `<model>__<job>` (a name already qualified stays)."""
    return job_name if model_of(job_name) == spec.name else qualified_name(spec.name, job_name)


def run_days(
    spec: PipelineSpec,
    spec_path: str,
    steps: Sequence[tuple[str, str | None]],
    instance: DagsterInstance,
    storage_uri: str | None = None,
    tracking_uri: str | None = None,
    asset_checks: list | None = None,
    progress: Callable | None = None,
) -> list[ExecuteInProcessResult]:
    """Run each (job name, partition day) in order, in process, recorded in `instance` (day None: an
    unpartitioned job such as monitoring_job).

    Stops at the first failure with `JobFailed`, whose message holds each failed step's error.
    The run's full log stays in the instance; the console only shows warnings.
    """
    defs = build_definitions(
        spec, spec_path, storage_uri=storage_uri, tracking_uri=tracking_uri, asset_checks=asset_checks
    )
    results = []
    for i, (job_name, day) in enumerate(steps, start=1):
        started = time.monotonic()
        result = defs.resolve_job_def(qualified(spec, job_name)).execute_in_process(
            partition_key=day, instance=instance, raise_on_error=False, run_config=QUIET
        )
        if progress:
            progress(i, len(steps), job_name, day, result, time.monotonic() - started)
        if not result.success:
            raise JobFailed(job_name, day, result)
        results.append(result)
    return results


# -- a user's history: ingest a range, train as of a day, score, report -------------------------
@dataclass
class Outcome:
    done: list[tuple[str, str | None]] = field(default_factory=list)
    failed: dict[tuple[str, str | None], list[str]] = field(default_factory=dict)
    blocked: dict[str, list[str]] = field(default_factory=dict)  # day -> blocking checks that failed
    model: dict = field(default_factory=dict)  # the model materialization's metadata, as text
    partial: dict[str, str] = field(default_factory=dict)  # day -> which of its files were quarantined
    stopped: str | None = None  # why the run stopped before the end of its plan
    not_run: int = 0  # planned steps left when it stopped


class Progress:
    """One line per run: how many of the plan's steps are done, the rate, and the time left."""

    def __init__(self, total: int, say: Callable[[str], None]):
        self.total, self.say, self.done = total, say, 0
        self.started = time.monotonic()

    def __call__(self, what: str, ok: bool, took: float, note: str = "", steps: int = 1) -> None:
        self.done += steps
        elapsed = time.monotonic() - self.started
        rate = self.done / elapsed if elapsed > 0 else 0.0
        eta = (self.total - self.done) / rate if rate else 0.0
        self.say(
            f"[{self.done}/{self.total}] {what}: {'ok' if ok else 'FAILED'} ({took:.1f} s) · "
            f"{rate:.2f} steps/s · ETA {int(eta // 60)}:{int(eta % 60):02d}{note}"
        )


@dataclass
class _HistoryRun:
    """The state of one `run_history`: what it runs against, what it has done, how it reports."""

    spec: PipelineSpec
    defs: Definitions
    instance: DagsterInstance
    plan: Plan
    guarded: list  # the blocking checks that guard training and scoring
    progress: Progress
    say: Callable[[str], None]
    day_bytes: dict[str, int]
    keep_going: bool = False  # do not stop when the same rule fails day after day
    outcome: Outcome = field(default_factory=lambda: Outcome())
    champion: str | None = None  # looked up before the first scoring step ("" when there is none)
    streak: list[str] = field(default_factory=list)  # consecutive days that failed on `streak_rule`
    streak_rule: str = ""

    def execute(self, job_name: str, day: str | None = None, days: list[str] | None = None):
        """One run of `job_name` for a day, or for a range of days in one run: (result, seconds)."""
        from ml_assets.graph.runtime.instance import RANGE_END_TAG, RANGE_START_TAG

        started = time.monotonic()
        tags = {RANGE_START_TAG: days[0], RANGE_END_TAG: days[-1]} if days else None
        result = self.defs.resolve_job_def(qualified(self.spec, job_name)).execute_in_process(
            partition_key=day, tags=tags, instance=self.instance, raise_on_error=False, run_config=SILENT
        )
        return result, time.monotonic() - started

    def blocked(self, day: str) -> list[str]:
        from ml_assets.graph.runtime.instance import blocking_check_failures

        return blocking_check_failures(self.instance, self.guarded, [day], strict_day=True)

    def run(self) -> Outcome:
        steps = self.plan.steps
        i = 0
        while i < len(steps):
            if self.outcome.stopped:
                self.outcome.not_run += len(steps) - i
                break
            job_name, day = steps[i]
            if job_name == "ingest_job" and (covered := self.ingest_range(steps, i)):
                i += covered
                continue
            i += 1
            if job_name in ("predictions_job", "scoring_job") and self.champion is None:
                self.champion = _champion_version(self.defs, self.spec) or ""
            to_run = self.gate(job_name, day)
            if to_run is None:
                continue
            result, took = self.execute(to_run, day)
            if to_run == "scoring_job" and day is not None and (blocked := self.blocked(day)):
                # Ingested, and its blocking checks held scoring back in the same run: as designed.
                self.outcome.blocked[day] = blocked
                self.outcome.done.append((to_run, day))
                self.progress(_what(to_run, day), True, took, f" · not scored: blocked by {', '.join(blocked)}")
                continue
            self.record(to_run, day, result, took)
        return self.outcome

    def ingest_range(self, steps, i: int) -> int:
        """Consecutive days to ingest from step `i` on, in one run; if that run fails, one run per day
        (a bad day then fails alone). Returns how many steps it covered (0: a single day, run as usual)."""
        block = list(itertools.takewhile(lambda step: step[0] == "ingest_job", steps[i:]))
        days = ingest_ranges([d for _, d in block], self.day_bytes)[0]
        if len(days) < 2:
            return 0
        result, took = self.execute("ingest_job", days=days)
        if result.success:
            self.outcome.done.extend(("ingest_job", d) for d in days)
            note = self.note_partial(result)
            what = f"ingest {days[0]} .. {days[-1]} ({len(days)} days, one run)"
            self.progress(what, True, took, note, steps=len(days))
            return len(days)
        errors = "; ".join(JobFailed("ingest_job", None, result).errors)[:600]
        self.say(f"  ingesting {days[0]} .. {days[-1]} in one run failed ({errors}); redoing it one day per run")
        for n, d in enumerate(days):
            self.record("ingest_job", d, *self.execute("ingest_job", d))
            if self.outcome.stopped:
                self.outcome.not_run += len(days) - n - 1
                break
        return len(days)

    def gate(self, job_name: str, day: str | None) -> str | None:
        """The job to run for this step, or None when it must not run (recorded with the reason):
        training whose window's last day failed to ingest; scoring after a failed training, with no
        champion, or of a day its blocking checks hold back."""
        outcome, what = self.outcome, _what(job_name, day)
        if job_name == "training_job" and ("ingest_job", day) in outcome.failed:
            outcome.failed[(job_name, day)] = [f"not run: ingesting {day}, the window's last day, failed"]
            self.progress(what, False, 0.0, " (skipped)")
            return None
        if job_name not in ("predictions_job", "scoring_job"):
            return job_name
        if ("training_job", self.plan.train_on) in outcome.failed:
            outcome.failed[(job_name, day)] = ["not run: training failed"]
            self.progress(what, False, 0.0, " (skipped)")
            return None
        if not self.champion:
            if job_name == "scoring_job":
                return "ingest_job"  # nothing can score: ingest only
            # The first model was held back (see the evaluation report): nothing can score.
            outcome.failed[(job_name, day)] = ["not run: the registered model has no champion"]
            self.progress(what, False, 0.0, " · not scored: no champion (see the evaluation report)")
            return None
        if job_name == "predictions_job" and day is not None and (blocked := self.blocked(day)):
            # The day's data failed a blocking check: by design it is not scored (see "Data checks").
            outcome.blocked[day] = blocked
            self.progress(what, True, 0.0, f" · not scored: blocked by {', '.join(blocked)}")
            return None
        return job_name

    def record(self, job_name: str, day: str | None, result, took: float) -> None:
        outcome, note = self.outcome, ""
        if result.success:
            outcome.done.append((job_name, day))
            note = self.note_partial(result)
            if job_name == "training_job":
                outcome.model = _model_metadata(result)
                note = f" · {outcome.model.get('promotion', '')}"
            self.streak = []
        else:
            outcome.failed[(job_name, day)] = JobFailed(job_name, day, result).errors
            note = " · " + "; ".join(outcome.failed[(job_name, day)])[:600]
        self.progress(_what(job_name, day), result.success, took, note)
        if not result.success and day is not None and job_name in ("ingest_job", "scoring_job"):
            self.follow_streak(day, outcome.failed[(job_name, day)])

    def follow_streak(self, day: str, errors: list[str]) -> None:
        """Stop the run once the same rule has failed on STOP_AFTER days in a row (unless keep_going)."""
        rule = failure_signature(errors)
        self.streak = [*self.streak, day] if rule == self.streak_rule else [day]
        self.streak_rule = rule
        if len(self.streak) >= STOP_AFTER and not self.keep_going:
            self.outcome.stopped = (
                f"the same rule failed on {len(self.streak)} days in a row ({self.streak[0]} .. {self.streak[-1]}): "
                f"{errors[0][:600]}\nEvery later day would fail the same way: the spec, not the data, looks wrong. "
                "`ml-assets validate-spec SPEC --data` checks the spec against a sample of the landed days; fix it "
                "and run again (`--keep-going` runs every day anyway)."
            )

    def note_partial(self, result) -> str:
        """Record the days of a successful run that were built from only some of their files; the
        progress line's note for them."""
        partial = _partial_days(result)
        for day, entry in partial.items():
            self.outcome.partial[day] = partial_note(day, entry)
        if not partial:
            return ""
        return " · partial: " + "; ".join(self.outcome.partial[d] for d in sorted(partial))[:600]


def run_history(
    spec: PipelineSpec,
    spec_path: str,
    plan: Plan,
    instance: DagsterInstance,
    say: Callable[[str], None] = print,
    day_bytes: dict[str, int] | None = None,
    keep_going: bool = False,
) -> Outcome:
    """Carry out `plan`. Consecutive days to ingest go in one run per range (`ingest_ranges`); a
    range that fails is redone one day per run, so a bad day fails alone and the others go on.
    Training is skipped if the window's own day failed to ingest; scoring waits for a champion."""
    from ml_assets.graph.assets.checks import guarded_check_keys

    defs = build_definitions(spec, spec_path)
    run = _HistoryRun(
        spec=spec,
        defs=defs,
        instance=instance,
        plan=plan,
        guarded=guarded_check_keys(spec.name, defs.asset_checks or []),
        progress=Progress(len(plan.steps), say),
        say=say,
        day_bytes=day_bytes or {},
        keep_going=keep_going,
    )
    return run.run()


def _what(job_name: str, day: str | None) -> str:
    return f"{job_name.removesuffix('_job')} {day}" if day else job_name.removesuffix("_job")


def _champion_version(defs, spec: PipelineSpec) -> str | None:
    return defs.resources["mlflow"].registry(spec).alias_version(CHAMPION)


def _partial_days(result: ExecuteInProcessResult) -> dict[str, dict]:
    for event in result.get_asset_materialization_events():
        if event.asset_key.path[-1] == "raw_data" and "partial_days" in event.materialization.metadata:
            return dict(event.materialization.metadata["partial_days"].value or {})
    return {}


def _model_metadata(result: ExecuteInProcessResult) -> dict:
    for event in result.get_asset_materialization_events():
        if event.asset_key.path[-1] == "model":
            return {k: v.value for k, v in event.materialization.metadata.items()}
    return {}
