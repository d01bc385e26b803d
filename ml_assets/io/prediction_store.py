"""The online prediction store: the newest day's batch predictions in Redis, keyed by entity id.

Layout, under a key prefix (default: the spec's name):

* `<prefix>:predictions` — a hash, entity id -> JSON {"score", "prediction", "model_version", "day"},
  and during a live experiment also "arm" (`champion` or `challenger`: who served the entity)
* `<prefix>:predictions:meta` — a hash: day, model_version, rows, published_at

A day is written to a staging hash first (it expires by itself if the writer dies), then swapped
in with RENAME inside one MULTI/EXEC, with the TTL and the meta. So a reader sees the old day's
set or the new one, never a mix: one `HMGET` of many ids always answers from a single day.
A day older than the published one is not swapped in (re-scoring an old day does not take the
newest predictions offline). Both keys expire `ttl_hours` after the last publish: a pipeline that
stops publishing stops serving stale predictions instead of serving them forever.

The URL comes from $ML_ASSETS_REDIS_URL (it may hold a password), never from the spec.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import uuid
from dataclasses import dataclass
from urllib.parse import urlsplit

import pandas as pd

from ml_assets.core.spec import PipelineSpec

REDIS_URL_ENV = "ML_ASSETS_REDIS_URL"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
CHUNK = 10_000
STAGING_TTL_SECONDS = 3600


class PredictionStoreError(RuntimeError):
    """The store cannot be reached or refused a command; the message names the URL (without password)."""


@dataclass(frozen=True)
class Published:
    day: str
    rows: int
    swapped: bool  # False: a newer day is already published, nothing changed
    current_day: str


def redis_url() -> str:
    return os.environ.get(REDIS_URL_ENV) or DEFAULT_REDIS_URL


def spec_prefix(spec: PipelineSpec) -> str:
    """The key prefix a spec publishes under: `prediction_store.key_prefix`, else its name."""
    return spec.prediction_store.key_prefix or spec.name


def key_names(prefix: str) -> tuple[str, str]:
    """(the predictions hash, its meta hash)."""
    return f"{prefix}:predictions", f"{prefix}:predictions:meta"


def _safe(url: str) -> str:
    """The URL without its password, for messages."""
    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@")
    return url


def latest_per_entity(preds: pd.DataFrame, entity_col: str, time_col: str) -> pd.DataFrame:
    """One row per entity: its latest event of the day (ties: the last row)."""
    ordered = preds.sort_values(time_col, kind="stable")
    return ordered.drop_duplicates(entity_col, keep="last")


def _value(score, prediction, model_version: str, day: str, arm: str | None = None) -> str:
    def num(x):
        x = float(x)
        return None if math.isnan(x) else (int(x) if x.is_integer() else x)

    value = {"score": float(score), "prediction": num(prediction), "model_version": str(model_version), "day": day}
    return json.dumps(value if arm is None else {**value, "arm": str(arm)})


class PredictionStore:
    def __init__(self, url: str, prefix: str, ttl_hours: float):
        import redis

        self.url, self.prefix, self.ttl = url, prefix, max(1, int(ttl_hours * 3600))
        self.live, self.meta = key_names(prefix)
        self._redis = redis.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=30, decode_responses=True)

    @classmethod
    def for_spec(cls, spec: PipelineSpec, url: str | None = None) -> PredictionStore:
        """The store the spec publishes to: its `prediction_store` section, at $ML_ASSETS_REDIS_URL."""
        return cls(url or redis_url(), spec_prefix(spec), spec.prediction_store.ttl_hours)

    def _call(self, what: str, fn):
        import redis

        try:
            return fn()
        except redis.RedisError as exc:
            raise PredictionStoreError(f"prediction store at {_safe(self.url)}: {what} failed: {exc}") from None

    def publish(self, preds: pd.DataFrame, day: str, entity_col: str, time_col: str, progress=None) -> Published:
        """Swap `day`'s predictions in (one value per entity), unless a newer day is published."""
        import redis

        rows = latest_per_entity(preds, entity_col, time_col)
        staging = f"{self.live}:staging:{uuid.uuid4().hex}"
        arms = rows["arm"] if "arm" in rows.columns else [None] * len(rows)  # during a live experiment
        columns = (rows["score"], rows["prediction"], rows["model_version"], arms)
        values = [_value(s, p, v, day, a) for s, p, v, a in zip(*columns, strict=True)]
        ids = rows[entity_col].astype(str).tolist()

        def write_staging():
            for start in range(0, len(ids), CHUNK):
                pipe = self._redis.pipeline(transaction=False)
                pipe.hset(
                    staging, mapping=dict(zip(ids[start : start + CHUNK], values[start : start + CHUNK], strict=True))
                )
                pipe.expire(staging, STAGING_TTL_SECONDS)
                pipe.execute()
                if progress:
                    progress(min(start + CHUNK, len(ids)), len(ids))

        def swap() -> Published:
            meta = {
                "day": day,
                "model_version": ",".join(sorted(set(rows["model_version"].astype(str)))),
                "rows": len(ids),
                "published_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            }
            with self._redis.pipeline(transaction=True) as pipe:
                while True:
                    try:
                        pipe.watch(self.meta)
                        found = pipe.hget(self.meta, "day")
                        current = found.decode() if isinstance(found, bytes) else found
                        if current and current > day:
                            pipe.unwatch()
                            return Published(day, len(ids), False, current)
                        pipe.multi()
                        if ids:
                            pipe.rename(staging, self.live)
                        else:
                            pipe.delete(self.live)
                        pipe.expire(self.live, self.ttl)
                        pipe.hset(self.meta, mapping=meta)  # type: ignore[arg-type]  # text and numbers
                        pipe.expire(self.meta, self.ttl)
                        pipe.execute()
                        return Published(day, len(ids), True, day)
                    except redis.WatchError:
                        continue  # another publisher swapped meanwhile: decide again

        try:
            self._call("writing the staging set", write_staging)
            return self._call("swapping in the new set", swap)
        finally:
            try:
                self._redis.delete(staging)  # gone already after a swap; a leftover otherwise
            except redis.RedisError:
                pass  # it expires by itself

    def lookup(self, entity_id: str) -> dict | None:
        value = self._call("lookup", lambda: self._redis.hget(self.live, str(entity_id)))
        return json.loads(value) if value is not None else None

    def lookup_many(self, entity_ids: list[str]) -> list[dict | None]:
        """One atomic read: every answer comes from the same published day."""
        values = self._call("lookup", lambda: self._redis.hmget(self.live, [str(e) for e in entity_ids]))
        return [json.loads(v) if v is not None else None for v in values]

    def current(self) -> dict:
        """The published day's meta (empty when nothing is published or it expired)."""
        return self._call("reading the meta", lambda: self._redis.hgetall(self.meta))
