"""Checking specs, alone or against landing files (`validate-spec`), and where things are (`paths`)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from ml_assets.cli.common import _say, _spec_path, daily_partition_range
from ml_assets.core.spec import PipelineSpec, SpecError
from ml_assets.io.paths import ml_assets_home
from ml_assets.io.specs import load_spec


def _spec_summary(where, spec: PipelineSpec) -> str:
    return (
        f"{where}: ok: pipeline '{spec.name}', {spec.task.type}, {len(spec.features)} features "
        f"(+{len(spec.derived_features)} derived), {len(spec.model.candidates)} candidates, "
        f"metric {spec.model.metric}, window {spec.training.window_days} d / holdout {spec.training.holdout_days} d"
    )


def validate_all(root: Path) -> int:
    """Every model of a defs folder: one line each, all errors in full. Returns how many failed."""
    from ml_assets.io.specs import load_instance, model_folders

    folders = model_folders(root)
    if not folders:
        raise SystemExit(f"error: no <model>/defs.yaml of type MLPipeline under {root}")
    failed, names = 0, {}
    for defs_yaml in folders:
        try:
            where, spec = load_instance(defs_yaml)
        except SpecError as exc:
            failed += 1
            print(f"{defs_yaml.parent.name}: FAILED: {exc}", file=sys.stderr, flush=True)
            continue
        clash = [
            (what, value)
            for what, value in (
                ("name", spec.name),
                ("registry.model_name", spec.registered_model_name),
                ("landing.uri", spec.landing.uri),
            )
            if (what, value) in names
        ]
        if clash:
            failed += 1
            what, value = clash[0]
            print(
                f"{defs_yaml.parent.name}: FAILED: {where}: {what} '{value}' is already the {what} of the model in "
                f"{names[clash[0]]}; every model needs its own (asset keys and jobs, registered model, landing files)",
                file=sys.stderr,
                flush=True,
            )
            continue
        names.update(
            {
                ("name", spec.name): where,
                ("registry.model_name", spec.registered_model_name): where,
                ("landing.uri", spec.landing.uri): where,
            }
        )
        _say(f"{defs_yaml.parent.name}: " + _spec_summary(where, spec))
    _say(f"{len(folders) - failed}/{len(folders)} model(s) valid under {root}")
    return failed


def cmd_validate_spec(args) -> None:
    if args.all:
        from ml_assets.io.specs import SHIPPED_MODELS

        if validate_all(Path(args.path) if args.path else SHIPPED_MODELS):
            raise SystemExit(1)
        return
    path = _spec_path(args.path)
    spec = load_spec(path)
    _say(_spec_summary(path, spec))
    if args.data:
        if check_landing_sample(spec, args.sample_days):
            raise SystemExit(1)


def check_landing_sample(spec: PipelineSpec, sample_days: int) -> bool:
    """Read a sample of the landing files (up to `sample_days` days, spread over the landed range) and
    say what the spec would do to them. Moves nothing. Returns True if a problem was found."""
    from ml_assets.core.schema import describe_sample
    from ml_assets.io.landing import LandingError, landing_days, list_landing_files, read_landing_file
    from ml_assets.io.paths import landing_root

    landing = landing_root(spec)
    days = list(landing_days(landing, spec.landing.format))
    if not days:
        _say(f"data: PROBLEM: no {spec.landing.format} files under {landing}/<YYYY-MM-DD>/")
        return True
    picks = sorted(
        {days[round(i * (len(days) - 1) / max(sample_days - 1, 1))] for i in range(min(sample_days, len(days)))}
    )
    partitions = daily_partition_range(spec)
    outside = [d for d in days if partitions is None or not partitions[0] <= d <= partitions[1]]
    _say(
        f"data: {len(days)} landed day(s) {days[0]} .. {days[-1]} under {landing}; reading {len(picks)}: "
        f"{', '.join(picks)}"
    )
    if outside:
        _say(
            f"data: note: {len(outside)} landed day(s) are outside the partitions "
            f"({partitions[0] + ' .. ' + partitions[1] if partitions else 'none complete yet'}), e.g. {outside[:3]}: "
            "they will not be ingested (check partitions.start_date / end_date)"
        )
    frames, problems = {}, []
    for day in picks:
        try:
            files, _ = list_landing_files(landing, day, spec.landing.format)
            for path in files[:3]:
                frames[str(path)] = read_landing_file(path, spec.landing.format)
        except LandingError as exc:
            problems.append(str(exc))
    found, notes = describe_sample(frames, spec)
    problems += found
    for line in problems:
        _say(f"data: PROBLEM: {line}")
    for line in notes:
        _say(f"data: note: {line}")
    _say(
        "data: "
        + (
            f"{len(problems)} problem(s): fix them before ingesting (nothing was moved)"
            if problems
            else "ok: the sample would be ingested as is"
        )
    )
    return bool(problems)


def cmd_paths(args) -> None:
    from ml_assets.io.paths import landing_root, storage_root

    spec_path = _spec_path(None)
    spec = load_spec(spec_path)
    _say(f"spec:          {spec_path}")
    _say(f"ML_ASSETS_HOME {ml_assets_home()}")
    _say(f"DAGSTER_HOME   {os.environ.get('DAGSTER_HOME') or ml_assets_home() / 'dagster'}")
    _say(f"landing:       {landing_root(spec)}")
    _say(f"assets:        {storage_root() / spec.name}")
