"""The estimators a spec may name: scikit-learn's classifiers and regressors, as found by its own
`all_estimators`, with their kind and constructor parameters (`generate`), and the checks of a
candidate against that table (`check`, `kinds`).

The table is kept in `ml_assets/io/estimators.json` and read by `ml_assets.io.estimators`, which
passes it to spec validation: checking a spec imports nothing and calls nothing a spec names, and
loading the definitions does not pay for importing scikit-learn. A test regenerates the table from
the installed scikit-learn and fails when it differs (after an upgrade:
`python -m ml_assets.io.estimators`).
"""

from __future__ import annotations

import inspect
import warnings

Table = dict[str, dict]  # {"sklearn.<package>.<Class>": {"kinds": ["classifier"|"regressor", ...], "params": [...]}}


def generate() -> Table:
    """The table, from the installed scikit-learn (imports it)."""
    import importlib

    from sklearn.base import is_classifier, is_regressor
    from sklearn.utils import all_estimators

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        found: list[tuple[str, type]] = all_estimators(type_filter=["classifier", "regressor"])
    table = {}
    for name, cls in found:
        package = ".".join(cls.__module__.split(".")[:2])
        if getattr(importlib.import_module(package), name, None) is not cls:
            continue  # only classes under their public name, e.g. sklearn.ensemble.RandomForestClassifier
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", FutureWarning)  # deprecated: not offered
                instance = cls()
                kinds = [
                    k for k, test in (("classifier", is_classifier), ("regressor", is_regressor)) if test(instance)
                ]
        except (TypeError, AttributeError, ValueError, FutureWarning):
            continue  # needs a sub-estimator a spec cannot give, or is deprecated
        table[f"{package}.{name}"] = {
            "kinds": kinds,
            "params": sorted(set(inspect.signature(cls).parameters) - {"self"}),
        }
    return dict(sorted(table.items()))


def check(dotted: str, params: dict, table: Table) -> None:
    """ValueError naming what is wrong with a candidate's estimator and parameters."""
    if dotted not in table:
        near = sorted(k for k in table if k.rsplit(".", 1)[-1].lower() == dotted.rsplit(".", 1)[-1].lower())
        raise ValueError(
            f"estimator {dotted!r} is not a scikit-learn classifier or regressor"
            + (
                f"; did you mean {near[0]!r}?"
                if near
                else " (the allowed ones are listed in ml_assets/io/estimators.json)"
            )
        )
    accepted = table[dotted]["params"]
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise ValueError(f"{dotted} has no parameter(s) {unknown}; it accepts {accepted}")


def kinds(dotted: str, table: Table) -> list[str]:
    return table[dotted]["kinds"]
