"""A live experiment's state in the MLflow registry: the challenger version's `rollout.*` tags and
the registered model's rollout history. What training, scoring, the decision, the approval sensor
and the CLI read and write (`docs/rollouts.md`)."""

from __future__ import annotations

from ml_assets.io.provenance import utc_stamp
from ml_assets.io.registry import CHALLENGER, Registry


def challenger_tags(registry: Registry) -> tuple[str | None, dict[str, str]]:
    """(the `challenger` version or None, its tags)."""
    version = registry.alias_version(CHALLENGER)
    return version, (registry.version_tags(version)[1] if version else {})


def set_rollout_state(
    registry: Registry, version: str, state: str, reason: str, actor: str, tags: dict | None = None, **numbers
) -> None:
    """`version`'s new experiment state and reason (with any other `tags`), and the same as the next
    event of the model's rollout history (with the decision's `numbers`)."""
    registry.set_version_tags(version, {"rollout.state": state, "rollout.reason": reason, **(tags or {})})
    registry.record_rollout(
        {"version": version, "state": state, "at": utc_stamp(), "by": actor, "reason": reason, **numbers}
    )
