"""The monitoring page: one self-contained HTML page (plots embedded) and its data as Parquet.

Per day: realized quality from delayed labels (and the trivial baseline), prediction volume, the
score distribution, the model version that served, per-feature drift; and when the champion
was promoted or rolled back. Pure: the caller passes the tables in.
"""

from __future__ import annotations

import base64
import html
import json

import pandas as pd

from ml_assets.core.evaluation import HtmlReport, _png
from ml_assets.core.profile import NOT_JUDGED
from ml_assets.core.spec import PipelineSpec


def _day_axis(ax, days: pd.Series) -> None:
    """A readable day axis at any span (a day to years): at most ~10 date labels, never hours, and
    limited to the days that have data (a promotion made today must not stretch a year-old history)."""
    import matplotlib.dates

    first, last = days.min(), days.max()
    pad = pd.Timedelta(hours=12)
    ax.set_xlim(first - pad, last + pad)
    locator: matplotlib.ticker.Locator
    if (last - first).days <= 10:
        locator = matplotlib.dates.DayLocator()  # a short span: one label per day, never hours
    else:
        locator = matplotlib.dates.AutoDateLocator(minticks=3, maxticks=10)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(matplotlib.dates.DateFormatter("%Y-%m-%d"))


def _over_time(history: pd.DataFrame, metric: str, warn: float, error: float) -> bytes:
    """Each feature's figure per day; days whose drift was not judged (too few rows) are hollow."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3.5))
    for i, (feature, rows) in enumerate(history.dropna(subset=[metric]).groupby("feature")):
        judged = rows["status"] != NOT_JUDGED
        x = pd.to_datetime(rows["day"])
        ax.plot(x, rows[metric].where(judged), marker=".", color=f"C{i % 10}", label=feature)
        if (~judged).any():
            ax.plot(x[~judged], rows.loc[~judged, metric], "o", mfc="none", color=f"C{i % 10}", ms=4)
    ax.axhline(warn, color="orange", ls="--", lw=1, label=f"warn {warn:g}")
    ax.axhline(error, color="red", ls="--", lw=1, label=f"error {error:g}")
    hollow = " (hollow: not judged, too few rows)" if (history["status"] == NOT_JUDGED).any() else ""
    ax.set(ylabel=metric.upper(), title=f"{metric.upper()} against the champion's training reference, per day{hollow}")
    ax.legend(fontsize=7, ncol=2, loc="upper left")
    _day_axis(ax, pd.to_datetime(history["day"]))
    fig.autofmt_xdate()
    return _png(fig)


PROMOTION_COLUMNS = ["at", "previous", "version", "by", "reason", "kind"]


def _days(frame: pd.DataFrame) -> pd.Series:
    return pd.to_datetime(frame["day"])


def _mark_events(ax, events: pd.DataFrame, days: pd.Series, label: bool = False) -> None:
    """Promotions/rollbacks inside the plotted days (others, e.g. made today over a backfilled
    history, are in the table below the plots)."""
    first, last = days.min(), days.max() + pd.Timedelta(days=1)
    for r in events.itertuples():
        at = pd.Timestamp(str(r.at)).tz_localize(None)
        if not first <= at <= last:
            continue
        color = "red" if r.kind == "rollback" else "green"
        ax.axvline(at, color=color, lw=1, alpha=0.7)
        if label:
            ax.annotate(
                f"{'rollback' if r.kind == 'rollback' else 'promote'} v{r.version}",
                (at, 1),
                xycoords=("data", "axes fraction"),
                rotation=90,
                va="top",
                ha="right",
                fontsize=7,
                color=color,
            )


def _quality_panel(ax, q: pd.DataFrame, x, spec: PipelineSpec) -> None:
    """The realized metric per day (hollow where too few labels to judge), the baseline, the threshold."""
    metric = spec.model.metric
    estimated = f"estimated_{metric}"
    if estimated in q.columns and q[estimated].notna().any():  # from the scores alone, before labels land
        if "estimated_low" in q.columns:
            ax.fill_between(x, q["estimated_low"], q["estimated_high"], color="C5", alpha=0.2, step="mid")
        ax.plot(x, q[estimated], "s--", color="C5", ms=3, lw=1, label=f"estimated {metric} (no labels; 5-95 % band)")
    if spec.labels is not None and q[metric].notna().any():
        judged = q["labeled_rows"] >= spec.labels.min_labeled_rows
        ax.plot(x[judged], q.loc[judged, metric], "o-", color="C0", label=f"realized {metric}")
        ax.plot(
            x[~judged],
            q.loc[~judged, metric],
            "o",
            mfc="none",
            color="C0",
            label=f"< {spec.labels.min_labeled_rows} labels (not judged)",
        )
        ax.plot(x, q["baseline"], "--", color="grey", lw=1, label="baseline (constant)")
        if spec.labels.quality_threshold is not None:
            ax.axhline(
                spec.labels.quality_threshold,
                color="red",
                ls=":",
                lw=1,
                label=f"threshold {spec.labels.quality_threshold:g}",
            )
        ax.legend(fontsize=7, loc="lower left")
    else:
        ax.text(
            0.5,
            0.5,
            "no labels yet" if spec.labels is not None else "no `labels` section in the spec",
            transform=ax.transAxes,
            ha="center",
            va="center",
            color="grey",
        )
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7, loc="lower left")


def _timeline(quality: pd.DataFrame, events: pd.DataFrame, spec: PipelineSpec) -> bytes:
    """Realized quality, volume, score distribution and serving version on one shared day axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metric = spec.model.metric
    q = quality.sort_values("day")
    x = _days(q)
    fig, axes = plt.subplots(4, 1, figsize=(9, 10), sharex=True, gridspec_kw={"height_ratios": [3, 1.5, 2, 1.5]})
    ax = axes[0]
    _quality_panel(ax, q, x, spec)
    ax.set(ylabel=metric, title="Realized quality from delayed labels")
    _mark_events(ax, events, x, label=True)

    axes[1].bar(x, q["predictions"], width=0.8, color="C1")
    axes[1].set(ylabel="predictions", title="Prediction volume")
    axes[2].fill_between(x, q["score_p10"], q["score_p90"], alpha=0.25, color="C2", label="p10-p90", step="mid")
    axes[2].fill_between(x, q["score_p25"], q["score_p75"], alpha=0.5, color="C2", label="p25-p75", step="mid")
    axes[2].plot(x, q["score_p50"], color="C2", label="median")
    axes[2].set(ylabel="score", title="Score distribution")
    axes[2].legend(fontsize=7, loc="upper left")
    serving = q["model_version"].astype(str).str.split(",").str[-1].astype(int)
    axes[3].step(x, serving, where="mid", color="C4")
    axes[3].set(ylabel="version", title="Model version that served each day")
    axes[3].set_yticks(sorted(set(serving))[-12:])
    axes[3].set_ylim(serving.min() - 0.5, serving.max() + 0.5)
    for a in axes[1:]:
        _mark_events(a, events, x)
    _day_axis(axes[3], x)
    fig.autofmt_xdate()
    fig.tight_layout()
    return _png(fig)


def _fmt(x) -> str:
    return (
        ""
        if x is None or (isinstance(x, float) and pd.isna(x))
        else (f"{x:.4f}" if isinstance(x, float) else html.escape(str(x)))
    )


# The pages' one style sheet (the monitoring page, an experiment's report).
STYLE = (
    "<style>body{font-family:sans-serif;margin:2em;max-width:1100px}table{border-collapse:collapse;margin:1em 0;"
    "font-size:90%}td,th{border:1px solid #ccc;padding:3px 6px}img{max-width:100%}</style>"
)

EXPERIMENT_COLUMNS = ["at", "version", "state", "rows", "days", "estimate", "lower", "upper", "by", "reason"]


def _experiment_html(quality: pd.DataFrame, experiments: pd.DataFrame | None, spec: PipelineSpec) -> str:
    """Live experiments: every decision with its interval (champion's loss minus the challenger's),
    and per day the labelled rows and the metric of each arm."""
    if (experiments is None or experiments.empty) and "experiment" not in quality.columns:
        return ""
    metric = spec.model.metric
    decisions = (experiments if experiments is not None else pd.DataFrame()).reindex(columns=EXPERIMENT_COLUMNS)
    days = quality.dropna(subset=["experiment"]) if "experiment" in quality.columns else quality.iloc[0:0]
    per_day = ["day", "experiment", "champion_rows", "challenger_rows", f"champion_{metric}", f"challenger_{metric}"]
    per_day += ["champion_loss", "challenger_loss"]
    r = spec.rollout
    return f"""<h2>Live experiments (rollout.mode {html.escape(r.mode)})</h2>
<p>The challenger is compared with the champion on the per-row loss of the days it scored (Brier score, or squared
error): estimate = champion's loss minus challenger's, positive when the challenger is better, with its
{1 - r.alpha:.0%} confidence sequence [lower, upper], valid however often it is looked at. Promoted when lower &gt;
{r.min_improvement:g} after {r.min_labeled_rows} labelled rows; stopped when upper &lt; -{r.guardrail:g} or after
{r.max_days} days.</p>
{_table(decisions.iloc[::-1], EXPERIMENT_COLUMNS)}
<h3>Per day and arm</h3>
{_table(days.iloc[::-1], [c for c in per_day if c in days.columns])}"""


def experiment_report(
    quality: pd.DataFrame, decisions: pd.DataFrame, spec: PipelineSpec, version: str, experiment: str, approval: str
) -> tuple[str, str]:
    """(JSON, self-contained HTML) of one challenger's live experiment, logged beside its evaluation
    report: its days with each arm's labelled rows and metric, every decision with its interval, the
    newest state and reason, and the approval (`approval`: who, when and why, or "")."""
    days = quality[quality["experiment"] == experiment] if "experiment" in quality.columns else quality.iloc[0:0]
    days = days.sort_values("day") if "day" in days.columns else days
    mine = decisions[decisions["version"].astype(str) == str(version)] if "version" in decisions.columns else decisions
    last = mine.iloc[-1].to_dict() if len(mine) else {}
    data = {
        "experiment": experiment,
        "version": str(version),
        "mode": spec.rollout.mode,
        "state": last.get("state", "running"),
        "reason": last.get("reason", ""),
        "approval": approval,
        "decisions": json.loads(mine.to_json(orient="records")),
        "days": json.loads(days.drop(columns=["model_version"], errors="ignore").to_json(orient="records")),
    }
    said = html.escape(f"{data['state']}: {data['reason']}")
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>Live experiment {html.escape(experiment)}</title>
{STYLE}</head><body>
<h1>Live experiment {html.escape(experiment)}: v{html.escape(str(version))} against the champion</h1>
<p><b>{said}</b></p>
<p>Approval: {html.escape(approval or "none recorded")}</p>
{_experiment_html(days, mine, spec)}
</body></html>
"""  # noqa: E501 (a table/HTML template)
    return json.dumps(data, indent=2, default=str), page


def _table(frame: pd.DataFrame, columns: list[str]) -> str:
    if frame.empty:
        return "<p>none</p>"
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{_fmt(v)}</td>" for v in row) + "</tr>" for row in frame[columns].itertuples(index=False)
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _plots(quality: pd.DataFrame, drift: pd.DataFrame, events: pd.DataFrame, spec: PipelineSpec) -> dict[str, bytes]:
    """The page's PNGs: the timeline, and PSI (and KS where numeric features have it) over time."""
    v = spec.validation
    plots = {}
    if not quality.empty:
        plots["timeline.png"] = _timeline(quality, events, spec)
    if not drift.empty:
        plots["psi_over_time.png"] = _over_time(drift, "psi", v.drift_warn.psi, v.drift_error.psi)
        if drift["ks"].notna().any():
            plots["ks_over_time.png"] = _over_time(drift, "ks", v.drift_warn.ks, v.drift_error.ks)
    return plots


def _status_html(verdict: tuple[str, str] | None, spec: PipelineSpec) -> str:
    """The page's headline: the newest judged day's verdict, or why there is none yet."""
    status = ""
    if verdict:
        color = {"ok": "#2a7", "low": "#c22"}.get(verdict[0], "#888")
        status = (
            f'<p style="border-left:6px solid {color};padding-left:8px"><b>{verdict[0].upper()}</b>: '
            f"{html.escape(verdict[1])}</p>"
        )
    elif spec.labels is not None:
        status = (
            f"<p>No day has {spec.labels.min_labeled_rows} labelled predictions yet: realized quality is not "
            "judged.</p>"
        )
    return status


def _page_data(
    quality: pd.DataFrame,
    drift: pd.DataFrame,
    events: pd.DataFrame,
    flagged: pd.DataFrame,
    spec: PipelineSpec,
    latest: dict | None,
    verdict: tuple[str, str] | None,
) -> dict:
    """The page's figures as data (report.json beside the page)."""
    return {
        "spec": spec.name,
        "quality_days": int(len(quality)),
        "days": int(drift["day"].nunique()) if not drift.empty else 0,
        "first_day": quality["day"].min() if not quality.empty else None,
        "last_day": quality["day"].max() if not quality.empty else None,
        "metric": spec.model.metric,
        "latest_judged": latest,
        "verdict": verdict[0] if verdict else None,
        "verdict_text": verdict[1] if verdict else None,
        "flagged": flagged[["day", "feature", "psi", "ks", "status"]].to_dict(orient="records"),
        "promotions": events.astype(str).to_dict(orient="records"),
    }


def monitoring_page(
    quality: pd.DataFrame,
    drift: pd.DataFrame,
    events: pd.DataFrame,
    spec: PipelineSpec,
    latest: dict | None = None,
    verdict: tuple[str, str] | None = None,
    registry_note: str = "",
    experiments: pd.DataFrame | None = None,
) -> HtmlReport:
    """`quality`: realized_quality rows (one per day); `drift`: feature_drift rows; `events`:
    champion promotions and rollbacks (PROMOTION_COLUMNS); `latest`/`verdict`: the newest judged day;
    `experiments`: the live experiments' decisions (the registry's rollout history), if any."""
    v = spec.validation
    metric = spec.model.metric
    quality = quality.sort_values("day").reset_index(drop=True)
    drift = drift.sort_values(["day", "feature"]).reset_index(drop=True)
    events = (
        events.sort_values("at").reset_index(drop=True) if not events.empty else pd.DataFrame(columns=PROMOTION_COLUMNS)
    )
    plots = _plots(quality, drift, events, spec)
    flagged = drift[~drift["status"].isin(["ok", NOT_JUDGED])]
    data = _page_data(quality, drift, events, flagged, spec, latest, verdict)
    imgs = "".join(
        f'<figure><img alt="{n}" src="data:image/png;base64,{base64.b64encode(b).decode()}"></figure>'
        for n, b in plots.items()
    )
    status = _status_html(verdict, spec)
    quality_cols = ["day", "model_version", "predictions", "labeled_rows", "label_coverage", metric, "baseline"]
    quality_cols += [f"estimated_{metric}", "estimated_low", "estimated_high"]
    quality_cols.append("mean_score")
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>Monitoring: {html.escape(spec.name)}</title>
{STYLE}</head><body>
<h1>Monitoring: {html.escape(spec.name)}</h1>
{status}
<p>{len(quality)} day(s) of predictions, {data["days"]} day(s) of drift figures. Realized quality uses labels that
arrived up to {spec.labels.max_delay_days if spec.labels else "-"} day(s) after each day. Drift: WARN above PSI {v.drift_warn.psi:g} / KS {v.drift_warn.ks:g},
ERROR (the day is blocked) above PSI {v.drift_error.psi:g} / KS {v.drift_error.ks:g}. Green lines: promotions; red: rollbacks.
{html.escape(registry_note)}</p>
{imgs}
<h2>Promotions and rollbacks</h2>
{_table(events, PROMOTION_COLUMNS)}
{_experiment_html(quality, experiments, spec)}
<h2>Days and features flagged for drift</h2>
{_table(flagged, ["day", "feature", "psi", "ks", "status"])}
<h2>Per day</h2>
{_table(quality.iloc[::-1], [c for c in quality_cols if c in quality.columns])}
<p>Data: realized_quality.parquet, feature_drift.parquet, promotions.parquet beside this page.</p>
</body></html>
"""  # noqa: E501 (a table/HTML template)
    tables = {
        "realized_quality.parquet": quality,
        "feature_drift.parquet": drift,
        "promotions.parquet": events.astype(str),
        **({"experiments.parquet": experiments.astype(str)} if experiments is not None and len(experiments) else {}),
    }
    return HtmlReport(data=data, plots=plots, html=page, tables=tables)
