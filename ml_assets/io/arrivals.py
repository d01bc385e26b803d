"""What landed since the last look: the landing sensor's listing and cursor, without Dagster.

A landed file is `(key, version, modified)`: its path under the landing root, something that
changes when its content is rewritten (S3: the ETag; a local file: mtime + size), and when it
appeared (S3: LastModified; a local file: the later of mtime and ctime, because `mv` and
`cp -p` keep an old mtime but a rename or copy always sets ctime).

The cursor is a watermark plus the files seen near it. A file counts as new when it is not in
the cursor with the same version and appeared after `watermark - lookback`. The lookback
covers what a plain "newer than the last tick" rule misses: an S3 multipart upload whose
LastModified is the time it *started*, clocks that disagree, files moved in with an old time.
The cursor only remembers files inside that lookback, so it stays small however long the
history is.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
from dataclasses import dataclass

from upath import UPath

from ml_assets.io.landing import LANDING_SUFFIXES, is_partial_or_marker
from ml_assets.io.paths import s3_storage_options

DAY_FOLDER = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class LandedFile:
    key: str  # <YYYY-MM-DD>/<name>, relative to the landing root
    version: str
    modified: float  # seconds since the epoch

    @property
    def day(self) -> str:
        return self.key.split("/", 1)[0]


def _wanted(day: str, name: str, fmt: str) -> bool:
    # The files raw_data reads: not partial uploads or markers, and of the spec's format.
    return bool(DAY_FOLDER.match(day)) and not is_partial_or_marker(name) and name.endswith(LANDING_SUFFIXES[fmt])


def list_landed(landing: UPath, fmt: str, since: float | None = None, day: str | None = None) -> list[LandedFile]:
    """Every landing file of the format (under a <YYYY-MM-DD>/ folder, or only `day`'s), optionally
    only those that appeared after `since`. Raises FileNotFoundError if the landing location is missing."""
    if landing.protocol in ("", "file", "local"):
        return _list_local(landing.path, fmt, since, day)
    if landing.protocol in ("s3", "s3a"):
        return _list_s3(landing, fmt, since, day)
    raise ValueError(f"the landing sensor cannot watch {landing} (local folders and s3:// only)")


def _list_local(root: str, fmt: str, since: float | None, only_day: str | None) -> list[LandedFile]:
    if not os.path.isdir(root):
        raise FileNotFoundError(f"the landing folder {root} does not exist")
    found = []
    with os.scandir(root) as days:
        for day in days:
            if not (day.is_dir() and DAY_FOLDER.match(day.name)) or (only_day and day.name != only_day):
                continue
            with os.scandir(day.path) as entries:
                for entry in entries:
                    if not (_wanted(day.name, entry.name, fmt) and entry.is_file()):
                        continue
                    st = entry.stat()
                    modified = max(st.st_mtime, st.st_ctime)
                    if since is None or modified > since:
                        found.append(LandedFile(f"{day.name}/{entry.name}", f"{st.st_mtime_ns}-{st.st_size}", modified))
    return sorted(found, key=lambda f: (f.modified, f.key))


def s3_client():
    """A boto3 S3 client from the environment (endpoint, credentials, region), as the rest of the project."""
    import boto3

    return boto3.client("s3", endpoint_url=s3_storage_options().get("endpoint_url"))


def _list_s3(landing: UPath, fmt: str, since: float | None, only_day: str | None) -> list[LandedFile]:
    from dagster_aws.s3.sensor import get_objects

    bucket, _, prefix = landing.path.strip("/").partition("/")
    prefix = f"{prefix}/" if prefix else ""
    list_prefix = f"{prefix}{only_day}/" if only_day else prefix
    # get_objects keeps objects strictly newer than since_last_modified (LastModified has whole
    # seconds: a lookback of at least a second keeps an object of the watermark's own second).
    since_dt = dt.datetime.fromtimestamp(since, dt.UTC) if since is not None else None
    found = []
    client = s3_client()
    try:
        client.head_bucket(Bucket=bucket)
    except client.exceptions.ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchBucket"):
            raise FileNotFoundError(f"the landing bucket {bucket} does not exist") from None
        raise
    for obj in get_objects(bucket, list_prefix, since_last_modified=since_dt, client=client):
        key = obj["Key"][len(prefix) :]
        day, _, name = key.partition("/")
        if "/" in name or not _wanted(day, name, fmt):
            continue
        found.append(LandedFile(key, str(obj["ETag"]).strip('"'), obj["LastModified"].timestamp()))
    return sorted(found, key=lambda f: (f.modified, f.key))


@dataclass(frozen=True)
class Cursor:
    watermark: float | None = None
    recent: tuple[tuple[str, str, float], ...] = ()  # (key, version, modified) inside the lookback
    pending: tuple[str, ...] = ()  # days whose files landed before the day was complete

    def to_json(self) -> str:
        return json.dumps(
            {"watermark": self.watermark, "recent": [list(r) for r in self.recent], "pending": list(self.pending)}
        )

    @classmethod
    def from_json(cls, text: str | None) -> Cursor:
        if not text:
            return cls()
        try:
            data = json.loads(text)
            recent = tuple((str(k), str(v), float(m)) for k, v, m in data["recent"])
            return cls(data["watermark"], recent, tuple(data.get("pending", [])))
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"unreadable landing sensor cursor ({exc}): reset the sensor's cursor in the UI") from None


def new_files(listed: list[LandedFile], cursor: Cursor, lookback_seconds: float) -> tuple[list[LandedFile], Cursor]:
    """The files of `listed` that the cursor has not seen (new, or rewritten), and the next cursor."""
    if (since := listing_since(cursor, lookback_seconds)) is not None:
        listed = [f for f in listed if f.modified > since]  # older ones were judged already
    seen = {(k, v) for k, v, _ in cursor.recent}
    fresh = [f for f in listed if (f.key, f.version) not in seen]
    watermark = max([cursor.watermark or 0.0, *(f.modified for f in listed)]) if (listed or cursor.watermark) else None
    keep_after = None if watermark is None else watermark - lookback_seconds
    recent = {(k, v, m) for k, v, m in cursor.recent if keep_after is None or m > keep_after}
    recent |= {(f.key, f.version, f.modified) for f in listed if keep_after is None or f.modified > keep_after}
    return fresh, Cursor(watermark, tuple(sorted(recent)), cursor.pending)


def listing_since(cursor: Cursor, lookback_seconds: float) -> float | None:
    """List files that appeared after this (None: everything, on the first look)."""
    return None if cursor.watermark is None else cursor.watermark - lookback_seconds


def by_day(files: list[LandedFile]) -> dict[str, list[LandedFile]]:
    days: dict[str, list[LandedFile]] = {}
    for f in files:
        days.setdefault(f.day, []).append(f)
    return days


def run_key(day: str, files: list[LandedFile]) -> str:
    """The same files (names and versions) for a day always give the same key: Dagster then
    launches the day once, however often a tick (or a restarted daemon) asks for it."""
    digest = hashlib.sha256("\n".join(sorted(f"{f.key}@{f.version}" for f in files)).encode()).hexdigest()[:16]
    return f"landing:{day}:{digest}"
