"""The spec's data sections: landing, partitions, columns, task, features, training, model."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from ml_assets.core import estimators
from ml_assets.core.spec.vocabulary import _NAME, _Strict, estimator_table, label_token


class LandingSpec(_Strict):
    uri: str = Field(description="Folder or s3:// prefix holding <YYYY-MM-DD>/<file> landing files.")
    """landing folder or `s3://` prefix; relative paths are under `$ML_ASSETS_HOME`"""
    format: Literal["csv", "parquet"] = "csv"
    """`csv` or `parquet`"""
    duplicate_ids: Literal["error", "keep_last", "keep_first"] = "error"
    """Rows of one day with the same entity id: `error` fails the day naming the ids, files and rows;
    `keep_last` keeps each id's row with the latest event time (then the last file and row), `keep_first`
    the earliest; the rows left out are counted in raw_data's metadata
    """
    rows_outside_day: Literal["error", "exclude"] = "exclude"
    """Rows whose event time (in `partitions.timezone`) is not the day of their folder: `exclude` leaves
    them out of the day (they stay in the landing file) with a warning naming files and rows, counted in
    raw_data's metadata; `error` fails the day
    """
    max_text_bytes: int = Field(default=65536, ge=1)
    """Longest text value (UTF-8 bytes) allowed in any column; a file with a longer one is quarantined,
    naming the column and rows
    """


class PartitionSpec(_Strict):
    start_date: dt.date
    """first day that may hold data (`YYYY-MM-DD`)"""
    end_date: dt.date | None = None
    """Optional last day (inclusive) of a finished dataset, e.g. a year of history; default none: days run
    up to yesterday
    """
    timezone: str = "UTC"
    """the time zone days are cut in (IANA name, default `UTC`)"""

    @model_validator(mode="after")
    def _end_after_start(self) -> PartitionSpec:
        if self.end_date is not None and self.end_date < self.start_date:
            raise ValueError(f"end_date: {self.end_date} is before start_date {self.start_date}")
        return self

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        import zoneinfo

        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value


class ColumnsSpec(_Strict):
    entity_id: str
    """the id column (text; may not be empty)"""
    event_time: str
    """the event time column (timestamps)"""
    label: str
    """the label column"""


class TaskSpec(_Strict):
    type: Literal["binary_classification", "regression"]
    """`binary_classification` or `regression`"""
    positive_label: str | int | float | bool | None = None
    """Classification: the label value that counts as positive, matched however YAML and the files write it
    (`1`, `1.0`, `"1"`, `true`, `yes` are one class; `0`, `0.0`, `false`, `no` the other)
    """
    negative_label: str | int | float | bool | None = None
    """The other class. Default: the opposite of a 1/0/true/false/yes/no positive label; required for any
    other positive label (e.g. positive_label: M, negative_label: B). Any label value that is neither
    class rejects the file at ingest.
    """

    @model_validator(mode="after")
    def _two_classes(self) -> TaskSpec:
        if self.type != "binary_classification" or self.positive_label is None:
            return self
        positive = label_token(self.positive_label)
        if self.negative_label is None and positive not in ("0", "1"):
            raise ValueError(
                f"negative_label: required when positive_label ({self.positive_label!r}) is not 1/0/true/false/yes/no"
            )
        if self.negative_label is not None and label_token(self.negative_label) == positive:
            raise ValueError(
                f"negative_label: {self.negative_label!r} is the same class as positive_label {self.positive_label!r}"
            )
        return self

    @property
    def classes(self) -> tuple[str, str]:
        """(positive, negative) label tokens (see `label_token`)."""
        positive = label_token(self.positive_label)
        negative = (
            label_token(self.negative_label) if self.negative_label is not None else ("0" if positive == "1" else "1")
        )
        return positive, negative


class FeatureSpec(_Strict):
    name: str
    """The column's name in the landing files."""
    kind: Literal["numeric", "categorical"]
    """`numeric` (median-imputed with a missing indicator, scaled) or `categorical` (constant fill, one-
    hot; unknown categories at scoring time are ignored).
    """
    transform: Literal["none", "log1p"] = "none"
    """Row-wise transform applied by the feature module before the model's Pipeline."""
    min: float | None = None
    """Data contract, checked on raw_data (blocking): value range, null rate, allowed categories."""
    max: float | None = None
    """Largest allowed value (numeric): the `raw_data` contract, blocking."""
    max_null_rate: float | None = Field(default=None, ge=0, le=1)
    """Null rate allowed in a day (default `validation.max_null_rate`): the `raw_data` contract, blocking."""
    allowed: list[str] | None = None
    """Allowed categories (categorical): the `raw_data` contract, blocking."""
    drift: bool = True
    """Judge this feature's drift against the training reference. Turn off for a column that is constant
    within a day by nature (a season, a weekday, a daily price): its one-day distribution always differs
    from a multi-day reference. Such columns are also detected from the reference and reported as not
    judged.
    """
    leakage_ok: bool = False
    """This feature predicts the label almost perfectly on a sample (`validate-spec --data` and
    `init-spec` warn of it), and that is known and fine: it is available when predictions are made."""

    @model_validator(mode="after")
    def _transform_fits_kind(self) -> FeatureSpec:
        if self.transform != "none" and self.kind != "numeric":
            raise ValueError(f"transform: {self.transform!r} applies to numeric features only")
        if self.kind == "numeric" and self.allowed is not None:
            raise ValueError("allowed: applies to categorical features only (use min/max for numeric ones)")
        if self.kind == "categorical" and (self.min is not None or self.max is not None):
            raise ValueError("min: min/max apply to numeric features only (use allowed for categorical ones)")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min: {self.min} is above max {self.max}")
        return self


class TrainingSpec(_Strict):
    window_days: int = Field(ge=2, description="Days of features the model trains on (incl. holdout).")
    """days of features the model trains on, holdout included"""
    holdout_days: int = Field(ge=1, description="The last K days of the window, held out by time.")
    """the last K days of the window, held out by time"""

    @model_validator(mode="after")
    def _holdout_inside_window(self) -> TrainingSpec:
        if self.holdout_days >= self.window_days:
            raise ValueError(f"holdout_days: {self.holdout_days} must be smaller than window_days ({self.window_days})")
        return self


class CandidateSpec(_Strict):
    name: str = Field(pattern=_NAME)
    """The candidate's name (letters, digits, `_`): its step is `train_<name>`."""
    estimator: str
    """A scikit-learn estimator class, e.g. `sklearn.ensemble.HistGradientBoostingClassifier`."""
    params: dict[str, Any] = Field(default_factory=dict)
    """Constructor arguments, checked against the class when the spec loads."""

    @model_validator(mode="after")
    def _estimator_and_params_exist(self, info: ValidationInfo) -> CandidateSpec:
        # Checked against scikit-learn's own list (the table parse_spec is given): nothing is imported or called.
        estimators.check(self.estimator, self.params, estimator_table(info))
        return self


class ModelSpec(_Strict):
    candidates: list[CandidateSpec] = Field(min_length=2)
    """Two or more candidates, trained in parallel steps; the best on the holdout by `model.metric` is
    registered.
    """
    metric: str
    """selection metric on the holdout: `roc_auc`, `pr_auc`, `log_loss`, `f1` / `rmse`, `mae`, `r2`"""
    threshold: float = Field(default=0.5, gt=0, lt=1)
    """Score at or above which a row is predicted positive (classification only)."""

    @field_validator("candidates")
    @classmethod
    def _unique_names(cls, value: list[CandidateSpec]) -> list[CandidateSpec]:
        names = [c.name for c in value]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"candidate names must be unique; repeated: {dupes}")
        return value
