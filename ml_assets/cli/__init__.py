"""`ml-assets`: what Dagster's own CLI does not do.

    ml-assets demo [--model demo|diabetes|breast_cancer] [--days N] [--rows-per-day N] [--last-day DAY]
    ml-assets init-spec LANDING --label COL [--id COL] [--time COL] [--task T] [--ranges] > my-spec.yaml
    ml-assets run [--spec PATH] [--from D1] [--to D2] [--train-on D] [--no-train] [--no-score] [--score-all]
                  [--force] [--keep-going]
    ml-assets init
    ml-assets generate [--days N] [--rows-per-day N] [--drift-from DAY] [--flip-labels-from DAY] [--last-day DAY]
    ml-assets land-sklearn diabetes|breast_cancer [--days N]
    ml-assets validate-spec [PATH|MODEL] [--data [--sample-days N]] | --all [DEFS FOLDER]
    ml-assets paths
    ml-assets rollback --to VERSION --reason TEXT [--model NAME]
    ml-assets models [--model NAME]
    ml-assets recover [--model NAME]
    ml-assets reproduce --version N [--model NAME]
    ml-assets retention [--dry-run]
    ml-assets mlflow-ui [--port 5000]
    ml-assets ui

Everything runs on the embedded default unless the environment says otherwise:
$ML_ASSETS_HOME (default ./.ml_assets) holds landing files, assets, reports and the Dagster
instance ($DAGSTER_HOME, default $ML_ASSETS_HOME/dagster). `--spec` takes a spec file or the name of
a model folder (`--spec breast_cancer`); `--model` a model of the code location by its name.
"""

from __future__ import annotations

import argparse
import os

from ml_assets.cli.common import DEMO_MODELS, ensure_dagster_home  # noqa: F401
from ml_assets.cli.history import (  # noqa: F401 (importable from ml_assets.cli)
    DEMO_EXTRA_DAYS,
    cmd_demo,
    cmd_generate,
    cmd_init,
    cmd_land_sklearn,
    cmd_run,
    land_sklearn,
    run_range,
    write_demo_days,
)
from ml_assets.cli.operate import (
    cmd_lookup,
    cmd_mlflow_ui,
    cmd_models,
    cmd_recover,
    cmd_reproduce,
    cmd_retention,
    cmd_rollback,
    cmd_ui,
)
from ml_assets.cli.rollout import cmd_approve, cmd_reject, cmd_rollout
from ml_assets.cli.specs import check_landing_sample, cmd_init_spec, cmd_paths, cmd_validate_spec  # noqa: F401
from ml_assets.core.spec import SpecError

SPEC_HELP = "spec file or model name (default: $ML_ASSETS_SPEC, else demo)"
MODEL_HELP = "a model of the code location, by its name (its spec's `name`, or its folder under the defs folder)"


def _history_commands(sub) -> None:
    p = sub.add_parser("demo", help="generate demo data and materialize the whole graph (runs show in the UI)")
    p.add_argument(
        "--model",
        "--dataset",
        dest="model",
        choices=DEMO_MODELS,
        help="one model only (default: all of them, side by side in one code location)",
    )
    p.add_argument("--spec", help="spec file for --model (default: ml_assets/defs/<model>/spec.yaml)")
    p.add_argument(
        "--days", type=int, help=f"days of data (default: the spec's training window, + {DEMO_EXTRA_DAYS} for the demo)"
    )
    p.add_argument("--rows-per-day", type=int, default=2000)
    p.add_argument("--last-day", help="YYYY-MM-DD: the demo's newest day (default: the newest complete day)")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser(
        "run", help="your own history: ingest a day range, train as of a day, score, report (with progress)"
    )
    p.add_argument("--spec", help=SPEC_HELP)
    p.add_argument(
        "--from", dest="from_day", metavar="D1", help="first day, YYYY-MM-DD (default: the first landed day)"
    )
    p.add_argument(
        "--to", dest="to_day", metavar="D2", help="last day (default: the last landed day within the partitions)"
    )
    p.add_argument("--train-on", metavar="D", help="train on the window ending D (default: --to)")
    p.add_argument(
        "--no-train",
        action="store_true",
        help="do not train: ingest and score the days after the newest scored day with the current champion",
    )
    p.add_argument("--no-score", action="store_true", help="do not score")
    p.add_argument(
        "--score-all",
        action="store_true",
        help="also score the days before the training day (in-sample: the model was fitted on them)",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="re-ingest days that already have output, and re-score every re-ingested day that had predictions "
        "(not with --no-score: a day's predictions never outlive the rows they were made from)",
    )
    p.add_argument(
        "--keep-going",
        action="store_true",
        # 5: runner.STOP_AFTER (not imported here: the CLI's start stays free of Dagster's import)
        help="run every day even when the same rule fails on 5 days in a row (by default the run stops there: the "
        "spec, not the data, looks wrong)",
    )
    p.set_defaults(func=cmd_run)


def _data_commands(sub) -> None:
    p = sub.add_parser("init", help="create the Dagster instance folder ($DAGSTER_HOME) so `dagster ...` commands work")
    p.set_defaults(func=cmd_init)

    p = sub.add_parser("generate", help="write demo landing files only")
    p.add_argument("--spec", help=SPEC_HELP)
    p.add_argument("--days", type=int, default=28)
    p.add_argument("--rows-per-day", type=int, default=2000)
    p.add_argument("--last-day", help="YYYY-MM-DD (default: the newest complete day)")
    p.add_argument("--drift-from", help="YYYY-MM-DD: inject drift from this day onward")
    p.add_argument(
        "--flip-labels-from", help="YYYY-MM-DD: invert the label from this day onward (realized quality drops)"
    )
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser("land-sklearn", help="cut a dataset bundled with scikit-learn into daily landing files")
    p.add_argument("dataset", choices=["breast_cancer", "diabetes"])
    p.add_argument("--spec", help="spec file (default: ml_assets/defs/<dataset>/spec.yaml)")
    p.add_argument("--days", type=int, default=14)
    p.add_argument("--last-day", help="YYYY-MM-DD (default: the newest complete day)")
    p.set_defaults(func=cmd_land_sklearn)

    p = sub.add_parser(
        "validate-spec", help="load and validate a pipeline spec (--data: and what it does to the landing files)"
    )
    p.add_argument(
        "path",
        nargs="?",
        help="a spec file or a model's name (default: $ML_ASSETS_SPEC, else demo); with --all, a defs folder",
    )
    p.add_argument(
        "--all",
        action="store_true",
        help="every model of the defs folder (ml_assets/defs/): for CI; exits 1 if any is invalid",
    )
    p.add_argument(
        "--data",
        action="store_true",
        help="also read a sample of the landing files and report what the spec would do to them",
    )
    p.add_argument(
        "--sample-days", type=int, default=5, help="days of landing files to read with --data (spread over the range)"
    )
    p.set_defaults(func=cmd_validate_spec)

    p = sub.add_parser("paths", help="print where the spec, landing files, assets and instance are")
    p.set_defaults(func=cmd_paths)


def _init_spec_command(sub) -> None:
    p = sub.add_parser(
        "init-spec",
        help="write a first spec from a sample of your landed days (to stdout: `... > my-spec.yaml`)",
    )
    p.add_argument("landing", help="the landing folder (or s3://bucket/prefix) holding <YYYY-MM-DD>/ day folders")
    p.add_argument("--label", required=True, help="the label column")
    p.add_argument("--id", help="the entity id column (default: guessed, and said so)")
    p.add_argument("--time", help="the event timestamp column (default: guessed, and said so)")
    p.add_argument("--task", choices=["binary_classification", "regression"], help="default: from the label's values")
    p.add_argument("--name", help="the model's name (default: the landing folder's name)")
    p.add_argument("--format", choices=["csv", "parquet"], help="default: whichever the day folders hold")
    p.add_argument("--sample-days", type=int, default=10, help="days to read, spread over the landed range")
    p.add_argument(
        "--ranges", action="store_true", help="also write min/max and allowed values from the sample (default: open)"
    )
    p.set_defaults(func=cmd_init_spec)


def _rollout_commands(sub) -> None:
    for name, helps in (
        ("approve", "approve the challenger's promotion (rollout.approval: required)"),
        ("reject", "reject the challenger: its experiment ends and the champion stays"),
    ):
        p = sub.add_parser(name, help=helps)
        p.add_argument("--version", required=True, help="the challenger's registered model version")
        p.add_argument("--reason", required=name == "reject", help="why (kept on the version and in the history)")
        p.add_argument("--spec", help=SPEC_HELP)
        p.add_argument("--model", help=MODEL_HELP)
        p.set_defaults(func=cmd_approve if name == "approve" else cmd_reject)
    p = sub.add_parser("rollout", help="where the live experiment stands: champion, challenger, every decision")
    p.add_argument("--spec", help=SPEC_HELP)
    p.add_argument("--model", help=MODEL_HELP)
    p.set_defaults(func=cmd_rollout)


def _operate_commands(sub) -> None:
    p = sub.add_parser("rollback", help="move the registry's `champion` alias to an earlier version")
    p.add_argument("--to", required=True, metavar="VERSION", help="registered model version to serve again")
    p.add_argument("--reason", required=True, help="why (recorded on the version and in the model's history)")
    p.add_argument("--spec", help=SPEC_HELP)
    p.add_argument("--model", help=MODEL_HELP)
    p.set_defaults(func=cmd_rollback)

    p = sub.add_parser("retention", help="delete partitions and model versions older than the spec's retention")
    p.add_argument(
        "--dry-run", action="store_true", help="print the plan (what goes, what stays and why); delete nothing"
    )
    p.add_argument("--spec", help=SPEC_HELP)
    p.add_argument("--model", help=MODEL_HELP)
    p.set_defaults(func=cmd_retention)

    p = sub.add_parser(
        "reproduce", help="retrain a registered version and check its predictions are identical (exit 1 if not)"
    )
    p.add_argument("--version", required=True, help="registered model version")
    p.add_argument("--spec", help=SPEC_HELP)
    p.add_argument("--model", help=MODEL_HELP)
    p.set_defaults(func=cmd_reproduce)

    p = sub.add_parser("recover", help="mark runs whose process died FAILED, free their slots, end their MLflow runs")
    p.add_argument("--spec", help=SPEC_HELP)
    p.add_argument("--model", help=MODEL_HELP)
    p.set_defaults(func=cmd_recover)

    p = sub.add_parser(
        "models",
        help="list a model's registered versions, aliases and champion history; with no --spec/--model (and no "
        "$ML_ASSETS_SPEC), every model of the code location in one line each",
    )
    p.add_argument("--spec", help=SPEC_HELP)
    p.add_argument("--model", help=MODEL_HELP)
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("lookup", help="read entities' predictions from the online prediction store (Redis)")
    p.add_argument("entity_ids", nargs="+", metavar="ENTITY_ID")
    p.add_argument("--spec", help=SPEC_HELP)
    p.add_argument("--model", help=MODEL_HELP)
    p.set_defaults(func=cmd_lookup)

    p = sub.add_parser("mlflow-ui", help="open the MLflow UI on the local store ($ML_ASSETS_HOME/mlflow)")
    p.add_argument("--port", type=int, default=5000)
    p.set_defaults(func=cmd_mlflow_ui)

    p = sub.add_parser("ui", help="start the Dagster UI on the local instance (dagster dev)")
    p.add_argument("extra", nargs=argparse.REMAINDER, help="passed to `dagster dev`")
    p.set_defaults(func=cmd_ui)


def main(argv: list[str] | None = None) -> None:
    # One progress line per run is ours; MLflow's per-download progress bars would drown it.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    # MLflow's INFO lines (creating its tables, "Detected uv project", "Created version 1") say what
    # ml-assets says itself, or nothing a user can act on; its warnings and errors still show.
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    parser = argparse.ArgumentParser(
        prog="ml-assets", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for add in (_history_commands, _data_commands, _init_spec_command, _operate_commands, _rollout_commands):
        add(sub)
    args = parser.parse_args(argv)
    try:
        args.func(args)
    except SpecError as exc:
        raise SystemExit(f"error: {exc}") from None


if __name__ == "__main__":
    main()
