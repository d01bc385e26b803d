"""The S3 path against a real S3 HTTP endpoint on loopback (moto's server in its own process)."""

from __future__ import annotations

import io
import json

import pandas as pd
import pytest
from dagster import DagsterInstance

from ml_assets.runner import JobFailed, run_days
from ml_assets_tests.conftest import day_keys, graph_steps, land_demo_days, small_demo_spec

pytestmark = pytest.mark.s3


def _keys(client, bucket, prefix=""):
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return {o["Key"]: o["ETag"] for page in pages for o in page.get("Contents", [])}


def test_graph_on_s3_landing_and_storage(home, tmp_path, s3_env, monkeypatch):
    client, bucket = s3_env
    monkeypatch.setenv("ML_ASSETS_STORAGE", f"s3://{bucket}/assets")
    monkeypatch.setenv("ML_ASSETS_LANDING_ROOT", f"s3://{bucket}/landing")
    spec, path = small_demo_spec(tmp_path)
    assert spec.landing.uri == f"s3://{bucket}/landing/demo_churn"
    days = day_keys(6)
    land_demo_days(spec, days)  # through the landing contract, into S3
    assert f"landing/demo_churn/{days[0]}/events.csv" in _keys(client, bucket, "landing/")

    with DagsterInstance.ephemeral() as instance:
        run_days(spec, str(path), graph_steps(days), instance)

        keys = _keys(client, bucket, "assets/")
        prefix = f"assets/{spec.name}"
        for day in days:
            assert f"{prefix}/raw_data/{day}.parquet" in keys
            assert f"{prefix}/features/{day}.parquet" in keys
        assert f"{prefix}/model.skops" in keys
        assert f"{prefix}/evaluation_report/report.html" in keys
        body = client.get_object(Bucket=bucket, Key=f"{prefix}/batch_predictions/{days[-1]}.parquet")["Body"].read()
        preds = pd.read_parquet(io.BytesIO(body))
        report = json.loads(
            client.get_object(Bucket=bucket, Key=f"{prefix}/evaluation_report/report.json")["Body"].read()
        )
        assert (preds["model_version"] == report["model_version"]).all() and len(preds) > 100
        assert not any(k.endswith(".tmp") for k in keys)

        # A bad file on the S3 path is quarantined (moved, with its reason), the day is built
        # from the good file; a day with only bad files fails clearly and changes nothing.
        bad = b"customer_id,event_time\nC1,2026-01-01\n"
        client.put_object(Bucket=bucket, Key=f"landing/demo_churn/{days[-1]}/late.csv", Body=bad)
        run_days(spec, str(path), [("ingest_job", days[-1])], instance)
        landing = _keys(client, bucket, "landing/")
        assert f"landing/demo_churn/{days[-1]}/late.csv" not in landing
        moved = f"landing/demo_churn/_quarantine/{days[-1]}/late.csv"
        assert client.get_object(Bucket=bucket, Key=moved)["Body"].read() == bad
        reason = client.get_object(Bucket=bucket, Key=moved + ".reason.txt")["Body"].read().decode()
        assert "missing" in reason and "tenure_days" in reason

        # A day whose only file has the spec's columns but a value that does not parse.
        good = client.get_object(Bucket=bucket, Key=f"landing/demo_churn/{days[0]}/events.csv")["Body"].read().decode()
        header, first, *rest = good.splitlines()
        broken = ",".join(["C1", "not a time", *first.split(",")[2:]])
        client.delete_object(Bucket=bucket, Key=f"landing/demo_churn/{days[0]}/events.csv")
        client.put_object(
            Bucket=bucket,
            Key=f"landing/demo_churn/{days[0]}/only.csv",
            Body="\n".join([header, broken, *rest]).encode(),
        )
        before = _keys(client, bucket, "assets/")
        with pytest.raises(JobFailed) as exc:
            run_days(spec, str(path), [("ingest_job", days[0])], instance)
        assert f"s3://{bucket}/landing/demo_churn/{days[0]}/only.csv" in str(
            exc.value
        ) and "all 1 landing file(s) rejected" in str(exc.value)
        assert _keys(client, bucket, "assets/") == before
        # A day whose only file lacks the spec's columns: the spec's mistake, so the file stays put.
        client.put_object(Bucket=bucket, Key=f"landing/demo_churn/{days[1]}/only.csv", Body=bad)
        client.delete_object(Bucket=bucket, Key=f"landing/demo_churn/{days[1]}/events.csv")
        with pytest.raises(JobFailed, match="named by the spec are in none of the 1 file"):
            run_days(spec, str(path), [("ingest_job", days[1])], instance)
        assert f"landing/demo_churn/{days[1]}/only.csv" in _keys(client, bucket, "landing/")


def test_missing_bucket_fails_with_a_clear_error(home, tmp_path, s3_env, monkeypatch):
    client, bucket = s3_env
    monkeypatch.setenv("ML_ASSETS_LANDING_ROOT", "s3://no-such-bucket-for-ml-assets/landing")
    spec, path = small_demo_spec(tmp_path)
    with DagsterInstance.ephemeral() as instance, pytest.raises(JobFailed) as exc:
        run_days(spec, str(path), [("ingest_job", day_keys(1)[0])], instance)
    assert "landing location s3://no-such-bucket-for-ml-assets/landing/demo_churn does not exist" in str(exc.value)
