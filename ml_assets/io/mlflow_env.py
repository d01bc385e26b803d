"""Where MLflow is and how it fails: the tracking URI (the embedded SQLite default or
$MLFLOW_TRACKING_URI), errors told transient or not, and MLflow's process-global API pointed at a
URI for a block. The registry itself is `registry.py`."""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path

from ml_assets.io.paths import ml_assets_home


class RegistryError(RuntimeError):
    """MLflow could not be reached or refused an operation; the message says which and where.

    `transient` is True when trying again later may succeed (server unreachable, timeouts,
    5xx, a locked database): Dagster's retry policy then retries the step. A refusal (no such
    version, bad parameter, permission) is not transient."""

    def __init__(self, message: str, transient: bool = False):
        super().__init__(message)
        self.transient = transient


# MLflow error codes that mean "the server could not do it now", not "this is wrong".
_TRANSIENT_CODES = {
    "INTERNAL_ERROR",
    "TEMPORARILY_UNAVAILABLE",
    "REQUEST_LIMIT_EXCEEDED",
    "DEADLINE_EXCEEDED",
    "ABORTED",
}


def is_transient(exc: Exception) -> bool:
    from mlflow.exceptions import MlflowException

    if isinstance(exc, MlflowException):
        return exc.error_code in _TRANSIENT_CODES
    return True  # OSError and the HTTP/DB client errors: the service did not answer


def default_tracking_uri() -> str:
    uri = os.environ.get("MLFLOW_TRACKING_URI")
    if uri:
        return uri
    folder = ml_assets_home() / "mlflow"
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / 'mlflow.db'}"


def local_artifact_root(tracking_uri: str) -> str | None:
    """For the embedded SQLite store, keep artifacts beside it (a server decides for itself)."""
    if tracking_uri.startswith("sqlite:///"):
        return (Path(tracking_uri.removeprefix("sqlite:///")).parent / "artifacts").as_uri()
    return None


@contextlib.contextmanager
def fluent_uri(uri: str):
    """Point MLflow's process-global (fluent) API at `uri` for a block, then restore it.

    `mlflow.set_tracking_uri` also writes MLFLOW_TRACKING_URI into os.environ, which would
    silently redirect every later default in this process; undo that on the way out.
    """
    import mlflow

    saved = {k: os.environ.get(k) for k in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        yield
    finally:
        # None: back to MLflow's default (its type hints say str; its code takes None).
        mlflow.set_tracking_uri(saved["MLFLOW_TRACKING_URI"])  # type: ignore[arg-type]
        mlflow.set_registry_uri(saved["MLFLOW_REGISTRY_URI"])  # type: ignore[arg-type]
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _no_pip_version_warning(record: logging.LogRecord) -> bool:
    return "Failed to resolve installed pip version" not in record.getMessage()


def quiet_pip_version_warning() -> None:
    """uv's environments have no pip; MLflow then warns on every model it logs, about a conda.yaml
    nobody here uses (the model's requirements are pinned). Idempotent."""
    logging.getLogger("mlflow.utils.environment").addFilter(_no_pip_version_warning)
