"""`evaluation_report`: the holdout evaluation of every candidate beside the trivial baseline, and
the promotion decision. Thin wiring over `ml_assets.core.evaluation`."""

import base64

import pandas as pd
from dagster import AssetExecutionContext, LastPartitionMapping, MetadataValue, asset

from ml_assets.core.evaluation import HtmlReport, build_report
from ml_assets.core.training import SPLIT_COLUMN, ModelBundle, fingerprint
from ml_assets.graph.context import Pipeline
from ml_assets.graph.runtime.errors import fail
from ml_assets.graph.runtime.io_managers import RUN_DAY
from ml_assets.graph.runtime.resources import MlflowRegistry, mlflow_failure
from ml_assets.graph.runtime.versions import code_version
from ml_assets.io.registry import RegistryError


def report_metadata(model: ModelBundle, report: HtmlReport, metric: str) -> dict:
    plot = next(n for n in ("calibration.png", "residuals.png") if n in report.plots)
    png = base64.b64encode(report.plots[plot]).decode()
    return {
        "model_version": model.version,
        "selected": model.selected,
        "promotion": model.info.get("promotion", {}).get("summary", ""),
        f"holdout_{metric}": MetadataValue.float(report.data["candidates"][model.selected]["metrics"][metric]),
        f"baseline_{metric}": MetadataValue.float(report.data["baseline"]["metrics"][metric]),
        "plot": MetadataValue.md(f"![{plot}](data:image/png;base64,{png})"),
    }


def build_evaluation_report(p: Pipeline):
    spec = p.spec

    @asset(
        key_prefix=[p.name],
        retry_policy=p.retry,
        group_name=p.qualified("training"),
        kinds={"html", "json"},
        io_manager_key="report_io_manager",
        code_version=code_version(spec, build_report, sections=("model", "task", "columns")),
        ins={
            "model": p.asset_in("model"),
            "training_set": p.asset_in(
                "training_set", partition_mapping=LastPartitionMapping(), metadata={RUN_DAY: True}
            ),
        },
        description=(
            "Holdout evaluation of every candidate beside the trivial baseline: metrics, confusion matrix, "
            "calibration/ROC or residual plots, permutation importances, and the promotion decision. "
            "JSON + self-contained HTML, also logged to the training's MLflow run."
        ),
    )
    def evaluation_report(
        context: AssetExecutionContext, model: ModelBundle, training_set: pd.DataFrame, mlflow: MlflowRegistry
    ) -> HtmlReport:
        if model.info.get("training_set_fingerprint") != fingerprint(training_set):
            raise fail(
                f"evaluation_report: the stored model {model.version} was trained on another training_set than this "
                f"run's (window ending {training_set['_day'].max()}); materialize model for the same day first"
            )
        report = build_report(model, training_set[training_set[SPLIT_COLUMN] == "holdout"], spec)
        run_id = model.info.get("mlflow_run_id")
        if run_id:
            try:
                files = {"report.json": report.json.encode(), "report.html": report.html.encode(), **report.plots}
                mlflow.registry(spec).log_artifacts(run_id, files, "evaluation_report")
            except RegistryError as exc:
                raise mlflow_failure(f"evaluation_report: logging to MLflow failed: {exc}", exc) from None
        context.add_output_metadata(report_metadata(model, report, spec.model.metric))
        return report

    return evaluation_report
