"""The spec's rules for one day's rows as a whole, after each file was typed (schema.py): duplicate
entity ids and rows whose event time is not the folder's day. Nothing is accepted silently: each rule
either fails the day, naming the files, column and rows, or keeps a documented subset and counts what
it left out."""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from ml_assets.core.spec import PipelineSpec


class DayRuleError(ValueError):
    pass


def origins(frames: list[pd.DataFrame], sources: list[str]) -> pd.DataFrame:
    """Where each row of `pd.concat(frames, ignore_index=True)` came from: file and 1-based data row."""
    return pd.DataFrame(
        {
            "file": np.repeat(np.asarray(sources, dtype=object), [len(f) for f in frames]),
            "row": np.concatenate([np.arange(1, len(f) + 1) for f in frames]) if frames else np.array([], dtype=int),
        }
    )


def _where(origin: pd.DataFrame, mask: pd.Series, limit: int = 5) -> str:
    picked = origin[mask.to_numpy()].head(limit)
    shown = "; ".join(f"{f} row {r}" for f, r in zip(picked["file"], picked["row"], strict=True))
    more = int(mask.sum()) - len(picked)
    return shown + (f" and {more} more" if more > 0 else "")


def outside_day(df: pd.DataFrame, origin: pd.DataFrame, spec: PipelineSpec, day: str) -> tuple[pd.Series, str | None]:
    """(mask of rows whose event time is not `day` in the spec's time zone, what to say about them)."""
    local = df[spec.columns.event_time].dt.tz_convert(spec.partitions.timezone).dt.date.astype(str)
    mask = local != day
    if not mask.any():
        return mask, None
    days = local[mask].value_counts()
    return mask, (
        f"{int(mask.sum())} of {len(df)} row(s) have column '{spec.columns.event_time}' outside {day} "
        f"({spec.partitions.timezone}): on {', '.join(f'{d} ({n})' for d, n in days.head(3).items())}"
        + (f" and {len(days) - 3} more day(s)" if len(days) > 3 else "")
        + f", at {_where(origin, mask)}"
    )


def duplicated_ids(df: pd.DataFrame, origin: pd.DataFrame, spec: PipelineSpec) -> tuple[pd.Series, str | None]:
    """(mask of every row whose entity id appears more than once, what to say about them)."""
    ids = df[spec.columns.entity_id]
    mask = ids.duplicated(keep=False)
    if not mask.any():
        return mask, None
    counts = ids[mask].value_counts()
    shown = ", ".join(f"{i!r} ({n}x)" for i, n in counts.head(3).items())
    return mask, (
        f"{len(counts)} id(s) of column '{spec.columns.entity_id}' appear more than once ({int(mask.sum())} rows): "
        f"{shown}, at {_where(origin, mask)}"
    )


def apply_day_rules(
    df: pd.DataFrame, origin: pd.DataFrame, spec: PipelineSpec, day: str
) -> tuple[pd.DataFrame, dict, list[str]]:
    """(the day's rows that the rules keep, counts for the metadata, warnings for the run log).
    Raises DayRuleError when a rule set to `error` is broken, or when no row is left."""
    landing = spec.landing
    warnings, counts = [], {"rows_outside_day": 0, "duplicate_rows_left_out": 0}
    outside, said = outside_day(df, origin, spec, day)
    if said:
        if landing.rows_outside_day == "error":
            raise DayRuleError(f"{said} (landing.rows_outside_day: error; `exclude` leaves them out with a warning)")
        warnings.append(f"left out of the day: {said} (landing.rows_outside_day: exclude)")
        counts["rows_outside_day"] = int(outside.sum())
        df, origin = df[~outside.to_numpy()], origin[~outside.to_numpy()]
        if df.empty:
            raise DayRuleError(f"no row is left: {said}; check partitions.timezone and the folder's day")
    dupes, said = duplicated_ids(df, origin, spec)
    if said:
        if landing.duplicate_ids == "error":
            raise DayRuleError(
                f"{said} (landing.duplicate_ids: error; `keep_last` or `keep_first` keeps one row per id)"
            )
        # Order by event time, then by file and row (the order they were read in): stable.
        ordered = df.assign(_order=np.arange(len(df))).sort_values([spec.columns.event_time, "_order"], kind="stable")
        keep: Literal["first", "last"] = "last" if landing.duplicate_ids == "keep_last" else "first"
        kept = (
            ordered[~ordered[spec.columns.entity_id].duplicated(keep=keep)].sort_values("_order").drop(columns="_order")
        )
        counts["duplicate_rows_left_out"] = len(df) - len(kept)
        warnings.append(
            f"{counts['duplicate_rows_left_out']} duplicate row(s) left out ({landing.duplicate_ids}): {said}"
        )
        df = kept
    return df.reset_index(drop=True), counts, warnings
