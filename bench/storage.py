"""Storage: the project's Parquet IO manager vs dagster-aws's `S3PickleIOManager`, both writing and
reading the same DataFrames (one day of features) to a real S3 HTTP endpoint on loopback (moto's
server, its own process). Throughput is the DataFrame's in-memory size (pandas `memory_usage(deep=True)`)
per second of `handle_output` / `load_input`; bytes stored are the object's size in the bucket.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

from bench.project import SMALL_WINDOW, cell, project, restore_env, spread


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _moto() -> tuple[subprocess.Popen, str]:
    exe = shutil.which("moto_server", path=str(Path(sys.executable).parent)) or shutil.which("moto_server")
    if exe is None:
        raise RuntimeError("moto_server is not installed (uv sync installs the dev group, which has it)")
    port = _free_port()
    proc = subprocess.Popen(
        [exe, "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc, f"http://127.0.0.1:{port}"
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.terminate()
                raise RuntimeError("moto_server did not start") from None
            time.sleep(0.2)


def run(sizes: list[int], repeats: int, log=print) -> list[dict]:
    import boto3
    from dagster import AssetKey, build_input_context, build_output_context
    from dagster_aws.s3 import S3PickleIOManager, S3Resource

    from ml_assets.graph.runtime.io_managers import ParquetIOManager
    from ml_assets.io.paths import resolve_uri

    proc, endpoint = _moto()
    saved = {
        k: os.environ.get(k) for k in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION")
    }
    # moto accepts any credentials; these are not secrets.
    os.environ.update(
        {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_REGION": "us-east-1",
        }
    )
    out = []
    try:
        client = boto3.client("s3", endpoint_url=endpoint)
        client.create_bucket(Bucket="bench")
        managers = {
            "ml-assets ParquetIOManager (Parquet, zstd)": ParquetIOManager(base_path=resolve_uri("s3://bench/parquet")),
            "dagster-aws S3PickleIOManager (pickle)": S3PickleIOManager(
                s3_resource=S3Resource(endpoint_url=endpoint), s3_bucket="bench", s3_prefix="pickle"
            ),
        }
        with project("storage", training=SMALL_WINDOW) as proj:
            for size in sizes:
                df = proj.features(proj.newest, size)
                mib = df.memory_usage(deep=True).sum() / 2**20
                key = AssetKey(f"features_{size}")
                results = {name: {"write": [], "read": []} for name in managers}
                for i in range(repeats):
                    for name, manager in managers.items():  # side by side, in turn
                        started = time.perf_counter()
                        manager.handle_output(build_output_context(asset_key=key), df)
                        results[name]["write"].append(time.perf_counter() - started)
                        started = time.perf_counter()
                        loaded = manager.load_input(
                            build_input_context(asset_key=key, upstream_output=build_output_context(asset_key=key))
                        )
                        results[name]["read"].append(time.perf_counter() - started)
                        if len(loaded) != len(df):
                            raise RuntimeError(f"{name} read back {len(loaded)} rows of {len(df)}")
                    log(
                        f"  storage {size:,} rows, run {i + 1}/{repeats}: "
                        + ", ".join(
                            f"{n.split()[1]} write {r['write'][-1]:.2f} s read {r['read'][-1]:.2f} s"
                            for n, r in results.items()
                        )
                    )
                sizes_stored = {}
                for name, prefix in zip(managers, ("parquet/", "pickle/"), strict=True):
                    objects = client.list_objects_v2(Bucket="bench", Prefix=prefix).get("Contents", [])
                    sizes_stored[name] = sum(o["Size"] for o in objects if str(key.path[-1]) in o["Key"])
                for name, r in results.items():
                    out.append(
                        {
                            "rows": size,
                            "manager": name,
                            "frame_mib": mib,
                            "stored_mib": sizes_stored[name] / 2**20,
                            "write": spread([mib / s for s in r["write"]]),
                            "read": spread([mib / s for s in r["read"]]),
                        }
                    )
    finally:
        restore_env(saved)
        proc.terminate()
        proc.wait(timeout=30)
    return out


def table(rows: list[dict]) -> str:
    lines = [
        "| rows | IO manager | DataFrame in memory, MiB | stored, MiB | write, MiB/s | read, MiB/s |",
        "|---:|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['rows']:,} | {r['manager']} | {r['frame_mib']:,.1f} | {r['stored_mib']:,.1f} | "
            f"{cell(r['write'], ',.0f')} | {cell(r['read'], ',.0f')} |"
        )
    return "\n".join(lines)
