"""A day too big to hold whole: read and written one Arrow record batch at a time."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
from upath import UPath

if TYPE_CHECKING:
    pass

from ml_assets.io.files import temp_beside
from ml_assets.io.paths import is_local

# -- Parquet in parts: a day is never held whole ------------------------------------------------
BATCH_ROWS = 131_072  # rows per Arrow record batch when a step streams a stored day


class ParquetParts:
    """A stored Parquet file, read one Arrow record batch at a time (`batches()`)."""

    def __init__(self, path: UPath):
        self.path = path

    def __repr__(self) -> str:
        return f"ParquetParts({self.path})"

    @property
    def num_rows(self) -> int:
        import pyarrow.parquet as pq

        with self.path.open("rb") as f:
            return pq.ParquetFile(f).metadata.num_rows

    def batches(self, batch_rows: int = BATCH_ROWS):
        """The rows in order as `pyarrow.RecordBatch`es of up to `batch_rows`; an empty file yields
        one empty batch (so its columns are still known)."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        with self.path.open("rb") as f:
            parquet = pq.ParquetFile(f)
            empty = True
            for batch in parquet.iter_batches(batch_size=batch_rows):
                empty = False
                yield batch
            if empty:
                yield pa.RecordBatch.from_pylist([], schema=parquet.schema_arrow)


class PartStream:
    """An output produced in parts (Arrow record batches or DataFrames with the same columns),
    written one after another as row groups of one Parquet file. `summary()` is called once all
    parts are written, for metadata that needs every row (a mean, a count)."""

    def __init__(self, parts: Iterable, summary: Callable[[], dict] | None = None):
        self._parts = parts
        self._summary = summary
        self.rows = 0
        self.columns = 0

    def __iter__(self) -> Iterator:
        for part in self._parts:
            self.rows += len(part)
            self.columns = len(part.columns) if isinstance(part, pd.DataFrame) else part.num_columns
            yield part

    def summary(self) -> dict:
        return self._summary() if self._summary else {}


def write_parquet_parts(path: UPath, parts: Iterable) -> None:
    """Write parts (Arrow record batches or DataFrames) as consecutive row groups of one Parquet
    file, all-or-nothing like `atomic_write_bytes`: into a temporary file (beside the target, or local before one upload
    to S3) that replaces the target only once every part is written."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if is_local(path):
        target = Path(path.path)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = temp_beside(target)
    else:
        fd, name = tempfile.mkstemp(prefix="ml-assets-", suffix=".parquet")
        os.close(fd)
        tmp = Path(name)
    writer = None
    try:
        for part in parts:
            table = (
                pa.Table.from_pandas(part, preserve_index=False)
                if isinstance(part, pd.DataFrame)
                else pa.Table.from_batches([part])
            )
            if writer is None:
                writer = pq.ParquetWriter(tmp, table.schema, compression="zstd")
            elif table.schema != writer.schema:
                table = table.cast(writer.schema)
            writer.write_table(table)
        if writer is None:
            raise ValueError(f"{path}: no parts to write (not even an empty frame)")
        writer.close()
        writer = None
        if is_local(path):
            os.replace(tmp, target)
        else:
            # One (multipart) upload: the object appears whole or not at all.
            path.fs.put_file(str(tmp), path.path)
    finally:
        if writer is not None:
            writer.close()
        tmp.unlink(missing_ok=True)
