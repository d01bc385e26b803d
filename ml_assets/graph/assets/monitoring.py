"""Monitoring after the model ships: `realized_quality` (each day's predictions joined with the
labels that arrived later), its checks, the labels sensor, and `monitoring_report`, the page.

| asset / check | what |
|---|---|
| `realized_quality` (daily) | the day's volume, score quantiles, serving version; realized metric and baseline where labels arrived |
| `realized_quality_threshold` (check, per day) | ERROR when a day with enough labels is below `labels.quality_threshold` (or no better than the baseline) |
| `monitoring_report` | the page: HTML with plots + the data as Parquet |
| `latest_realized_quality` (check on the page) | the newest judged day is below the threshold: a retraining trigger (`policies.py`) |
"""  # noqa: E501 (a table/HTML template)

import base64
import datetime as dt
import warnings

import pandas as pd
from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetExecutionContext,
    MetadataValue,
    PreviewWarning,
    asset,
    asset_check,
)
from upath import UPath

from ml_assets.core.evaluation import HtmlReport
from ml_assets.core.monitoring import PROMOTION_COLUMNS, monitoring_page
from ml_assets.core.profile import DRIFT_COLUMNS
from ml_assets.core.quality import estimated_drop, judge, labels_for_day, latest_judged, parse_labels, realized_quality
from ml_assets.core.rollout import EXPERIMENT, day_summary
from ml_assets.core.spec import PipelineSpec
from ml_assets.graph.context import Pipeline
from ml_assets.graph.runtime.resources import MlflowRegistry
from ml_assets.graph.runtime.versions import code_version
from ml_assets.io.files import read_parquet, stored_partition_paths
from ml_assets.io.landing import LandingError, day_folder, list_landing_files, read_or_quarantine
from ml_assets.io.paths import labels_root
from ml_assets.io.registry import RegistryError


def read_label_arrivals(spec: PipelineSpec, day: str, log) -> tuple[dict[str, pd.DataFrame], list[str], list[dict]]:
    """Parsed label files from the arrival folders day .. day+max_delay_days. A file that breaks the
    contract is moved to <labels>/_quarantine/<arrival>/ with its reason (never deleted)."""
    root = labels_root(spec)
    if not root.exists():
        log.info(f"the labels location {root} does not exist yet: no labels for {day}")
        return {}, [], []
    first = dt.date.fromisoformat(day)
    arrivals, read, quarantined = {}, [], []
    for offset in range(spec.labels.max_delay_days + 1):
        arrival = (first + dt.timedelta(days=offset)).isoformat()
        if not day_folder(root, arrival).exists():
            continue
        try:
            files, _ = list_landing_files(root, arrival, spec.labels.format)
        except LandingError as exc:
            log.warning(f"labels {arrival}: {exc}")
            continue
        frames, bad = read_or_quarantine(
            root, arrival, files, spec.labels.format, lambda frame, source: parse_labels(frame, spec, source), log
        )
        read += [str(p) for p in files if str(p) not in {q["file"] for q in bad}]
        quarantined += bad
        if frames:
            arrivals[arrival] = pd.concat(frames, ignore_index=True)
    return arrivals, read, quarantined


def stored_days(base: UPath, asset_name: str) -> pd.DataFrame | None:
    """Every stored day of a small daily asset, concatenated (one listing, one read per day), or None."""
    frames = [f for f in (read_parquet(p) for p in stored_partition_paths(base, asset_name)) if not f.empty]
    return pd.concat(frames, ignore_index=True) if frames else None


def label_free_estimates(predictions: pd.DataFrame, spec: PipelineSpec, mlflow: MlflowRegistry, log) -> dict:
    """The day's metric estimated from the scores (`ml_assets.core.estimates`), with the estimator
    of the version that made them (the served rows' version; the challenger's too in shadow mode).
    MLflow unreachable, or a version trained before estimates existed: left out, with a note."""
    from ml_assets.core.estimates import estimate
    from ml_assets.core.rollout import CHALLENGER_SCORE, CHALLENGER_VERSION

    if predictions.empty:
        return {}
    served = predictions["model_version"].astype(str)
    version = served.mode().iloc[0]
    registry = mlflow.registry(spec)
    try:
        found = estimate(predictions.loc[served == version, "score"], registry.profile(version).get("estimator"), spec)
        if CHALLENGER_SCORE in predictions.columns:
            other = str(predictions[CHALLENGER_VERSION].iloc[0])
            theirs = estimate(predictions[CHALLENGER_SCORE], registry.profile(other).get("estimator"), spec)
            found.update({f"challenger_{k}": v for k, v in theirs.items()})
    except RegistryError as exc:
        log.warning(f"label-free estimates left out: {exc}")
        return {}
    if not found:
        log.info(f"no label-free estimate: model v{version} has no estimator (trained before estimates existed)")
    return {"estimated_version": version, **found} if found else {}


def _quality_metadata(row: dict, metric: str, verdict: str, read: list, counts: dict, quarantined: list) -> dict:
    return {
        "labeled_rows": MetadataValue.int(row["labeled_rows"]),
        "label_coverage": MetadataValue.float(row["label_coverage"]),
        metric: MetadataValue.float(float(row[metric])) if pd.notna(row[metric]) else MetadataValue.text("n/a"),
        "baseline": MetadataValue.float(float(row["baseline"]))
        if pd.notna(row["baseline"])
        else MetadataValue.text("n/a"),
        "verdict": verdict,
        "label_files": MetadataValue.json(read),
        "duplicate_labels": MetadataValue.int(counts["duplicates"]),
        "quarantined": MetadataValue.json(quarantined),
        "labels_final": row["labels_final"],
        **_estimate_metadata(row, metric),
    }


def _estimate_metadata(row: dict, metric: str) -> dict:
    """`estimated_<metric>` with its band, and the estimate's error once enough labels are in."""
    if f"estimated_{metric}" not in row:
        return {}
    value = row[f"estimated_{metric}"]
    out = {f"estimated_{metric}": MetadataValue.float(float(value))}
    if "estimated_low" in row:
        out["estimated_band"] = f"{row['estimated_low']:.4f} .. {row['estimated_high']:.4f} (5-95 %, label draws)"
    if pd.notna(row.get(metric)):
        out["estimate_error"] = MetadataValue.float(float(value - row[metric]))
    return out


def build_monitoring(p: Pipeline):
    """The monitoring assets, and their checks when the spec has labels. The page reads the stored
    days of its inputs from the model's store folder."""
    assets = [build_realized_quality(p), build_monitoring_report(p)]
    return assets, quality_checks(p) if p.spec.labels is not None else []


def build_realized_quality(p: Pipeline):
    spec = p.spec
    labels, metric = spec.labels, spec.model.metric

    @asset(
        name="realized_quality",
        key_prefix=[p.name],
        ins={"batch_predictions": p.asset_in("batch_predictions")},
        retry_policy=p.retry,
        partitions_def=p.daily,
        group_name=p.qualified("monitoring"),
        kinds={"pandas", "parquet"},
        code_version=code_version(
            spec,
            realized_quality,
            judge,
            day_summary,
            "ml_assets.core.estimates",
            sections=("labels", "model", "columns", "task", "rollout"),
        ),
        description=(
            "One row per day: the day's batch_predictions (volume, score quantiles, the model version that served) "
            "joined by entity id and event day with the labels that arrived for it up to "
            f"{labels.max_delay_days if labels else 0} "
            f"day(s) later: realized {metric} and the trivial baseline's. Re-materialized when more labels arrive."
        ),
    )
    def realized_quality_daily(
        context: AssetExecutionContext, batch_predictions: pd.DataFrame, mlflow: MlflowRegistry
    ) -> pd.DataFrame:
        day = context.partition_key
        arrivals, read, quarantined = read_label_arrivals(spec, day, context.log) if labels else ({}, [], [])
        found, counts = labels_for_day(arrivals, day, spec)
        row = realized_quality(batch_predictions, found, spec, day, today=dt.date.today())
        row["label_files"] = len(read)
        row.update(label_free_estimates(batch_predictions, spec, mlflow, context.log))
        if EXPERIMENT in batch_predictions.columns:
            row.update(day_summary(batch_predictions, found, spec))
            context.log.info(
                f"realized_quality {day}: experiment {row[EXPERIMENT]}: {row['exp_rows']} labelled row(s); "
                f"champion {metric} {row[f'champion_{metric}']:.4g}, challenger {metric} "
                f"{row[f'challenger_{metric}']:.4g}"
            )
        verdict, why = judge(row, spec)
        context.log.info(why)
        context.add_output_metadata(_quality_metadata(row, metric, verdict, read, counts, quarantined))
        return pd.DataFrame([row])

    return realized_quality_daily


def registry_history(mlflow: MlflowRegistry, spec: PipelineSpec, log) -> tuple[pd.DataFrame, pd.DataFrame | None, str]:
    """(promotions and rollbacks, live experiments' decisions or None, a note when MLflow failed)."""
    try:
        registry = mlflow.registry(spec)
        events = pd.DataFrame(registry.champion_history(), columns=PROMOTION_COLUMNS)
        experiments = (
            pd.DataFrame(registry.rollout_history()) if spec.rollout.experimenting and registry.exists() else None
        )
    except RegistryError as exc:
        log.warning(f"promotions and rollbacks left out: {exc}")
        return pd.DataFrame(columns=PROMOTION_COLUMNS), None, f"(Promotions unavailable: {exc})"
    return events, experiments, ""


def page_verdict(quality: pd.DataFrame, spec: PipelineSpec) -> tuple[dict | None, tuple[str, str] | None]:
    """(the newest judged day, its verdict); with automation.retrain_on_estimated_drop, a newer day's
    estimated drop is the verdict when the labels' is not already low."""
    latest = latest_judged(quality, spec)
    verdict = judge(latest, spec) if latest else None
    if spec.automation.retrain_on_estimated_drop and (verdict is None or verdict[0] != "low"):
        verdict = estimated_drop(quality, spec, after=latest) or verdict
    return latest, verdict


def build_monitoring_report(p: Pipeline):
    spec, base, metric = p.spec, p.base, p.spec.model.metric

    @asset(
        key_prefix=[p.name],
        retry_policy=p.retry,
        group_name=p.qualified("monitoring"),
        kinds={"html", "parquet"},
        io_manager_key="report_io_manager",
        code_version=code_version(spec, monitoring_page, latest_judged, sections=("labels", "model", "validation")),
        # Read from the store's folders, not through one input per partition: Dagster would try every
        # day since the start date and log a warning (an event-log write) for each one with no data.
        deps=[
            p.key("feature_drift"),
            p.key("realized_quality"),
            *([p.key("rollout_decision")] if spec.rollout.experimenting else []),
        ],
        description=(
            "The monitoring page (report.html, self-contained): realized quality per day with its baseline, "
            "prediction volume, score distribution, serving model version, per-feature drift (PSI, KS), and "
            "promotions/rollbacks; the data beside it as Parquet."
        ),
    )
    def monitoring_report(context: AssetExecutionContext, mlflow: MlflowRegistry) -> HtmlReport:
        drift = stored_days(base, "feature_drift")
        drift = pd.DataFrame(columns=DRIFT_COLUMNS) if drift is None else drift
        quality = stored_days(base, "realized_quality")
        quality = (
            pd.DataFrame(columns=["day", "model_version", "predictions", "labeled_rows", metric, "baseline"])
            if quality is None
            else quality
        )
        events, experiments, note = registry_history(mlflow, spec, context.log)
        latest, verdict = page_verdict(quality, spec)
        page = monitoring_page(
            quality, drift, events, spec, latest=latest, verdict=verdict, registry_note=note, experiments=experiments
        )
        timeline = page.plots.get("timeline.png")
        context.add_output_metadata(
            {
                "days": MetadataValue.int(len(quality)),
                "drift_days": page.data["days"],
                "flagged": MetadataValue.int(len(page.data["flagged"])),
                "promotions": MetadataValue.int(len(events)),
                "verdict": page.data["verdict"] or "not judged",
                **(
                    {
                        "timeline": MetadataValue.md(
                            f"![timeline](data:image/png;base64,{base64.b64encode(timeline).decode()})"
                        )
                    }
                    if timeline
                    else {}
                ),
            }
        )
        return page

    return monitoring_report


def quality_checks(p: Pipeline) -> list:
    spec, metric = p.spec, p.spec.model.metric
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PreviewWarning)

        @asset_check(
            retry_policy=p.retry,
            asset=p.key("realized_quality"),
            blocking=False,
            partitions_def=p.daily,
            description="ERROR when a day with at least labels.min_labeled_rows labelled predictions has realized "
            f"{metric} "
            "below labels.quality_threshold (or, without one, no better than the trivial baseline).",
        )
        def realized_quality_threshold(
            context: AssetCheckExecutionContext, realized_quality: pd.DataFrame
        ) -> AssetCheckResult:
            row = realized_quality.iloc[0].to_dict()
            verdict, why = judge(row, spec)
            return AssetCheckResult(
                passed=verdict != "low",
                severity=AssetCheckSeverity.ERROR if verdict == "low" else AssetCheckSeverity.WARN,
                description=why,
                metadata={"verdict": verdict, "labeled_rows": MetadataValue.int(int(row["labeled_rows"]))},
            )

    @asset_check(
        retry_policy=p.retry,
        asset=p.key("monitoring_report"),
        blocking=False,
        description="The newest day with enough labels is below the realized-quality threshold. A failure "
        "triggers retraining (automation.retrain_on_quality_drop).",
    )
    def latest_realized_quality(monitoring_report: dict) -> AssetCheckResult:
        verdict = monitoring_report.get("verdict")
        return AssetCheckResult(
            passed=verdict != "low",
            severity=AssetCheckSeverity.ERROR if verdict == "low" else AssetCheckSeverity.WARN,
            description=monitoring_report.get("verdict_text") or "no day has enough labels to judge yet",
            metadata={
                "verdict": verdict or "not judged",
                "day": str((monitoring_report.get("latest_judged") or {}).get("day", "")),
            },
        )

    return [realized_quality_threshold, latest_realized_quality]
