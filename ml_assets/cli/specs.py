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
    from ml_assets.core.contract import day_verdict, sample_leaks
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
    frames, problems, verdicts = {}, [], []
    for day in picks:
        try:
            files, _ = list_landing_files(landing, day, spec.landing.format)
            day_frames = {}
            for path in files:
                try:
                    day_frames[path.name] = read_landing_file(path, spec.landing.format)
                except LandingError as exc:  # a file ingest would quarantine
                    problems.append(f"{day}/{path.name}: {exc}")
            frames.update({f"{day}/{name}": frame for name, frame in list(day_frames.items())[:3]})
        except LandingError as exc:
            problems.append(str(exc))
            continue
        if day_frames:
            verdicts.append(day_verdict(day_frames, spec, day))
    found, notes = describe_sample(frames, spec)
    problems += found
    for line in problems:
        _say(f"data: PROBLEM: {line}")
    for line in notes:
        _say(f"data: note: {line}")
    failing = _say_contract(verdicts, problems, sample_leaks(verdicts, spec))
    return bool(problems or failing)


def _say_contract(verdicts, problems: list[str], leaks: list[str]) -> list[str]:
    """The raw_data contract, as ingest would run it on each sampled day (blocking: a failing day is
    neither trained on nor scored): one line per failing rule, the partial days, the verdict.
    Returns the days that would fail."""
    from ml_assets.core.contract import summarize

    for line in summarize(verdicts):
        _say(f"data: CONTRACT: {line}")
    for verdict in verdicts:
        if verdict.quarantined and not verdict.failures:
            kept = verdict.files - len(verdict.quarantined)
            _say(
                f"data: PARTIAL: {verdict.day} would be ingested from {kept} of {verdict.files} files; quarantined: "
                + "; ".join(verdict.quarantined)
            )
    for line in leaks:
        _say(f"data: LEAK? {line}")
    failing = [v.day for v in verdicts if v.failures]
    if failing:
        other = f", and {len(problems)} other problem(s)" if problems else ""
        _say(
            f"data: {len(failing)} of {len(verdicts)} sampled day(s) would fail the raw_data contract{other}: fix the "
            "spec (the field is named on each line) or the files before ingesting (nothing was moved)"
        )
    elif problems:
        _say(f"data: {len(problems)} problem(s): fix them before ingesting (nothing was moved)")
    else:
        warned = f" ({len(leaks)} leakage warning(s) above)" if leaks else ""
        _say(f"data: ok: the {len(verdicts)} sampled day(s) would be ingested and pass the raw_data contract{warned}")
    return failing


def cmd_init_spec(args) -> None:
    """Write a first spec from a sample of the landed days to stdout; what was guessed to stderr."""
    import re

    import pandas as pd
    import yaml

    from ml_assets.core.draft_spec import DraftError, draft_spec
    from ml_assets.io.estimators import allowed
    from ml_assets.io.landing import LandingError, landing_days, list_landing_files, read_landing_file
    from ml_assets.io.paths import resolve_uri

    landing = resolve_uri(args.landing if "://" in args.landing else str(Path(args.landing).expanduser().resolve()))
    fmt, days = next(
        (
            (f, list(d))
            for f in ([args.format] if args.format else ["csv", "parquet"])
            if (d := landing_days(landing, f))
        ),
        (args.format or "csv", []),
    )
    if not days:
        raise SystemExit(f"error: no day folders (<YYYY-MM-DD>/*.csv or *.parquet) under {landing}")
    picks = sorted({days[round(i * (len(days) - 1) / max(args.sample_days - 1, 1))] for i in range(args.sample_days)})
    frames = []
    for day in picks:
        try:
            files, _ = list_landing_files(landing, day, fmt)
            frames += [read_landing_file(f, fmt).assign(_landing_day=day) for f in files]
        except LandingError as exc:
            print(f"init-spec: skipped {day}: {exc}", file=sys.stderr)
    if not frames:
        raise SystemExit(f"error: no file of the sampled days under {landing} could be read")
    name = args.name or re.sub(r"\W", "_", str(landing).rstrip("/").rsplit("/", 1)[-1]).strip("_") or "my_model"
    try:
        draft = draft_spec(
            pd.concat(frames, ignore_index=True),
            days,
            name=name if name[0].isalpha() else f"m_{name}",
            landing_uri=str(landing),
            fmt=fmt,
            label=args.label,
            entity_id=args.id,
            event_time=args.time,
            task=args.task,
            ranges=args.ranges,
        )
    except DraftError as exc:
        raise SystemExit(f"error: {exc}") from None
    from ml_assets.core.spec import parse_spec

    parse_spec(yaml.safe_load(draft.text), "the spec init-spec wrote", allowed())  # a SpecError here is a bug
    print(
        f"init-spec: read {len(frames)} file(s) of {len(picks)} of {len(days)} landed day(s) under {landing}",
        file=sys.stderr,
    )
    for note in draft.notes:
        print(f"init-spec: {note}", file=sys.stderr)
    sys.stdout.write(draft.text)


def cmd_paths(args) -> None:
    from ml_assets.io.paths import landing_root, storage_root

    spec_path = _spec_path(None)
    spec = load_spec(spec_path)
    _say(f"spec:          {spec_path}")
    _say(f"ML_ASSETS_HOME {ml_assets_home()}")
    _say(f"DAGSTER_HOME   {os.environ.get('DAGSTER_HOME') or ml_assets_home() / 'dagster'}")
    _say(f"landing:       {landing_root(spec)}")
    _say(f"assets:        {storage_root() / spec.name}")
