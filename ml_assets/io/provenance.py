"""What a trained model is traced back to: the code's commit, the package versions, the spec."""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent
PACKAGES = ["ml-assets", "dagster", "mlflow", "scikit-learn", "pandas", "numpy", "pyarrow", "skops"]


def utc_stamp() -> str:
    """Now, as the registry's tags and histories record it: `2026-12-07T13:35:33Z`."""
    import datetime as dt

    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def git_commit() -> dict[str, str]:
    """The code's commit (and whether the tree had uncommitted changes). $ML_ASSETS_GIT_COMMIT wins,
    for images built without the .git folder."""
    if os.environ.get("ML_ASSETS_GIT_COMMIT"):
        return {"git_commit": os.environ["ML_ASSETS_GIT_COMMIT"], "git_dirty": "unknown"}
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=10
        )
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return {"git_commit": "unknown", "git_dirty": "unknown"}
    if commit.returncode != 0:
        return {"git_commit": "unknown", "git_dirty": "unknown"}
    return {"git_commit": commit.stdout.strip(), "git_dirty": str(bool(status.stdout.strip())).lower()}


def package_versions() -> dict[str, str]:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def spec_artifacts(spec_path: str, spec) -> dict[str, str]:
    return {
        "spec/spec.yaml": Path(spec_path).read_text(),
        "spec/spec.resolved.json": json.dumps(spec.model_dump(mode="json"), indent=2),
    }
