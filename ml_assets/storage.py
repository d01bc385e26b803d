"""Where things live, and how bytes get there safely.

* `$ML_ASSETS_HOME` (default `./.ml_assets`) holds everything the embedded default writes.
* `ML_ASSETS_STORAGE` (default `$ML_ASSETS_HOME/storage`) is the asset store: a folder or `s3://bucket/prefix`.
* S3 endpoint and credentials come only from the environment: `AWS_ENDPOINT_URL` (or
  `AWS_ENDPOINT_URL_S3`), `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`.

Every write is all-or-nothing: local files are written to a temporary name in the same
folder and renamed; an S3 object only appears once its upload completes. So a failed run
never leaves a half-written file and never replaces an earlier good one.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import tempfile
import uuid
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
from upath import UPath

if TYPE_CHECKING:
    from ml_assets.core.spec import PipelineSpec
    from ml_assets.core.training import ModelBundle

LANDING_SUFFIXES = {"csv": ".csv", "parquet": ".parquet"}


def ml_assets_home() -> Path:
    return Path(os.environ.get("ML_ASSETS_HOME", ".ml_assets")).expanduser().resolve()


def s3_storage_options() -> dict:
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    # No listing cache: s3fs would otherwise keep a folder's listing for the life of the process
    # and miss files that land later (a long-lived code server or daemon would never see them).
    options: dict = {"use_listings_cache": False}
    if endpoint:
        options["endpoint_url"] = endpoint
    return options


def resolve_uri(uri: str | os.PathLike[str]) -> UPath:
    """A local path (relative ones are under $ML_ASSETS_HOME) or an s3:// URI, as a UPath."""
    uri = str(uri)
    if uri.startswith("s3://"):
        return UPath(uri, **s3_storage_options())
    if "://" in uri and not uri.startswith("file://"):
        raise ValueError(f"unsupported storage URI {uri!r}: use a local path or s3://bucket/prefix")
    path = Path(uri.removeprefix("file://")).expanduser()
    if not path.is_absolute():
        path = ml_assets_home() / path
    return UPath(path)


def storage_root() -> UPath:
    return resolve_uri(os.environ.get("ML_ASSETS_STORAGE", str(ml_assets_home() / "storage")))


def is_local(path: UPath) -> bool:
    return path.protocol in ("", "file", "local")


def atomic_write_bytes(path: UPath, data: bytes) -> None:
    if is_local(path):
        local = Path(path.path)
        local.parent.mkdir(parents=True, exist_ok=True)
        tmp = local.with_name(f".{local.name}.{uuid.uuid4().hex}.tmp")
        try:
            tmp.write_bytes(data)
            os.replace(tmp, local)
        finally:
            tmp.unlink(missing_ok=True)
    else:
        # One PUT (or one multipart upload): the object appears whole or not at all.
        path.write_bytes(data)


def parquet_bytes(df: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    df.to_parquet(buf, index=False, engine="pyarrow", compression="zstd")
    return buf.getvalue()


def read_parquet(path: UPath) -> pd.DataFrame:
    with path.open("rb") as f:
        return pd.read_parquet(f, engine="pyarrow")


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
    """Write parts (Arrow record batches or DataFrames) as consecutive row groups of one Parquet file, all-or-nothing like
    `atomic_write_bytes`: into a temporary file (beside the target, or local before one upload
    to S3) that replaces the target only once every part is written."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if is_local(path):
        target = Path(path.path)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    else:
        fd, name = tempfile.mkstemp(prefix="ml-assets-", suffix=".parquet")
        os.close(fd)
        tmp = Path(name)
    writer = None
    try:
        for part in parts:
            table = pa.Table.from_pandas(part, preserve_index=False) if isinstance(part, pd.DataFrame) else pa.Table.from_batches([part])
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


# -- models: skops, never pickle ------------------------------------------------------------
# skops refuses to load any type not listed as trusted. Beyond skops' own defaults we trust
# scikit-learn's classes and numpy's dtype, nothing else: no builtins, no functions, so a
# tampered model file cannot run code on load.
_TRUSTED_EXACT = {"numpy.dtype"}


class UntrustedModelError(ValueError):
    pass


def _is_sklearn_class(dotted: str) -> bool:
    import importlib

    module, _, name = dotted.rpartition(".")
    if not module.startswith("sklearn."):
        return False
    try:
        return isinstance(getattr(importlib.import_module(module), name), type)
    except (ImportError, AttributeError):
        return False


def untrusted_types_or_raise(data: bytes | None, source: str, declared: list[str] | None = None) -> list[str]:
    """The types skops must be told to trust for `data` (or the `declared` list), if our policy
    allows every one of them; else `UntrustedModelError` naming the refused types."""
    import skops.io as sio

    types = list(declared or []) if data is None else sio.get_untrusted_types(data=data)
    refused = [t for t in types if t not in _TRUSTED_EXACT and not _is_sklearn_class(t)]
    if refused:
        raise UntrustedModelError(f"{source}: model holds types that are not trusted: {refused}")
    return types


def model_bytes(bundle: ModelBundle) -> bytes:
    import skops.io as sio

    payload = {
        "pipelines": bundle.pipelines,
        "selected": bundle.selected,
        "version": bundle.version,
        "metrics": bundle.metrics,
        "baseline_metrics": bundle.baseline_metrics,
        "info": bundle.info,
    }
    return sio.dumps(payload)


def load_model_bytes(data: bytes, source: str) -> ModelBundle:
    import skops.io as sio

    from ml_assets.core.training import ModelBundle

    payload = sio.loads(data, trusted=untrusted_types_or_raise(data, source))
    return ModelBundle(**payload)


# -- the landing contract: <landing>/<YYYY-MM-DD>/<any name>.csv|.parquet -----------------------
class LandingError(ValueError):
    pass


def is_partial_or_marker(name: str) -> bool:
    """Hidden and _-prefixed names are uploads in progress and markers, by the landing contract."""
    return name.startswith((".", "_"))


def day_folder(landing: UPath, day: str | dt.date) -> UPath:
    return landing / (day.isoformat() if isinstance(day, dt.date) else day)


def list_landing_files(landing: UPath, day: str, fmt: str) -> tuple[list[UPath], list[str]]:
    """The day's files of the spec's format, sorted; plus the names ignored (other formats, hidden)."""
    folder = day_folder(landing, day)
    try:
        entries = sorted(folder.iterdir(), key=lambda p: p.name)
    except (FileNotFoundError, NotADirectoryError):
        entries = []
    except PermissionError as exc:
        raise LandingError(f"access denied listing {folder} (check the credentials in the environment): {exc}") from None
    if not entries and not landing.exists():
        raise LandingError(f"the landing location {landing} does not exist (no such folder or bucket)")
    files, ignored = [], []
    for entry in entries:
        if is_partial_or_marker(entry.name) or not entry.is_file():
            continue
        (files if entry.name.endswith(LANDING_SUFFIXES[fmt]) else ignored).append(entry)
    if not files:
        extra = f" (ignored files of another format: {[p.name for p in ignored]})" if ignored else ""
        set_aside = landing / QUARANTINE / day
        try:
            reasons = sorted(p.name for p in set_aside.iterdir() if p.name.endswith(".reason.txt"))
        except (FileNotFoundError, NotADirectoryError):
            reasons = []
        if reasons:
            # Say why, not only where: the reason files are small ("<stamp> rejected <file>:\n<reason>").
            why = "; ".join((set_aside / r).read_text().split("\n", 1)[-1].strip()[:300] for r in reasons[:3])
            extra += f"; {len(reasons)} file(s) of this day are in {set_aside} (quarantined: {why})"
        raise LandingError(f"no {fmt} landing files for day {day} under {folder}{extra}")
    return files, [p.name for p in ignored]


def landing_days(landing: UPath, fmt: str) -> dict[str, int]:
    """The day folders (YYYY-MM-DD) under `landing` that hold at least one file of the format, in
    order, with the bytes of those files. Other names (`_quarantine`, a typo'd folder) are not days."""
    try:
        folders = [p for p in landing.iterdir() if p.is_dir()]
    except (FileNotFoundError, NotADirectoryError):
        return {}
    days = {}
    for folder in folders:
        try:
            dt.date.fromisoformat(folder.name)
        except ValueError:
            continue
        files = [f for f in folder.iterdir() if not is_partial_or_marker(f.name) and f.name.endswith(LANDING_SUFFIXES[fmt])]
        if len(folder.name) == 10 and files:
            days[folder.name] = sum(f.stat().st_size for f in files)
    return dict(sorted(days.items()))


def read_landing_file(path: UPath, fmt: str) -> pd.DataFrame:
    """Read one landing file as it is (CSV columns as text; typing is the schema's job)."""
    try:
        with path.open("rb") as f:
            if fmt == "csv":
                return pd.read_csv(f, dtype=str, keep_default_na=True)
            return pd.read_parquet(f, engine="pyarrow")
    except pd.errors.EmptyDataError:
        raise LandingError(f"{path}: the file is empty (no header, no rows)") from None
    except pd.errors.ParserError as exc:
        raise LandingError(f"{path}: cannot parse the file: {exc}".strip()) from None
    except PermissionError as exc:
        raise LandingError(f"{path}: access denied (check the credentials in the environment): {exc}") from None
    except (OSError, ValueError) as exc:
        raise LandingError(f"{path}: cannot read the {fmt} file: {exc}") from None


QUARANTINE = "_quarantine"


def quarantine_file(landing: UPath, day: str, path: UPath, reason: str) -> UPath:
    """Move a rejected landing file to <landing>/_quarantine/<day>/ with <name>.reason.txt beside it.

    Never deletes: a file already quarantined under that name is kept, and the new one gets a
    time-stamped name. Put a fixed file back into <landing>/<day>/ and re-materialize the day.
    """
    folder = landing / QUARANTINE / day
    dest = folder / path.name
    if dest.exists():
        dest = folder / f"{dt.datetime.now(dt.UTC).strftime('%Y%m%dT%H%M%S%f')}-{path.name}"
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    atomic_write_bytes(folder / f"{dest.name}.reason.txt", f"{stamp} rejected {path}:\n{reason}\n".encode())
    if is_local(path):
        Path(dest.path).parent.mkdir(parents=True, exist_ok=True)
    path.fs.mv(path.path, dest.path)
    return dest


def read_or_quarantine(root: UPath, day: str, files: list[UPath], fmt: str, parse, log,
                       check_all=None) -> tuple[list[pd.DataFrame], list[dict]]:
    """Read and `parse(frame, source)` each of a day folder's files; a file whose reading or parsing
    fails (LandingError, SchemaError) is quarantined with its reason. Returns the parsed frames and
    what was quarantined (file, quarantined_to, reason).

    `check_all(frames)` sees every readable file before any is parsed: an error it raises (a column
    the spec names that no file has is the spec's mistake, not the files') stops the day with every
    file left where it is."""
    from ml_assets.core.schema import SchemaError

    quarantined: list[dict] = []

    def set_aside(path: UPath, exc: Exception) -> None:
        dest = quarantine_file(root, day, path, str(exc))
        log.warning(f"quarantined {path} -> {dest}: {exc}")
        quarantined.append({"file": str(path), "quarantined_to": str(dest), "reason": str(exc)})

    read = []
    for i, path in enumerate(files, start=1):
        log.info(f"reading {i}/{len(files)}: {path}")
        try:
            read.append((path, read_landing_file(path, fmt)))
        except LandingError as exc:
            set_aside(path, exc)
    if check_all is not None and read:
        check_all([frame for _, frame in read])
    frames = []
    for path, frame in read:
        try:
            frames.append(parse(frame, str(path)))
        except SchemaError as exc:
            set_aside(path, exc)
    return frames, quarantined


def stored_partition_paths(base: UPath, asset_name: str) -> list[UPath]:
    """The stored partitions of a daily asset (`<base>/<asset>/<day>.parquet`), sorted by day."""
    try:
        entries = list((base / asset_name).iterdir())
    except (FileNotFoundError, NotADirectoryError):
        return []
    return sorted((p for p in entries if p.name.endswith(".parquet") and not p.name.startswith(".")), key=lambda p: p.name)


def write_landing_file(landing: UPath, day: dt.date, name: str, df: pd.DataFrame, fmt: str) -> UPath:
    path = day_folder(landing, day) / f"{name}{LANDING_SUFFIXES[fmt]}"
    data = df.to_csv(index=False).encode() if fmt == "csv" else parquet_bytes(df)
    atomic_write_bytes(path, data)
    return path


def landing_root(spec: PipelineSpec) -> UPath:
    return resolve_uri(spec.landing.uri)


def labels_root(spec: PipelineSpec) -> UPath:
    """The delayed labels' landing location: <labels.uri>/<arrival YYYY-MM-DD>/<file>."""
    if spec.labels is None:
        raise ValueError(f"spec {spec.name} has no `labels` section")
    return resolve_uri(spec.labels.uri)
