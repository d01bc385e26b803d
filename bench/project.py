"""A throwaway project for one benchmark: its own ML_ASSETS_HOME, Dagster instance (the repo's
dagster.yaml, SQLite), local MLflow store and a spec derived from ml_assets/defs/demo/spec.yaml.

Several projects can live side by side in one process; `activate()` points the environment
(the variables the project's code reads) at one of them while its runs execute.
"""

from __future__ import annotations

import atexit
import contextlib
import datetime as dt
import functools
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
MANAGED = (
    "ML_ASSETS_HOME",
    "DAGSTER_HOME",
    "ML_ASSETS_SPEC",
    "ML_ASSETS_STORAGE",
    "ML_ASSETS_LANDING_ROOT",
    "ML_ASSETS_LABELS_ROOT",
    "MLFLOW_TRACKING_URI",
    "ML_ASSETS_EXECUTOR",
)


def restore_env(saved: dict[str, str | None]) -> None:
    """Put variables back as `saved` ({name: value, or None for unset}) had them."""
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def land_demo_day(spec, day: dt.date, rows: int, seed: int) -> None:
    """One demo file (`events.csv` or .parquet) for `day` in the spec's landing folder."""
    from ml_assets.core.demo_data import generate_day
    from ml_assets.io.landing import write_landing_file
    from ml_assets.io.paths import landing_root

    write_landing_file(landing_root(spec), day, "events", generate_day(day, rows=rows, seed=seed), spec.landing.format)


@dataclass
class Project:
    root: Path
    spec_path: Path
    spec: object = None
    _instance: object = field(default=None, repr=False)

    @property
    def env(self) -> dict[str, str]:
        """The variables a subprocess of this project needs (on top of the caller's environment)."""
        return {
            "ML_ASSETS_HOME": str(self.root / "home"),
            "DAGSTER_HOME": str(self.root / "dagster"),
            "ML_ASSETS_SPEC": str(self.spec_path),
        }

    def subprocess_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in MANAGED}
        return {**env, **self.env}

    @contextlib.contextmanager
    def activate(self) -> Iterator[Project]:
        saved = {k: os.environ.get(k) for k in MANAGED}
        for k in MANAGED:
            os.environ.pop(k, None)
        os.environ.update(self.env)
        try:
            yield self
        finally:
            restore_env(saved)

    @property
    def instance(self):
        from dagster import DagsterInstance

        if self._instance is None:
            self._instance = DagsterInstance.from_config(str(self.root / "dagster"))
        return self._instance

    @property
    def store(self) -> Path:
        """The project's asset store: <ML_ASSETS_HOME>/storage/<spec name>."""
        return self.root / "home" / "storage" / self.spec.name

    @property
    def newest(self) -> dt.date:
        from ml_assets.graph.runtime.partitions import daily_partitions

        return dt.date.fromisoformat(daily_partitions(self.spec).get_last_partition_key())

    def run(self, steps: list[tuple[str, str | None]]) -> list[float]:
        """Run (job, day) steps in process through this project's instance; the seconds of each run."""
        from ml_assets.runner import run_days

        seconds: list[float] = []
        with self.activate():
            run_days(
                self.spec,
                str(self.spec_path),
                steps,
                self.instance,
                progress=lambda i, n, job, day, result, s: seconds.append(s),
            )
        return seconds

    def land(self, day: dt.date, rows: int, seed: int = 7) -> None:
        from ml_assets.core.demo_data import generate_day
        from ml_assets.io.landing import write_landing_file
        from ml_assets.io.paths import landing_root

        with self.activate():
            write_landing_file(
                landing_root(self.spec),
                day,
                "events",
                generate_day(day, rows=rows, seed=seed),
                self.spec.landing.format,
            )

    def features(self, day: dt.date, rows: int, seed: int = 7):
        """A day of features as the features asset computes them (demo data, typed by the schema)."""
        from ml_assets.core.demo_data import landed_day
        from ml_assets.core.features import build_features

        return build_features(landed_day(day, self.spec, rows, seed), self.spec)

    def store_features(self, days: list[dt.date], rows: int) -> None:
        """Write days of features straight into the asset store (no Dagster run: a training window
        to train on, without recording those days as materialized)."""
        from upath import UPath

        from ml_assets.io.files import atomic_write_bytes, parquet_bytes

        for day in days:
            atomic_write_bytes(
                UPath(self.store / "features" / f"{day}.parquet"), parquet_bytes(self.features(day, rows))
            )

    def train_champion(self, rows: int = 2_000) -> None:
        """A champion trained on the window ending on the newest day (training_job, for real), on
        features written straight to the store."""
        window = self.spec.training.window_days
        self.store_features([self.newest - dt.timedelta(days=i) for i in range(window - 1, -1, -1)], rows)
        self.run([("training_job", self.newest.isoformat())])

    def close(self) -> None:
        if self._instance is not None:
            self._instance.dispose()
        shutil.rmtree(self.root, ignore_errors=True)


LAST_DAY_ENV = "ML_ASSETS_BENCH_LAST_DAY"  # `python -m bench --last-day D`: the projects' newest day


def demo_spec_data() -> dict:
    """The shipped demo spec as data; its partitions end on `--last-day` when one was given (the
    same days, so the same data, whatever the date), else on the newest complete day."""
    from ml_assets.io.specs import shipped_spec

    data = yaml.safe_load(shipped_spec("demo").read_text())
    if last := os.environ.get(LAST_DAY_ENV):
        data["partitions"]["end_date"] = last
    return data


@contextlib.contextmanager
def project(name: str, fresh_mlflow: bool = False, **spec_changes) -> Iterator[Project]:
    """A project whose spec is ml_assets/defs/demo/spec.yaml with `spec_changes` (top-level sections)
    replaced. Its MLflow store is a copy of a migrated empty one, unless `fresh_mlflow` (a benchmark
    that times a user's first run from an empty home)."""
    from ml_assets.io.specs import load_spec

    root = Path(tempfile.mkdtemp(prefix=f"ml-assets-bench-{name}-"))
    data = demo_spec_data()
    data.update(spec_changes)
    spec_path = root / "spec.yaml"
    spec_path.write_text(yaml.safe_dump(data))
    (root / "dagster").mkdir()
    shutil.copyfile(ROOT / "dagster.yaml", root / "dagster" / "dagster.yaml")
    if not fresh_mlflow:
        (root / "home" / "mlflow").mkdir(parents=True)
        shutil.copyfile(empty_mlflow_store(), root / "home" / "mlflow" / "mlflow.db")
    proj = Project(root, spec_path)
    try:
        with proj.activate():
            proj.spec = load_spec(spec_path)
        yield proj
    finally:
        proj.close()


@functools.cache
def empty_mlflow_store() -> Path:
    """An empty MLflow SQLite store, its schema migrated once per bench process and copied into
    each project (where ml-assets would create it): the 2-4 s of migrations are set-up, not measured."""
    from mlflow.tracking import MlflowClient

    folder = Path(tempfile.mkdtemp(prefix="ml-assets-bench-mlflow-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    MlflowClient(f"sqlite:///{folder / 'mlflow.db'}").search_experiments()
    return folder / "mlflow.db"


SMALL_WINDOW = {"window_days": 7, "holdout_days": 2}


def timed_command(cmd: list[str], env: dict) -> float:
    """Seconds of one command run as a fresh process from the project root; its output on failure."""
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
    return seconds


def timed(fn, repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        out.append(time.perf_counter() - started)
    return out


def spread(values: list[float]) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "runs": len(values)}


def cell(s: dict, fmt: str = ".2f") -> str:
    """`median (min–max)`, or the one value of a single run."""
    if s["runs"] == 1:
        return f"{s['median']:{fmt}}"
    return f"{s['median']:{fmt}} ({s['min']:{fmt}}–{s['max']:{fmt}})"


def verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"
