"""Models as skops files, never pickle: loading a model never runs code from the file."""

from __future__ import annotations

from typing import TYPE_CHECKING


if TYPE_CHECKING:
    from ml_assets.core.training import ModelBundle


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

