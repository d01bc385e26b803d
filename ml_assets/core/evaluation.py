"""Holdout metrics, the trivial baseline, plots and the evaluation report (JSON + self-contained HTML)."""

from __future__ import annotations

import base64
import html
import io
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ml_assets.core.spec import PipelineSpec

if TYPE_CHECKING:
    from ml_assets.core.training import ModelBundle

_EPS = 1e-15


def predict_scores(pipeline, x: pd.DataFrame, spec: PipelineSpec) -> np.ndarray:
    """The positive-class probability (classification) or the predicted value (regression)."""
    if spec.is_classification:
        classes = list(pipeline.classes_)
        return pipeline.predict_proba(x)[:, classes.index(1.0)]
    return np.asarray(pipeline.predict(x), dtype="float64")


def baseline_scores(y_train: np.ndarray, n: int, spec: PipelineSpec) -> np.ndarray:
    """The trivial model: the training prior (classification) or the training mean (regression)."""
    return np.full(n, float(np.mean(y_train)))


def metric_value(y: np.ndarray, score: np.ndarray, spec: PipelineSpec) -> float:
    """The spec's metric alone (as `compute_metrics` computes it), for loops that need only it."""
    from sklearn import metrics as skm

    y, metric = np.asarray(y, dtype="float64"), spec.model.metric
    if metric in ("roc_auc", "pr_auc") and np.all(score == score[0]):
        return compute_metrics(y, score, spec)[metric]
    fn = {
        "roc_auc": skm.roc_auc_score,
        "pr_auc": skm.average_precision_score,
        "mae": skm.mean_absolute_error,
        "r2": skm.r2_score,
    }.get(metric)
    return float(fn(y, score)) if fn is not None else compute_metrics(y, score, spec)[metric]


def compute_metrics(y: np.ndarray, score: np.ndarray, spec: PipelineSpec) -> dict[str, float]:
    from sklearn import metrics as skm  # here, not at the top: loading the definitions needs no scikit-learn

    y = np.asarray(y, dtype="float64")
    if spec.is_classification:
        pred = (score >= spec.model.threshold).astype(int)
        constant = np.all(score == score[0])
        return {
            "roc_auc": 0.5 if constant else float(skm.roc_auc_score(y, score)),
            "pr_auc": float(np.mean(y)) if constant else float(skm.average_precision_score(y, score)),
            "log_loss": float(skm.log_loss(y, np.clip(score, _EPS, 1 - _EPS), labels=[0.0, 1.0])),
            "f1": float(skm.f1_score(y, pred, zero_division=0.0)),
            "positive_rate": float(np.mean(y)),
            "rows": int(len(y)),
        }
    return {
        "rmse": float(np.sqrt(skm.mean_squared_error(y, score))),
        "mae": float(skm.mean_absolute_error(y, score)),
        "r2": float(skm.r2_score(y, score)),
        "rows": int(len(y)),
    }


@dataclass
class HtmlReport:
    data: dict[str, Any]
    plots: dict[str, bytes]  # file name -> PNG bytes
    html: str
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)  # file name -> data, written as Parquet

    @property
    def json(self) -> str:
        return json.dumps(self.data, indent=2, sort_keys=True)


def _png(fig) -> bytes:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


def _classification_plots(y, scores: dict[str, np.ndarray], spec: PipelineSpec) -> dict[str, bytes]:
    import matplotlib
    from sklearn import metrics as skm  # here, not at the top: loading the definitions needs no scikit-learn

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.calibration import calibration_curve

    fig, ax = plt.subplots(figsize=(5, 4))
    ax.plot([0, 1], [0, 1], "k--", lw=1, label="perfectly calibrated")
    for name, score in scores.items():
        frac, mean = calibration_curve(y, score, n_bins=10, strategy="quantile")
        ax.plot(mean, frac, marker="o", label=name)
    ax.set(xlabel="mean predicted probability", ylabel="observed positive rate", title="Calibration (holdout)")
    ax.legend(fontsize=8)
    plots = {"calibration.png": _png(fig)}

    fig, ax = plt.subplots(figsize=(5, 4))
    for name, score in scores.items():
        fpr, tpr, _ = skm.roc_curve(y, score)
        ax.plot(fpr, tpr, label=name)
    ax.plot([0, 1], [0, 1], "k--", lw=1, label="baseline")
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC (holdout)")
    ax.legend(fontsize=8)
    plots["roc.png"] = _png(fig)
    return plots


def _regression_plots(y, scores: dict[str, np.ndarray]) -> dict[str, bytes]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(scores), figsize=(4 * len(scores), 3.5), squeeze=False, sharey=True)
    for ax, (name, score) in zip(axes[0], scores.items(), strict=True):
        ax.scatter(score, y - score, s=6, alpha=0.5)
        ax.axhline(0, color="k", lw=1)
        ax.set(xlabel="predicted", title=name)
    axes[0][0].set_ylabel("residual (actual - predicted)")
    fig.suptitle("Residuals (holdout)")
    return {"residuals.png": _png(fig)}


def _importance_plot(importances: dict[str, float], model_name: str) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    items = sorted(importances.items(), key=lambda kv: kv[1])[-15:]
    fig, ax = plt.subplots(figsize=(5, 0.3 * len(items) + 1))
    ax.barh([k for k, _ in items], [v for _, v in items])
    ax.set(xlabel="drop in metric when permuted", title=f"Permutation importance: {model_name}")
    return _png(fig)


def permutation_importances(pipeline, x: pd.DataFrame, y: np.ndarray, spec: PipelineSpec) -> dict[str, float]:
    from sklearn.inspection import permutation_importance

    scoring = "roc_auc" if spec.is_classification else "neg_root_mean_squared_error"
    # Cap the rows: importance is a ranking, and the full holdout can be large.
    if len(x) > 5000:
        idx = np.random.default_rng(spec.seed).choice(len(x), 5000, replace=False)
        idx.sort()
        x, y = x.iloc[idx], y[idx]
    result = permutation_importance(pipeline, x, y, scoring=scoring, n_repeats=3, random_state=spec.seed)
    return {col: float(v) for col, v in zip(x.columns, result.importances_mean, strict=True)}


def build_report(bundle: ModelBundle, holdout: pd.DataFrame, spec: PipelineSpec) -> HtmlReport:
    from sklearn import metrics as skm  # here, not at the top: loading the definitions needs no scikit-learn

    from ml_assets.core.training import model_inputs

    y = holdout[spec.columns.label].to_numpy(dtype="float64")
    x = model_inputs(holdout, spec)
    scores = {name: predict_scores(p, x, spec) for name, p in bundle.pipelines.items()}
    candidates: dict[str, Any] = {}
    for name, score in scores.items():
        entry: dict[str, Any] = {"metrics": compute_metrics(y, score, spec)}
        if spec.is_classification:
            pred = (score >= spec.model.threshold).astype(int)
            entry["confusion_matrix"] = {
                "labels": [0, 1],
                "matrix": skm.confusion_matrix(y.astype(int), pred, labels=[0, 1]).tolist(),
                "threshold": spec.model.threshold,
            }
        candidates[name] = entry

    importances = permutation_importances(bundle.pipeline, x, y, spec)
    plots = _classification_plots(y, scores, spec) if spec.is_classification else _regression_plots(y, scores)
    plots["importance.png"] = _importance_plot(importances, bundle.selected)
    data = {
        "spec": spec.name,
        "task": spec.task.type,
        "metric": spec.model.metric,
        "metric_direction": spec.metric_direction,
        "selected": bundle.selected,
        "model_version": bundle.version,
        "registered_model": bundle.info.get("registered_model"),
        "promotion": bundle.info.get("promotion"),
        "candidates": candidates,
        "baseline": {"metrics": bundle.baseline_metrics},
        "feature_importance": dict(sorted(importances.items(), key=lambda kv: -kv[1])),
        "training": bundle.info,
    }
    return HtmlReport(data=data, plots=plots, html=render_html(data, plots))


def _fmt(v: Any) -> str:
    return f"{v:.4f}" if isinstance(v, float) else html.escape(str(v))


def _confusion_tables(candidates: dict[str, Any]) -> str:
    """Each classifier candidate's confusion matrix at its threshold, as HTML tables."""
    confusion = ""
    for name, candidate in candidates.items():
        cm = candidate.get("confusion_matrix")
        if cm:
            (tn, fp), (fn, tp) = cm["matrix"]
            confusion += (
                f"<h3>Confusion matrix: {html.escape(name)} (threshold {cm['threshold']})</h3>"
                f"<table><tr><th></th><th>predicted 0</th><th>predicted 1</th></tr>"
                f"<tr><th>actual 0</th><td>{tn}</td><td>{fp}</td></tr>"
                f"<tr><th>actual 1</th><td>{fn}</td><td>{tp}</td></tr></table>"
            )
    return confusion


def render_html(data: dict[str, Any], plots: dict[str, bytes]) -> str:
    """A self-contained page: every plot is embedded, nothing is fetched."""
    names = list(data["candidates"])
    metric_names = [m for m in data["baseline"]["metrics"] if m != "rows"]
    head = "".join(f"<th>{html.escape(m)}</th>" for m in metric_names)
    rows = []
    for name in names:
        m = data["candidates"][name]["metrics"]
        mark = " (selected)" if name == data["selected"] else ""
        cells = "".join(f"<td>{_fmt(m[k])}</td>" for k in metric_names)
        rows.append(f"<tr><td>{html.escape(name)}{mark}</td>{cells}</tr>")
    base = data["baseline"]["metrics"]
    rows.append(
        "<tr class=base><td>trivial baseline</td>"
        + "".join(f"<td>{_fmt(base[k])}</td>" for k in metric_names)
        + "</tr>"
    )
    confusion = _confusion_tables(data["candidates"])
    imgs = "".join(
        f'<figure><img alt="{html.escape(n)}" src="data:image/png;base64,{base64.b64encode(b).decode()}"></figure>'
        for n, b in plots.items()
    )
    t = data["training"]
    promotion = ""
    if data.get("promotion"):
        p = data["promotion"]
        items = "".join(
            f"<li>{'&#10003;' if r['passed'] else '&#10007;'} {html.escape(r['name'])}: {html.escape(r['detail'])}</li>"
            for r in p["rules"]
        )
        alias = p["alias"] or "without an alias"
        promotion = (
            f"<h2>Promotion</h2><p>Version {html.escape(str(data['model_version']))} of "
            f"<b>{html.escape(str(data.get('registered_model')))}</b> is now <b>{html.escape(alias)}</b>: "
            f"{html.escape(p['summary'])}.</p><ul>{items}</ul>"
        )
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>Evaluation report: {html.escape(data["spec"])}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1100px}}table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}tr.base{{color:#666}}figure{{display:inline-block;margin:0 1em 1em 0}}</style>
</head><body>
<h1>Evaluation report: {html.escape(data["spec"])}</h1>
<p>Model version <b>{html.escape(str(data["model_version"]))}</b>: candidate <b>{html.escape(data["selected"])}</b>,
selected by {html.escape(data["metric"])} ({"higher" if data["metric_direction"] == "max" else "lower"} is better) on the holdout
({html.escape(t["holdout_first_day"])} .. {html.escape(t["window_last_day"])}, {t["holdout_rows"]} rows).
Trained on {t["train_rows"]} rows from {html.escape(t["window_first_day"])}. Training set fingerprint
<code>{html.escape(t["training_set_fingerprint"][:16])}</code>, seed {t["seed"]}.</p>
{promotion}
<h2>Holdout metrics</h2>
<table><tr><th>candidate</th>{head}</tr>{"".join(rows)}</table>
{confusion}
<h2>Plots</h2>{imgs}
</body></html>
"""  # noqa: E501 (a table/HTML template)
