"""Jobs: named selections of the asset graph, launchable from the UI and the CLI."""

from __future__ import annotations

from dagster import AssetSelection, define_asset_job

INGEST = AssetSelection.assets("raw_data", "features")
TRAINING = AssetSelection.assets("training_set", "model", "evaluation_report")
SCORING = AssetSelection.assets("raw_data", "features", "batch_predictions")


def build_jobs(partitions_def):
    return [
        define_asset_job(
            "ingest_job", selection=INGEST, partitions_def=partitions_def,
            description="Land one day: raw_data -> features.",
        ),
        define_asset_job(
            "training_job", selection=TRAINING, partitions_def=partitions_def,
            description=(
                "Train on the window ending on the run's day (run it for the newest day): "
                "training_set -> model -> evaluation_report."
            ),
        ),
        define_asset_job(
            "scoring_job", selection=SCORING, partitions_def=partitions_def,
            description="Score one day with the current model: raw_data -> features -> batch_predictions.",
        ),
        define_asset_job(
            "full_pipeline_job", selection=AssetSelection.all(), partitions_def=partitions_def,
            description="The whole graph for one day (earlier days of the training window must already be ingested).",
        ),
    ]
