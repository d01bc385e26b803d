"""The docs name what exists: every dotted `ml_assets.…` name and every repository path written in
README.md and docs/*.md resolves, so a move or a rename cannot leave the docs behind."""

from __future__ import annotations

import importlib
import importlib.util
import re
from pathlib import Path

import pytest

from ml_assets_tests.conftest import PROJECT_ROOT

DOCS = sorted([PROJECT_ROOT / "README.md", *(PROJECT_ROOT / "docs").glob("*.md")])
DOTTED = re.compile(r"\bml_assets(?:\.[A-Za-z_][A-Za-z0-9_]*)+")
# Paths into the repository's own folders: files (with an extension) or folders (ending in "/");
# `ml_assets/trains` and the like, without either, are run tags, not paths.
PATH = re.compile(
    r"(?<![\w./-])((?:ml_assets|ml_assets_tests|bench|deploy|docs|\.ci)/[\w./<>-]*(?:\.[a-z]+|/))(?![\w.])"
    r"|(?<![\w./-])((?:README|BENCHMARKS)\.md|pyproject\.toml|dagster\.yaml|workspace\.yaml|docker-compose\.yml|uv\.lock)\b"
)


def _resolves(dotted: str) -> bool:
    """A module, or an attribute (class, function, constant) of one, as written."""
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        try:
            for attr in parts[i:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return False
        return True
    return False


LAYER_PATH = re.compile(r"(?<![\w./-])((?:core|io|graph|cli)/[\w./-]*(?:\.py|/))(?![\w.])")  # graph/x.py
BARE_FILE = re.compile(r"(?<![\w/.-])([a-z_]+\.py)\b")  # `sensors.py`: a module of ours, wherever it is
SHORT = re.compile(r"`([a-z_]+)\.([A-Z]\w*)`")  # `storage.ParquetParts`: a class of one of our modules
OUR_PATHS = [p for top in ("ml_assets", "ml_assets_tests", "bench") for p in (PROJECT_ROOT / top).rglob("*.py")]
OUR_FILES = {p.name for p in OUR_PATHS}


def _short_resolves(module: str, attr: str) -> bool:
    candidates = [m for m in OUR_PATHS if m.stem == module]
    names = [".".join(c.relative_to(PROJECT_ROOT).with_suffix("").parts) for c in candidates] or [module]
    return any(_resolves(f"{name}.{attr}") for name in names)


# Names the docs use on purpose that are not modules or files of the repository.
NOT_CODE = {
    "ml_assets.alerts",  # the alert logger's name (graph/automation/alerts.py)
    "ml_assets/defs/churn/",  # the model folder docs/models.md has a user add
}


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_dotted_name_and_path_in_the_docs_exists(doc: Path):
    text = doc.read_text()
    missing = sorted({m for m in DOTTED.findall(text) if m not in NOT_CODE and not _resolves(m)})
    paths = {a or b for a, b in PATH.findall(text)}
    # `<model>` and similar placeholders stand for any name: only the part before them is checked.
    gone = sorted(
        p for p in paths if not (PROJECT_ROOT / p.split("<", 1)[0]).exists() and not p.startswith(tuple(NOT_CODE))
    )
    gone += sorted({f for f in BARE_FILE.findall(text) if f not in OUR_FILES})
    gone += sorted({p for p in LAYER_PATH.findall(text) if not (PROJECT_ROOT / "ml_assets" / p).exists()})
    missing += sorted({f"{m}.{a}" for m, a in SHORT.findall(text) if not _short_resolves(m, a)})
    assert (missing, gone) == ([], []), f"{doc.name} names what does not exist: {missing} {gone}"
