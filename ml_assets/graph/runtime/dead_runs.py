"""Runs whose process died without a word: kill -9, the OOM killer, a reboot.

Dagster's run monitoring (dagster.yaml, `run_monitoring`) fails runs that never start or never
finish cancelling, and asks the run launcher whether a run's worker is healthy. The run launcher of
the embedded default and of docker-compose (DefaultRunLauncher) cannot answer, so a killed run would
stay STARTED forever, hold its queue slot (and the one-training-per-model slot) and leave its MLflow
run RUNNING. Here the run worker's pid, which Dagster records in the run's event log, is checked on
the machine that started it: a run whose process is gone (or whose pid now belongs to a later
process) is marked FAILED, its pool slots are freed and its MLflow runs are ended FAILED.

A pid means something only on the machine the run ran on: each run is tagged with its host
(`ml_assets/host`, by the IO managers as its steps start), and only runs of this host are judged
(runs without the tag only on the embedded default's SQLite instance, one machine by construction).

Called by the `dead_run_sensor` (at the spec's automation interval where the daemon runs: sensors
are evaluated by the code server, the process that starts the run workers) and by the `ml-assets`
CLI (`recover`, and `run` before it runs anything).
With a launcher that can check its workers (Kubernetes, ECS, Docker) nothing is done here: Dagster's
own run monitoring handles those.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from dagster import DagsterRunStatus, RunsFilter

from ml_assets.graph.runtime.instance import ensure_pool_limit, free_pool_slots, run_worker_pid
from ml_assets.io.files import remove_tree
from ml_assets.io.registry import Registry, RegistryError, default_tracking_uri

IN_FLIGHT = [DagsterRunStatus.STARTED, DagsterRunStatus.CANCELING]
# The machine a run's steps execute on: a pid means something only there.
HOST_TAG = "ml_assets/host"
_TAGGED: set[str] = set()


def record_host(context) -> None:
    """Tag the run with this machine's name, once per process and run (called where every step
    starts: the IO managers' factories)."""
    run = getattr(context, "run", None)
    instance = getattr(context, "instance", None)
    if run is None or instance is None or run.run_id in _TAGGED:
        return
    _TAGGED.add(run.run_id)
    if run.tags.get(HOST_TAG) != socket.gethostname():
        instance.add_run_tags(run.run_id, {HOST_TAG: socket.gethostname()})


def _judged_here(instance, run) -> bool:
    """Whether this machine can judge the run's pid: the run ran here, or it carries no host and the
    instance is the embedded default (SQLite: one machine by construction)."""
    host = run.tags.get(HOST_TAG)
    if host is not None:
        return host == socket.gethostname()
    return type(instance.run_storage).__name__ in ("SqliteRunStorage", "InMemoryRunStorage")


@dataclass(frozen=True)
class DeadRun:
    run_id: str
    job_name: str
    pid: int
    status: DagsterRunStatus

    def describe(self) -> str:
        return f"run {self.run_id} ({self.job_name}) was {self.status.value} but its process {self.pid} is gone"


def _boot_time() -> float | None:
    try:
        for line in Path("/proc/stat").read_text().splitlines():
            if line.startswith("btime "):
                return float(line.split()[1])
    except OSError:
        pass
    return None


def process_alive(pid: int, since: float) -> bool:
    """Whether process `pid` runs and is the one that reported itself at `since`: a pid the system
    gave to a later process, or a zombie, is not."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    except OSError:  # no /proc (macOS): existence only
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    fields = text[text.rindex(")") + 2 :].split()
    if fields[0] in ("Z", "X"):
        return False
    boot = _boot_time()
    if boot is None:
        return True
    started = boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")
    return started <= since + 2.0


def find_dead_runs(instance) -> list[DeadRun]:
    if instance.run_launcher.supports_check_run_worker_health:
        return []  # Dagster's run monitoring asks the launcher itself
    dead = []
    for run in instance.get_runs(filters=RunsFilter(statuses=IN_FLIGHT)):
        if not _judged_here(instance, run):
            continue
        reported = run_worker_pid(instance, run.run_id)
        if reported is None or process_alive(*reported):
            continue
        # The process is gone; a run that ended normally said so before exiting.
        current = instance.get_run_by_id(run.run_id)
        if current is not None and current.status in IN_FLIGHT:
            dead.append(DeadRun(run.run_id, run.job_name, reported[0], current.status))
    return dead


def clean_up_dead_runs(instance, tracking_uri: str | None) -> list[str]:
    """Mark each dead run FAILED (CANCELED if it was being cancelled), free its pool slots and end
    its MLflow runs FAILED. One line per thing done, for the log or the terminal."""
    done = []
    for dead in find_dead_runs(instance):
        run = instance.get_run_by_id(dead.run_id)
        message = f"ml-assets: {dead.describe()} (killed, or its machine stopped); marked as ended."
        if dead.status == DagsterRunStatus.CANCELING:
            instance.report_run_canceled(run, message=message)
        else:
            instance.report_run_failed(run, message=message)
        free_pool_slots(instance, dead.run_id)
        line = f"{dead.describe()}: marked {'CANCELED' if dead.status == DagsterRunStatus.CANCELING else 'FAILED'}"
        try:
            ended = end_runs_of(tracking_uri, dead.run_id)
        except RegistryError as exc:
            line += f"; its MLflow runs could not be ended: {exc}"
        else:
            line += f"; MLflow run(s) {', '.join(ended)} ended FAILED" if ended else ""
        done.append(line)
    return done


# A training run's candidates live under <store>/_runs/<run id>/ between its steps; a successful run
# removes them once one is registered. A failed run's stay this long after it ended, for Dagster's
# "re-execute from failure", then go.
LEFTOVER_SECONDS = 24 * 3600


def clean_run_leftovers(instance, runs_folder, now: float | None = None) -> list[str]:
    """Remove `<store>/_runs/<run id>/` of runs of this instance that ended over a day ago. Folders of
    runs this instance does not know (another instance sharing the store) are left alone."""
    try:
        if not runs_folder.exists():
            return []
        folders = {f.name: f for f in runs_folder.iterdir() if f.is_dir()}
    except OSError:
        return []
    if not folders:
        return []
    cutoff = (now or time.time()) - LEFTOVER_SECONDS
    done = []
    for record in instance.get_run_records(filters=RunsFilter(run_ids=sorted(folders))):
        if record.dagster_run.is_finished and record.end_time is not None and record.end_time < cutoff:
            if remove_tree(folders[record.dagster_run.run_id]) is not False:
                done.append(
                    f"removed the candidate files of run {record.dagster_run.run_id} "
                    f"({record.dagster_run.status.value}, ended over a day ago)"
                )
    return done


def prepare_instance(instance, tracking_uri: str | None, pools: list[str], runs_folder=None) -> list[str]:
    """What the sensor and the CLI do first: clean up dead runs; give each model's promotion pool
    its limit of 1 where the instance's dagster.yaml sets no default; remove old runs' leftovers."""
    done = clean_up_dead_runs(instance, tracking_uri)
    if runs_folder is not None:
        done += clean_run_leftovers(instance, runs_folder)
    done += [
        f"pool {pool}: limit set to 1 (one registering step at a time)"
        for pool in pools
        if ensure_pool_limit(instance, pool)
    ]
    return done


def end_runs_of(tracking_uri: str | None, dagster_run_id: str, status: str = "FAILED") -> list[str]:
    """End (FAILED) the MLflow runs of any experiment that a Dagster run left RUNNING: a killed run
    cannot end its own. Returns their ids."""
    registry = Registry(tracking_uri or default_tracking_uri(), "", "")
    client = registry.client
    experiments = [e.experiment_id for e in registry._call("listing experiments", client.search_experiments)]
    if not experiments:
        return []
    runs = registry._call(
        "searching runs",
        client.search_runs,
        experiments,
        filter_string=f"tags.dagster_run_id = '{dagster_run_id}' and attributes.status = 'RUNNING'",
    )
    for run in runs:
        registry._call("ending a run", client.set_terminated, run.info.run_id, status)
    return [run.info.run_id for run in runs]
