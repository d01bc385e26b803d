"""ml-assets: continuous training for tabular ML as a Dagster asset graph.

Layers, each importing only those below it:
  `ml_assets.core`     the ML: plain functions over DataFrames and estimators (no Dagster, no I/O)
  `ml_assets.io`       where bytes live: storage, landing, the model registry
  `ml_assets.graph`    the Dagster wiring, one module per domain; `MLPipeline` is the component
  `ml_assets.defs`     the defs folder: one folder per model (defs.yaml + spec.yaml)
`ml_assets.definitions` is the code location (`dagster ... -m ml_assets.definitions`).

Nothing is imported here, so `import ml_assets.core.features` does not load Dagster.
"""
