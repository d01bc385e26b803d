"""The Dagster defs folder: one sub-folder per model, each a `defs.yaml` instance of the
`MLPipeline` component (ml_assets/graph/component.py) with its `spec.yaml`.

Add a model: copy a folder and edit its spec, or `dg scaffold defs ml_assets.graph.component.MLPipeline <name>`.
"""
