"""docker-compose.yml, the Dockerfile and deploy/: what can be checked without a Docker engine.

The same topology runs as processes in test_production.py; here the files themselves: compose
validates, services start in order behind health checks, every setting the production instance
reads is given to every process that loads it, secrets come only from the env file, and the UIs
listen on localhost unless told otherwise."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
import yaml

from ml_assets.graph.runtime.executors import ExecutorConfigError, executors_from_env
from ml_assets_tests.conftest import PROJECT_ROOT

COMPOSE = PROJECT_ROOT / "docker-compose.yml"
ENV_EXAMPLE = PROJECT_ROOT / ".env.example"
# The processes that load deploy/dagster.yaml (directly or as run workers).
INSTANCE_USERS = ("user-code", "webserver", "daemon", "celery-worker")


def _compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def _env_example() -> dict[str, str]:
    pairs = (line.split("=", 1) for line in ENV_EXAMPLE.read_text().splitlines() if line and not line.startswith("#"))
    return {k: v for k, v in pairs}


def _compose_cli() -> list[str]:
    if shutil.which("docker") and subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    pytest.skip(
        "neither the docker compose plugin nor docker-compose is installed (.ci/run installs Debian's docker-compose)"
    )


def test_compose_file_validates_and_names_a_missing_secret(tmp_path):
    cli = _compose_cli()
    for profile in ([], ["--profile", "celery"], ["--profile", "serving"]):
        proc = subprocess.run(
            [*cli, "--env-file", str(ENV_EXAMPLE), *profile, "config", "-q"],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
        )
        assert proc.returncode == 0, proc.stderr
    # Without an env file, compose refuses to start and says which secret to set, and where.
    shutil.copyfile(COMPOSE, tmp_path / "docker-compose.yml")
    proc = subprocess.run(
        [*cli, "config", "-q"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin:/usr/local/bin"},
    )
    assert proc.returncode != 0 and "set POSTGRES_" in proc.stderr and ".env" in proc.stderr


def test_services_start_in_order_behind_health_checks():
    services = _compose()["services"]
    assert {"postgres", "minio", "buckets", "mlflow", "user-code", "webserver", "daemon"} <= set(services)
    assert {name for name, s in services.items() if "celery" in s.get("profiles", [])} == {"redis", "celery-worker"}
    for name, service in services.items():
        for dep, how in service.get("depends_on", {}).items():
            assert dep in services, f"{name} depends on unknown {dep}"
            if how["condition"] == "service_healthy":
                assert "healthcheck" in services[dep], (
                    f"{name} waits for {dep} to be healthy, which has no health check"
                )
    assert services["user-code"]["depends_on"]["buckets"]["condition"] == "service_completed_successfully"
    for name in ("webserver", "daemon"):
        assert services[name]["depends_on"]["user-code"]["condition"] == "service_healthy"
        assert "deploy/workspace.yaml" in services[name]["command"]
    assert services["user-code"]["command"][:3] == ["dagster", "code-server", "start"]
    assert all(services[name].get("init") for name in ("mlflow", *INSTANCE_USERS))
    assert "deploy/celery.yaml" in services["celery-worker"]["command"]


def test_every_setting_the_production_files_read_is_given():
    services = _compose()["services"]
    needed = set()
    for name in ("dagster.yaml", "workspace.yaml", "celery.yaml"):
        needed |= set(re.findall(r"\{env: (\w+)\}", (PROJECT_ROOT / "deploy" / name).read_text()))
    assert {"DAGSTER_PG_PASSWORD", "DAGSTER_CODE_SERVER_HOST", "ML_ASSETS_CELERY_BROKER"} <= needed
    for name in INSTANCE_USERS:
        missing = needed - set(services[name]["environment"])
        assert not missing, f"{name} lacks {sorted(missing)}"
    # The buckets the services write to are the ones created at start.
    env = services["user-code"]["environment"]
    created = set(re.findall(r"local/([\w-]+)", services["buckets"]["command"][0]))
    used = {
        env["ML_ASSETS_STORAGE"].split("/")[2],
        env["DAGSTER_COMPUTE_LOGS_BUCKET"],
        re.search(r"s3://([\w-]+)/", " ".join(services["mlflow"]["command"])).group(1),
    }
    assert used <= created, (used, created)
    dockerfile = (PROJECT_ROOT / "Dockerfile").read_text()
    assert (
        "uv sync --locked --no-dev" in dockerfile
        and 'cp deploy/dagster.yaml "$DAGSTER_HOME/dagster.yaml"' in dockerfile
    )


def test_secrets_come_from_the_env_file_and_uis_listen_on_localhost():
    text = COMPOSE.read_text()
    example = _env_example()
    referenced = set(re.findall(r"\$\{(\w+)", text))
    assert referenced <= set(example), f"not in .env.example: {sorted(referenced - set(example))}"
    for secret in ("POSTGRES_PASSWORD", "MINIO_ROOT_PASSWORD"):
        assert example[secret].startswith("CHANGE-ME")
        assert re.search(rf"\$\{{{secret}:\?", text), f"{secret} must be required, not defaulted"
    assert ".env" in (PROJECT_ROOT / ".gitignore").read_text().split()
    assert example["ML_ASSETS_BIND"] == "127.0.0.1"
    for name, service in _compose()["services"].items():
        for port in service.get("ports", []):
            assert port.startswith("${ML_ASSETS_BIND:-127.0.0.1}:"), f"{name} publishes {port} on every interface"


def test_executor_setting_errors_name_the_variable():
    daily, training = executors_from_env({})
    assert daily.name == "in_process" and training.name == "parallel_steps"
    urls = {"ML_ASSETS_CELERY_BROKER": "redis://x:6379/0", "ML_ASSETS_CELERY_BACKEND": "redis://x:6379/0"}
    # `celery`: training steps on the workers, daily steps in their run's process; `celery_all`: every step.
    daily, training = executors_from_env({"ML_ASSETS_EXECUTOR": "celery", **urls})
    assert daily.name == "in_process" and training.name == "celery"
    daily, training = executors_from_env({"ML_ASSETS_EXECUTOR": "celery_all", **urls})
    assert daily.name == training.name == "celery"
    with pytest.raises(
        ExecutorConfigError,
        match="ML_ASSETS_EXECUTOR=celery needs ML_ASSETS_CELERY_BROKER and ML_ASSETS_CELERY_BACKEND",
    ):
        executors_from_env({"ML_ASSETS_EXECUTOR": "celery"})
    with pytest.raises(ExecutorConfigError, match="ML_ASSETS_EXECUTOR='k8s' is not an executor"):
        executors_from_env({"ML_ASSETS_EXECUTOR": "k8s"})
