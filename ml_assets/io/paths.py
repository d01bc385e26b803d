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

import os
from pathlib import Path
from typing import TYPE_CHECKING

from upath import UPath

if TYPE_CHECKING:
    from ml_assets.core.spec import PipelineSpec


def ml_assets_home() -> Path:
    return Path(os.environ.get("ML_ASSETS_HOME", ".ml_assets")).expanduser().resolve()


def s3_storage_options() -> dict:
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    # No listing cache: s3fs would otherwise keep a folder's listing for the life of the process
    # and miss files that land later (a long-lived code server or daemon would never see them).
    options: dict = {"use_listings_cache": False}
    # Bounded attempts: an endpoint that does not answer fails a call within ~15 s (not botocore's
    # default 60 s connect timeout, tried 5 times); the step's retry policy decides what comes next.
    options["config_kwargs"] = {
        "connect_timeout": 5,
        "read_timeout": 60,
        "retries": {"max_attempts": 3, "mode": "standard"},
    }
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


def landing_root(spec: PipelineSpec) -> UPath:
    return resolve_uri(spec.landing.uri)


def labels_root(spec: PipelineSpec) -> UPath:
    """The delayed labels' landing location: <labels.uri>/<arrival YYYY-MM-DD>/<file>."""
    if spec.labels is None:
        raise ValueError(f"spec {spec.name} has no `labels` section")
    return resolve_uri(spec.labels.uri)
