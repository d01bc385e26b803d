"""MLflow tracking and model registry: one MLflow run per training, versions, aliases, rollback.

Where MLflow lives: `$MLFLOW_TRACKING_URI` (a tracking server in production), else the embedded
default: a SQLite store at `$ML_ASSETS_HOME/mlflow/mlflow.db` with artifacts in
`$ML_ASSETS_HOME/mlflow/artifacts`, no server.

Aliases: `champion` is the version that serves; `challenger` the newest version the gate held back.
Every move of `champion` is recorded on the version (tags `champion.set_at/by/reason/previous`),
as a registered-model tag `champion_history.<n>` (JSON: the history the monitoring page reads) and
as a line in the registered model's description (for people reading the MLflow UI).
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ml_assets.io.mlflow_env import (
    RegistryError,
    default_tracking_uri,
    fluent_uri,
    is_transient,
    local_artifact_root,
    quiet_pip_version_warning,
)
from ml_assets.io.model_cache import ModelCache
from ml_assets.io.provenance import package_versions, utc_stamp

__all__ = [
    "CHALLENGER",
    "CHAMPION",
    "ChampionModel",
    "Registry",
    "RegistryError",
    "default_tracking_uri",
]

CHAMPION, CHALLENGER = "champion", "challenger"
# Every move of `champion` as a registered-model tag `champion_history.<n>` holding JSON (see set_alias).
HISTORY_TAG = "champion_history."
# Every decision of a live experiment (started, continuing, awaiting approval, promoted, stopped...).
ROLLOUT_TAG = "rollout_history."
_PROFILES: dict[tuple[str, str], dict] = {}  # (tracking uri, run id) -> profile; a run's artifacts never change
_MODELS: dict[tuple[str, str, str, str], ChampionModel] = {}  # (uri, model, version, run id) -> loaded model


@dataclass
class ChampionModel:
    name: str
    version: str
    pipeline: Any
    inputs: list[str] | None
    run_id: str | None
    tags: dict[str, str]


class Registry:
    def __init__(self, tracking_uri: str, experiment_name: str, model_name: str):
        from mlflow.tracking import MlflowClient

        # MLflow's client retries each HTTP call 7 times, backing off to 2 min (minutes per call)
        # before the step's own retry policy starts; bounded here unless the user chose otherwise.
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "3")
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")
        self.tracking_uri = tracking_uri
        self.experiment_name = experiment_name
        self.model_name = model_name
        self.client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)

    # -- errors ------------------------------------------------------------------------------
    def _wrap(self, what: str, exc: Exception) -> RegistryError:
        return RegistryError(
            f"MLflow at {self.tracking_uri}: {what} failed: {type(exc).__name__}: {str(exc)[:500]}", is_transient(exc)
        )

    def _call(self, what: str, fn, *args, **kwargs):
        from mlflow.exceptions import MlflowException

        try:
            return fn(*args, **kwargs)
        except (MlflowException, OSError) as exc:
            raise self._wrap(what, exc) from exc
        except Exception as exc:  # requests' ConnectionError and the like, from the REST client
            if type(exc).__module__.startswith(("requests", "urllib3", "botocore", "sqlalchemy")):
                raise self._wrap(what, exc) from exc
            raise

    # -- runs --------------------------------------------------------------------------------
    def experiment_id(self) -> str:
        exp = self._call("looking up the experiment", self.client.get_experiment_by_name, self.experiment_name)
        if exp is not None:
            return exp.experiment_id
        return self._call(
            "creating the experiment",
            self.client.create_experiment,
            self.experiment_name,
            artifact_location=local_artifact_root(self.tracking_uri),
        )

    def find_run(self, dagster_run_id: str) -> str | None:
        runs = self._call(
            "searching runs",
            self.client.search_runs,
            [self.experiment_id()],
            filter_string=f"tags.dagster_run_id = '{dagster_run_id}'",
            max_results=1,
        )
        return runs[0].info.run_id if runs else None

    def start_run(self, dagster_run_id: str, run_name: str, tags: dict[str, str]) -> str:
        """The MLflow run of a Dagster run: created once, by the one step that starts training."""
        existing = self.find_run(dagster_run_id)  # a retried step resumes its run
        if existing:
            return existing
        run = self._call(
            "creating the run",
            self.client.create_run,
            self.experiment_id(),
            run_name=run_name,
            tags={**tags, "dagster_run_id": dagster_run_id},
        )
        return run.info.run_id

    def log_dict(self, run_id: str, data: dict, artifact_file: str) -> None:
        self._call(f"logging {artifact_file}", self.client.log_dict, run_id, data, artifact_file)

    def log_text(self, run_id: str, text: str, artifact_file: str) -> None:
        self._call(f"logging {artifact_file}", self.client.log_text, run_id, text, artifact_file)

    def log_candidate(self, run_id: str, name: str, params: dict[str, Any], metrics: dict[str, float]) -> None:
        from mlflow.entities import Metric, Param

        now = int(dt.datetime.now(dt.UTC).timestamp() * 1000)
        self._call(
            f"logging candidate {name}",
            self.client.log_batch,
            run_id,
            metrics=[Metric(f"{name}.holdout_{k}", float(v), now, 0) for k, v in metrics.items()],
            params=[Param(f"{name}.{k}", str(v)[:6000]) for k, v in sorted(params.items())],
        )

    def log_metrics(self, run_id: str, metrics: dict[str, float]) -> None:
        from mlflow.entities import Metric

        now = int(dt.datetime.now(dt.UTC).timestamp() * 1000)
        self._call(
            "logging metrics",
            self.client.log_batch,
            run_id,
            metrics=[Metric(k, float(v), now, 0) for k, v in metrics.items()],
        )

    def set_run_tags(self, run_id: str, tags: dict[str, str]) -> None:
        from mlflow.entities import RunTag

        self._call("tagging the run", self.client.log_batch, run_id, tags=[RunTag(k, str(v)) for k, v in tags.items()])

    def log_artifacts(self, run_id: str, files: dict[str, bytes], artifact_path: str) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            for name, data in files.items():
                (Path(tmp) / name).write_bytes(data)
            self._call(f"uploading {artifact_path}", self.client.log_artifacts, run_id, tmp, artifact_path)

    def end_run(self, run_id: str, status: str = "FINISHED") -> None:
        self._call("ending the run", self.client.set_terminated, run_id, status)

    # -- models ------------------------------------------------------------------------------
    def log_and_register(self, run_id: str, pipeline, x_example: pd.DataFrame, tags: dict[str, str]) -> str:
        """Log the pipeline with MLflow's sklearn flavour (skops, signature, input example) and
        register it as a new version; returns the version number."""
        import mlflow
        import skops.io as sio
        from mlflow.models import infer_signature

        from ml_assets.io.model_files import untrusted_types_or_raise

        trusted = untrusted_types_or_raise(sio.dumps(pipeline), "the trained pipeline")
        example = x_example.head(5)
        output = pipeline.predict_proba(example) if hasattr(pipeline, "predict_proba") else pipeline.predict(example)
        signature = infer_signature(example, np.asarray(output))
        requirements = [
            f"{p}=={v}" for p, v in package_versions().items() if p in ("scikit-learn", "skops", "numpy", "pandas")
        ]

        def log():
            # log_model needs the run active in this process (the fluent API); leaving the block
            # marks it FINISHED, or FAILED if logging raised.
            with mlflow.start_run(run_id=run_id, log_system_metrics=False):
                info = mlflow.sklearn.log_model(
                    pipeline,
                    name="model",
                    serialization_format="skops",
                    skops_trusted_types=trusted,
                    signature=signature,
                    input_example=example,
                    pip_requirements=requirements,
                    registered_model_name=self.model_name,
                    await_registration_for=60,
                )
            return info.registered_model_version

        quiet_pip_version_warning()
        with fluent_uri(self.tracking_uri):
            version = str(self._call("logging and registering the model", log))
        self.set_version_tags(version, {k: str(v) for k, v in tags.items()})
        return version

    def read_artifact(self, run_id: str, path: str) -> str:
        with tempfile.TemporaryDirectory() as tmp:
            return Path(
                self._call(f"reading {path} of run {run_id}", self.client.download_artifacts, run_id, path, tmp)
            ).read_text()

    def version_tags(self, version: str) -> tuple[str, dict[str, str]]:
        """(run id, tags) of a registered version."""
        mv = self._call(f"reading version {version}", self.client.get_model_version, self.model_name, str(version))
        return mv.run_id, dict(mv.tags)

    def alias_version(self, alias: str) -> str | None:
        from mlflow.exceptions import MlflowException

        def get() -> str | None:
            try:
                return str(self.client.get_model_version_by_alias(self.model_name, alias).version)
            except MlflowException as exc:
                if "RESOURCE_DOES_NOT_EXIST" in str(exc.error_code) or "not found" in str(exc).lower():
                    return None  # no such alias (or model) yet: not an error
                raise

        return self._call(f"looking up alias {alias}", get)

    def load_version(self, version: str) -> ChampionModel:
        """The registered version's pipeline. Loaded once per process, and from the local ModelCache
        when a process had it before: a version's model files never change. The key holds the
        version's run id, so a re-created registered model with the same number is loaded anew."""
        import mlflow

        from ml_assets.io.model_files import untrusted_types_or_raise

        uri = f"models:/{self.model_name}/{version}"
        mv = self._call("reading the model version", self.client.get_model_version, self.model_name, version)
        key = (self.tracking_uri, self.model_name, str(version), mv.run_id)
        if key not in _MODELS:
            cache = ModelCache()
            if (cached := cache.get(key)) is None:
                with fluent_uri(self.tracking_uri):
                    info = self._call(f"reading {uri}", mlflow.models.get_model_info, uri)
                    # The trusted-types list travels in the model's own metadata: check it against our policy
                    # before skops loads anything, so a tampered MLmodel file cannot widen it.
                    untrusted_types_or_raise(
                        None, uri, declared=info.flavors["sklearn"].get("skops_trusted_types") or []
                    )
                    pipeline = self._call(f"loading {uri}", mlflow.sklearn.load_model, uri)
                cached = pipeline, info.signature.inputs.input_names() if info.signature is not None else None
                cache.put(key, *cached)
            _MODELS[key] = ChampionModel(self.model_name, str(version), cached[0], cached[1], mv.run_id, {})
        model = _MODELS[key]
        return ChampionModel(model.name, model.version, model.pipeline, model.inputs, mv.run_id, dict(mv.tags))

    def champion(self) -> ChampionModel | None:
        version = self.alias_version(CHAMPION)
        return None if version is None else self.load_version(version)

    def champion_profile(self) -> tuple[str, dict] | None:
        """(version, training reference profile) of the champion, or None without a champion."""
        version = self.alias_version(CHAMPION)
        return None if version is None else (version, self.profile(version))

    def profile(self, version: str) -> dict:
        """A registered version's training reference profile (`reference/profile.json` of its run)."""
        run_id = self._call("reading the model version", self.client.get_model_version, self.model_name, version).run_id
        key = (self.tracking_uri, run_id)
        if key not in _PROFILES:
            with tempfile.TemporaryDirectory() as tmp:
                local = self._call(
                    "downloading the reference profile",
                    self.client.download_artifacts,
                    run_id,
                    "reference/profile.json",
                    tmp,
                )
                _PROFILES[key] = json.loads(Path(local).read_text())
        return _PROFILES[key]

    def set_alias(self, alias: str, version: str, reason: str, actor: str) -> str | None:
        """Point `alias` at `version`, recording who, when and why. Returns the previous version."""
        previous = self.alias_version(alias)
        self._call(f"setting alias {alias}", self.client.set_registered_model_alias, self.model_name, alias, version)
        if alias == CHAMPION:
            now = utc_stamp()
            for k, v in {"set_at": now, "set_by": actor, "reason": reason, "previous": previous or "none"}.items():
                self._call(
                    "tagging the model version",
                    self.client.set_model_version_tag,
                    self.model_name,
                    version,
                    f"champion.{k}",
                    v[:5000],
                )
            # The history, as data: one registered-model tag per move, numbered in order.
            event = {"at": now, "previous": previous or "-", "version": str(version), "by": actor, "reason": reason}
            model = self._append_event(HISTORY_TAG, event, 4000)
            # And for people reading the model's page in the MLflow UI, a line of text.
            line = f"{now} champion v{previous or '-'} -> v{version} by {actor}: {reason}"
            history = ((model.description or "").rstrip() + "\n" + line).strip()[-20000:]
            self._call(
                "describing the change", self.client.update_registered_model, self.model_name, description=history
            )
        return previous

    def rollback(self, version: str, reason: str, actor: str | None = None) -> str | None:
        versions = {
            str(mv.version)
            for mv in self._call("listing versions", self.client.search_model_versions, f"name='{self.model_name}'")
        }
        if str(version) not in versions:
            raise RegistryError(
                f"model {self.model_name} has no version {version}; versions: {sorted(versions, key=int)}"
            )
        current = self.alias_version(CHAMPION)
        if current == str(version):
            return current  # already serving: nothing to move, nothing to record
        actor = actor or os.environ.get("ML_ASSETS_ACTOR") or getpass.getuser()
        return self.set_alias(CHAMPION, str(version), f"rollback: {reason}", actor)

    def champion_history(self) -> list[dict[str, str]]:
        """Every move of `champion` recorded by `set_alias`, oldest first: at, previous, version, by,
        reason, kind (promotion | rollback)."""
        events = self._events(HISTORY_TAG)
        return [{**e, "kind": "rollback" if e["reason"].startswith("rollback:") else "promotion"} for e in events]

    # -- live experiments (rollout) -------------------------------------------------------------
    def set_version_tags(self, version: str, tags: dict[str, str]) -> None:
        for k, v in tags.items():
            self._call("tagging", self.client.set_model_version_tag, self.model_name, str(version), k, str(v))

    def delete_alias(self, alias: str) -> None:
        if self.alias_version(alias) is not None:
            self._call(f"removing alias {alias}", self.client.delete_registered_model_alias, self.model_name, alias)

    def record_rollout(self, event: dict[str, Any]) -> None:
        """One decision of an experiment, kept in order on the registered model."""
        self._append_event(ROLLOUT_TAG, event, 1500)

    def rollout_history(self) -> list[dict[str, Any]]:
        return self._events(ROLLOUT_TAG)

    def _append_event(self, prefix: str, event: dict[str, Any], longest: int):
        """`event` as the registered model's next tag `<prefix><n>` (JSON, texts cut to `longest`);
        returns the registered model as read before."""
        model = self._call("reading the registered model", self.client.get_registered_model, self.model_name)
        number = 1 + sum(1 for k in (model.tags or {}) if k.startswith(prefix))
        data = json.dumps({k: v[:longest] if isinstance(v, str) else v for k, v in event.items()})
        self._call(
            "recording the event", self.client.set_registered_model_tag, self.model_name, f"{prefix}{number:06d}", data
        )
        return model

    def _events(self, prefix: str) -> list[dict[str, Any]]:
        model = self._call("reading the registered model", self.client.get_registered_model, self.model_name)
        return [json.loads(v) for k, v in sorted((model.tags or {}).items()) if k.startswith(prefix)]

    def delete_version(self, version: str) -> None:
        self._call(f"deleting version {version}", self.client.delete_model_version, self.model_name, str(version))

    def exists(self) -> bool:
        """Whether the registered model exists yet (it does once a first version is registered)."""
        found = self._call("finding the model", self.client.search_registered_models, f"name = '{self.model_name}'")
        return any(m.name == self.model_name for m in found)

    def versions(self) -> list[dict[str, Any]]:
        model = self._call("reading the registered model", self.client.get_registered_model, self.model_name)
        aliases: dict[str, list[str]] = {}
        for alias, v in (model.aliases or {}).items():
            aliases.setdefault(str(v), []).append(alias)
        rows = []
        for mv in self._call("listing versions", self.client.search_model_versions, f"name='{self.model_name}'"):
            rows.append(
                {
                    "version": str(mv.version),
                    "aliases": sorted(aliases.get(str(mv.version), [])),
                    "created": dt.datetime.fromtimestamp(mv.creation_timestamp / 1000, dt.UTC).strftime(
                        "%Y-%m-%d %H:%M"
                    ),
                    "created_ms": int(mv.creation_timestamp),
                    "run_id": mv.run_id,
                    "tags": dict(mv.tags),
                }
            )
        return sorted(rows, key=lambda r: int(r["version"]))
