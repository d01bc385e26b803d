"""The pipeline spec: one YAML file that holds every parameter of a model's pipeline.

    vocabulary.py          the words a spec uses: metrics and their direction, derived features,
                           label tokens, estimator lookup, SpecError, the strict base model
    data_sections.py       landing, partitions, columns, task, features, training, model
    operations_sections.py validation, registry, automation, freshness, retries, prediction
                           store, labels, retention
    pipeline_spec.py       PipelineSpec (the whole spec) and parse_spec (data -> validated spec)
    reference.py           docs/spec-reference.md, generated from the fields' docstrings

Reading spec files and the environment is `ml_assets.io.specs`.
"""

from ml_assets.core.spec.data_sections import (
    CandidateSpec,
    ColumnsSpec,
    FeatureSpec,
    LandingSpec,
    ModelSpec,
    PartitionSpec,
    TaskSpec,
    TrainingSpec,
)
from ml_assets.core.spec.operations_sections import (
    AutomationSpec,
    DriftLimits,
    FreshnessLimit,
    FreshnessSpec,
    LabelsSpec,
    PredictionStoreSpec,
    RegistrySpec,
    RetentionSpec,
    RetrySpec,
    RolloutSpec,
    ValidationSpec,
)
from ml_assets.core.spec.pipeline_spec import PipelineSpec, parse_spec
from ml_assets.core.spec.vocabulary import (
    CLASSIFICATION_METRICS,
    DERIVED_FEATURES,
    REGRESSION_METRICS,
    SpecError,
    estimator_class,
    label_token,
)

__all__ = [
    "CLASSIFICATION_METRICS",
    "DERIVED_FEATURES",
    "REGRESSION_METRICS",
    "AutomationSpec",
    "CandidateSpec",
    "ColumnsSpec",
    "DriftLimits",
    "FeatureSpec",
    "FreshnessLimit",
    "FreshnessSpec",
    "LabelsSpec",
    "LandingSpec",
    "ModelSpec",
    "PartitionSpec",
    "PipelineSpec",
    "PredictionStoreSpec",
    "RegistrySpec",
    "RetentionSpec",
    "RolloutSpec",
    "RetrySpec",
    "SpecError",
    "TaskSpec",
    "TrainingSpec",
    "ValidationSpec",
    "estimator_class",
    "label_token",
    "parse_spec",
]
