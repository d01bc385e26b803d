"""Asset checks on every daily partition, from the spec's Great Expectations suites and the
champion's training reference; and `feature_drift`, the per-day drift figures kept as data.

| check | on | severity | blocking |
|---|---|---|---|
| raw_data_contract | raw_data | ERROR | yes: the day is not trained on or scored |
| features_contract | features | ERROR | yes |
| features_statistics | features | WARN | no |
| features_drift | features | WARN above drift_warn, ERROR above drift_error | yes (at ERROR) |
| batch_predictions_drift | batch_predictions | WARN / ERROR | no (nothing is downstream) |

Every result (GX's validation JSON, or the drift table) is written beside the partition it judged:
`<store>/<spec>/validation/<asset>/<day>/<check>.json`.
"""

import json
import warnings

import pandas as pd
from dagster import (
    AssetCheckEvaluation,
    AssetCheckExecutionContext,
    AssetCheckKey,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetExecutionContext,
    AssetKey,
    MetadataValue,
    Output,
    PreviewWarning,
    asset,
    asset_check,
)
from upath import UPath

from ml_assets.core.expectations import (
    feature_types,
    features_suite,
    jsonable,
    raw_suite,
    raw_type_fixes,
    raw_types,
    statistics_suite,
    validate,
)
from ml_assets.core.features import build_features
from ml_assets.core.profile import drift_of, drift_status, drift_table
from ml_assets.core.spec import PipelineSpec
from ml_assets.graph.context import Pipeline
from ml_assets.graph.runtime.partitions import RANGE_IN_ONE_RUN, as_output, each_partition
from ml_assets.graph.runtime.resources import MlflowRegistry
from ml_assets.graph.runtime.versions import code_version
from ml_assets.io.files import atomic_write_bytes
from ml_assets.io.registry import RegistryError


def _save(base: UPath, asset_name: str, day: str, check: str, payload: dict) -> UPath:
    path = base / "validation" / asset_name / day / f"{check}.json"
    # Strict JSON: NaN (a PSI of an empty column, say) is written as null, never as a bare NaN.
    atomic_write_bytes(
        path, json.dumps(jsonable(payload), indent=1, sort_keys=True, default=str, allow_nan=False).encode()
    )
    return path


def _result(outcome, severity: AssetCheckSeverity, path: UPath, extra: dict | None = None) -> AssetCheckResult:
    return AssetCheckResult(
        passed=outcome.success,
        severity=severity,
        description="; ".join(outcome.failures)[:2000] if outcome.failures else None,
        metadata={
            "failures": MetadataValue.md("\n".join(f"- {f}" for f in outcome.failures) or "none"),
            "failed_expectations": len(outcome.failures),
            "expectations": outcome.evaluated,
            "validation_result": MetadataValue.path(str(path)),
            **(extra or {}),
        },
    )


def _reference(mlflow: MlflowRegistry, spec: PipelineSpec, context) -> tuple[str, dict] | None:
    try:
        return mlflow.registry(spec).champion_profile()
    except RegistryError as exc:
        context.log.warning(f"no training reference (MLflow unavailable): {exc}")
        return None


def _not_judged(reason: str, extra: dict | None = None) -> AssetCheckResult:
    """A check that could not judge: it passes (nothing to block on), but says so in its description,
    which the UI shows beside the result, and in `judged: false`."""
    return AssetCheckResult(
        passed=True,
        severity=AssetCheckSeverity.WARN,
        description=f"not judged: {reason}",
        metadata={"judged": False, "not_judged": reason, **(extra or {})},
    )


def said(context: AssetCheckExecutionContext, spec, day: str, frame, judge) -> AssetCheckResult:
    """`judge`'s result for the day; a failure is also said in the run log, with what failed: Dagster's
    own line names only the check."""
    result = judge(day, frame)
    if not result.passed and result.description:
        blocks = spec.blocking and result.severity == AssetCheckSeverity.ERROR
        (context.log.error if blocks else context.log.warning)(
            f"check {spec.asset_key.to_user_string()}:{spec.name} ({day}) failed"
            + (" and blocks the steps below it" if blocks else "")
            + f": {result.description}"
        )
    return result


def each_day(context: AssetCheckExecutionContext, frames, judge):
    """The check's result for each day its step covers. One day (the usual run): `judge`'s
    AssetCheckResult. A range of days (a backfill in one run): one evaluation per day, recorded for
    that day as a one-day run would record it, so what reads a day's check results (scoring,
    training, automation, the UI) sees no difference; a blocking one that fails stops the run's
    downstream steps for the whole range."""
    by_day = each_partition(context, frames)
    spec = context.check_specs[0]
    if len(by_day) == 1:
        yield said(context, spec, *next(iter(by_day.items())), judge)
        return
    for day, frame in sorted(by_day.items()):
        result = said(context, spec, day, frame, judge)
        yield AssetCheckEvaluation(
            asset_key=spec.asset_key,
            check_name=spec.name,
            passed=result.passed,
            metadata=result.metadata,
            severity=result.severity,
            description=result.description,
            blocking=spec.blocking,
            partition=day,
        )
    # The check's own output, which Dagster expects once per step; the results are the evaluations above.
    yield Output(None, output_name="result")


def _drift_severity(table: pd.DataFrame) -> tuple[bool, AssetCheckSeverity]:
    if (table["status"] == "error").any():
        return False, AssetCheckSeverity.ERROR
    return not (table["status"] == "warn").any(), AssetCheckSeverity.WARN


def _drift_lines(table: pd.DataFrame) -> list[str]:
    bad = table[table["status"] != "ok"]
    return [
        f"`{r.feature}` ({r.status}): PSI {r.psi:.3f}" + (f", KS {r.ks:.3f}" if pd.notna(r.ks) else "")
        for r in bad.itertuples()
    ]


def _markdown(table: pd.DataFrame) -> str:
    def f(x):
        return "" if pd.isna(x) else f"{x:.3f}"

    rows = [f"| {r.feature} | {r.kind} | {f(r.psi)} | {f(r.ks)} | {r.status} |" for r in table.itertuples()]
    return "| feature | kind | PSI | KS | status |\n|---|---|---|---|---|\n" + "\n".join(rows)


def judge_drift(p: Pipeline, day: str, frame: pd.DataFrame, reference) -> AssetCheckResult:
    v = p.spec.validation
    if len(frame) < v.drift_min_rows:
        return _not_judged(
            f"{len(frame)} rows < validation.drift_min_rows ({v.drift_min_rows}): too few to judge drift"
        )
    if reference is None:
        return _not_judged("no training reference yet (no champion)")
    table, skipped = drift_table(p.spec, frame, day, reference)
    skipped_md = MetadataValue.md("\n".join(f"- `{k}`: {r}" for k, r in skipped.items()) or "none")
    if table.empty:
        return _not_judged(
            "every feature is excluded from drift (see not_judged_features)", {"not_judged_features": skipped_md}
        )
    passed, severity = _drift_severity(table)
    limits = {"warn": v.drift_warn.model_dump(), "error": v.drift_error.model_dump()}
    path = _save(p.base, "features", day, "features_drift", {"drift": table.to_dict(orient="records"), **limits})
    lines = _drift_lines(table)
    return AssetCheckResult(
        passed=passed,
        severity=severity,
        description="; ".join(lines) or None,
        metadata={
            "drifting": MetadataValue.md("\n".join(f"- {x}" for x in lines) or "none"),
            "max_psi": MetadataValue.float(float(table["psi"].max())),
            "max_ks": MetadataValue.float(float(table["ks"].max(skipna=True)))
            if table["ks"].notna().any()
            else MetadataValue.float(0.0),
            "drift": MetadataValue.md(_markdown(table)),
            "reference_version": table["reference_version"].iloc[0],
            "validation_result": MetadataValue.path(str(path)),
            "judged": True,
            "not_judged_features": skipped_md,
        },
    )


def judge_prediction_drift(p: Pipeline, day: str, predictions: pd.DataFrame, reference) -> AssetCheckResult:
    v = p.spec.validation
    if len(predictions) < v.drift_min_rows:
        return _not_judged(
            f"{len(predictions)} rows < validation.drift_min_rows ({v.drift_min_rows}): too few to judge drift"
        )
    if reference is None or "scores" not in reference[1]:
        return _not_judged("no score reference (no champion, or it has no holdout scores)")
    d = drift_of(reference[1]["scores"], predictions["score"])
    limits = {"warn": v.prediction_drift_warn.model_dump(), "error": v.prediction_drift_error.model_dump()}
    status = drift_status(d, limits["warn"], limits["error"])
    path = _save(p.base, "batch_predictions", day, "batch_predictions_drift", {**d, "status": status, "limits": limits})
    return AssetCheckResult(
        passed=status == "ok",
        severity=AssetCheckSeverity.ERROR if status == "error" else AssetCheckSeverity.WARN,
        description=None
        if status == "ok"
        else f"score distribution drifted ({status}): PSI {d['psi']:.3f}, KS {d['ks']:.3f}",
        metadata={
            "psi": MetadataValue.float(d["psi"] or 0.0),
            "ks": MetadataValue.float(d["ks"] or 0.0),
            "reference_version": reference[0],
            "validation_result": MetadataValue.path(str(path)),
        },
    )


def contract_checks(p: Pipeline) -> list:
    """The GX data contracts on raw_data and features: ERROR, blocking."""
    spec = p.spec

    @asset_check(
        retry_policy=p.retry,
        asset=p.key("raw_data"),
        blocking=True,
        partitions_def=p.daily,
        description="Data contract from the spec (columns, types, ids/times present, row count, null rates, ranges, "
        "allowed categories). ERROR: the day is not trained on or scored.",
    )
    def raw_data_contract(context: AssetCheckExecutionContext, raw_data):
        def judge(day: str, frame: pd.DataFrame) -> AssetCheckResult:
            outcome = validate(frame, raw_suite(spec), raw_types(spec), raw_type_fixes(spec))
            return _result(
                outcome, AssetCheckSeverity.ERROR, _save(p.base, "raw_data", day, "raw_data_contract", outcome.result)
            )

        yield from each_day(context, raw_data, judge)

    @asset_check(
        retry_policy=p.retry,
        asset=p.key("features"),
        blocking=True,
        partitions_def=p.daily,
        description="Every model input present with its type; row count. ERROR: the day is not trained on or scored.",
    )
    def features_contract(context: AssetCheckExecutionContext, features):
        def judge(day: str, frame: pd.DataFrame) -> AssetCheckResult:
            outcome = validate(frame, features_suite(spec), feature_types(spec))
            return _result(
                outcome, AssetCheckSeverity.ERROR, _save(p.base, "features", day, "features_contract", outcome.result)
            )

        yield from each_day(context, features, judge)

    return [raw_data_contract, features_contract]


def reference_checks(p: Pipeline) -> list:
    """Checks against the champion's training reference: statistics (WARN), drift (blocking at ERROR)."""
    spec = p.spec

    @asset_check(
        retry_policy=p.retry,
        asset=p.key("features"),
        blocking=False,
        partitions_def=p.daily,
        description="Mean, standard deviation and quantiles of each numeric feature within bounds learned from the "
        "champion's training reference (WARN).",
    )
    def features_statistics(context: AssetCheckExecutionContext, features, mlflow: MlflowRegistry):
        reference = _reference(mlflow, spec, context)

        def judge(day: str, frame: pd.DataFrame) -> AssetCheckResult:
            if reference is None:
                return _not_judged("no training reference yet (no champion)")
            outcome = validate(frame, statistics_suite(spec, reference[1]))
            path = _save(p.base, "features", day, "features_statistics", outcome.result)
            return _result(outcome, AssetCheckSeverity.WARN, path, {"reference_version": reference[0]})

        yield from each_day(context, features, judge)

    @asset_check(
        retry_policy=p.retry,
        asset=p.key("features"),
        blocking=True,
        partitions_def=p.daily,
        description="Per-feature drift against the champion's training reference: PSI (categorical and binned numeric) "
        "and KS (numeric). WARN above validation.drift_warn, ERROR (blocking) above validation.drift_error.",
    )
    def features_drift(context: AssetCheckExecutionContext, features, mlflow: MlflowRegistry):
        reference = _reference(mlflow, spec, context)
        yield from each_day(context, features, lambda day, frame: judge_drift(p, day, frame, reference))

    @asset_check(
        retry_policy=p.retry,
        asset=p.key("batch_predictions"),
        blocking=False,
        partitions_def=p.daily,
        description="Drift of the day's score distribution against the champion's holdout scores (PSI and KS).",
    )
    def batch_predictions_drift(
        context: AssetCheckExecutionContext, batch_predictions: pd.DataFrame, mlflow: MlflowRegistry
    ) -> AssetCheckResult:
        return judge_prediction_drift(p, context.partition_key, batch_predictions, _reference(mlflow, spec, context))

    return [features_statistics, features_drift, batch_predictions_drift]


def build_feature_drift(p: Pipeline):
    @asset(
        key_prefix=[p.name],
        name="feature_drift",
        ins={"raw_data": p.asset_in("raw_data")},
        retry_policy=p.retry,
        partitions_def=p.daily,
        backfill_policy=RANGE_IN_ONE_RUN,
        group_name=p.qualified("monitoring"),
        kinds={"pandas", "parquet"},
        code_version=code_version(
            p.spec,
            drift_table,
            build_features,
            sections=("validation", "columns", "features", "derived_features", "partitions"),
        ),
        description=(
            "Per-feature drift of the day's features against the champion's training reference (PSI, KS, "
            "status), kept per day so it can be plotted over time. Built from raw_data with the same feature "
            "module, so a day whose drift check blocks `features` consumers still gets its figures."
        ),
    )
    def feature_drift_daily(context: AssetExecutionContext, raw_data, mlflow: MlflowRegistry):
        reference = _reference(mlflow, p.spec, context)
        tables, skipped = {}, {}
        for day, frame in each_partition(context, raw_data).items():
            tables[day], skipped = drift_table(p.spec, build_features(frame, p.spec), day, reference)
        drifting = {d: t.loc[t["status"].isin(["warn", "error"]), "feature"].tolist() for d, t in tables.items()}
        context.add_output_metadata(
            {
                "drifting_features": MetadataValue.json(drifting if len(tables) > 1 else next(iter(drifting.values()))),
                "not_judged_features": MetadataValue.json(skipped),
            }
        )
        return as_output(tables)

    return feature_drift_daily


def build_checks(p: Pipeline) -> tuple[list, list]:
    """The spec's checks, and `feature_drift`. Validation results go to the model's store folder."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PreviewWarning)  # partitioned checks: one day per evaluation
        checks = [*contract_checks(p), *reference_checks(p)]
    return checks, [build_feature_drift(p)]


# Checks on these assets guard the training data: a failed blocking one holds a new model back,
# and keeps the day out of training and scoring.
GUARDED_ASSETS = ("raw_data", "features", "training_set")


def guarded_check_keys(model: str, asset_checks) -> list[AssetCheckKey]:
    """The blocking checks, among `model`'s checks, that guard the training data."""
    guarded = {AssetKey([model, a]) for a in GUARDED_ASSETS}
    return sorted(
        (
            spec.key
            for checks_def in asset_checks
            for spec in checks_def.check_specs
            if spec.asset_key in guarded and spec.blocking
        ),
        key=lambda k: (k.asset_key.to_user_string(), k.name),
    )
