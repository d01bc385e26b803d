"""A code location of N generated models (copies of the demo spec under other names, one folder each
in an `$ML_ASSETS_DEFS` folder), for N = 1, 10 and 100:

* **load**: the definitions built in a fresh interpreter (`from ml_assets.definitions import defs;
  defs()`), beside `import dagster` alone in the same run. Targets: 100 models ≤ 15 s; one model
  ≤ 1.5× `import dagster`.
* **one tick**: every sensor evaluated once (each model's landing and labels sensors) and the code
  location's one automation condition sensor evaluated once over every model's assets, one after
  another in one process against a SQLite instance: what the daemon's tick does. Target: ≤ 10 s for
  100 models. (One automation sensor per model instead took 13.3 s for 100 models in the same
  harness; one for all, 6.2 s: so there is one.)
* **isolation**: a new day lands for one model only; the tick's run requests must all be that model's.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml

from bench.project import ROOT, cell, demo_spec_data, spread, timed_command, verdict

TICK_SCRIPT = "bench.models_tick"


def write_models(root: Path, n: int) -> list[str]:
    """`n` models in `root` (one folder each: defs.yaml + spec.yaml), named m000, m001, ..."""
    base = demo_spec_data()
    names = [f"m{i:03d}" for i in range(n)]
    for name in names:
        folder = root / name
        folder.mkdir(parents=True)
        spec = {
            **base,
            "name": name,
            "landing": {**base["landing"], "uri": f"landing/{name}"},
            "labels": {**base["labels"], "uri": f"labels/{name}"},
            "registry": {**base.get("registry", {}), "model_name": name},
            "automation": {
                **base.get("automation", {}),
                "landing_sensor_interval_seconds": 5,
                "automation_interval_seconds": 5,
            },
        }
        (folder / "spec.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
        (folder / "defs.yaml").write_text(
            "type: ml_assets.graph.component.MLPipeline\nattributes:\n  spec_file: spec.yaml\n"
        )
    return names


def run(sizes: list[int], repeats: int, log=print) -> dict:
    python = sys.executable
    out = {"sizes": {}, "import_dagster": None}
    base_env = {k: v for k, v in os.environ.items() if not k.startswith(("ML_ASSETS_", "DAGSTER_"))}
    dagster_times = []
    for size in sizes:
        tmp = Path(tempfile.mkdtemp(prefix=f"ml-assets-bench-models-{size}-"))
        try:
            write_models(tmp / "models", size)
            env = {**base_env, "ML_ASSETS_DEFS": str(tmp / "models"), "ML_ASSETS_HOME": str(tmp / "home")}
            loads = []
            for _ in range(repeats):
                dagster_times.append(timed_command([python, "-c", "import dagster"], env))
                loads.append(timed_command([python, "-c", "from ml_assets.definitions import defs; defs()"], env))
            tick = _tick(env, tmp)
            out["sizes"][size] = {"load": spread(loads), **tick}
            log(
                f"  models {size}: load {statistics.median(loads):.1f} s; tick {tick['tick_seconds']:.1f} s; "
                f"requests from {tick['requesting_models']}"
            )
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    out["import_dagster"] = spread(dagster_times)
    return out


def _tick(env: dict, tmp: Path) -> dict:
    """One tick, in a fresh process (bench/models_tick.py), after landing a day for model m000."""
    import json
    import subprocess

    (tmp / "dagster").mkdir(exist_ok=True)
    shutil.copyfile(ROOT / "dagster.yaml", tmp / "dagster" / "dagster.yaml")
    proc = subprocess.run(
        [sys.executable, "-m", TICK_SCRIPT],
        cwd=ROOT,
        env={**env, "DAGSTER_HOME": str(tmp / "dagster")},
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{TICK_SCRIPT} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def table(result: dict) -> str:
    dagster = result["import_dagster"]
    lines = [
        "| models | definitions load, s (fresh interpreter) | ÷ `import dagster` | one tick: every sensor + "
        "automation, s | sensors | run requests from |",
        "|---:|---:|---:|---:|---:|---|",
    ]
    for size, r in sorted(result["sizes"].items()):
        ratio = r["load"]["median"] / dagster["median"]
        lines.append(
            f"| {size} | {cell(r['load'], '.1f')} | {ratio:.2f}× | {r['tick_seconds']:.1f} | {r['sensors']} | "
            f"{', '.join(r['requesting_models']) or 'none'} |"
        )
    sizes = sorted(result["sizes"])
    one, most = result["sizes"][sizes[0]], result["sizes"][sizes[-1]]
    lines.append(f"\n`import dagster` alone: {cell(dagster, '.1f')} s (same run).")
    lines.append(
        f"\n- {sizes[-1]} models load in ≤ 15 s: {verdict(most['load']['median'] <= 15)} ({most['load']['median']:.1f} "
        "s)."
    )
    lines.append(
        f"- One model loads in ≤ 1.5× `import dagster`: {verdict(one['load']['median'] <= 1.5 * dagster['median'])} "
        f"({one['load']['median'] / dagster['median']:.2f}×)."
    )
    lines.append(
        f"- One tick over {sizes[-1]} models ≤ 10 s: {verdict(most['tick_seconds'] <= 10)} ({most['tick_seconds']:.1f} "
        "s)."
    )
    lines.append(
        "- A day landed for m000 requests runs for m000 only: "
        + verdict(all(r["requesting_models"] == ["m000"] for r in result["sizes"].values()))
        + "."
    )
    if len(sizes) > 1:
        growth = (most["load"]["median"] - one["load"]["median"]) / (sizes[-1] - sizes[0])
        lines.append(f"- Load time grows by about {growth * 1000:.0f} ms per model.")
    return "\n".join(lines)


if __name__ == "__main__":  # python -m bench.models 1 10 100
    sizes = [int(a) for a in sys.argv[1:]] or [1, 10, 100]
    started = time.monotonic()
    print(table(run(sizes, 3)))
    print(f"({time.monotonic() - started:.0f} s, {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC)")
