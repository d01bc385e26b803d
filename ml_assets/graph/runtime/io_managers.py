"""IO managers over any path (local folder or s3://): Parquet for data, skops for models, files for reports.

Layout: the asset key is the path under the base, and every key starts with its model's name:
`<base>/<model>/<asset>/<partition>.parquet`, `<base>/<model>/model.skops`, `<base>/<model>/evaluation_report/`.
One store serves every model of the code location.
"""

from __future__ import annotations

import json

import pandas as pd
from dagster import ConfigurableIOManagerFactory, Failure, InputContext, MetadataValue, OutputContext, UPathIOManager
from pydantic import Field
from upath import UPath

from ml_assets.core.evaluation import HtmlReport
from ml_assets.core.training import ModelBundle
from ml_assets.graph.context import SEP
from ml_assets.graph.runtime.dead_runs import record_host
from ml_assets.graph.runtime.errors import classified
from ml_assets.graph.runtime.instance import PARTITION_TAG
from ml_assets.io.files import atomic_write_bytes, parquet_bytes, read_parquet, stored_partition_paths
from ml_assets.io.model_files import load_model_bytes, model_bytes
from ml_assets.io.parquet_parts import ParquetParts, PartStream, write_parquet_parts
from ml_assets.io.paths import resolve_uri, storage_root


class NotMaterializedError(Failure, FileNotFoundError):
    """An input the asset needs has not been written yet. Not transient: the step fails at once,
    with no retries (retrying cannot make the input appear). Also a FileNotFoundError, so an input
    that allows missing partitions (the training window) skips the day instead."""

    def __init__(self, description: str):
        super().__init__(description=description, allow_retries=False)


def _missing(context: InputContext, path: UPath, day: str | None = None) -> NotMaterializedError:
    what = context.asset_key.to_user_string() if context.has_asset_key else "input"
    model, name = (
        (context.asset_key.path[0], context.asset_key.path[-1])
        if context.has_asset_key and len(context.asset_key.path) > 1
        else ("", what)
    )
    job = f"{model}{SEP}" if model else ""
    if day is None and context.has_asset_partitions:
        # One of several partitions (a window): the missing one is the file's name.
        day = (
            context.asset_partition_key
            if len(context.asset_partition_keys) == 1
            else path.name.removesuffix(path.suffix)
        )
    hint = "materialize it first"
    if name in ("raw_data", "features"):
        hint = f"ingest that day first ({job}ingest_job for partition {day}, or `ml-assets run --from {day}`)"
    if name == "training_set":
        hint = (
            f"run {job}training_job for partition {day or 'D'}: it builds that day's training_set first "
            "(`ml-assets run` also ingests the window's missing days)"
        )
    return NotMaterializedError(
        f"{what}{f' partition {day}' if day else ''} has not been materialized (nothing at {path}); {hint}"
    )


# An input whose AssetIn metadata sets this reads the partition of the run (the run's
# `dagster/partition` tag) instead of the mapped one: `model` trains on the training_set of the day
# the run is for, which need not be the newest day.
RUN_DAY = "partition_of_run"


def run_day(context: InputContext) -> str | None:
    """The day a run is for (its `dagster/partition` tag), or None for an unpartitioned run."""
    return context.step_context.run_tags.get(PARTITION_TAG)


def _what(context) -> str:
    return context.asset_key.to_user_string() if context.has_asset_key else context.name


def _classified(cls):
    """Storage errors that retrying cannot fix fail the step at once; an unreachable endpoint is named
    (graph/errors.py). Wraps the class's own load_input/handle_output, whichever class defines them."""
    load, handle = cls.load_input, cls.handle_output

    def load_input(self, context: InputContext):
        with classified(f"reading {_what(context)}"):
            return load(self, context)

    def handle_output(self, context: OutputContext, obj) -> None:
        with classified(f"writing {_what(context)}"):
            return handle(self, context, obj)

    cls.load_input, cls.handle_output = load_input, handle_output
    return cls


@_classified
class ParquetIOManager(UPathIOManager):
    """A DataFrame is one Parquet file. Streaming, for days too big to hold whole: an input whose
    `AssetIn` metadata sets `stream: True` gets a `ParquetParts` (read batch by batch), and an output
    that is a `PartStream` is written part by part."""

    extension = ".parquet"

    def load_input(self, context: InputContext):
        if not (context.definition_metadata or {}).get(RUN_DAY):
            return super().load_input(context)
        asset_path = self._get_path_without_extension(context)
        day = run_day(context)
        if day is None:
            # An unpartitioned run (e.g. `model` alone from the UI): the newest stored day.
            stored = stored_partition_paths(asset_path.parent, asset_path.name)
            if not stored:
                raise _missing(context, asset_path)
            day = stored[-1].name.removesuffix(self.extension)
        context.log.info(f"{context.asset_key.to_user_string()}: using partition {day}")
        path = self._with_extension(self.get_path_for_partition(context, asset_path, day))
        if not path.exists():
            raise _missing(context, path, day)
        return self.load_from_path(context, path)

    def handle_output(self, context: OutputContext, obj) -> None:
        """A range of days in one run (`defs/partitions.py`): {day: frame}, one file per day."""
        if not (context.has_asset_partitions and len(context.asset_partition_keys) > 1):
            return super().handle_output(context, obj)
        paths = self._get_paths_for_partitions(context)
        if not isinstance(obj, dict) or set(obj) != set(paths):
            raise TypeError(
                f"{context.asset_key.to_user_string()}: a run over {len(paths)} days must return "
                f"{{day: frame}} for exactly those days, got {type(obj).__name__}"
            )
        for day, path in sorted(paths.items()):
            self.dump_to_path(context, obj[day], path)
        rows = {day: len(frame) for day, frame in obj.items()}
        context.add_output_metadata(
            {
                "rows": MetadataValue.int(sum(rows.values())),
                "days": MetadataValue.int(len(rows)),
                "rows_by_day": MetadataValue.json(dict(sorted(rows.items()))),
            }
        )

    def dump_to_path(self, context: OutputContext, obj: pd.DataFrame | PartStream, path: UPath) -> None:
        if isinstance(obj, PartStream):
            write_parquet_parts(path, obj)
        else:
            atomic_write_bytes(path, parquet_bytes(obj))

    def load_from_path(self, context: InputContext, path: UPath) -> pd.DataFrame | ParquetParts:
        if (context.definition_metadata or {}).get("stream"):
            if not path.exists():
                raise _missing(context, path)
            return ParquetParts(path)
        try:
            return read_parquet(path)
        except FileNotFoundError:
            raise _missing(context, path) from None

    def get_metadata(self, context: OutputContext, obj: pd.DataFrame | PartStream) -> dict:
        if isinstance(obj, PartStream):
            return {"rows": MetadataValue.int(obj.rows), "columns": MetadataValue.int(obj.columns), **obj.summary()}
        return {"rows": MetadataValue.int(len(obj)), "columns": MetadataValue.int(obj.shape[1])}


@_classified
class ModelIOManager(UPathIOManager):
    """Models as skops files: loading never executes code from the file.

    Also carries the candidate models between the training steps of one run, under `_runs/<run id>/`.
    """

    extension = ".skops"

    def get_op_output_relative_path(self, context: InputContext | OutputContext) -> UPath:
        return UPath("_runs", *context.get_identifier())

    def dump_to_path(self, context: OutputContext, obj: ModelBundle, path: UPath) -> None:
        atomic_write_bytes(path, model_bytes(obj))

    def load_from_path(self, context: InputContext, path: UPath) -> ModelBundle:
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise _missing(context, path) from None
        return load_model_bytes(data, source=str(path))


@_classified
class ReportIOManager(UPathIOManager):
    """A report is a folder: report.json, report.html (self-contained), the plots as PNG and its data
    tables as Parquet."""

    extension = ""

    def dump_to_path(self, context: OutputContext, obj: HtmlReport, path: UPath) -> None:
        for name, png in obj.plots.items():
            atomic_write_bytes(path / name, png)
        for name, table in obj.tables.items():
            atomic_write_bytes(path / name, parquet_bytes(table))
        atomic_write_bytes(path / "report.html", obj.html.encode())
        # JSON last: its presence means the report is complete.
        atomic_write_bytes(path / "report.json", obj.json.encode())
        context.add_output_metadata({"page": MetadataValue.path(str(path / "report.html"))})

    def load_from_path(self, context: InputContext, path: UPath) -> dict:
        try:
            return json.loads((path / "report.json").read_text())
        except FileNotFoundError:
            raise _missing(context, path) from None


class _StoreFactory(ConfigurableIOManagerFactory):
    base_uri: str | None = Field(
        default=None,
        description="Folder or s3://bucket/prefix; default: $ML_ASSETS_STORAGE, else $ML_ASSETS_HOME/storage.",
    )

    def base_path(self) -> UPath:
        """The store; every model's assets are under their key's first part, the model's name."""
        return resolve_uri(self.base_uri) if self.base_uri else storage_root()


class ParquetStore(_StoreFactory):
    def create_io_manager(self, context) -> ParquetIOManager:
        record_host(context)
        return ParquetIOManager(base_path=self.base_path())


class ModelStore(_StoreFactory):
    def create_io_manager(self, context) -> ModelIOManager:
        record_host(context)
        return ModelIOManager(base_path=self.base_path())


class ReportStore(_StoreFactory):
    def create_io_manager(self, context) -> ReportIOManager:
        record_host(context)
        return ReportIOManager(base_path=self.base_path())
