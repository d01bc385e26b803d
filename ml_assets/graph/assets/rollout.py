"""A challenger proving itself on live days (`rollout` in the spec): `rollout_decision`, its
approval check and the A/B split's sample-ratio check (the approval sensor is in sensors.py). Defined only for a
spec whose rollout is not `immediate` or asks for approval. Thin wiring over
`ml_assets.core.rollout` (the day records and the verdict) and `ml_assets.io.registry`.

The experiment's state lives on the challenger version in MLflow (tags `rollout.*`, `approval*`),
so the CLI, the MLflow UI and every run see the same thing; each decision is also appended to the
registered model's `rollout_history.<n>` tags.
"""

import warnings

import pandas as pd
from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    DagsterRunStatus,
    MaterializeResult,
    MetadataValue,
    PreviewWarning,
    asset,
    asset_check,
)

from ml_assets.core.monitoring import experiment_report
from ml_assets.core.rollout import (
    ARM,
    AWAITING,
    EXPERIMENT,
    OPEN_STATES,
    PROMOTED,
    REJECTED,
    RUNNING,
    STOPPED,
    approval_of,
    srm_p_value,
    verdict,
)
from ml_assets.core.sequential import CHALLENGER_ARM
from ml_assets.graph.assets.monitoring import stored_days
from ml_assets.graph.context import Pipeline, promotion_pool
from ml_assets.graph.runtime.resources import MlflowRegistry, mlflow_failure
from ml_assets.graph.runtime.versions import code_version
from ml_assets.io.experiments import challenger_tags, set_rollout_state
from ml_assets.io.provenance import utc_stamp
from ml_assets.io.registry import CHALLENGER, CHAMPION, Registry, RegistryError

APPROVAL_CHECK = "rollout_approval"
SRM_CHECK = "batch_predictions_sample_ratio"


class _Experiment:
    """The challenger on trial, as the registry has it, and the one way to close its experiment."""

    def __init__(self, registry: Registry, version: str, tags: dict[str, str], actor: str, log):
        self.registry, self.version, self.tags, self.actor, self.log = registry, version, tags, actor, log
        self.state = tags.get("rollout.state")
        self.experiment = tags.get("rollout.experiment", "")
        against = tags.get("rollout.champion", "none")
        self.started_against = None if against == "none" else against

    def found(self, state: str, reason: str, **numbers) -> dict:
        return {"version": self.version, "state": state, "reason": reason, "experiment": self.experiment, **numbers}

    def note(self, reason: str, **numbers) -> dict:
        """Still open: the newest reason on the version, for the CLI and the MLflow UI."""
        self.registry.set_version_tags(self.version, {"rollout.reason": reason})
        self.log.info(f"rollout v{self.version}: {reason}")
        return self.found(self.state or RUNNING, reason, **numbers)

    def finish(self, state: str, reason: str, **numbers) -> dict:
        """A new state: on the version, in the model's rollout history; a closed one drops the alias."""
        decided = {"rollout.decided_at": utc_stamp()}
        set_rollout_state(self.registry, self.version, state, reason, self.actor, tags=decided, **numbers)
        if state in (PROMOTED, STOPPED, REJECTED):
            self.registry.delete_alias(CHALLENGER)
        self.log.info(f"rollout v{self.version}: {state}: {reason}")
        return self.found(state, reason, **numbers)


def _closed_already(exp: _Experiment, champion: str | None) -> dict | None:
    """The experiment ended by what happened outside it, or None to go on deciding."""
    if champion == exp.version:  # a promotion cut short after the alias moved (a killed run): finish it once
        return exp.finish(PROMOTED, f"v{exp.version} is already champion; the experiment is closed")
    if champion != exp.started_against:
        return exp.finish(
            STOPPED,
            f"the champion moved from v{exp.started_against} to v{champion} (a rollback or another promotion) "
            f"while v{exp.version} was on trial; the experiment ends",
        )
    answer, answered = approval_of(exp.tags)
    if answer == "rejected":
        return exp.finish(REJECTED, answered)
    return None


def _live_verdict(p: Pipeline, exp: _Experiment) -> tuple[str, str, dict]:
    """(action, reason, numbers): from the delayed labels, or at once where nothing is compared live
    (`immediate` with approval, or a first model)."""
    if p.spec.rollout.mode == "immediate" or exp.started_against is None:
        against = f" against v{exp.started_against}" if exp.started_against else ""
        return "promote", f"passed the holdout gate{against}", {}
    quality = stored_days(p.base, "realized_quality")
    found = verdict(quality if quality is not None else pd.DataFrame(), exp.experiment, p.spec)
    d = found.decision
    numbers = {"rows": d.rows, "days": found.days, "estimate": d.estimate, "lower": d.lower, "upper": d.upper}
    said = d.reason + (f"; days left out: {'; '.join(found.excluded)}" if found.excluded else "")
    return d.action, said, numbers


def decide_experiment(registry: Registry, p: Pipeline, run_alive, run_id: str, log) -> dict:
    """Look at the running experiment once and act on it: promote, stop, wait for a person, or
    continue. Returns what was found and done (the asset's metadata). `run_alive()` is asked right
    before the champion moves: a run already marked as ended never promotes."""
    version, tags = challenger_tags(registry)
    if version is None:
        return {"state": "none", "reason": "no challenger: no experiment is running"}
    exp = _Experiment(registry, version, tags, f"dagster run {run_id}", log)
    if exp.state not in OPEN_STATES:
        # Decided by a run that died before it removed the alias: finish that, decide nothing again.
        registry.delete_alias(CHALLENGER)
        return exp.found(exp.state or "none", f"v{version} was already decided ({exp.state}); its alias is removed")
    if (closed := _closed_already(exp, registry.alias_version(CHAMPION))) is not None:
        return closed
    action, said, numbers = _live_verdict(p, exp)
    if action == "stop":
        return exp.finish(STOPPED, said, **numbers)
    if action == "continue":
        return exp.note(said, **numbers)
    answer, answered = approval_of(exp.tags)
    if p.spec.rollout.approval == "required" and answer != "approved":
        reason = (
            f"awaiting approval: v{version}: {said}; approve or reject it: "
            f"ml-assets approve --model {p.name} --version {version}"
        )
        return exp.note(reason, **numbers) if exp.state == AWAITING else exp.finish(AWAITING, reason, **numbers)
    if not run_alive():
        return exp.found(exp.state or RUNNING, f"this run is no longer STARTED: not promoted ({said})", **numbers)
    why = f"rollout ({p.spec.rollout.mode}): {said}" + (f"; {answered}" if answer == "approved" else "")
    registry.set_alias(CHAMPION, version, why, exp.actor)
    return exp.finish(PROMOTED, why, **numbers)


def log_experiment_report(registry: Registry, p: Pipeline, found: dict, log) -> str:
    """The experiment as it stands, as `experiment.html`/`.json` beside the challenger's evaluation
    report in its MLflow training run; returns where. The decision is already applied: a failure
    here is a warning (the page and the registry's history still have it)."""
    version = found["version"]
    try:
        run_id, tags = registry.version_tags(version)
        answer, answered = approval_of(tags)
        quality = stored_days(p.base, "realized_quality")
        json_text, html_text = experiment_report(
            quality if quality is not None else pd.DataFrame(),
            pd.DataFrame(registry.rollout_history()),
            p.spec,
            version,
            found["experiment"],
            answered if answer else "",
        )
        registry.log_artifacts(
            run_id, {"experiment.json": json_text.encode(), "experiment.html": html_text.encode()}, "evaluation_report"
        )
    except RegistryError as exc:
        log.warning(f"rollout v{version}: the experiment report was not logged to MLflow: {exc}")
        return f"not logged: {exc}"
    return f"MLflow run {run_id}: evaluation_report/experiment.html"


def build_rollout(p: Pipeline) -> tuple[list, list]:
    """(assets, checks) of the spec's rollout; none for `mode: immediate` without approval."""
    if not p.spec.rollout.experimenting:
        return [], []
    checks = [sample_ratio_check(p)] if p.spec.rollout.mode == "ab" else []
    return [build_rollout_decision(p)], checks


def build_rollout_decision(p: Pipeline):
    spec, r = p.spec, p.spec.rollout

    @asset(
        key_prefix=[p.name],
        name="rollout_decision",
        deps=[p.key("realized_quality")],
        retry_policy=p.retry,
        # The registering step's pool: one champion move per model at a time (dagster.yaml limit 1).
        pool=promotion_pool(p.name),
        group_name=p.qualified("monitoring"),
        kinds={"mlflow"},
        code_version=code_version(spec, verdict, sections=("rollout", "model", "labels")),
        check_specs=[
            AssetCheckSpec(
                APPROVAL_CHECK,
                asset=p.key("rollout_decision"),
                description="WARN while a decided promotion waits for a person (rollout.approval: required).",
            )
        ],
        description=(
            f"The live experiment ({r.mode}): the challenger against the champion on the delayed labels of every "
            f"day it scored, with a confidence sequence (alpha {r.alpha:g}) that stays valid looked at daily. "
            f"Promotes when the challenger is better with confidence (after {r.min_labeled_rows} labelled rows), "
            f"stops on harm beyond the guardrail ({r.guardrail:g}) or after {r.max_days} days"
            + (", and waits for approval" if r.approval == "required" else "")
            + ". State and reasons in MLflow (the challenger's rollout.* tags)."
        ),
    )
    def rollout_decision(context: AssetExecutionContext, mlflow: MlflowRegistry) -> MaterializeResult:
        registry = mlflow.registry(spec)

        def run_alive() -> bool:
            run = context.instance.get_run_by_id(context.run_id)
            return run is not None and run.status == DagsterRunStatus.STARTED

        try:
            found = decide_experiment(registry, p, run_alive, context.run_id, context.log)
        except RegistryError as exc:
            raise mlflow_failure(f"rollout_decision: MLflow failed; nothing was promoted: {exc}", exc) from None
        if found.get("experiment"):
            found["report"] = log_experiment_report(registry, p, found, context.log)
        return _decision_result(found)

    return rollout_decision


def _decision_result(found: dict) -> MaterializeResult:
    """The decision as the asset's metadata, and its approval check (WARN while a person is awaited)."""
    return MaterializeResult(
        metadata={
            k: (MetadataValue.float(float(v)) if isinstance(v, float) else v) for k, v in found.items() if v is not None
        },
        check_results=[
            AssetCheckResult(
                check_name=APPROVAL_CHECK,
                passed=found["state"] != AWAITING,
                severity=AssetCheckSeverity.WARN,
                description=found["reason"],
                metadata={"state": found["state"]},
            )
        ],
    )


def sample_ratio_check(p: Pipeline):
    spec = p.spec
    limit = spec.rollout.srm_p_value
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PreviewWarning)

        @asset_check(
            retry_policy=p.retry,
            asset=p.key("batch_predictions"),
            blocking=True,
            partitions_def=p.daily,
            description=(
                f"A/B split: the challenger's share of the day's rows against rollout.share {spec.rollout.share:g}. "
                f"ERROR (blocking; the day is not counted by rollout_decision) when p < rollout.srm_p_value {limit:g}."
            ),
        )
        def batch_predictions_sample_ratio(
            context: AssetCheckExecutionContext, batch_predictions: pd.DataFrame
        ) -> AssetCheckResult:
            day = context.partition_key
            if ARM not in batch_predictions.columns:
                return AssetCheckResult(passed=True, description=f"{day}: no experiment on this day")
            n = len(batch_predictions)
            k = int((batch_predictions[ARM] == CHALLENGER_ARM).sum())
            pv = srm_p_value(k, n, spec.rollout.share)
            ok = pv >= limit
            return AssetCheckResult(
                passed=ok,
                severity=AssetCheckSeverity.ERROR,
                description=(
                    f"{day}: challenger rows {k} of {n} ({k / n if n else 0:.3%}) against rollout.share "
                    f"{spec.rollout.share:g}: p={pv:.3g} {'>=' if ok else '<'} rollout.srm_p_value {limit:g}"
                    + ("" if ok else "; the split is not what the spec says (rows lost or duplicated for one arm?)")
                ),
                metadata={
                    "challenger_rows": MetadataValue.int(k),
                    "rows": MetadataValue.int(n),
                    "p_value": MetadataValue.float(pv),
                    "experiment": str(batch_predictions[EXPERIMENT].iloc[0]) if n else "",
                },
            )

    return batch_predictions_sample_ratio
