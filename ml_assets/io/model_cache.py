"""Registered model versions cached on local disk, so a new process does not fetch one again."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from upath import UPath

from ml_assets.io.files import atomic_write_bytes
from ml_assets.io.paths import ml_assets_home

CACHE_KEEP = 8  # model files kept in the on-disk cache (the newest used)


class ModelCache:
    """Registered versions' pipelines on local disk, `$ML_ASSETS_HOME/cache/models/`: a new process
    that scores with a version it has had before reads one skops file instead of asking MLflow for
    the model's metadata and artifacts. A version's files never change, so the key is the version
    and its run id; the content hash in the side file catches a torn or altered file (ignored, and
    loaded from the registry again), and the same trust list as the registry's applies on load."""

    def __init__(self, folder: Path | None = None):
        self.folder = folder or ml_assets_home() / "cache" / "models"

    def _paths(self, key: tuple[str, ...]) -> tuple[Path, Path]:
        name = hashlib.sha256("\0".join(key).encode()).hexdigest()[:32]
        return self.folder / f"{name}.skops", self.folder / f"{name}.json"

    def get(self, key: tuple[str, ...]) -> tuple[Any, list[str] | None] | None:
        import skops.io as sio

        from ml_assets.io.model_files import UntrustedModelError, untrusted_types_or_raise

        data_path, meta_path = self._paths(key)
        try:
            meta = json.loads(meta_path.read_text())
            data = data_path.read_bytes()
        except (OSError, ValueError):
            return None
        if hashlib.sha256(data).hexdigest() != meta.get("sha256"):
            return None
        try:
            pipeline = sio.loads(data, trusted=untrusted_types_or_raise(data, str(data_path)))
        except UntrustedModelError:
            return None  # not what this cache wrote: loaded from the registry again, and overwritten
        os.utime(data_path)  # most recently used
        return pipeline, meta.get("inputs")

    def put(self, key: tuple[str, ...], pipeline, inputs: list[str] | None) -> None:
        """Best effort: a cache that cannot be written (read-only home, full disk) is skipped."""
        import skops.io as sio

        data_path, meta_path = self._paths(key)
        try:
            data = sio.dumps(pipeline)
            atomic_write_bytes(UPath(data_path), data)
            # Not the tracking URI itself: it may hold a password. The file name is its hash.
            meta = {
                "model": key[1],
                "version": key[2],
                "run_id": key[3],
                "sha256": hashlib.sha256(data).hexdigest(),
                "inputs": inputs,
            }
            atomic_write_bytes(UPath(meta_path), json.dumps(meta).encode())
            for old in sorted(self.folder.glob("*.skops"), key=lambda f: f.stat().st_mtime)[:-CACHE_KEEP]:
                old.unlink(missing_ok=True)
                old.with_suffix(".json").unlink(missing_ok=True)
        except OSError:
            pass
