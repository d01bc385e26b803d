"""The I/O layer: where bytes live and how they get there safely. One module per concern:

* `paths`: $ML_ASSETS_HOME, the asset store, S3 options, a model's landing and label roots
* `files`: all-or-nothing writes, Parquet bytes, a daily asset's stored partitions
* `parquet_parts`: a day read and written one Arrow record batch at a time
* `model_files`: models as skops files, with the trust list that keeps pickle-style code out
* `landing`: the landing contract (<landing>/<YYYY-MM-DD>/<file>) and the quarantine
* `arrivals`: what the landing and labels sensors have seen (their cursor)
* `registry`: MLflow tracking and the model registry; `provenance`: commit, packages, spec
* `retention`, `prediction_store`: deleting old data, and the online store in Redis

It imports the ML core, never the Dagster layer (`ml_assets.graph`).
"""
