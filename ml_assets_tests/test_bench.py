"""Benchmarks are not tests: these only run each benchmark once at a tiny size so they never rot.
Nothing here is timed; the assertions are on the tables' shape and on what each benchmark ran."""

import os
import re
import signal
import subprocess
import sys

import pytest

from ml_assets_tests.conftest import LAST_DAY, PROJECT_ROOT


def _bench(tmp_path, only: str) -> str:
    out = tmp_path / "BENCHMARKS.md"
    # Its own process group: on a timeout the bench's daemon and CPU-bound helper go with it.
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bench",
            "--quick",
            "--last-day",
            LAST_DAY.isoformat(),
            "--only",
            only,
            "--output",
            str(out),
        ],
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = proc.communicate(timeout=540)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        stdout, stderr = proc.communicate()
        raise AssertionError(
            f"bench --only {only} did not finish in 540 s:\n{stderr[-3000:]}{stdout[-3000:]}"
        ) from None
    assert proc.returncode == 0, stderr[-3000:] + stdout[-3000:]
    return out.read_text()


@pytest.mark.s3
@pytest.mark.cli
def test_data_benchmarks_smoke(tmp_path):
    text = _bench(tmp_path, "scoring,incremental,orchestration,storage,training,rollout,estimates")
    # Scoring: the step alone (the child refuses to report a run with other steps) and the bare predict.
    assert re.search(
        r"\| 2,000 \| [\d,]+ \| [\d,]+ \| \d+\.\d\d (met|\*\*missed\*\*) \| [\d,]+ \| \d+\.\d\d (met|\*\*missed\*\*) "
        r"\| [\d,]+ (met|\*\*missed\*\*) \| [\d,]+ \|",
        text,
    ), text
    assert re.search(r"\| 3 days \| 300 \| \d+\.\d\d \| \d+\.\d\d (met|\*\*missed\*\*) \|", text), text
    assert (
        re.search(r"\| 1,000 \| \d+\.\d\d \| \d+\.\d\d \| \d+\.\d\d (met|\*\*missed\*\*) \|", text)
        and "Fixed per-run cost" in text
    ), text
    assert re.search(r"One tiny day \(200 rows\).*\*\*\d+\.\d\d s\*\* \(target ≤ 6 s: (met|\*\*missed\*\*)\)", text), (
        text
    )
    assert (
        "| 2,000 | ml-assets ParquetIOManager (Parquet, zstd) |" in text
        and "| 2,000 | dagster-aws S3PickleIOManager (pickle) |" in text
    ), text
    assert "| one step at a time |" in text and "Parallel steps are" in text, text
    # The live comparison: every mode and scenario simulated, false promotions against alpha.
    simulated = r"\| (shadow \(paired\)|A/B, \d\d % share) \| (equal|slightly worse|better) \| \d+\.\d%"
    assert len(re.findall(simulated, text)) == 9, text
    assert "| shadow (paired) | equal | " in text and "(target ≤ 5%: " in text, text
    # ... and on real flights, with the same day records and verdict as rollout_decision.
    assert (
        len(re.findall(r"\| (shadow \(paired\)|A/B, \d\d % share) \| (equal|worse|better) \| \d+ of \d+ \|", text)) == 9
    )
    # Label-free estimates on real flights: calendar and resampled days, both tasks.
    assert (
        len(re.findall(r"\| (classification \(roc_auc\)|regression \(mae\)) \| (calendar|resampled) days", text)) == 6
    )


@pytest.mark.daemon
def test_checks_and_latency_benchmarks_smoke(tmp_path):
    text = _bench(tmp_path, "checks,latency")
    assert "| 2,000 | features_drift (PSI + KS) |" in text and "**all checks**" in text
    assert "| a new day: file written → its predictions (one run) | 200 | 5 s / 5 s | 1 |" in text, text
    assert "| 2 days at once beside a CPU-bound process: files written → features for every day | 300 |" in text, text
    # The identical file: the run says why it stopped, and nothing below raw_data ran again.
    assert (
        "and said why it stopped at raw_data; runs launched below raw_data afterwards: **0**, assets below raw_data "
        "materialized again: **0**" in text
    ), text


@pytest.mark.cli
def test_backfill_and_models_benchmarks_smoke(tmp_path):
    text = _bench(tmp_path, "backfill,models")
    # Many models: load and tick measured for each size; a day landed for m000 requests m000's runs only.
    assert re.search(r"\| 2 \| \d+\.\d \| \d+\.\d\d× \| \d+\.\d \| \d+ \| m000 \|", text), text
    assert "A day landed for m000 requests runs for m000 only: met" in text, text
    assert re.search(
        r"\| `ml-assets run` \(ingest every day, train, score the last day, page\) \| \d+\.\d \| (met|\*\*missed\*\*) "
        r"\|",
        text,
    ), text
    assert re.search(r"\| per-day path, ingest alone projected to 10 days \(median × days\) \| ≥ \d+ \|", text), text
