"""Jobs: named selections of the asset graph, launchable from the UI and the CLI."""

from __future__ import annotations

from dagster import AssetSelection, define_asset_job

INGEST = AssetSelection.assets("raw_data", "features")
TRAINING = AssetSelection.assets("training_set", "model", "evaluation_report")
SCORING = AssetSelection.assets("raw_data", "features", "batch_predictions")


def build_jobs():
    return [
        define_asset_job(
            "ingest_job", selection=INGEST,
            description="Land one day: raw_data -> features.",
        ),
        define_asset_job(
            "training_job", selection=TRAINING,
            description=(
                "Train on the window ending on the newest complete day (run it for that partition): "
                "training_set -> model -> evaluation_report."
            ),
        ),
        define_asset_job(
            "scoring_job", selection=SCORING,
            description="Score one day with the current model: raw_data -> features -> batch_predictions.",
        ),
        define_asset_job(
            "full_pipeline_job", selection=AssetSelection.all(),
            description="The whole graph for one day (earlier days of the training window must already be ingested).",
        ),
    ]
