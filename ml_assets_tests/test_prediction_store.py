"""The online prediction store against the Redis server of this machine kind: the swap is atomic
under a concurrent reader, an older day never replaces a newer one, the graph publishes the
newest day and `ml-assets lookup` reads it."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import uuid

import numpy as np
import pandas as pd
import pytest

from ml_assets.io.prediction_store import PredictionStore, PredictionStoreError
from ml_assets.runner import run_days
from ml_assets_tests.conftest import PROJECT_ROOT, VENV_BIN, day_keys, graph_steps, land_demo_days, small_demo_spec

pytestmark = pytest.mark.redis


@pytest.fixture
def redis_url(redis_db):
    """(URL, a key prefix of this test's own); afterwards only this test's keys are deleted."""
    import redis

    url = redis_db
    client = redis.Redis.from_url(url)
    prefix = f"mla-test-{uuid.uuid4().hex[:12]}"
    yield url, prefix
    for key in client.scan_iter(f"{prefix}*"):
        client.delete(key)


def _day(n: int, day: str, version: str) -> pd.DataFrame:
    rng = np.random.default_rng(len(day))
    score = rng.random(n)
    return pd.DataFrame(
        {
            "customer_id": [f"c{i}" for i in range(n)],
            "event_time": pd.Timestamp(day),
            "score": score,
            "prediction": (score >= 0.5).astype("int64"),
            "model_version": version,
        }
    )


def test_swap_is_atomic_under_a_concurrent_reader(redis_url):
    url, prefix = redis_url
    store = PredictionStore(url, prefix, ttl_hours=1)
    n = 60_000
    assert store.publish(_day(n, "2026-11-01", "1"), "2026-11-01", "customer_id", "event_time").swapped

    ids = [f"c{i}" for i in range(0, n, n // 500)]  # spread over the whole set, as CHUNK-sized writes are
    seen, problems, stop = set(), [], threading.Event()

    def reader():
        reads = 0
        while not stop.is_set() or reads < 20:
            answers = store.lookup_many(ids)
            days = {a["day"] if a else None for a in answers}
            if len(days) != 1 or None in days:
                problems.append(days)
            seen.update(days)
            reads += 1

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        published = store.publish(_day(n, "2026-11-02", "2"), "2026-11-02", "customer_id", "event_time")
    finally:
        stop.set()
        thread.join(timeout=60)
    assert published.swapped and published.rows == n
    assert not problems, f"a read mixed days or missed entities: {problems[:3]}"
    assert seen <= {"2026-11-01", "2026-11-02"} and "2026-11-02" in seen
    assert {a["model_version"] for a in store.lookup_many(ids)} == {"2"}
    import redis

    client = redis.Redis.from_url(url)
    assert not list(client.scan_iter(f"{prefix}*staging*")), "a staging set was left behind"
    assert 0 < client.ttl(f"{prefix}:predictions") <= 3600 and 0 < client.ttl(f"{prefix}:predictions:meta") <= 3600


def test_older_day_never_replaces_newer_and_one_value_per_entity(redis_url):
    url, prefix = redis_url
    store = PredictionStore(url, prefix, ttl_hours=48)
    newer = _day(3, "2026-11-02", "2")
    # c0 has two events that day: the later one is served.
    newer = pd.concat(
        [newer, newer.iloc[[0]].assign(event_time=pd.Timestamp("2026-11-02 18:00"), score=0.99, prediction=1)]
    )
    assert store.publish(newer, "2026-11-02", "customer_id", "event_time").rows == 3
    late = store.publish(_day(3, "2026-11-01", "1"), "2026-11-01", "customer_id", "event_time")
    assert not late.swapped and late.current_day == "2026-11-02"
    assert store.lookup("c0") == {"score": 0.99, "prediction": 1, "model_version": "2", "day": "2026-11-02"}
    assert store.lookup("nobody") is None
    assert store.current()["day"] == "2026-11-02" and store.current()["rows"] == "3"

    # During an A/B experiment each entity is served its arm's score, and the value says which arm.
    ab = _day(3, "2026-11-03", "2").assign(arm=["champion", "challenger", "champion"], model_version=["2", "3", "2"])
    assert store.publish(ab, "2026-11-03", "customer_id", "event_time").swapped
    assert store.lookup("c1") == {
        "score": float(ab["score"].iloc[1]),
        "prediction": int(ab["prediction"].iloc[1]),
        "model_version": "3",
        "day": "2026-11-03",
        "arm": "challenger",
    }
    assert store.lookup("c0")["arm"] == "champion" and store.current()["model_version"] == "2,3"


def test_unreachable_store_names_the_url_without_its_password():
    store = PredictionStore("redis://:s3cret@127.0.0.1:1/0", "x", ttl_hours=1)
    with pytest.raises(PredictionStoreError) as err:
        store.lookup("c0")
    assert "redis://:***@127.0.0.1:1/0" in str(err.value) and "s3cret" not in str(err.value)


def test_graph_publishes_the_newest_day_and_lookup_reads_it(redis_url, home, tmp_path, monkeypatch, instance):
    url, prefix = redis_url
    monkeypatch.setenv("ML_ASSETS_REDIS_URL", url)
    spec, path = small_demo_spec(tmp_path, prediction_store={"enabled": True, "ttl_hours": 2, "key_prefix": prefix})
    days = day_keys(6)
    land_demo_days(spec, days)
    results = run_days(spec, str(path), graph_steps(days), instance)
    # graph_steps ends with scoring_job for the newest day, which publishes it.
    assert "prediction_store" in {e.asset_key.path[-1] for e in results[-1].get_asset_materialization_events()}

    preds = pd.read_parquet(home / "storage" / spec.name / "batch_predictions" / f"{days[-1]}.parquet")
    last = preds.sort_values("event_time", kind="stable").drop_duplicates("customer_id", keep="last").iloc[0]
    env = {**os.environ, "ML_ASSETS_SPEC": str(path)}
    proc = subprocess.run(
        [str(VENV_BIN / "ml-assets"), "lookup", str(last["customer_id"]), "nobody-42"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1, proc.stderr  # one of the two is unknown
    answer = json.loads(proc.stdout.strip())
    assert answer == {
        "customer_id": str(last["customer_id"]),
        "score": pytest.approx(float(last["score"])),
        "prediction": int(last["prediction"]),
        "model_version": str(last["model_version"]),
        "day": days[-1],
    }
    assert f"no prediction for nobody-42 in '{prefix}:predictions' (day {days[-1]} is online)" in proc.stderr
