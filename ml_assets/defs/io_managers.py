"""IO managers over any path (local folder or s3://): Parquet for data, skops for models, files for reports.

Layout: `<base>/<prefix>/<asset>/<partition>.parquet`, `<base>/<prefix>/model.skops`, `<base>/<prefix>/evaluation_report/`.
"""

from __future__ import annotations

import json

import pandas as pd
from dagster import ConfigurableIOManagerFactory, InputContext, MetadataValue, OutputContext, UPathIOManager
from pydantic import Field
from upath import UPath

from ml_assets.core.evaluation import HtmlReport
from ml_assets.core.training import ModelBundle
from ml_assets.storage import (
    PartStream,
    ParquetParts,
    atomic_write_bytes,
    load_model_bytes,
    model_bytes,
    parquet_bytes,
    read_parquet,
    resolve_uri,
    storage_root,
    write_parquet_parts,
)


class NotMaterializedError(FileNotFoundError):
    """An input the asset needs has not been written yet."""


def _missing(context: InputContext, path: UPath) -> NotMaterializedError:
    what = context.asset_key.to_user_string() if context.has_asset_key else "input"
    part = f" partition {context.asset_partition_key}" if context.has_asset_partitions and len(context.asset_partition_keys) == 1 else ""
    hint = "materialize it first"
    if what == "training_set":
        hint = "model and evaluation_report train on the NEWEST day's training_set: run training_job for the newest partition"
    return NotMaterializedError(f"{what}{part} has not been materialized (nothing at {path}); {hint}")


class ParquetIOManager(UPathIOManager):
    """A DataFrame is one Parquet file. Streaming, for days too big to hold whole: an input whose
    `AssetIn` metadata sets `stream: True` gets a `ParquetParts` (read batch by batch), and an output
    that is a `PartStream` is written part by part."""

    extension = ".parquet"

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

    prefix: str = Field(default="", description="Sub-folder under the base, e.g. the spec's name.")

    def base_path(self) -> UPath:
        base = resolve_uri(self.base_uri) if self.base_uri else storage_root()
        return base / self.prefix if self.prefix else base


class ParquetStore(_StoreFactory):
    def create_io_manager(self, context) -> ParquetIOManager:
        return ParquetIOManager(base_path=self.base_path())


class ModelStore(_StoreFactory):
    def create_io_manager(self, context) -> ModelIOManager:
        return ModelIOManager(base_path=self.base_path())


class ReportStore(_StoreFactory):
    def create_io_manager(self, context) -> ReportIOManager:
        return ReportIOManager(base_path=self.base_path())
