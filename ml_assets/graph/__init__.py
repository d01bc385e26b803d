"""The Dagster layer: assets, IO managers, jobs. Thin wiring over `ml_assets.core`."""
