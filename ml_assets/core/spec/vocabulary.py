"""The spec's building blocks: its error, its strict base model, metric names, label values, estimators."""

from __future__ import annotations

import importlib
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationInfo

Direction = Literal["max", "min"]
CLASSIFICATION_METRICS: dict[str, Direction] = {"roc_auc": "max", "pr_auc": "max", "log_loss": "min", "f1": "max"}
REGRESSION_METRICS: dict[str, Direction] = {"rmse": "min", "mae": "min", "r2": "max"}
DERIVED_FEATURES = {"day_of_week": "categorical", "hour_of_day": "numeric", "month": "categorical"}
# Estimators are named by dotted path; only scikit-learn's own are allowed, so a spec cannot
# import arbitrary code and the saved model only holds types skops can load safely.
_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"


class SpecError(ValueError):
    """A spec file that cannot be used; the message names the file and the field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


# Label values as files write them: 1, 1.0, "1", true, "yes" all mean the same class.
_TRUE_WORDS = {"true", "t", "yes", "y"}
_FALSE_WORDS = {"false", "f", "no", "n"}


def label_token(value: Any) -> str:
    """The canonical form of one label value, however YAML or a file writes it: numbers by value
    (1, 1.0, "1.0" -> "1"), booleans and yes/no as 1/0 ("true", "Yes" -> "1"), other text as written
    (stripped). Two values are the same class when their tokens are equal."""
    if isinstance(value, bool):
        return "1" if value else "0"
    text = str(value).strip()
    lower = text.lower()
    if lower in _TRUE_WORDS:
        return "1"
    if lower in _FALSE_WORDS:
        return "0"
    try:
        number = float(text)
    except ValueError:
        return text
    if number != number or number in (float("inf"), float("-inf")):
        return text
    return str(int(number)) if number.is_integer() else repr(number)


def estimator_class(dotted: str) -> type:
    module_name, _, class_name = dotted.rpartition(".")
    try:
        module = importlib.import_module(module_name)
        return getattr(module, class_name)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ValueError(f"cannot import estimator {dotted!r}: {exc}") from exc


ESTIMATORS = "estimators"  # the validation context's key for the estimator table


def estimator_table(info: ValidationInfo) -> dict[str, dict]:
    """The estimator table `parse_spec` passed to validation."""
    table = (info.context or {}).get(ESTIMATORS)
    if table is None:
        raise ValueError("no estimator table to check candidates against: validate specs with parse_spec")
    return table
