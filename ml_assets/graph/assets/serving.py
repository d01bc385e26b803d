"""`prediction_store`: the newest day's predictions published to Redis for online lookups
(see ml_assets/io/prediction_store.py). Defined only when the spec's `prediction_store.enabled`."""

import pandas as pd
from dagster import AssetExecutionContext, Failure, MaterializeResult, MetadataValue, asset

from ml_assets.graph.context import Pipeline
from ml_assets.graph.runtime.versions import code_version
from ml_assets.io.prediction_store import PredictionStore, PredictionStoreError, key_names, spec_prefix


def build_prediction_store(p: Pipeline):
    spec = p.spec
    conf = spec.prediction_store
    live, _ = key_names(spec_prefix(spec))

    @asset(
        key_prefix=[p.name],
        ins={"batch_predictions": p.asset_in("batch_predictions")},
        retry_policy=p.retry,
        partitions_def=p.daily,
        group_name=p.qualified("scoring"),
        kinds={"redis"},
        code_version=code_version(spec, PredictionStore, sections=("prediction_store", "columns")),
        description=(
            f"The day's batch_predictions in Redis ($ML_ASSETS_REDIS_URL) under '{live}', one value "
            "per entity id (its latest event): score, prediction, model_version, day. Swapped in atomically; "
            f"expires {conf.ttl_hours:g} h after the last publish. An older day never replaces a newer one."
        ),
    )
    def prediction_store(context: AssetExecutionContext, batch_predictions: pd.DataFrame) -> MaterializeResult:
        day = context.partition_key
        store = PredictionStore.for_spec(spec)

        def progress(done: int, total: int) -> None:
            context.log.info(f"prediction_store {day}: staged {done}/{total} entities")

        try:
            published = store.publish(batch_predictions, day, spec.columns.entity_id, spec.columns.event_time, progress)
        except PredictionStoreError as exc:
            # Unreachable or refused: the published set is unchanged; the retry policy retries.
            raise Failure(description=f"prediction_store {day}: {exc}", allow_retries=True) from None
        if not published.swapped:
            context.log.warning(
                f"prediction_store {day}: not published: {published.current_day} is newer and stays online"
            )
        return MaterializeResult(
            metadata={
                "entities": MetadataValue.int(published.rows),
                "published": published.swapped,
                "online_day": published.current_day,
                "keys": f"{store.live}, {store.meta}",
            }
        )

    return prediction_store
