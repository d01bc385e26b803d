"""The ML core: plain functions over DataFrames and scikit-learn estimators.

Nothing in this package imports Dagster or touches storage; the Dagster layer
(`ml_assets.graph`) wires these functions into assets.
"""
