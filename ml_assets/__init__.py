"""ml-assets: continuous training for tabular ML as a Dagster asset graph.

`ml_assets.core` is the pure ML layer; `ml_assets.defs` the Dagster wiring; `defs` below is
what `dagster ... -m ml_assets` loads.
"""

from ml_assets.definitions import defs

__all__ = ["defs"]
