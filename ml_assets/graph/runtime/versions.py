"""Code versions derived from what decides an asset's output, never typed by hand.

An asset's `code_version` is a hash of (1) the spec sections its output depends on and (2) the
source of the core (and io) modules that compute it. Change either (a threshold in the spec, a line
of the feature module) and the asset shows as stale in the UI, and `code_version_changed()`
automation can react. The Dagster wiring that declares the asset never counts: moving, renaming or
reformatting wiring changes no code version. The definitions snapshot (ml_assets_tests/snapshots/)
shows each change in review.
"""

from __future__ import annotations

import hashlib
import importlib.util
from functools import cache
from pathlib import Path

from ml_assets.core.spec import PipelineSpec

COUNTED = ("ml_assets.core.", "ml_assets.io.")  # what decides outputs; the Dagster layer only wires it


@cache
def _module_source_hash(module_name: str) -> str:
    # The file is read, not imported: the definitions load without the libraries the step uses.
    source = Path(importlib.util.find_spec(module_name).origin).read_text()
    return hashlib.sha256(source.encode()).hexdigest()


def code_version(spec: PipelineSpec, *code, sections: tuple[str, ...] = ()) -> str:
    """`<spec sections hash>-<code hash>`: `code` are module names, or functions or classes, whose
    modules compute the output (the whole module counts, so a change to a helper counts too)."""
    modules = sorted({obj if isinstance(obj, str) else obj.__module__ for obj in code})
    if wiring := [m for m in modules if not m.startswith(COUNTED)]:
        raise ValueError(f"code versions hash the core and io code an asset calls, not wiring: {wiring}")
    digest = hashlib.sha256("".join(_module_source_hash(m) for m in modules).encode()).hexdigest()[:12]
    return f"{spec.section_hash(*sections)}-{digest}"
