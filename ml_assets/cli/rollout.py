"""Live experiments from the terminal: `approve`, `reject`, and `rollout` (where an experiment
stands). The answer is a tag on the challenger version in MLflow (the same tag a person can set in
the MLflow UI); the approval sensor sees it and rollout_decision applies it."""

from __future__ import annotations

import getpass
import os

from ml_assets.cli.common import _say, model_spec


def _open_experiment(args):
    """(registry, spec, the challenger's tags), or exit naming what is wrong."""
    from ml_assets.core.rollout import OPEN_STATES
    from ml_assets.io.experiments import challenger_tags
    from ml_assets.io.registry import Registry, RegistryError, default_tracking_uri

    spec = model_spec(args)
    registry = Registry(default_tracking_uri(), spec.name, spec.registered_model_name)
    try:
        challenger, tags = challenger_tags(registry) if registry.exists() else (None, {})
    except RegistryError as exc:
        raise SystemExit(f"error: {exc}") from None
    state = tags.get("rollout.state")
    if challenger != str(args.version) or state not in OPEN_STATES:
        now = f"v{challenger} ({state or 'not on trial'})" if challenger else "none"
        raise SystemExit(
            f"error: {registry.model_name} v{args.version} is not on trial; the challenger is {now}. "
            f"`ml-assets rollout --model {spec.name}` shows the experiment"
        )
    return registry, spec, tags


def _answer(args, answer: str) -> None:
    from ml_assets.io.provenance import utc_stamp
    from ml_assets.io.registry import RegistryError

    registry, spec, tags = _open_experiment(args)
    who = os.environ.get("ML_ASSETS_ACTOR") or getpass.getuser()
    now = utc_stamp()
    try:
        registry.set_version_tags(
            args.version,
            {"approval": answer, "approval.by": who, "approval.at": now, "approval.reason": args.reason or ""},
        )
        registry.record_rollout(
            {"version": str(args.version), "state": answer, "at": now, "by": who, "reason": args.reason or ""}
        )
    except RegistryError as exc:
        raise SystemExit(f"error: {exc}") from None
    _say(f"{registry.model_name} v{args.version}: {answer} by {who}" + (f": {args.reason}" if args.reason else ""))
    waiting = tags.get("rollout.state") == "awaiting_approval"
    if answer == "approved" and not waiting:
        _say("The experiment has not decided yet: the promotion happens once it does (no second approval needed).")
    else:
        _say(
            f"The approval sensor ({spec.name}__approval_sensor) applies it within one tick; without the daemon: "
            f"dagster asset materialize -m ml_assets.definitions --select '{spec.name}/rollout_decision'"
        )


def cmd_approve(args) -> None:
    _answer(args, "approved")


def cmd_reject(args) -> None:
    _answer(args, "rejected")


def cmd_rollout(args) -> None:
    """Where the model's experiment stands, and every decision so far."""
    from ml_assets.io.experiments import challenger_tags
    from ml_assets.io.registry import CHAMPION, Registry, RegistryError, default_tracking_uri

    spec = model_spec(args)
    registry = Registry(default_tracking_uri(), spec.name, spec.registered_model_name)
    r = spec.rollout
    _say(
        f"{registry.model_name}: rollout.mode {r.mode}"
        + (f", share {r.share:g}" if r.mode == "ab" else "")
        + f", approval {r.approval}; alpha {r.alpha:g}, min_labeled_rows {r.min_labeled_rows}, max_days {r.max_days}"
    )
    try:
        if not registry.exists():
            _say("no version registered yet")
            return
        champion, (challenger, tags) = registry.alias_version(CHAMPION), challenger_tags(registry)
        history = registry.rollout_history()
    except RegistryError as exc:
        raise SystemExit(f"error: {exc}") from None
    _say(
        f"champion: v{champion or '-'}; challenger: v{challenger or '-'} ({tags.get('rollout.state', 'no experiment')})"
    )
    if tags.get("rollout.reason"):
        _say(f"  {tags['rollout.reason']}")
    for event in history:
        _say(f"{event.get('at', '?')}  v{event['version']:<4} {event['state']:<18} {event.get('reason', '')[:160]}")
