"""Columns that give the label away. A feature that predicts the label almost perfectly on its own,
or a label that is the sum or difference of two columns of the same files, is most likely not
known when the prediction is made (an outcome recorded with the label, the label's own parts).
A model trained on it looks perfect offline and fails live. `validate-spec --data` and `init-spec`
say so; a spec that knows better sets `leakage_ok: true` on the feature.

Pure: frames in, findings out."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pandas as pd

THRESHOLD = 0.99  # single-feature ROC AUC (classification) or R² (regression) at or above this: a leak
# Fewer labelled rows than this: nothing is judged. On a small sample a strong honest feature reaches
# 0.99 by chance (scikit-learn's breast cancer table: worst_perimeter, 0.975 on all 569 rows, scores
# 0.992 on 47 of them).
MIN_ROWS = 200


@dataclass(frozen=True)
class Leak:
    columns: tuple[str, ...]
    figure: str  # "ROC AUC 0.998", "R² 0.999", "label = a + b on 100% of rows"

    def describe(self) -> str:
        if len(self.columns) == 1:
            return f"column '{self.columns[0]}' predicts the label almost perfectly on its own ({self.figure})"
        return f"the label is {self.figure} (columns {', '.join(repr(c) for c in self.columns)})"


def _auc(y: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC by ranks (ties averaged), either direction: max(auc, 1 - auc)."""
    ranks = pd.Series(score).rank().to_numpy()
    pos = y.sum()
    neg = len(y) - pos
    if pos == 0 or neg == 0:
        return 0.5
    auc = (ranks[y == 1].sum() - pos * (pos + 1) / 2) / (pos * neg)
    return float(max(auc, 1 - auc))


def _r2(y: np.ndarray, pred: np.ndarray) -> float:
    total = ((y - y.mean()) ** 2).sum()
    return float(1 - ((y - pred) ** 2).sum() / total) if total > 0 else 0.0


def _single_feature_figure(x: pd.Series, y: pd.Series, classification: bool) -> float | None:
    """How well `x` alone gives `y`: ROC AUC or R², in-sample (a category by its label mean, a
    number by its rank for AUC or a straight line for R²). None when too few rows to judge."""
    keep = x.notna() & y.notna()
    x, y = x[keep], y[keep].astype(float)
    if len(x) < MIN_ROWS or x.nunique() < 2:
        return None
    if pd.api.types.is_numeric_dtype(x):
        values = x.astype(float).to_numpy()
        if classification:
            return _auc(y.to_numpy(), values)
        r = np.corrcoef(values, y.to_numpy())[0, 1]
        return float(r * r) if np.isfinite(r) else None
    # A category: its mean label. With about one row per category this is trivially perfect, so a
    # column with more categories than a tenth of its rows is not judged (it is an id, not a leak).
    if x.nunique() > 0.1 * len(x):
        return None
    means = y.groupby(x.astype(str)).transform("mean").to_numpy()
    return _auc(y.to_numpy(), means) if classification else _r2(y.to_numpy(), means)


def leaks(
    data: pd.DataFrame, label: pd.Series, columns: list[str], classification: bool, numeric: list[str] | None = None
) -> list[Leak]:
    """Findings for `columns` of `data` against `label` (classification: 0/1; regression: numbers).
    `numeric`: the numeric columns searched for sum/difference relations (default: the numeric ones
    of `columns`)."""
    found = []
    for name in columns:
        figure = _single_feature_figure(data[name], label, classification)
        if figure is not None and figure >= THRESHOLD:
            what = "ROC AUC" if classification else "R²"
            found.append(Leak((name,), f"{what} {figure:.3f}"))
    if classification:
        return found
    numeric = numeric if numeric is not None else [c for c in columns if pd.api.types.is_numeric_dtype(data[c])]
    y = label.astype(float)
    for a, b in itertools.combinations(numeric, 2):
        x1, x2 = data[a].astype(float), data[b].astype(float)
        keep = x1.notna() & x2.notna() & y.notna()
        if keep.sum() < MIN_ROWS:
            continue
        scale = np.maximum(1.0, y[keep].abs().to_numpy())
        for sign, text in ((1, f"'{a}' + '{b}'"), (-1, f"'{a}' - '{b}'"), (-2, f"'{b}' - '{a}'")):
            combined = x1 + x2 if sign == 1 else (x1 - x2 if sign == -1 else x2 - x1)
            exact = (np.abs(combined[keep].to_numpy() - y[keep].to_numpy()) <= 1e-9 * scale).mean()
            if exact >= THRESHOLD:
                found.append(Leak((a, b), f"{text} on {exact:.0%} of rows"))
    return found
