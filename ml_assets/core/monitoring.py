"""The drift monitoring page: per-feature PSI and KS over time, from the `feature_drift` days."""

from __future__ import annotations

import html

import pandas as pd

from ml_assets.core.evaluation import HtmlReport, _png
from ml_assets.core.spec import PipelineSpec


def _over_time(history: pd.DataFrame, metric: str, warn: float, error: float) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3.5))
    for feature, rows in history.dropna(subset=[metric]).groupby("feature"):
        ax.plot(pd.to_datetime(rows["day"]), rows[metric], marker=".", label=feature)
    ax.axhline(warn, color="orange", ls="--", lw=1, label=f"warn {warn:g}")
    ax.axhline(error, color="red", ls="--", lw=1, label=f"error {error:g}")
    ax.set(ylabel=metric.upper(), title=f"{metric.upper()} against the champion's training reference, per day")
    ax.legend(fontsize=7, ncol=2, loc="upper left")
    # One tick label per day at most, as dates (matplotlib would label a 2-day span by hour).
    ax.xaxis.set_major_locator(matplotlib.dates.DayLocator(interval=max(1, history["day"].nunique() // 10)))
    ax.xaxis.set_major_formatter(matplotlib.dates.DateFormatter("%Y-%m-%d"))
    fig.autofmt_xdate()
    return _png(fig)


def drift_page(history: pd.DataFrame, spec: PipelineSpec) -> HtmlReport:
    v = spec.validation
    history = history.sort_values(["day", "feature"]).reset_index(drop=True)
    plots = {}
    if not history.empty:
        plots["psi_over_time.png"] = _over_time(history, "psi", v.drift_warn.psi, v.drift_error.psi)
        if history["ks"].notna().any():
            plots["ks_over_time.png"] = _over_time(history, "ks", v.drift_warn.ks, v.drift_error.ks)
    latest_day = history["day"].max() if not history.empty else None
    latest = history[history["day"] == latest_day] if latest_day else history
    flagged = history[history["status"] != "ok"]
    data = {
        "spec": spec.name,
        "days": int(history["day"].nunique()),
        "latest_day": latest_day,
        "flagged": flagged[["day", "feature", "psi", "ks", "status"]].to_dict(orient="records"),
    }

    def fmt(x):
        return "" if pd.isna(x) else f"{x:.3f}"

    rows = "".join(
        f"<tr><td>{html.escape(r.feature)}</td><td>{fmt(r.psi)}</td><td>{fmt(r.ks)}</td><td>{r.status}</td></tr>"
        for r in latest.itertuples()
    )
    flagged_rows = "".join(
        f"<tr><td>{r.day}</td><td>{html.escape(r.feature)}</td><td>{fmt(r.psi)}</td><td>{fmt(r.ks)}</td><td>{r.status}</td></tr>"
        for r in flagged.itertuples()
    ) or "<tr><td colspan=5>none</td></tr>"
    import base64

    imgs = "".join(f'<figure><img alt="{n}" src="data:image/png;base64,{base64.b64encode(b).decode()}"></figure>' for n, b in plots.items())
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>Drift: {html.escape(spec.name)}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1100px}}table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #ccc;padding:4px 8px}}</style></head><body>
<h1>Feature drift: {html.escape(spec.name)}</h1>
<p>{data['days']} day(s) measured against the champion's training reference. WARN above PSI {v.drift_warn.psi:g} / KS {v.drift_warn.ks:g};
ERROR (the day is blocked) above PSI {v.drift_error.psi:g} / KS {v.drift_error.ks:g}.</p>
{imgs}
<h2>Latest day: {html.escape(str(latest_day))}</h2>
<table><tr><th>feature</th><th>PSI</th><th>KS</th><th>status</th></tr>{rows}</table>
<h2>Days and features flagged</h2>
<table><tr><th>day</th><th>feature</th><th>PSI</th><th>KS</th><th>status</th></tr>{flagged_rows}</table>
</body></html>
"""
    return HtmlReport(data=data, plots=plots, html=page)
