"""`MLPipeline`: one model's pipeline as a Dagster component, one instance per spec.

    # ml_assets/defs/churn/defs.yaml
    type: ml_assets.graph.component.MLPipeline
    attributes:
      spec_file: spec.yaml        # next to this file; or `spec:` with the spec inline

`dg scaffold defs ml_assets.graph.component.MLPipeline churn` writes that file and a starter spec.

A broken spec breaks only its own model. The other models load and keep running; the broken one
becomes a sensor named `<folder>__spec_error` whose every tick fails with the spec's path, field
and reason (the UI's Automation page and the daemon's log show it), and the code server logs the
same at load. Why not fail the code location: with a hundred models, one typo must not stop
ninety-nine pipelines' ingest, scoring and alerts. CI catches it before it lands:
`ml-assets validate-spec --all` exits non-zero.
"""

from __future__ import annotations

import logging
from typing import Any

import yaml
from dagster import (
    Component,
    ComponentLoadContext,
    Definitions,
    Model,
    Resolvable,
    Scaffolder,
    ScaffoldRequest,
    scaffold_with,
)
from pydantic import Field, PrivateAttr

from ml_assets.core.spec import SpecError
from ml_assets.graph.automation.sensors import build_spec_error_sensor
from ml_assets.graph.context import Pipeline
from ml_assets.graph.pipeline import build_pipeline, pipeline_context
from ml_assets.io.specs import shipped_spec, spec_of_instance

log = logging.getLogger("ml_assets")


class MLPipelineScaffolder(Scaffolder):
    """`dg scaffold defs ml_assets.graph.component.MLPipeline <name>`: a defs.yaml and a starter
    spec (the demo's, renamed) to edit."""

    def scaffold(self, request: ScaffoldRequest) -> None:
        from dagster.components.component_scaffolding import scaffold_component

        name = request.target_path.name
        request.target_path.mkdir(parents=True, exist_ok=True)
        spec = yaml.safe_load(shipped_spec("demo").read_text())
        spec["name"] = name
        spec["landing"] = {**spec.get("landing", {}), "uri": f"landing/{name}"}
        (request.target_path / "spec.yaml").write_text(
            f"# The spec of model '{name}': start from the demo's and edit (see docs/spec-reference.md).\n"
            + yaml.safe_dump(spec, sort_keys=False)
        )
        scaffold_component(request, {"spec_file": "spec.yaml"})


@scaffold_with(MLPipelineScaffolder)
class MLPipeline(Component, Model, Resolvable):
    """One model's pipeline (assets, checks, jobs, sensors, schedules) built from its spec."""

    spec_file: str | None = Field(default=None, description="Path of the spec, relative to this defs.yaml.")
    spec: dict[str, Any] | None = Field(default=None, description="The spec inline, instead of spec_file.")
    # The model as built, for what the code location shares across its models (the landing sensor).
    _pipeline: Pipeline | None = PrivateAttr(default=None)

    @property
    def pipeline(self) -> Pipeline | None:
        """The model once `build_defs` has run; None for a broken spec."""
        return self._pipeline

    def build_defs(self, context: ComponentLoadContext) -> Definitions:
        try:
            where, spec = spec_of_instance(context.path, self.spec_file, self.spec)
        except SpecError as exc:
            log.error("model %s not loaded: %s", context.path.name, exc)
            return spec_error_definitions(context.path.name, str(exc))
        self._pipeline = pipeline_context(spec, where)
        return build_pipeline(self._pipeline)


def spec_error_definitions(name: str, message: str) -> Definitions:
    """A broken spec as one always-failing sensor: visible in the UI and the daemon's log, and
    nothing else of that model is defined."""
    return Definitions(sensors=[build_spec_error_sensor(name, message)])
