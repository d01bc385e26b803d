"""The house rules: the core is pure, the layers import one way, modules and functions stay small."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from ml_assets_tests.conftest import PROJECT_ROOT

PACKAGE = PROJECT_ROOT / "ml_assets"
HEAVY = ("dagster", "mlflow", "boto3", "s3fs", "upath", "redis")
# Layers, lowest first: a module may import its own layer and the ones below, never above.
# (`definitions.py`, the code location, sits on top of graph; `defs/` holds no Python.)
LAYERS = {"core": 0, "io": 1, "graph": 2, "runner": 3, "cli": 4}


def _layer_files(layer: str) -> list[Path]:
    folder = PACKAGE / layer
    return sorted(folder.rglob("*.py")) if folder.is_dir() else [folder.with_suffix(".py")]


def _modules(folder: Path) -> list[str]:
    return sorted(
        ".".join(p.relative_to(PROJECT_ROOT).with_suffix("").parts).removesuffix(".__init__")
        for p in folder.rglob("*.py")
    )


def test_core_modules_load_no_orchestration_or_io_library():
    """Every ml_assets.core module, imported in a fresh interpreter, leaves Dagster, MLflow and the
    storage clients unloaded: the ML core is usable (and testable) without them."""
    code = (
        "import importlib, json, sys\n"
        f"for m in {_modules(PACKAGE / 'core')!r}: importlib.import_module(m)\n"
        f"print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & set({list(HEAVY)!r}))))"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == []


def test_importing_the_package_loads_nothing():
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, ml_assets; print(len([m for m in sys.modules if m.startswith(('dagster', 'pandas'))]))",
        ],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0 and proc.stdout.strip() == "0", proc.stdout + proc.stderr


def _imports(path: Path) -> set[str]:
    """Every ml_assets module a file imports, at the top or inside functions."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module == "ml_assets":
            found |= {f"ml_assets.{a.name}" for a in node.names}  # `from ml_assets import runner`
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("ml_assets"):
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("ml_assets")}
    return found


@pytest.mark.parametrize("layer", sorted(LAYERS))
def test_layers_import_one_way(layer):
    wrong = {}
    for path in _layer_files(layer):
        for module in _imports(path):
            parts = module.split(".")
            target = parts[1] if len(parts) > 1 else ""
            if target not in LAYERS or LAYERS[target] > LAYERS[layer]:
                wrong.setdefault(str(path.relative_to(PROJECT_ROOT)), []).append(module)
    assert not wrong, f"ml_assets.{layer} imports above itself: {wrong}"


def test_every_module_is_in_a_layer():
    layered = {p for layer in LAYERS for p in _layer_files(layer)}
    top = {PACKAGE / "__init__.py", PACKAGE / "definitions.py", PACKAGE / "defs" / "__init__.py"}
    assert sorted(str(p) for p in set(PACKAGE.rglob("*.py")) - layered - top) == []


# What reading or writing files, or the environment, looks like in Python: none of it in the core.
IO_CALLS = {"open"}
IO_ATTRIBUTES = {
    "read_text", "write_text", "read_bytes", "write_bytes", "iterdir", "glob", "rglob", "mkdir", "unlink",
    "environ", "getenv", "putenv", "read_csv", "read_parquet", "to_csv", "to_parquet", "savefig",
}  # fmt: skip


def test_the_core_reads_no_file_and_no_environment_variable():
    """The ML core is given its data and settings; ml_assets.io reads files and the environment.
    (`savefig` is allowed into an in-memory buffer only: the plots are bytes.)"""
    found = []
    for path in _layer_files("core"):
        for node in ast.walk(ast.parse(path.read_text())):
            name = None
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in IO_CALLS:
                name = node.func.id
            elif isinstance(node, ast.Attribute) and node.attr in IO_ATTRIBUTES:
                name = node.attr
            if name and not (name == "savefig" and "BytesIO" in path.read_text()):
                found.append(f"{path.relative_to(PROJECT_ROOT)}:{node.lineno}: {name}")
    assert found == [], found


def test_no_module_over_400_lines_and_no_function_over_60():
    long_modules, long_functions = {}, {}
    for path in sorted(PACKAGE.rglob("*.py")):
        source = path.read_text()
        name = str(path.relative_to(PROJECT_ROOT))
        if (lines := len(source.splitlines())) > 400:
            long_modules[name] = lines
        for node in ast.walk(ast.parse(source)):
            if (
                isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
                and (n := node.end_lineno - node.lineno + 1) > 60
            ):
                long_functions[f"{name}:{node.name}"] = n
    assert not long_modules and not long_functions, (long_modules, long_functions)


def test_private_dagster_apis_only_in_the_adapter():
    allowed = {PACKAGE / "graph" / "runtime" / "instance.py"}
    users = sorted(
        str(p.relative_to(PROJECT_ROOT))
        for p in PACKAGE.rglob("*.py")
        if p not in allowed and any(m.startswith("dagster._") for m in _dagster_imports(p))
    )
    assert not users, f"private Dagster modules imported outside graph/instance.py: {users}"


def _dagster_imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
    return {m for m in found if m.startswith("dagster")}
