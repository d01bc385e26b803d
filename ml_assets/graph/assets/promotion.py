"""The last step of `model`: pick the best candidate, register it, and let the gate decide
whether it becomes `champion`. Thin wiring over `ml_assets.core.challenger` (what is compared),
`ml_assets.core.gate` (the decision) and `ml_assets.io.registry`."""

import pandas as pd
from dagster import AssetCheckKey, DagsterRunStatus, In, MetadataValue, OpExecutionContext, Out, op

from ml_assets.core.challenger import comparable, holdout_inputs, holdout_metric, reference_profile
from ml_assets.core.gate import Decision, decide, fenced
from ml_assets.core.training import DAY_COLUMN, ModelBundle, assemble_bundle
from ml_assets.graph.context import Pipeline, promotion_pool, qualified_name
from ml_assets.graph.runtime.instance import blocking_check_failures
from ml_assets.graph.runtime.io_managers import RUN_DAY
from ml_assets.graph.runtime.resources import mlflow_failure
from ml_assets.io.files import remove_tree
from ml_assets.io.provenance import git_commit
from ml_assets.io.registry import CHALLENGER, CHAMPION, Registry, RegistryError


def log_selection(
    registry: Registry, run_id: str, bundle: ModelBundle, training_set: pd.DataFrame, p: Pipeline
) -> None:
    """The selected candidate's figures, and the training reference that the data checks and drift
    measure new days against."""
    spec, metric = p.spec, p.spec.model.metric
    registry.log_metrics(
        run_id,
        {
            f"selected.holdout_{metric}": bundle.metrics[bundle.selected][metric],
            f"baseline.holdout_{metric}": bundle.baseline_metrics[metric],
        },
    )
    registry.set_run_tags(run_id, {"selected_candidate": bundle.selected})
    registry.log_dict(run_id, reference_profile(bundle.pipeline, training_set, spec), "reference/profile.json")


def rescored_champion(registry: Registry, training_set: pd.DataFrame, p: Pipeline, log):
    """(champion, its metric on THIS holdout): the comparison is on the same rows. (None, None)
    without a comparable champion."""
    spec = p.spec
    champion = registry.champion()
    if champion is not None and not comparable(champion.inputs, spec):
        log.warning(f"champion v{champion.version} takes other inputs {champion.inputs}: not comparable")
        champion = None
    if champion is None:
        return None, None
    return champion, holdout_metric(champion.pipeline, training_set, spec)


def register(
    registry: Registry, run_id: str, bundle: ModelBundle, training_set: pd.DataFrame, p: Pipeline, dagster_run_id: str
) -> str:
    spec, metric = p.spec, p.spec.model.metric
    return registry.log_and_register(
        run_id,
        bundle.pipeline,
        holdout_inputs(training_set, spec),
        tags={
            **{
                k: bundle.info[k]
                for k in ("model_fingerprint", "training_set_fingerprint", "window_first_day", "window_last_day")
            },
            "spec_hash": spec.spec_hash,
            "candidate": bundle.selected,
            f"holdout_{metric}": f"{bundle.metrics[bundle.selected][metric]:.6f}",
            "dagster_run_id": dagster_run_id,
            **git_commit(),
        },
    )


def _named(version: str | None) -> str:
    return f"v{version}" if version else "none"


def fence(context, registry: Registry, compared_with: str | None) -> str | None:
    """Why this run may not move `champion` now, or None. Read right before the alias moves. The
    registering step holds the model's promotion pool slot, so no other training moves the alias in
    between; a rollback from the CLI meanwhile shows as a moved champion."""
    run = context.instance.get_run_by_id(context.run_id)
    if run is None or run.status != DagsterRunStatus.STARTED:
        state = run.status.value if run is not None else "gone"
        return f"this run ({context.run_id}) is {state}, not STARTED: a run marked as ended does not promote"
    now = registry.alias_version(CHAMPION)
    if now != compared_with:
        return (
            f"the champion moved from {_named(compared_with)} to {_named(now)} while this run compared against "
            f"{_named(compared_with)}; the next training compares against {_named(now)}"
        )
    return None


def model_metadata(bundle: ModelBundle, version: str, alias: str, said: str, run_id: str, metric: str) -> dict:
    return {
        "model_version": version,
        "model_fingerprint": bundle.info["model_fingerprint"],
        "selected": bundle.selected,
        f"holdout_{metric}": MetadataValue.float(bundle.metrics[bundle.selected][metric]),
        f"baseline_{metric}": MetadataValue.float(bundle.baseline_metrics[metric]),
        "promotion": f"{alias}: {said}",
        "candidates": MetadataValue.md(
            f"| candidate | {metric} |\n|---|---|\n"
            + "\n".join(f"| {n} | {m[metric]:.5f} |" for n, m in bundle.metrics.items())
        ),
        "window": f"{bundle.info['window_first_day']} .. {bundle.info['window_last_day']}",
        # `model` is the newest registered version, whatever day it was trained on: this one.
        "trained_on_day": bundle.info["window_last_day"],
        "mlflow_run_id": run_id,
    }


def _remove_candidates(p: Pipeline, context: OpExecutionContext) -> None:
    """The candidates were carried between this run's steps; the chosen one is registered now. Only
    this model's steps' files go (`<model>__model.<step>`): a run may train several models."""
    folder = p.base.parent / "_runs" / context.run_id
    try:  # best effort: the model is registered; leftovers go with the run's folder a day later
        mine = [f for f in folder.iterdir() if f.name.startswith(qualified_name(p.name, "model."))]
        failed = [str(f) for f in mine if remove_tree(f) is False]
        if failed:
            context.log.warning(f"could not remove this run's candidate files: {', '.join(failed)}")
        if not any(True for _ in folder.iterdir()):
            remove_tree(folder)  # the last model of the run: nothing else of it is here
    except OSError:  # gone already (an S3 prefix with nothing left under it is no folder at all)
        pass


def _registration_info(
    registry, version: str, run_id: str, decision, alias: str, said: str, champion, champion_metric
) -> dict:
    """What the model bundle records of its registration and the gate's decision."""
    return {
        "registered_model": registry.model_name,
        "registered_version": version,
        "mlflow_run_id": run_id,
        "tracking_uri": registry.tracking_uri,
        "promotion": {
            **decision.to_dict(),
            "summary": said,
            "alias": alias,
            "champion_version_before": champion.version if champion else None,
            "champion_metric_before": champion_metric,
        },
    }


def place(
    registry: Registry, version: str, decision: Decision, champion: str | None, p: Pipeline, dagster_run_id: str
) -> tuple[str, str]:
    """Move the alias the gate's decision calls for; returns (alias or "", what was done).

    `rollout.mode: immediate` (the default): `champion` when the gate passed, else `challenger`.
    In a live experiment (shadow, A/B, or approval required), a version that passed the gate becomes
    `challenger` and its experiment starts (the first model, with nothing to replace, becomes
    champion unless a person must approve it); one held back gets no alias, so the experiment that
    is running goes on."""
    from ml_assets.core.rollout import AWAITING, OPEN_STATES, RUNNING, SUPERSEDED, experiment_id
    from ml_assets.io.experiments import challenger_tags, set_rollout_state
    from ml_assets.io.provenance import utc_stamp

    rollout, actor = p.spec.rollout, f"dagster run {dagster_run_id}"
    first = champion is None and rollout.approval != "required"
    if not rollout.experimenting or (decision.promote and first):
        alias = CHAMPION if decision.promote else CHALLENGER
        registry.set_alias(alias, version, decision.summary(), actor)
        return alias, decision.summary()
    if not decision.promote:
        said = decision.summary().replace("kept as challenger", "not put on trial", 1)
        return "", f"{said}; the running experiment (if any) goes on"
    waiting = rollout.mode == "immediate" or champion is None
    state = AWAITING if waiting else RUNNING
    previous, previous_tags = challenger_tags(registry)
    if previous is not None and previous_tags.get("rollout.state") in OPEN_STATES:
        set_rollout_state(registry, previous, SUPERSEDED, f"superseded by v{version}", actor)
    gate = "; ".join(r.detail for r in decision.rules)
    said = (
        f"passed the gate ({gate}); challenger v{version} awaits approval "
        f"(ml-assets approve --model {p.name} --version {version})"
        if waiting
        else f"passed the gate ({gate}); challenger v{version} on trial against champion v{champion} "
        f"({rollout.mode}{f', share {rollout.share:g}' if rollout.mode == 'ab' else ''})"
    )
    registry.set_alias(CHALLENGER, version, said, actor)
    started = {
        "rollout.mode": rollout.mode,
        "rollout.share": f"{rollout.share:g}",
        "rollout.champion": champion or "none",
        "rollout.experiment": experiment_id(registry.model_name, version),
        "rollout.started_at": utc_stamp(),
    }
    set_rollout_state(registry, version, state, said, actor, tags=started)
    return CHALLENGER, said


def select_and_register_op(p: Pipeline, guarded: list[AssetCheckKey]):
    spec = p.spec

    @op(
        retry_policy=p.retry,
        name=p.qualified("select_and_register"),
        required_resource_keys={"mlflow"},
        ins={"training_set": In(metadata={RUN_DAY: True}), "candidates": In()},
        # One registering step per model at a time, whatever launched its run (UI, CLI, daemon,
        # automation): the pool's limit is 1 (dagster.yaml `concurrency.pools.default_limit`).
        pool=promotion_pool(p.name),
        out=Out(io_manager_key="model_io_manager"),
        description=(
            "Pick the best candidate by the spec's metric, register it in MLflow (sklearn flavour, skops, "
            "signature, input example), then move `champion` to it only if the gate allows."
        ),
    )
    def select_and_register(context: OpExecutionContext, training_set: pd.DataFrame, candidates: list) -> ModelBundle:
        fitted = {part.selected: (part.pipeline, part.metrics[part.selected]) for part in candidates}
        bundle = assemble_bundle(training_set, spec, {c.name: fitted[c.name] for c in spec.model.candidates})
        metric = spec.model.metric
        registry = context.resources.mlflow.registry(spec)
        try:
            run_id = registry.find_run(context.run_id)
            log_selection(registry, run_id, bundle, training_set, p)
            compared_with = registry.alias_version(CHAMPION)
            champion, champion_metric = rescored_champion(registry, training_set, p, context.log)
            version = register(registry, run_id, bundle, training_set, p, context.run_id)
            decision = decide(
                metric=spec.metric,
                challenger=bundle.metrics[bundle.selected][metric],
                baseline=bundle.baseline_metrics[metric],
                champion=champion_metric,
                champion_version=champion.version if champion else None,
                tolerance=spec.registry.tolerance,
                blocking_failures=blocking_check_failures(
                    context.instance, guarded, sorted(training_set[DAY_COLUMN].unique())
                ),
            )
            decision = fenced(decision, fence(context, registry, compared_with) if decision.promote else None)
            alias, said = place(registry, version, decision, compared_with, p, context.run_id)
            registry.set_run_tags(run_id, {"registered_version": version, "promotion": alias})
            registry.log_dict(run_id, decision.to_dict(), "promotion/decision.json")
            registry.end_run(run_id, "FINISHED")
        except RegistryError as exc:
            raise mlflow_failure(f"model: MLflow failed; the champion is unchanged: {exc}", exc) from None
        context.log.info(f"registered {registry.model_name} v{version}: {said}")
        _remove_candidates(p, context)
        bundle.version = version
        bundle.info.update(
            _registration_info(registry, version, run_id, decision, alias, said, champion, champion_metric)
        )
        context.add_output_metadata(model_metadata(bundle, version, alias, said, run_id, metric))
        return bundle

    return select_and_register
