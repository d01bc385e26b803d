"""All-or-nothing writes, Parquet bytes, and the stored partitions of a daily asset."""

from __future__ import annotations

import io
import os
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
from upath import UPath

if TYPE_CHECKING:
    pass

from ml_assets.io.paths import is_local

# A temporary file older than this was left by a write that was killed (a write in progress is
# younger: the largest day this project writes takes well under a minute).
STALE_TMP_SECONDS = 3600


def temp_beside(target: Path) -> Path:
    """A temporary name beside `target` for an all-or-nothing write. Temporary files that killed
    writes left in the folder more than STALE_TMP_SECONDS ago are removed first."""
    now = time.time()
    for old in target.parent.glob(".*.tmp"):
        try:
            if now - old.stat().st_mtime > STALE_TMP_SECONDS:
                old.unlink()
        except OSError:
            pass  # gone already (another writer cleaned it), or not ours to remove
    return target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")


def remove_tree(path: UPath) -> bool | None:
    """Remove a folder (local or S3) and everything under it: True, None when there was nothing,
    False when it could not be removed (the caller says so; nothing else depends on it)."""
    try:
        if not path.exists():
            return None
        path.fs.rm(path.path, recursive=True)
        return True
    except OSError:
        return False


def atomic_write_bytes(path: UPath, data: bytes) -> None:
    if is_local(path):
        local = Path(path.path)
        local.parent.mkdir(parents=True, exist_ok=True)
        tmp = temp_beside(local)
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


def partition_path(base: UPath, asset_name: str, day: str) -> UPath:
    """Where a daily asset's partition is stored: `<base>/<asset>/<day>.parquet`."""
    return base / asset_name / f"{day}.parquet"


def stored_partition_paths(base: UPath, asset_name: str) -> list[UPath]:
    """The stored partitions of a daily asset (`<base>/<asset>/<day>.parquet`), sorted by day."""
    try:
        entries = list((base / asset_name).iterdir())
    except (FileNotFoundError, NotADirectoryError):
        return []
    return sorted(
        (p for p in entries if p.name.endswith(".parquet") and not p.name.startswith(".")), key=lambda p: p.name
    )
