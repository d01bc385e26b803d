"""Benchmarks are not tests: this only runs each once at a tiny size so they never rot."""

import subprocess
import sys

import pytest

from ml_assets_tests.conftest import PROJECT_ROOT


@pytest.mark.daemon
def test_benchmarks_smoke(tmp_path):
    out = tmp_path / "BENCHMARKS.md"
    proc = subprocess.run([sys.executable, "-m", "bench", "--quick", "--output", str(out)], cwd=PROJECT_ROOT,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = out.read_text()
    assert "| 2,000 | features_drift (PSI + KS) |" in text and "**all checks**" in text
    assert "| a new day (3 runs) | 200 | 5 s / 5 s | 1 |" in text and "| a rewritten day (2 runs) | 200 | 5 s / 5 s | 1 |" in text, text
