"""Faults injected for real: kill -9 of run workers, two trainings at once. Each test states what
must hold afterwards: no run stuck, no file torn, no model promoted by a dead run, and a rerun that
succeeds. docs/faults.md lists every fault and the test that proves it."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus, RunsFilter

from ml_assets.graph.runtime.dead_runs import clean_run_leftovers, find_dead_runs
from ml_assets.graph.runtime.instance import run_worker_pid
from ml_assets.io.files import partition_path
from ml_assets.io.paths import storage_root
from ml_assets.io.registry import Registry, default_tracking_uri
from ml_assets.runner import run_days
from ml_assets_tests.conftest import (
    PROJECT_ROOT,
    VENV_BIN,
    day_keys,
    free_port,
    land_demo_days,
    model_job,
    small_demo_spec,
    start_daemon,
    start_logged,
    stop_process,
    wait_for_port,
    wait_until,
)

pytestmark = pytest.mark.faults
DAYS = day_keys(6)
# One candidate slow enough (seconds) that the run can be killed while it trains.
SLOW = {
    "candidates": [
        {
            "name": "forest",
            "estimator": "sklearn.ensemble.RandomForestClassifier",
            "params": {"n_estimators": 800, "max_depth": 12},
        },
        {
            "name": "logistic_regression",
            "estimator": "sklearn.linear_model.LogisticRegression",
            "params": {"max_iter": 500},
        },
    ]
}


def _project(tmp_path, monkeypatch, **overrides):
    """A SQLite Dagster instance with the project's dagster.yaml, ingested days, and the env the
    `dagster` CLI needs to load this spec."""
    dagster_home = tmp_path / "dagster_home"
    dagster_home.mkdir()
    shutil.copyfile(PROJECT_ROOT / "dagster.yaml", dagster_home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(dagster_home))
    spec, path = small_demo_spec(tmp_path, **overrides)
    land_demo_days(spec, DAYS)
    with DagsterInstance.get() as instance:
        run_days(spec, str(path), [("ingest_job", d) for d in DAYS], instance)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MLFLOW_"))}
    env["ML_ASSETS_SPEC"] = str(path)
    return spec, path, env


@pytest.fixture
def slow_project(home, tmp_path, monkeypatch):
    return _project(tmp_path, monkeypatch, model=SLOW)


@pytest.fixture
def project(home, tmp_path, monkeypatch):
    return _project(tmp_path, monkeypatch)


def _execute(job: str, env: dict, log: Path, day: str = DAYS[-1]) -> subprocess.Popen:
    """`dagster job execute` for `day`: the run worker is this process (no queue, no daemon)."""
    return subprocess.Popen(
        [
            str(VENV_BIN / "dagster"),
            "job",
            "execute",
            "-m",
            "ml_assets.definitions",
            "-j",
            model_job(job),
            "--tags",
            json.dumps({"dagster/partition": day}),
        ],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _children(pid: int) -> set[int]:
    """Every live descendant of `pid` (its step processes and their forkserver)."""
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        parents[int(stat.parent.name)] = int(text[text.rindex(")") + 2 :].split()[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def _training_started(instance):
    """(run id, run worker pid) once a candidate's step of the newest run has started."""
    runs = instance.get_runs(limit=1)
    if not runs:
        return None
    run_id = runs[0].run_id
    started = [
        e for e in instance.all_logs(run_id, of_type=DagsterEventType.STEP_START) if "train_" in (e.step_key or "")
    ]
    reported = run_worker_pid(instance, run_id)
    return (run_id, reported[0]) if started and reported else None


def test_a_training_killed_mid_run_does_not_promote_its_steps_die_and_a_rerun_succeeds(slow_project, tmp_path):
    spec, path, env = slow_project
    log = tmp_path / "training.log"
    registry = Registry(default_tracking_uri(), spec.name, spec.registered_model_name)
    with DagsterInstance.get() as instance:
        proc = _execute("training_job", env, log)
        run_id, worker = wait_until("a candidate step to start", lambda: _training_started(instance), 180, proc, log)
        time.sleep(0.5)  # the step processes are forked and training
        steps = _children(worker)
        assert steps, "the training run has no step processes to kill"
        os.kill(worker, signal.SIGKILL)
        proc.wait(timeout=30)

        # The step processes die with their run worker (they would otherwise finish and promote).
        wait_until("the step processes to exit", lambda: not any(_alive(p) for p in steps), 30)
        assert instance.get_run_by_id(run_id).status == DagsterRunStatus.STARTED  # what Dagster alone leaves
        assert registry.alias_version("champion") is None
        assert not _has_model(registry) or registry.versions() == []

        # Found dead, and cleaned up by the CLI, which says what it did.
        assert [d.run_id for d in find_dead_runs(instance)] == [run_id]
        out = subprocess.run(
            [str(VENV_BIN / "ml-assets"), "recover", "--spec", str(path)],
            env=env,
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert out.returncode == 0, out.stderr
        assert (
            f"run {run_id} ({model_job('training_job')}) was STARTED but its process {worker} is gone: marked FAILED"
            in out.stdout
        )
        assert "ended FAILED" in out.stdout, out.stdout
        assert instance.get_run_by_id(run_id).status == DagsterRunStatus.FAILURE
        mlflow_runs = registry.client.search_runs(
            [registry.experiment_id()], filter_string=f"tags.dagster_run_id = '{run_id}'"
        )
        assert [r.info.status for r in mlflow_runs] == ["FAILED"]
        assert find_dead_runs(instance) == []
        # Its candidate files (if any were written) stay a day for re-execution, then go; a folder of
        # a run this instance does not know is left alone.
        runs_folder = storage_root() / "_runs"
        (runs_folder / run_id / "x").mkdir(parents=True, exist_ok=True)
        (runs_folder / "not-a-run-of-this-instance").mkdir(parents=True)
        assert clean_run_leftovers(instance, runs_folder) == []
        assert len(clean_run_leftovers(instance, runs_folder, now=time.time() + 25 * 3600)) == 1
        assert sorted(p.name for p in runs_folder.iterdir()) == ["not-a-run-of-this-instance"]

        # A rerun trains and promotes: nothing the dead run held (queue tag, pool slot) is in its way.
        # Its forest is small (the big one was there to be killed, not to be waited for).
        spec_data = yaml.safe_load(path.read_text())
        spec_data["model"]["candidates"][0]["params"] = {"n_estimators": 20, "max_depth": 4}
        path.write_text(yaml.safe_dump(spec_data))
        rerun = _execute("training_job", env, log)
        assert rerun.wait(timeout=300) == 0, log.read_text()[-3000:]
        assert registry.alias_version("champion") == "1"
    # No torn or temporary file anywhere under the store.
    assert not [p for p in Path(os.environ["ML_ASSETS_HOME"]).rglob(".*.tmp")]


def _has_model(registry) -> bool:
    try:
        registry.client.get_registered_model(registry.model_name)
    except Exception:  # noqa: BLE001 - MLflow raises its own RESOURCE_DOES_NOT_EXIST
        return False
    return True


def test_two_trainings_at_once_each_compare_against_the_champion_of_their_moment(project, tmp_path):
    spec, path, env = project
    registry = Registry(default_tracking_uri(), spec.name, spec.registered_model_name)
    log = tmp_path / "trainings.log"
    # v1 first (in process), then two trainings launched together outside the queue (the CLI does not queue).
    with DagsterInstance.get() as instance:
        run_days(spec, str(path), [("training_job", DAYS[-1])], instance)
    assert registry.alias_version("champion") == "1"
    procs = [_execute("training_job", env, log) for _ in range(2)]
    assert [p.wait(timeout=400) for p in procs] == [0, 0], log.read_text()[-3000:]

    assert [v["version"] for v in registry.versions()] == ["1", "2", "3"]
    history = registry.champion_history()
    for move in history:
        if move["previous"] not in ("-", "", None):
            # Promoted only after comparing with the champion it replaced, never an older one.
            assert f"champion v{move['previous']} " in move["reason"], history
    # The later registration was compared against whatever was champion when it registered.
    decisions = []
    for version in ("2", "3"):
        run_id = registry.client.get_model_version(registry.model_name, version).run_id
        decisions.append(
            json.loads(
                Path(registry.client.download_artifacts(run_id, "promotion/decision.json", str(tmp_path))).read_text()
            )
        )
    champion_after_2 = "2" if decisions[0]["promote"] else "1"
    compared = [r["values"].get("champion_version") for r in decisions[1]["rules"] if r["name"] == "champion"]
    assert compared == [champion_after_2], decisions

    # The fence, on real records: a run that is no longer STARTED, or a champion that moved since
    # the comparison, does not promote.
    from types import SimpleNamespace

    from dagster import DagsterRun

    from ml_assets.graph.assets.promotion import fence

    with DagsterInstance.get() as instance:
        finished = instance.get_runs(limit=1)[0]
        said = fence(
            SimpleNamespace(instance=instance, run_id=finished.run_id), registry, registry.alias_version("champion")
        )
        assert said == f"this run ({finished.run_id}) is SUCCESS, not STARTED: a run marked as ended does not promote"
        alive = instance.add_run(
            DagsterRun(
                job_name=model_job("training_job"),
                run_id="f" * 8 + "-0000-0000-0000-" + "0" * 12,
                status=DagsterRunStatus.STARTED,
            )
        )
        context = SimpleNamespace(instance=instance, run_id=alive.run_id)
        champion = registry.alias_version("champion")
        assert fence(context, registry, champion) is None
        assert fence(context, registry, "1" if champion != "1" else None) == (
            f"the champion moved from {'v1' if champion != '1' else 'none'} to v{champion} while this run compared "
            "against "
            f"{'v1' if champion != '1' else 'none'}; the next training compares against v{champion}"
        )


# -- hostile input: nothing accepted silently --------------------------------------------------


def _land(spec, day: str, frame) -> None:
    from ml_assets.io.landing import write_landing_file
    from ml_assets.io.paths import landing_root

    write_landing_file(landing_root(spec), dt.date.fromisoformat(day), "events", frame, spec.landing.format)


def _stored(spec, day: str) -> pd.DataFrame:
    from ml_assets.io.paths import storage_root

    return pd.read_parquet(partition_path(storage_root() / spec.name, "raw_data", day))


def _ingest(spec, path, day, instance):
    from ml_assets.runner import JobFailed

    try:
        result = run_days(spec, str(path), [("ingest_job", day)], instance)[0]
    except JobFailed as exc:
        return str(exc)
    return {k: v.value for k, v in result.asset_materializations_for_node(f"{spec.name}__raw_data")[0].metadata.items()}


def test_duplicate_ids_fail_the_day_by_default_or_keep_one_row_per_id_when_the_spec_says_so(home, tmp_path, instance):
    from ml_assets.core.demo_data import generate_day

    day = DAYS[-1]
    frame = generate_day(dt.date.fromisoformat(day), rows=600).head(300)
    frame["customer_id"] = [f"C{i % 150:07d}" for i in range(300)]  # every id twice
    spec, path = small_demo_spec(tmp_path)
    _land(spec, day, frame)
    error = _ingest(spec, path, day, instance)
    assert "150 id(s) of column 'customer_id' appear more than once (300 rows): 'C0000000' (2x)" in error, error
    assert "events.csv row 1; events.csv row 2" in error and "landing.duplicate_ids: error" in error, error

    spec, path = small_demo_spec(tmp_path, landing={"duplicate_ids": "keep_last"})
    meta = _ingest(spec, path, day, instance)
    assert meta["duplicate_rows_left_out"] == 150
    stored = _stored(spec, day)
    assert stored["customer_id"].is_unique and len(stored) == 150
    # The kept row of each id is its latest event.
    latest = frame.assign(t=pd.to_datetime(frame["event_time"], utc=True)).groupby("customer_id")["t"].max()
    assert (stored.set_index("customer_id")["event_time"].sort_index() == latest.sort_index()).all()


def test_rows_outside_the_folders_day_are_left_out_with_a_count_or_fail_the_day(home, tmp_path, instance):
    from ml_assets.core.demo_data import generate_day

    day = DAYS[-1]
    frame = generate_day(dt.date.fromisoformat(day), rows=600).head(300)
    frame.loc[:9, "event_time"] = "2024-03-01T10:00:00Z"  # ten rows months away from the folder's day
    spec, path = small_demo_spec(tmp_path)
    _land(spec, day, frame)
    meta = _ingest(spec, path, day, instance)
    assert meta["rows_outside_day"] == 10
    stored = _stored(spec, day)
    assert len(stored) == 290 and (stored["event_time"].dt.date.astype(str) == day).all()

    spec, path = small_demo_spec(tmp_path, landing={"rows_outside_day": "error"})
    error = _ingest(spec, path, day, instance)
    assert (
        f"10 of 300 row(s) have column 'event_time' outside {day} (UTC): on 2024-03-01 (10), at events.csv row 1;"
        in error
    ), error


def test_an_oversized_text_value_is_refused_naming_file_column_and_row(home, tmp_path, instance):
    from ml_assets.core.demo_data import generate_day

    day = DAYS[-1]
    frame = generate_day(dt.date.fromisoformat(day), rows=300)
    frame["device"] = frame["device"].astype(object)
    frame.loc[41, "device"] = "x" * 5_000_000
    spec, path = small_demo_spec(tmp_path)
    _land(spec, day, frame)
    error = _ingest(spec, path, day, instance)
    assert (
        "column 'device': 1 text value(s) over landing.max_text_bytes (65536 bytes; the largest is 5000000 bytes) at "
        "data row(s) 42" in error
    ), error
    assert "xxxxxxxxxx" * 20 not in error  # the value itself is never echoed
    assert len(error) < 5000


def test_label_values_outside_the_tasks_classes_are_an_error_and_yes_no_follow_the_positive_label(
    home, tmp_path, instance
):
    from ml_assets.core.demo_data import generate_day

    day = DAYS[-1]
    frame = generate_day(dt.date.fromisoformat(day), rows=300)
    frame["churned"] = frame["churned"].map({1: "yes", 0: "no"}).astype(object)
    spec, path = small_demo_spec(tmp_path)
    _land(spec, day, frame)
    assert isinstance(_ingest(spec, path, day, instance), dict)
    stored = _stored(spec, day)
    assert stored["churned"].sum() == (frame["churned"] == "yes").sum() > 0  # yes is the positive class 1
    frame.loc[[3, 7], "churned"] = "maybe"
    _land(spec, day, frame)
    error = _ingest(spec, path, day, instance)
    assert (
        "column 'churned' (label): 2 value(s) are neither class of task.positive_label 1" in error
        and "'maybe' (2)" in error
    ), error


# -- storage faults: a full disk, a read-only folder -------------------------------------------


@pytest.fixture
def small_disk(tmp_path, monkeypatch):
    """The asset store on a 2 MB tmpfs of its own (as root; skipped where mounting is not allowed)."""
    mount = tmp_path / "store"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], capture_output=True, text=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root with CAP_SYS_ADMIN): {done.stderr.strip()}")
    monkeypatch.setenv("ML_ASSETS_STORAGE", str(mount))
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def _retries(result_or_error) -> int:
    result = result_or_error.result
    return sum(1 for e in result.all_events if e.event_type == DagsterEventType.STEP_UP_FOR_RETRY)


@pytest.mark.parametrize("fault", ["full", "read-only"])
def test_a_full_or_read_only_store_fails_the_step_at_once_and_keeps_the_earlier_output(
    home, tmp_path, instance, small_disk, fault
):
    from ml_assets.core.demo_data import generate_day
    from ml_assets.runner import JobFailed

    day = DAYS[-1]
    spec, path = small_demo_spec(tmp_path)
    land_demo_days(spec, [day])
    run_days(spec, str(path), [("ingest_job", day)], instance)
    stored = partition_path(small_disk / spec.name, "raw_data", day)
    before = stored.read_bytes()

    if fault == "full":
        filler = small_disk / "filler"
        try:  # fill the disk up to the last few bytes
            with filler.open("wb") as f:
                while True:
                    f.write(b"\0" * 4096)
                    f.flush()
        except OSError:
            pass
        reason = "no space left on the device"
    else:
        subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
        reason = "read-only file system"
    _land(spec, day, generate_day(dt.date.fromisoformat(day), rows=600, seed=99))

    started = time.monotonic()
    with pytest.raises(JobFailed, match=reason) as failed:
        run_days(spec, str(path), [("ingest_job", day)], instance)
    assert _retries(failed.value) == 0, "a permanent storage error must not be retried"
    assert time.monotonic() - started < 60
    assert f"writing {spec.name}/raw_data" in str(failed.value) and "not retried" in str(failed.value)
    assert stored.read_bytes() == before  # the earlier good output is untouched
    assert not list(small_disk.rglob(".*.tmp")), "a failed write left a temporary file"


# -- an S3 endpoint stopped mid-run and started again ------------------------------------------


def _start_proxy(port: int, target: int) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, str(Path(__file__).parent / "tcp_proxy.py"), str(port), str(target)])
    wait_for_port(port, proc)
    return proc


@pytest.mark.s3
def test_an_s3_endpoint_that_stops_mid_run_is_retried_and_named_and_the_run_succeeds_once_it_is_back(
    home, tmp_path, s3_env, monkeypatch
):
    from dagster import DagsterInstance as Instance

    from ml_assets.runner import JobFailed

    client, bucket = s3_env
    target = int(os.environ["AWS_ENDPOINT_URL"].rsplit(":", 1)[1])
    port = free_port()
    proxy = _start_proxy(port, target)  # the endpoint the code sees
    endpoint = f"http://127.0.0.1:{port}"
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    monkeypatch.setenv("ML_ASSETS_STORAGE", f"s3://{bucket}/store")
    spec, path = small_demo_spec(tmp_path, automation={"retries": {"max_retries": 3, "delay_seconds": 1}})
    land_demo_days(spec, DAYS[-2:])
    try:
        with Instance.ephemeral() as instance:
            run_days(spec, str(path), [("ingest_job", DAYS[-2])], instance)
            # The endpoint stops; it comes back once the step has failed on it and waits to retry.
            stop_process(proxy)
            proxies: list = []

            def restart_after_first_retry():
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline and not any(
                    instance.all_logs(r.run_id, of_type=DagsterEventType.STEP_UP_FOR_RETRY)
                    for r in instance.get_runs(limit=1)
                ):
                    time.sleep(0.1)
                proxies.append(_start_proxy(port, target))

            restart = threading.Thread(target=restart_after_first_retry)
            restart.start()
            result = run_days(spec, str(path), [("ingest_job", DAYS[-1])], instance)[0]
            restart.join()
            retried = [e for e in result.all_events if e.event_type == DagsterEventType.STEP_UP_FOR_RETRY]
            assert result.success and retried
            said = " ".join(str(e.event_specific_data.error) for e in retried if e.event_specific_data.error)
            assert f"the S3 endpoint {endpoint} (set by $AWS_ENDPOINT_URL) could not be reached" in said, said
            keys = {o["Key"] for o in client.list_objects_v2(Bucket=bucket, Prefix="store/")["Contents"]}
            assert f"store/{spec.name}/raw_data/{DAYS[-1]}.parquet" in keys

            # Down for good: the step gives up after the spec's retries, naming the endpoint and variable.
            stop_process(proxies[0])
            started = time.monotonic()
            with pytest.raises(JobFailed, match=r"could not be reached") as failed:
                run_days(spec, str(path), [("ingest_job", DAYS[-2])], instance)
            assert f"{endpoint} (set by $AWS_ENDPOINT_URL)" in str(failed.value)
            assert _retries(failed.value) == 3
            assert time.monotonic() - started < 120
    finally:
        for proc in [proxy, *locals().get("proxies", [])]:
            stop_process(proc)


# -- hostile model files ------------------------------------------------------------------------


def test_the_trust_list_is_exactly_what_the_shipped_pipelines_hold():
    from ml_assets.io.model_files import TRUSTED_FILE, shipped_pipeline_types

    assert shipped_pipeline_types() == json.loads(TRUSTED_FILE.read_text()), (
        "ml_assets/io/trusted_types.json is out of date: uv run python -m ml_assets.io.model_files"
    )


@pytest.mark.parametrize("payload", ["sklearn class", "function"])
def test_a_crafted_model_file_with_a_type_outside_the_trust_list_is_refused_before_loading(payload, monkeypatch):
    import skops.io as sio
    from sklearn.utils import Bunch

    from ml_assets.io.model_files import TRUSTED_ENV, UntrustedModelError, load_model_bytes

    hostile = Bunch(a=1) if payload == "sklearn class" else os.getcwd
    data = sio.dumps(
        {
            "pipelines": {},
            "selected": "x",
            "version": None,
            "metrics": {},
            "baseline_metrics": {},
            "info": {"hidden": hostile},
        }
    )
    untrusted = [t for t in sio.get_untrusted_types(data=data)]
    with pytest.raises(UntrustedModelError, match="model holds types that are not trusted") as refused:
        load_model_bytes(data, source="crafted.skops")
    assert all(t in str(refused.value) for t in untrusted) and TRUSTED_ENV in str(refused.value)
    # The opt-in is explicit: naming the type trusts it, and nothing else.
    if payload == "sklearn class":
        monkeypatch.setenv(TRUSTED_ENV, ",".join(untrusted))
        assert load_model_bytes(data, source="crafted.skops").info["hidden"] == Bunch(a=1)


# -- kill -9 of runs the daemon launched: the queue moves again --------------------------------


def _launch(job: str, day: str, env: dict, workspace: Path) -> None:
    done = subprocess.run(
        [
            str(VENV_BIN / "dagster"),
            "job",
            "launch",
            "-w",
            str(workspace),
            "-j",
            model_job(job),
            "--tags",
            json.dumps({"dagster/partition": day}),
        ],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]


def _code_server(port: int, env: dict, log: Path) -> subprocess.Popen:
    """A gRPC code server of our own, as deploy/workspace.yaml has one (a container of its own)."""
    args = [VENV_BIN / "dagster", "api", "grpc", "-m", "ml_assets.definitions", "-h", "127.0.0.1", "-p", str(port)]
    return start_logged([*args, "--location-name", "ml_assets"], env, log, port=port, timeout=120)


def _run_of(instance, day: str):
    runs = instance.get_runs(filters=RunsFilter(tags={"dagster/partition": day}))
    return runs[0] if runs else None


@pytest.mark.daemon
@pytest.mark.s3
def test_runs_killed_at_several_points_are_failed_by_the_daemon_the_queue_moves_and_a_rerun_succeeds(
    home, tmp_path, monkeypatch, s3_env, started_here
):
    dagster_home = tmp_path / "dagster_home"
    dagster_home.mkdir()
    # One run at a time: a dead run that kept its slot would stop the queue.
    config = (PROJECT_ROOT / "dagster.yaml").read_text().replace("max_concurrent_runs: 4", "max_concurrent_runs: 1")
    (dagster_home / "dagster.yaml").write_text(config)
    monkeypatch.setenv("DAGSTER_HOME", str(dagster_home))
    # The landing is in S3 behind a proxy that can hang: while it hangs, a run's raw_data step waits
    # on its read (mid-flight, at no CPU cost) until it is killed.
    _, bucket = s3_env
    target = int(os.environ["AWS_ENDPOINT_URL"].rsplit(":", 1)[1])
    port = free_port()
    proxy = started_here.append(_start_proxy(port, target))
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("ML_ASSETS_LANDING_ROOT", f"s3://{bucket}/landing")
    # No landing sensor or automation: only the runs launched here. Sensors tick every 2 s.
    spec, path = small_demo_spec(tmp_path, automation={"enabled": False, "automation_interval_seconds": 2})
    land_demo_days(spec, DAYS[:3])
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env["ML_ASSETS_SPEC"] = str(path)
    log = tmp_path / "daemon.log"
    # The daemon reaches the code through a gRPC server started here, so that the server can be killed
    # and started again at once, as a restarted container is (a code server the daemon starts itself
    # comes back only at its next workspace reload, a minute later).
    code_port = free_port()
    workspace = tmp_path / "workspace.yaml"
    workspace.write_text(
        f"load_from:\n  - grpc_server:\n      host: 127.0.0.1\n      port: {code_port}\n"
        "      location_name: ml_assets\n"
    )
    servers = [started_here.append(_code_server(code_port, env, log))]
    daemon = started_here.append(start_daemon(env, log, workspace))
    proxy.send_signal(signal.SIGUSR1)  # the landing hangs: the next two runs wait in their first step
    with DagsterInstance.get() as instance:

        def started(day: str, step: str | None):
            run = _run_of(instance, day)
            if (
                run is None
                or run.status != DagsterRunStatus.STARTED
                or (reported := run_worker_pid(instance, run.run_id)) is None
            ):
                return None
            if step and not instance.all_logs(run.run_id, of_type=DagsterEventType.STEP_START):
                return None
            return run.run_id, reported[0]

        killed = {}
        # 1. Its process killed as soon as it started: the code server that started it sees it die.
        # 2. Killed in the middle of its first step together with that code server (an OOM kill of
        #    the container, then its restart): nobody saw it die; ml-assets' dead_run_sensor finds it.
        for day, step, with_parent in ((DAYS[0], None, False), (DAYS[1], "raw_data", True)):
            _launch("ingest_job", day, env, workspace)
            run_id, pid = wait_until(
                f"the run for {day} to start", lambda d=day, s=step: started(d, s), 180, daemon, log
            )
            parent = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
            assert parent == servers[-1].pid, "the run worker is not a child of the code server"
            os.kill(pid, signal.SIGKILL)
            if with_parent:
                os.kill(parent, signal.SIGKILL)
                servers[-1].wait()
                servers.append(started_here.append(_code_server(code_port, env, log)))
            killed[day] = run_id
            wait_until(
                f"the killed run {run_id} to be marked failed",
                lambda r=run_id: instance.get_run_by_id(r).status == DagsterRunStatus.FAILURE,
                120,
                daemon,
                log,
            )
            if with_parent:
                events = [e.message for e in instance.all_logs(run_id, of_type=DagsterEventType.RUN_FAILURE)]
                assert any(f"its process {pid} is gone" in (m or "") for m in events), events
        # The landing answers again; the queue moves: the next run starts and succeeds.
        proxy.send_signal(signal.SIGUSR2)
        _launch("ingest_job", DAYS[2], env, workspace)
        wait_until(
            "the next run to succeed",
            lambda: getattr(_run_of(instance, DAYS[2]), "status", None) == DagsterRunStatus.SUCCESS,
            180,
            daemon,
            log,
        )
        # And a rerun of a killed day succeeds; its earlier attempt left nothing half-written.
        _launch("ingest_job", DAYS[1], env, workspace)
        wait_until(
            "the rerun to succeed",
            lambda: (
                _run_of(instance, DAYS[1]).run_id != killed[DAYS[1]]
                and _run_of(instance, DAYS[1]).status == DagsterRunStatus.SUCCESS
            ),
            240,
            daemon,
            log,
        )
        assert not list(Path(os.environ["ML_ASSETS_HOME"]).rglob(".*.tmp"))


# -- a live experiment's decision killed after the champion moved --------------------------------


@pytest.mark.mlflow_server
def test_a_decision_killed_after_the_champion_moved_is_finished_by_the_next_run_and_promotes_once(
    trained, tmp_path, monkeypatch, started_here
):
    """The decision run is killed (kill -9) exactly when it asks MLflow to drop the `challenger` alias,
    after `champion` moved: a real `mlflow server` over the trained project's store, behind a proxy
    that stalls on that request."""
    from ml_assets.graph.context import promotion_pool
    from ml_assets.graph.pipeline import build_definitions
    from ml_assets.graph.runtime.dead_runs import prepare_instance
    from ml_assets.io.registry import CHALLENGER, CHAMPION
    from ml_assets_tests.conftest import materialize, start_mlflow_server, write_spec

    store = Path(os.environ["ML_ASSETS_HOME"]) / "mlflow"
    server_port, proxy_port = free_port(), free_port()
    direct, through_proxy = f"http://127.0.0.1:{server_port}", f"http://127.0.0.1:{proxy_port}"
    proxy_log, run_log = tmp_path / "proxy.log", tmp_path / "decision.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MLFLOW_"))}
    started_here.append(
        start_mlflow_server(
            f"sqlite:///{store / 'mlflow.db'}", str(store / "artifacts"), server_port, env, tmp_path / "mlflow.log"
        )
    )
    stall_on = "DELETE /api/2.0/mlflow/registered-models/alias"
    proxy = started_here.append(
        subprocess.Popen(
            [sys.executable, str(Path(__file__).parent / "tcp_proxy.py"), str(proxy_port), str(server_port), stall_on],
            stdout=proxy_log.open("w"),
        )
    )
    wait_for_port(proxy_port, proxy)
    # A version waiting for a person (rollout.approval: required) and approved from the MLflow UI: v2,
    # the champion's model registered again (how it was trained is not what this test is about).
    spec, path = write_spec(
        trained.path.parent,
        rollout={"approval": "required"},
        partitions=trained.spec.partitions.model_dump(mode="json"),
    )
    registry = Registry(direct, spec.name, spec.registered_model_name)
    v1 = registry.client.get_model_version(spec.registered_model_name, "1")
    registry.client.create_model_version(
        spec.registered_model_name, v1.source, v1.run_id, model_id=v1.source.removeprefix("models:/")
    )
    registry.set_alias(CHALLENGER, "2", "awaiting approval", "test")
    registry.set_version_tags(
        "2",
        {"rollout.state": "awaiting_approval", "rollout.champion": "1", "approval": "approved", "approval.by": "carol"},
    )

    dagster_home = Path(trained.instance.root_directory)
    decision = started_here.append(
        subprocess.Popen(
            [str(VENV_BIN / "dagster"), "asset", "materialize", "-m", "ml_assets.definitions"]
            + ["--select", f"{spec.name}/rollout_decision"],
            cwd=PROJECT_ROOT,
            env={
                **env,
                "MLFLOW_TRACKING_URI": through_proxy,
                "ML_ASSETS_SPEC": str(path),
                "DAGSTER_HOME": str(dagster_home),
            },
            stdout=run_log.open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    )
    wait_until(
        "the decision to ask for the alias removal",
        lambda: "stalled on" in proxy_log.read_text(),
        120,
        decision,
        run_log,
    )
    os.killpg(decision.pid, signal.SIGKILL)
    decision.wait(timeout=30)
    # Killed mid-decision: champion moved once; the alias and a STARTED run are left behind.
    assert registry.alias_version(CHAMPION) == "2" and registry.alias_version(CHALLENGER) == "2"
    moves = registry.champion_history()
    assert [m["version"] for m in moves] == ["1", "2"] and "approved by carol" in moves[-1]["reason"]

    monkeypatch.setenv("MLFLOW_TRACKING_URI", direct)
    instance = trained.instance
    done = prepare_instance(instance, direct, [promotion_pool(spec.name)])
    assert any("marked FAILED" in line for line in done), done  # the dead run ends; its pool slot is free
    result = materialize(build_definitions(spec, str(path)), instance, ["rollout_decision"])
    assert result.success
    (event,) = result.get_asset_materialization_events()
    assert "v2 was already decided (promoted); its alias is removed" in event.materialization.metadata["reason"].value
    assert registry.alias_version(CHAMPION) == "2" and registry.alias_version(CHALLENGER) is None
    assert [m["version"] for m in registry.champion_history()] == ["1", "2"]  # promoted once, never again
    assert [e["state"] for e in registry.rollout_history()] == ["promoted"]
