"""Which failures are worth retrying. Dagster retries every exception a step raises under its retry
policy, except `Failure(allow_retries=False)`. Retrying cannot fix a permission refused, a full or
read-only disk, a missing input, bad data or a bad spec: those fail at once with a one-line reason.
A storage endpoint that does not answer may answer later: it is retried on the spec's schedule
(`automation.retries`), each attempt bounded by the S3 client's timeouts (io/paths.py), and the last
attempt's message names the endpoint and the variable that sets it.
"""

from __future__ import annotations

import errno
import os
from contextlib import contextmanager

from dagster import Failure

PERMANENT_ERRNOS = {
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.ENOSPC: "no space left on the device",
    errno.EROFS: "read-only file system",
    errno.EDQUOT: "disk quota exceeded",
}
ENDPOINT_ENVS = ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")


def fail(message: str, **metadata) -> Failure:
    """A step failure that is not retried: bad data or a bad spec does not get better by retrying."""
    return Failure(description=message, metadata=metadata, allow_retries=False)


def _is_connection_error(exc: BaseException) -> bool:
    names = {cls.__module__.split(".")[0] + "." + cls.__name__ for cls in type(exc).__mro__}
    return bool(
        names
        & {
            "botocore.ConnectionError",
            "botocore.EndpointConnectionError",
            "botocore.ConnectTimeoutError",
            "botocore.ReadTimeoutError",
            "aiohttp.ClientConnectionError",
            "urllib3.NewConnectionError",
        }
    )


def endpoint_hint() -> str:
    for name in ENDPOINT_ENVS:
        if os.environ.get(name):
            return f"the S3 endpoint {os.environ[name]} (set by ${name})"
    return "the S3 endpoint (AWS's default; set another with $AWS_ENDPOINT_URL)"


def classify(exc: BaseException, what: str) -> Failure | None:
    """A Failure that says what happened and whether retrying may help; None to let `exc` through."""
    if isinstance(exc, Failure):
        return None
    if isinstance(exc, OSError) and exc.errno in PERMANENT_ERRNOS:
        where = f" ({exc.filename})" if exc.filename else ""
        return Failure(
            description=f"{what}: {PERMANENT_ERRNOS[exc.errno]}{where}; not retried, since retrying cannot fix it. "
            "Nothing was replaced: earlier outputs are as they were.",
            allow_retries=False,
            metadata={"transient": False},
        )
    if _is_connection_error(exc):
        return Failure(
            description=f"{what}: {endpoint_hint()} could not be reached: {type(exc).__name__}: {str(exc)[:300]}. "
            "Retried on the spec's automation.retries schedule; check the endpoint and the variable.",
            allow_retries=True,
            metadata={"transient": True},
        )
    return None


@contextmanager
def classified(what: str):
    try:
        yield
    except Exception as exc:
        failure = classify(exc, what)
        if failure is None:
            raise
        raise failure from exc
