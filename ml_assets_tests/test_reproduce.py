"""`ml-assets reproduce` and the reproduce job: a trained version is reproduced byte for byte; after
its training data is altered, the differences are named."""

from __future__ import annotations

import os
import subprocess

import pandas as pd
import pytest

from ml_assets.graph.pipeline import build_definitions
from ml_assets.io.files import atomic_write_bytes, parquet_bytes, partition_path
from ml_assets.io.paths import storage_root
from ml_assets.runner import run_days
from ml_assets_tests.conftest import PROJECT_ROOT, VENV_BIN, day_keys, land_demo_days, model_job, small_demo_spec

DAYS = day_keys(6)


def _reproduce(path, version: str):
    return subprocess.run(
        [str(VENV_BIN / "ml-assets"), "reproduce", "--version", version, "--spec", str(path)],
        cwd=PROJECT_ROOT,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.cli
def test_a_trained_version_is_reproduced_and_an_altered_training_set_is_named(home, tmp_path, instance):
    spec, path = small_demo_spec(tmp_path)
    land_demo_days(spec, DAYS)
    run_days(spec, str(path), [("ingest_job", d) for d in DAYS] + [("training_job", DAYS[-1])], instance)

    done = _reproduce(path, "1")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "reproduced: v1's holdout predictions (" in done.stdout and "identical byte for byte" in done.stdout, (
        done.stdout
    )
    assert "data, spec, code and packages are as recorded" in done.stdout or "differs: code" in done.stdout, done.stdout

    # The same from Dagster: the reproduce job succeeds.
    defs = build_definitions(spec, str(path))
    result = defs.resolve_job_def(model_job("reproduce_job")).execute_in_process(
        run_config={"ops": {model_job("reproduce"): {"config": {"version": "1"}}}},
        instance=instance,
        raise_on_error=False,
    )
    assert result.success

    # Someone alters the window's data afterwards: the verdict and the cause are named.
    stored = partition_path(storage_root() / spec.name, "training_set", DAYS[-1])
    frame = pd.read_parquet(stored)
    train = frame.index[frame["_split"] == "train"][:200]
    frame.loc[train, spec.columns.label] = 1.0 - frame.loc[train, spec.columns.label]
    atomic_write_bytes(stored, parquet_bytes(frame))
    done = _reproduce(path, "1")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "not reproduced: v1:" in done.stdout and "holdout predictions differ" in done.stdout, done.stdout
    assert "differs: training data fingerprint: recorded " in done.stdout, done.stdout
    result = defs.resolve_job_def(model_job("reproduce_job")).execute_in_process(
        run_config={"ops": {model_job("reproduce"): {"config": {"version": "1"}}}},
        instance=instance,
        raise_on_error=False,
    )
    assert not result.success

    missing = _reproduce(path, "7")
    assert missing.returncode != 0 and "error: MLflow" in missing.stderr and "version 7" in missing.stderr, (
        missing.stderr
    )
